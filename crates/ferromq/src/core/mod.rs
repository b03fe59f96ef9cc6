//! The state of one socket: its listeners, its pipes and its pattern, behind one lock that the
//! user's thread and the I/O thread take in turn. Either thread may do the I/O: the user's
//! thread writes a reply straight away, reads what has arrived before it would sleep, and
//! while blocked in `recv` waits on the connections itself, keeping them between calls
//! (`crate::waiter`); the I/O thread does what happens in the background. Writes happen
//! without the lock, from each connection's outbox (`crate::outbox`), so that a writer in the
//! kernel never stalls the socket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromq_zmtp::{
    curve_public, CurvePublicKey, CurveSecretKey, Handshake, HandshakeConfig, Security, SocketType,
};
use mio::unix::SourceFd;
use mio::Interest;
use slab::Slab;

use crate::connection::{ConnectionOptions, Heartbeat};
use crate::error::{Error, Result};
use crate::inproc::InprocPeer;
use crate::io_thread::{token, IoShared};
use crate::message::Message;
use crate::monitor::{Event, Monitors};
use crate::options::Options;
use crate::pattern::{Pattern, Sent};
use crate::pipe::{PipeKind, Pipes};
use crate::signal::Signal;
use crate::socket::Events;
use crate::transport::{Listener, StreamSettings};
use crate::zap::ZapClient;

mod connections;
mod endpoints;

pub(crate) use connections::UserRead;

/// The most messages, and bytes, one `recv` takes off the queues for the calls after it: enough
/// to spare short messages most of the lock's cost, little beside `rcvhwm`.
const RECV_BATCH: usize = 32;
const RECV_BATCH_BYTES: usize = 64 * 1024;

/// The token key of the socket's ZAP client, above every pipe key.
const ZAP: u32 = LISTENER - 1;

/// Token bit that marks a listener rather than a pipe.
const LISTENER: u32 = 1 << 31;

#[derive(Debug)]
struct Bound {
    listener: Listener,
    endpoint: String,
}

#[derive(Debug)]
pub(crate) struct SocketCore {
    pub socket_type: SocketType,
    pub options: Options,
    id: u32,
    io: Arc<IoShared>,
    signal: Arc<Signal>,
    pipes: Pipes,
    listeners: Slab<Bound>,
    pattern: Box<dyn Pattern>,
    pub last_endpoint: String,
    recv_since_send: bool,
    timer_armed: Option<Instant>,
    linger_deadline: Option<Instant>,
    /// The user should look again: something arrived, left or made room.
    pub notify: bool,
    pub monitors: Monitors,
    /// A message taken ahead by `events`, for the next `recv`.
    prefetched: Option<Message>,
    /// Name look-ups started, to tell their answers apart.
    lookups: u64,
    /// A server's link to the ZAP handler.
    zap: Option<ZapClient>,
    /// Connections lent to the user's thread.
    lending: connections::Lending,
}

impl SocketCore {
    pub(crate) fn new(
        socket_type: SocketType,
        pattern: Box<dyn Pattern>,
        id: u32,
        io: Arc<IoShared>,
        signal: Arc<Signal>,
    ) -> SocketCore {
        let options = Options::default();
        SocketCore {
            socket_type,
            pipes: Pipes::new(options.sndhwm, options.rcvhwm),
            options,
            id,
            io,
            signal,
            listeners: Slab::new(),
            pattern,
            last_endpoint: String::new(),
            recv_since_send: false,
            timer_armed: None,
            linger_deadline: None,
            notify: false,
            monitors: Monitors::default(),
            prefetched: None,
            lookups: 0,
            zap: None,
            lending: connections::Lending::default(),
        }
    }

    /// Reports an event to the socket's monitors, if it has any.
    fn emit(&mut self, event: impl FnOnce() -> Event, endpoint: &str, peer_address: &str) {
        if !self.monitors.is_empty() {
            let remote = if peer_address.is_empty() {
                String::new()
            } else {
                format!("tcp://{peer_address}")
            };
            self.monitors.emit(event(), endpoint, &remote);
        }
    }

    /// Takes new high-water marks into account.
    pub(crate) fn options_changed(&mut self) {
        self.pipes.sndhwm = self.options.sndhwm;
        self.pipes.rcvhwm = self.options.rcvhwm;
        self.pipes.conflate = self.options.conflate;
        for (_, pipe) in self.pipes.slab.iter() {
            if let PipeKind::Inproc(end) = &pipe.kind {
                end.set_hwm(self.options.sndhwm, self.options.rcvhwm);
            }
        }
        self.pattern.configure(&self.options);
    }

    /// The handshake a new connection starts with; none for a STREAM socket, whose
    /// connections carry raw bytes.
    fn handshake(&self) -> Option<Handshake> {
        (self.socket_type != SocketType::Stream).then(|| {
            Handshake::new(HandshakeConfig {
                socket_type: self.socket_type,
                routing_id: self.options.routing_id.clone(),
                properties: self.options.metadata.clone(),
                security: self.security(),
            })
        })
    }

    /// The mechanism and role the options choose: a CURVE server (with its secret key) or
    /// client (with the server's key), a PLAIN server or client, or NULL.
    fn security(&self) -> Security {
        let o = &self.options;
        if let (true, Some(secret)) = (o.curve_server, o.curve_secretkey) {
            return Security::CurveServer {
                secret_key: CurveSecretKey::from_bytes(secret),
            };
        }
        if let (Some(server), Some(secret)) = (o.curve_serverkey, o.curve_secretkey) {
            let secret_key = CurveSecretKey::from_bytes(secret);
            let public_key = o
                .curve_publickey
                .map_or_else(|| curve_public(&secret_key), CurvePublicKey);
            return Security::CurveClient {
                server_key: CurvePublicKey(server),
                public_key,
                secret_key,
            };
        }
        if o.plain_server {
            Security::PlainServer
        } else if let Some(username) = &o.plain_username {
            let password = o.plain_password.clone().unwrap_or_default();
            Security::PlainClient {
                username: username.clone(),
                password,
            }
        } else {
            Security::Null
        }
    }

    pub(crate) fn has_zap(&self) -> bool {
        self.zap.is_some()
    }

    /// Gives the socket its link to the ZAP handler, watched by the I/O thread.
    pub(crate) fn set_zap(&mut self, zap: ZapClient) -> Result<()> {
        let fd = zap.fd()?;
        self.io
            .registry
            .register(&mut SourceFd(&fd), token(self.id, ZAP), Interest::READABLE)
            .map_err(|e| Error::io("cannot watch the ZAP handler's replies", e))?;
        self.zap = Some(zap);
        Ok(())
    }

    fn connection_options(&self) -> ConnectionOptions {
        let o = &self.options;
        // A CURVE frame carries its body in a box 33 bytes larger.
        let sealed = o.curve_server || o.curve_serverkey.is_some();
        ConnectionOptions {
            maxmsgsize: o.maxmsgsize.map(|m| if sealed { m + 33 } else { m }),
            handshake_ivl: o.handshake_ivl,
            heartbeat: Heartbeat {
                ivl: o.heartbeat_ivl,
                timeout: o.heartbeat_timeout,
                ttl: o.heartbeat_ttl,
            },
        }
    }

    fn stream_settings(&self) -> StreamSettings {
        let o = &self.options;
        StreamSettings {
            keepalive: o.tcp_keepalive,
            keepalive_idle: o.tcp_keepalive_idle,
            keepalive_cnt: o.tcp_keepalive_cnt,
            keepalive_intvl: o.tcp_keepalive_intvl,
            sndbuf: o.sndbuf,
            rcvbuf: o.rcvbuf,
            tos: o.tos,
        }
    }

    /// The pause after `current`: doubled up to `reconnect_ivl_max`, when that is set.
    fn next_backoff(&self, current: Duration) -> Duration {
        let (ivl, max) = (self.options.reconnect_ivl, self.options.reconnect_ivl_max);
        if max > ivl {
            (current * 2).clamp(ivl, max)
        } else {
            ivl
        }
    }

    /// What this socket tells an inproc peer about itself.
    pub(crate) fn inproc_peer(&self) -> InprocPeer {
        InprocPeer {
            routing_id: self.options.routing_id.clone(),
            signal: Arc::clone(&self.signal),
            sndhwm: self.options.sndhwm,
            rcvhwm: self.options.rcvhwm,
        }
    }

    pub(crate) fn send(&mut self, msg: Message) -> Result<Sent> {
        self.pipes.eager = self.recv_since_send;
        self.recv_since_send = false;
        let sent = self.pattern.send(&mut self.pipes, msg);
        self.sweep();
        sent
    }

    /// Notes that the user received a message taken ahead by `recv_batch`: a send after it is
    /// likely a reply, written at once.
    pub(crate) fn received_ahead(&mut self) {
        self.recv_since_send = true;
    }

    /// Takes the next message; `when` says whether the caller means to wait on its
    /// connections if there is none (see `UserRead`; when lending them fails, it takes them
    /// back before it waits on the signal).
    pub(crate) fn recv(&mut self, when: UserRead) -> Result<Option<Message>> {
        if let Some(msg) = self.prefetched.take() {
            self.recv_since_send = true;
            return Ok(Some(msg));
        }
        let mut msg = self.pattern.recv(&mut self.pipes);
        // Nothing queued: read what has arrived on this thread rather than sleep until the I/O
        // thread has read it and woken us, which on few cores costs more than the read.
        if matches!(msg, Ok(None)) && self.read_arrived(when) {
            msg = self.pattern.recv(&mut self.pipes);
        }
        if matches!(msg, Ok(Some(_))) {
            self.recv_since_send = true;
        }
        self.sweep();
        msg
    }

    /// Moves the messages that are queued now, up to `RECV_BATCH` of them and `RECV_BATCH_BYTES`
    /// in all, into `batch`, for the next calls to `recv` to take without the socket's lock.
    /// Only a socket whose receiving keeps no state, and whose options do not decide what is
    /// received, takes a batch: a REQ or REP turns on every message, a SUB's subscriptions
    /// may change before the next call, a conflating socket wants the newest message then.
    /// Only messages from connections go in: an inproc ring is shared with the peer writing
    /// it, and a reader that keeps it empty makes both ends pass its lines back and forth.
    pub(crate) fn recv_batch(&mut self, batch: &mut VecDeque<Message>) {
        let batches = matches!(
            self.socket_type,
            SocketType::Pull | SocketType::Pair | SocketType::Dealer | SocketType::Router
        );
        if !batches || self.options.conflate {
            return;
        }
        let mut bytes = 0;
        while self.pipes.read_from_stream && batch.len() < RECV_BATCH && bytes < RECV_BATCH_BYTES {
            let Ok(Some(msg)) = self.pattern.recv(&mut self.pipes) else {
                break;
            };
            bytes += msg.size();
            batch.push_back(msg);
        }
        self.sweep();
    }

    /// Whether a message can be received, and one sent, without waiting. To know the first,
    /// the next message is taken ahead and kept for the next `recv`.
    pub(crate) fn events(&mut self) -> Events {
        // Whoever asks may wait on the socket's fd next, which nobody raises for a connection
        // lent to a thread that is not waiting on it.
        self.take_back_reading();
        if self.prefetched.is_none() {
            if let Ok(Some(msg)) = self.pattern.recv(&mut self.pipes) {
                self.prefetched = Some(msg);
            }
        }
        // A REQ or REP whose message was only taken ahead has not had its turn yet: it may
        // not send until the user has received it (a relaxed REQ may).
        let owes_recv = self.prefetched.is_some()
            && (self.socket_type == SocketType::Rep
                || (self.socket_type == SocketType::Req && !self.options.req_relaxed));
        let events = Events {
            pollin: self.prefetched.is_some(),
            pollout: !owes_recv && self.pattern.can_send(&self.pipes),
        };
        self.sweep();
        events
    }

    pub(crate) fn dropped_messages(&self) -> u64 {
        self.pattern.dropped()
    }

    pub(crate) fn subscribe(&mut self, topic: &[u8], subscribe: bool) -> Result<()> {
        let result = self.pattern.subscribe(&mut self.pipes, topic, subscribe);
        self.sweep();
        result
    }

    fn has_pending_output(&self) -> bool {
        self.pipes.slab.iter().any(|(_, p)| match &p.kind {
            PipeKind::Stream(s) => !s.is_idle(),
            PipeKind::Inproc(_) => false,
        })
    }

    /// Stops listening and closes inproc pipes; returns true when queued messages must still
    /// be written, within the linger period.
    pub(crate) fn close(&mut self) -> bool {
        self.take_back_reading();
        for (_, mut bound) in std::mem::take(&mut self.listeners) {
            bound.listener.deregister(&self.io.registry);
            self.emit(|| Event::Closed, &bound.endpoint, "");
        }
        self.close_pipes(|p| matches!(p.kind, PipeKind::Inproc(_)));
        if self.options.linger.is_some_and(|l| l.is_zero()) || !self.has_pending_output() {
            self.terminate();
            return false;
        }
        self.linger_deadline = self.options.linger.map(|l| Instant::now() + l);
        self.arm_timer();
        true
    }

    /// Takes the ZAP client away from the I/O thread, to be dropped outside the socket's lock
    /// (dropping it closes a socket of its own).
    pub(crate) fn take_zap(&mut self) -> Option<ZapClient> {
        let zap = self.zap.take()?;
        if let Ok(fd) = zap.fd() {
            let _ = self.io.registry.deregister(&mut SourceFd(&fd));
        }
        Some(zap)
    }

    pub(crate) fn linger_done(&self, now: Instant) -> bool {
        !self.has_pending_output() || self.linger_deadline.is_some_and(|d| d <= now)
    }

    /// Drops every connection at once.
    pub(crate) fn terminate(&mut self) {
        let keys: Vec<usize> = self.pipes.slab.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.remove_pipe(key);
        }
        self.monitors.stop(&self.last_endpoint);
    }
}
