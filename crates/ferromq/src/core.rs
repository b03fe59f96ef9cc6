//! The state of one socket: its listeners, its pipes and its pattern, behind one lock that the
//! user's thread and the I/O thread take in turn. Either thread may do the I/O: the user's
//! thread writes straight to an idle connection, the I/O thread does what happens in the
//! background.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_zmtp::{Handshake, HandshakeConfig, SocketType};
use slab::Slab;

use crate::connection::{Closed, Connection, ConnectionOptions, Heartbeat, Progress};
use crate::endpoint::{Endpoint, TcpHost};
use crate::error::{Error, ErrorKind, Result};
use crate::inproc::{InprocEnd, InprocPeer};
use crate::io_thread::{token, IoShared, Lookup};
use crate::message::Message;
use crate::monitor::{Event, Monitors};
use crate::options::Options;
use crate::pattern::{Pattern, Sent};
use crate::pipe::{flush_stream, Pipe, PipeKind, Pipes, StreamPipe};
use crate::signal::Signal;
use crate::socket::Events;
use crate::transport::{ipc, tcp, Listener, StreamSettings};

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
    flush_requested: bool,
    timer_armed: Option<Instant>,
    linger_deadline: Option<Instant>,
    /// The user should look again: something arrived, left or made room.
    pub notify: bool,
    pub monitors: Monitors,
    /// A message taken ahead by `events`, for the next `recv`.
    prefetched: Option<Message>,
    /// Name look-ups started, to tell their answers apart.
    lookups: u64,
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
            flush_requested: false,
            timer_armed: None,
            linger_deadline: None,
            notify: false,
            monitors: Monitors::default(),
            prefetched: None,
            lookups: 0,
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
            })
        })
    }

    fn connection_options(&self) -> ConnectionOptions {
        let o = &self.options;
        ConnectionOptions {
            maxmsgsize: o.maxmsgsize,
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

    // ---- endpoints -------------------------------------------------------------------

    pub(crate) fn bind(&mut self, text: &str, endpoint: &Endpoint) -> Result<()> {
        let bound = match endpoint {
            Endpoint::Tcp { host, port } => tcp::bind(text, host, *port, self.options.ipv6),
            Endpoint::Ipc(addr) => ipc::bind(text, addr),
            Endpoint::Inproc(_) => unreachable!("inproc is bound by the context"),
        };
        let (mut listener, bound) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                self.emit(
                    || Event::BindFailed {
                        reason: e.to_string(),
                    },
                    text,
                    "",
                );
                return Err(e);
            }
        };
        let entry = self.listeners.vacant_entry();
        let key = entry.key() as u32;
        listener
            .register(&self.io.registry, token(self.id, key | LISTENER))
            .map_err(|e| Error::io(text, e))?;
        entry.insert(Bound {
            listener,
            endpoint: bound.clone(),
        });
        tracing::debug!(endpoint = %bound, "listening");
        self.emit(|| Event::Listening, &bound, "");
        self.last_endpoint = bound;
        Ok(())
    }

    pub(crate) fn connect(&mut self, text: &str, endpoint: Endpoint) {
        let routing_id = self.options.connect_routing_id.take();
        let connecting = StreamPipe::connecting(endpoint, self.options.reconnect_ivl);
        let pipe = Pipe::new(connecting, text, false, routing_id);
        let key = self.pipes.slab.insert(pipe);
        // With `immediate`, the pattern learns of the pipe only once it is connected.
        if !self.options.immediate {
            self.pipes.slab[key].attached = true;
            self.pattern.attach(&mut self.pipes, key);
        }
        self.last_endpoint = text.to_string();
        self.dial(key);
        self.sweep();
        self.arm_timer();
    }

    /// Adds an inproc pipe, from a connect (`routing_id` is its `connect_routing_id`) or from a
    /// peer connecting to this socket's bind; its peer is known at once, so it is connected at
    /// once.
    pub(crate) fn attach_inproc(
        &mut self,
        end: InprocEnd,
        endpoint: &str,
        connect: Option<Option<Bytes>>,
    ) {
        let pipe = match connect {
            Some(routing_id) => Pipe::new(PipeKind::Inproc(end), endpoint, false, routing_id),
            None => Pipe::new(PipeKind::Inproc(end), endpoint, true, None),
        };
        let key = self.pipes.slab.insert(pipe);
        self.attach(key);
        self.notify = true;
    }

    /// Introduces a pipe whose peer is known to the pattern.
    fn attach(&mut self, key: usize) {
        if self.pattern.attach(&mut self.pipes, key) {
            self.pipes.slab[key].attached = true;
            self.connected(key);
        } else {
            self.refuse(key);
        }
    }

    /// Tells the pattern that a pipe's handshake is done.
    fn connected(&mut self, key: usize) {
        if !self.pattern.connected(&mut self.pipes, key) {
            self.refuse(key);
        }
    }

    fn refuse(&mut self, key: usize) {
        let reason = format!("the {} socket refused this peer", self.socket_type.name());
        self.pipes.close(key, &reason);
    }

    pub(crate) fn unbind(&mut self, text: &str) -> Result<()> {
        let key = self
            .listeners
            .iter()
            .find(|(_, b)| b.endpoint == text)
            .map(|(k, _)| k)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::AddressNotAvailable,
                    format!("cannot unbind {text}: not bound"),
                )
            })?;
        let mut bound = self.listeners.remove(key);
        bound.listener.deregister(&self.io.registry);
        self.emit(|| Event::Closed, &bound.endpoint, "");
        self.close_pipes(|p| matches!(&p.kind, PipeKind::Stream(s) if s.listener == Some(key)));
        Ok(())
    }

    /// Closes the inproc pipes of peers that came in through `text` (unbinding it).
    pub(crate) fn unbind_inproc(&mut self, text: &str) {
        self.close_pipes(|p| p.bound && p.endpoint == text);
    }

    pub(crate) fn disconnect(&mut self, text: &str) -> Result<()> {
        let found = self.close_pipes(|p| p.endpoint == text && !p.bound);
        if found {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::AddressNotAvailable,
                format!("cannot disconnect {text}: not connected"),
            ))
        }
    }

    fn close_pipes(&mut self, which: impl Fn(&Pipe) -> bool) -> bool {
        let keys: Vec<usize> = self
            .pipes
            .slab
            .iter()
            .filter(|(_, p)| which(p))
            .map(|(k, _)| k)
            .collect();
        for &key in &keys {
            self.remove_pipe(key);
        }
        !keys.is_empty()
    }

    fn remove_pipe(&mut self, key: usize) {
        let mut pipe = self.pipes.slab.remove(key);
        if pipe.attached {
            self.pattern.detach(&mut self.pipes, key);
        }
        match &mut pipe.kind {
            PipeKind::Stream(s) => {
                if let Some(conn) = s.conn.as_mut() {
                    conn.stream.deregister(&self.io.registry);
                }
            }
            PipeKind::Inproc(end) => end.close(),
        }
        self.notify = true;
    }

    // ---- user operations -------------------------------------------------------------

    pub(crate) fn send(&mut self, msg: Message) -> Result<Sent> {
        self.pipes.eager = self.recv_since_send;
        self.recv_since_send = false;
        let sent = self.pattern.send(&mut self.pipes, msg);
        self.after_user_op();
        sent
    }

    pub(crate) fn recv(&mut self) -> Result<Option<Message>> {
        if let Some(msg) = self.prefetched.take() {
            self.recv_since_send = true;
            return Ok(Some(msg));
        }
        let msg = self.pattern.recv(&mut self.pipes);
        if matches!(msg, Ok(Some(_))) {
            self.recv_since_send = true;
        }
        self.after_user_op();
        msg
    }

    /// Whether a message can be received, and one sent, without waiting. To know the first,
    /// the next message is taken ahead and kept for the next `recv`.
    pub(crate) fn events(&mut self) -> Events {
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
        self.after_user_op();
        events
    }

    pub(crate) fn dropped_messages(&self) -> u64 {
        self.pattern.dropped()
    }

    pub(crate) fn subscribe(&mut self, topic: &[u8], subscribe: bool) -> Result<()> {
        let result = self.pattern.subscribe(&mut self.pipes, topic, subscribe);
        self.after_user_op();
        result
    }

    fn after_user_op(&mut self) {
        self.sweep();
        if self.pipes.flush_wanted && !self.flush_requested {
            self.flush_requested = true;
            self.io.request_flush(self.id);
        }
        self.pipes.flush_wanted = false;
    }

    // ---- I/O thread --------------------------------------------------------------------

    pub(crate) fn handle_event(&mut self, key: u32, readable: bool, writable: bool) {
        if key & LISTENER != 0 {
            self.accept((key & !LISTENER) as usize);
        } else {
            self.pipe_event(key as usize, readable || writable);
        }
        self.sweep();
        self.arm_timer();
    }

    pub(crate) fn handle_flush(&mut self) {
        self.flush_requested = false;
        let keys: Vec<usize> = self.pipes.slab.iter().map(|(k, _)| k).collect();
        for key in keys {
            let pipe = &mut self.pipes.slab[key];
            if matches!(&pipe.kind, PipeKind::Stream(s) if !s.out.is_empty()) {
                let was_full = !self.pipes.stream_has_room(key);
                flush_stream(&mut self.pipes.slab[key]);
                if was_full && self.pipes.stream_has_room(key) {
                    self.notify = true;
                }
            }
        }
        self.sweep();
    }

    /// Takes a look-up's answer: dials the address, or counts a failed attempt.
    pub(crate) fn handle_resolved(&mut self, lookup: Lookup) {
        let Some(pipe) = self.pipes.slab.get_mut(lookup.key) else {
            return;
        };
        let PipeKind::Stream(s) = &mut pipe.kind else {
            return;
        };
        let Some(redial) = s.redial.as_mut().filter(|r| r.lookup == Some(lookup.seq)) else {
            return;
        };
        redial.lookup = None;
        match lookup.result {
            Ok(addr) => {
                redial.resolved = Some(addr);
                self.dial(lookup.key);
            }
            Err(e) => pipe.dead = Closed::disconnected(format!("cannot resolve the host: {e}")),
        }
        self.sweep();
    }

    pub(crate) fn handle_timer(&mut self, now: Instant) {
        self.timer_armed = None;
        let keys: Vec<usize> = self.pipes.slab.iter().map(|(k, _)| k).collect();
        for key in keys {
            let pipe = &mut self.pipes.slab[key];
            let PipeKind::Stream(s) = &mut pipe.kind else {
                continue;
            };
            match s.conn.as_mut() {
                Some(conn) if conn.deadline().is_some_and(|d| d <= now) => {
                    if let Err(closed) = conn.on_timer(now, &mut s.out) {
                        pipe.dead = Some(closed);
                    } else {
                        flush_stream(pipe);
                    }
                }
                None if s
                    .redial
                    .as_ref()
                    .is_some_and(|r| r.at.is_some_and(|at| at <= now)) =>
                {
                    self.dial(key);
                }
                _ => {}
            }
        }
        self.sweep();
        self.arm_timer();
    }

    fn accept(&mut self, lkey: usize) {
        loop {
            let Some(bound) = self.listeners.get_mut(lkey) else {
                return;
            };
            let stream = match bound.listener.accept() {
                Ok(stream) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(endpoint = %bound.endpoint, "accept failed: {e}");
                    let endpoint = bound.endpoint.clone();
                    self.emit(
                        || Event::AcceptFailed {
                            reason: e.to_string(),
                        },
                        &endpoint,
                        "",
                    );
                    return;
                }
            };
            let endpoint = bound.endpoint.clone();
            stream.apply(&self.stream_settings());
            let mut conn =
                Connection::new(stream, false, self.handshake(), self.connection_options());
            let entry = self.pipes.slab.vacant_entry();
            let key = entry.key();
            if let Err(e) = conn
                .stream
                .register(&self.io.registry, token(self.id, key as u32))
            {
                tracing::warn!(%endpoint, "cannot watch an accepted connection: {e}");
                continue;
            }
            tracing::debug!(%endpoint, peer = %conn.peer_address, "accepted");
            let peer = conn.peer_address.clone();
            let raw = conn.is_active();
            entry.insert(Pipe::new(
                StreamPipe::accepted(conn, lkey),
                &endpoint,
                true,
                None,
            ));
            self.emit(|| Event::Accepted, &endpoint, &peer);
            flush_stream(&mut self.pipes.slab[key]);
            if raw {
                self.handshake_done(key);
            }
        }
    }

    /// Starts a connection for a connecting pipe; a failure is handled by `sweep`, which
    /// schedules the next try.
    fn dial(&mut self, key: usize) {
        let handshake = self.handshake();
        let ipv6 = self.options.ipv6;
        let settings = self.stream_settings();
        let options = self.connection_options();
        let registry_token = token(self.id, key as u32);
        let pipe = &mut self.pipes.slab[key];
        let PipeKind::Stream(s) = &mut pipe.kind else {
            return;
        };
        let Some(redial) = s.redial.as_mut() else {
            return;
        };
        redial.at = None;
        let started = match &redial.endpoint {
            Endpoint::Tcp {
                host: host @ TcpHost::Name(_),
                port,
            } => match redial.resolved.take() {
                Some(addr) => tcp::connect(addr).map(|s| (s, true)),
                None => {
                    // Names are looked up off the event loop; `handle_resolved` dials again.
                    self.lookups += 1;
                    redial.lookup = Some(self.lookups);
                    self.io
                        .resolve(self.id, key, self.lookups, host.clone(), *port, ipv6);
                    return;
                }
            },
            Endpoint::Tcp { host, port } => tcp::resolve(host, *port, ipv6)
                .and_then(tcp::connect)
                .map(|s| (s, true)),
            Endpoint::Ipc(addr) => ipc::connect(addr).map(|s| (s, false)),
            Endpoint::Inproc(_) => return,
        };
        let (mut stream, connecting) = match started {
            Ok(started) => started,
            Err(e) => {
                pipe.dead = Some(Closed::connect_failed(&e));
                return;
            }
        };
        if let Err(e) = stream.register(&self.io.registry, registry_token) {
            pipe.dead = Closed::disconnected(format!("cannot watch the connection: {e}"));
            return;
        }
        stream.apply(&settings);
        let mut conn = Connection::new(stream, connecting, handshake, options);
        conn.handshake_output(&mut s.out);
        let raw = conn.is_active();
        let (endpoint, peer) = (pipe.endpoint.clone(), conn.peer_address.clone());
        s.conn = Some(conn);
        flush_stream(pipe);
        if connecting {
            self.emit(|| Event::ConnectDelayed, &endpoint, "");
        } else {
            self.emit(|| Event::Connected, &endpoint, &peer);
        }
        if raw {
            self.handshake_done(key);
        }
    }

    /// Progress on a stream pipe after a readiness event; everything queued is written after.
    fn pipe_event(&mut self, key: usize, ready: bool) {
        let rcvhwm = self.pipes.rcvhwm;
        let was_full = !self.pipes.stream_has_room(key);
        let Some(pipe) = self.pipes.slab.get_mut(key) else {
            return;
        };
        let PipeKind::Stream(s) = &mut pipe.kind else {
            return;
        };
        let Some(conn) = s.conn.as_mut() else { return };
        if conn.is_connecting() {
            match conn.finish_connect() {
                Ok(false) => return,
                Ok(true) => {
                    tracing::debug!(endpoint = %pipe.endpoint, "connected");
                    conn.handshake_output(&mut s.out);
                    let active = conn.is_active();
                    let (endpoint, peer) = (pipe.endpoint.clone(), conn.peer_address.clone());
                    self.emit(|| Event::Connected, &endpoint, &peer);
                    if active {
                        self.handshake_done(key);
                        return;
                    }
                    return self.pipe_event(key, ready);
                }
                Err(e) => {
                    pipe.dead = Some(Closed::connect_failed(&e));
                    return;
                }
            }
        }
        let mut progress = Progress::default();
        if ready || !conn.is_active() {
            progress = conn.read(&mut s.inq, rcvhwm, &mut s.out);
            s.read_blocked = rcvhwm != 0 && s.inq.len() >= rcvhwm;
        }
        // A peer may finish its handshake, send and leave in one read: the handshake is
        // taken in first, so that what it sent is delivered.
        if progress.handshake_done {
            self.handshake_done(key);
        }
        let pipe = &mut self.pipes.slab[key];
        if let Some(reason) = progress.closed {
            flush_stream(pipe);
            pipe.dead = Some(reason);
            return;
        }
        flush_stream(&mut self.pipes.slab[key]);
        if progress.received
            || progress.handshake_done
            || (was_full && self.pipes.stream_has_room(key))
        {
            self.notify = true;
        }
    }

    fn handshake_done(&mut self, key: usize) {
        let pipe = &mut self.pipes.slab[key];
        let PipeKind::Stream(s) = &mut pipe.kind else {
            return;
        };
        while let Some(msg) = s.pending.pop_front() {
            s.out.push_message(&msg);
        }
        if let Some(redial) = s.redial.as_mut() {
            redial.backoff = self.options.reconnect_ivl;
        }
        let attached = pipe.attached;
        // A blocked call may now go ahead: a send has a peer, a STREAM recv has news.
        self.notify = true;
        if let Some(conn) = s.conn.as_ref() {
            if let Some(peer) = conn.peer() {
                tracing::debug!(endpoint = %pipe.endpoint, peer_type = peer.socket_type.name(), "handshake succeeded");
                let (endpoint, address) = (pipe.endpoint.clone(), conn.peer_address.clone());
                self.emit(|| Event::HandshakeSucceeded, &endpoint, &address);
            }
        }
        if attached {
            self.connected(key);
        } else {
            self.attach(key);
        }
    }

    /// Closes failed pipes, or starts reconnecting those that `connect` made.
    fn sweep(&mut self) {
        let dead: Vec<usize> = self
            .pipes
            .slab
            .iter()
            .filter(|(_, p)| p.dead.is_some())
            .map(|(k, _)| k)
            .collect();
        for key in dead {
            let stop = self.options.reconnect_stop;
            let pipe = &mut self.pipes.slab[key];
            let peer = match &pipe.kind {
                PipeKind::Stream(s) => s.conn.as_ref().map(|c| c.peer_address.clone()),
                PipeKind::Inproc(_) => None,
            }
            .unwrap_or_default();
            let closed = pipe.dead.take();
            let was_connected = matches!(&pipe.kind, PipeKind::Stream(s) if s.conn.as_ref().is_some_and(|c| !c.is_connecting()));
            let endpoint = pipe.endpoint.clone();
            match &closed {
                Some(Closed::ProtocolError(reason) | Closed::HandshakeFailed(reason, _)) => {
                    tracing::warn!(endpoint = %pipe.endpoint, %peer, "connection closed: {reason}")
                }
                Some(reason) => {
                    tracing::debug!(endpoint = %pipe.endpoint, %peer, "disconnected: {reason}")
                }
                None => {}
            }
            let give_up = match &closed {
                Some(Closed::Refused(_)) => stop.conn_refused,
                Some(Closed::HandshakeFailed(..)) => stop.handshake_failed,
                _ => false,
            };
            if let Some(Closed::HandshakeFailed(reason, code)) = &closed {
                let reason = reason.clone();
                let event = match code {
                    Some(code) => Event::HandshakeFailedProtocol {
                        reason,
                        code: *code,
                    },
                    None => Event::HandshakeFailedNoDetail { reason },
                };
                self.emit(|| event, &endpoint, &peer);
            }
            if was_connected {
                let reason = closed.as_ref().map(ToString::to_string).unwrap_or_default();
                self.emit(|| Event::Disconnected { reason }, &endpoint, &peer);
            }
            let pipe = &mut self.pipes.slab[key];
            match &mut pipe.kind {
                PipeKind::Stream(s) if s.redial.is_some() && !give_up => {
                    if let Some(mut conn) = s.conn.take() {
                        conn.stream.deregister(&self.io.registry);
                    }
                    s.out.clear();
                    s.read_blocked = false;
                    if self.options.immediate && pipe.attached {
                        // Nothing waits for a peer that is not connected.
                        s.pending.clear();
                        pipe.attached = false;
                        self.pattern.detach(&mut self.pipes, key);
                    }
                    let PipeKind::Stream(s) = &mut self.pipes.slab[key].kind else {
                        continue;
                    };
                    let backoff = s.redial.as_ref().map_or(Duration::ZERO, |r| r.backoff);
                    let next = self.next_backoff(backoff);
                    if let PipeKind::Stream(s) = &mut self.pipes.slab[key].kind {
                        if let Some(redial) = s.redial.as_mut() {
                            redial.at = Some(Instant::now() + backoff);
                            redial.backoff = next;
                        }
                    }
                    self.emit(
                        || Event::ConnectRetried { interval: backoff },
                        &endpoint,
                        "",
                    );
                    self.notify = true;
                }
                PipeKind::Stream(s) if !s.inq.is_empty() => {
                    // What arrived before the peer left is still delivered; the pipe goes
                    // once it has been read.
                    if let Some(mut conn) = s.conn.take() {
                        conn.stream.deregister(&self.io.registry);
                    }
                    s.redial = None;
                    s.out.clear();
                    s.pending.clear();
                    self.notify = true;
                }
                _ => self.remove_pipe(key),
            }
        }
        // A pipe found dead during a user call or a flush needs its redial timer armed.
        self.arm_timer();
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pipes = self.pipes.slab.iter().filter_map(|(_, p)| match &p.kind {
            PipeKind::Stream(s) => match &s.conn {
                Some(conn) => conn.deadline(),
                None => s.redial.as_ref().and_then(|r| r.at),
            },
            PipeKind::Inproc(_) => None,
        });
        pipes.chain(self.linger_deadline).min()
    }

    fn arm_timer(&mut self) {
        if let Some(at) = self.next_deadline() {
            if self.timer_armed.is_none_or(|armed| at < armed) {
                self.timer_armed = Some(at);
                self.io.add_timer(at, self.id);
            }
        }
    }

    // ---- closing -----------------------------------------------------------------------

    fn has_pending_output(&self) -> bool {
        self.pipes.slab.iter().any(|(_, p)| match &p.kind {
            PipeKind::Stream(s) => !s.out.is_empty() || !s.pending.is_empty(),
            PipeKind::Inproc(_) => false,
        })
    }

    /// Stops listening and closes inproc pipes; returns true when queued messages must still
    /// be written, within the linger period.
    pub(crate) fn close(&mut self) -> bool {
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
