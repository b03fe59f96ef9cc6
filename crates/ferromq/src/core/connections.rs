//! What the I/O thread does for a socket: accepting, dialling, reading and writing its
//! connections, closing or redialling those that fail, and its timers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::{Closed, Connection, OutBuffer, Progress, ReadTo};
use crate::endpoint::{Endpoint, TcpHost};
use crate::io_thread::{token, Lookup};
use crate::monitor::Event;
use crate::outbox::{Outbox, Written};
use crate::pipe::{flush_stream, Pipe, PipeKind, StreamPipe};
use crate::transport::{ipc, tcp};
use crate::waiter::MAX_WATCHED;
use crate::zap::{ZapClient, ZAP_ENDPOINT};
use ferromq_zmtp::{AuthReply, AuthRequest, Mechanism};
use mio::Registry;

use super::{SocketCore, LISTENER, ZAP};

/// When the user's thread reads its connections, which says how far it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserRead {
    /// Before it waits on its connections: a lent one that was drained is left to the waiter,
    /// which is told of anything newer, a close included.
    ThenWaits,
    /// After a wait, in which the waiter saw a peer close or a stream fail, or not.
    Woken { peer_closed: bool },
    /// With no wait to follow, so no report of a close still to come.
    NoWait,
}

impl UserRead {
    fn reads_to(self) -> ReadTo {
        match self {
            UserRead::ThenWaits | UserRead::Woken { peer_closed: false } => ReadTo::Short,
            UserRead::Woken { peer_closed: true } | UserRead::NoWait => ReadTo::End,
        }
    }
}

/// A lent connection that the user's thread neither waits on nor reads for this long (up to
/// twice it) goes back to the I/O thread, which then reads it in the background again, notices
/// a peer that left and keeps heartbeats.
const KEEP_LENT: Duration = Duration::from_millis(10);

/// The lending of connections to the user's thread (see `lend_reading`).
#[derive(Debug, Default)]
pub(super) struct Lending {
    /// Some connections may be lent: without it, `take_back_reading`, called on every
    /// `events`, would walk the pipes each time.
    lent: bool,
    /// The user's thread is in its waiter.
    waiting: bool,
    /// Waits begun on the lent connections.
    waits: u64,
    /// `waits` at the I/O thread's last look: the same now means not waited on since.
    seen: u64,
    /// When the I/O thread looks next.
    check: Option<Instant>,
}

impl SocketCore {
    /// Acts on the I/O thread's report of readiness; `to` says how far a read must go.
    pub(crate) fn handle_event(&mut self, key: u32, readable: bool, writable: bool, to: ReadTo) {
        let pipe = (key != ZAP && key & LISTENER == 0).then_some(key as usize);
        if key == ZAP {
            self.take_zap_answers();
        } else if let Some(pipe) = pipe {
            self.pipe_event(pipe, readable || writable, to);
        } else {
            self.accept((key & !LISTENER) as usize);
        }
        self.start_writers(true);
        self.sweep();
        match pipe {
            // Only this pipe's deadline can have come forward: no pass over every pipe.
            Some(pipe) => self.arm_timer_at(self.pipes.slab.get(pipe).and_then(pipe_deadline)),
            None => self.arm_timer(),
        }
    }

    /// Finds writers for the stream pipes with new output: this thread, once it lets go of
    /// the socket's lock, when `here`, when a reply is likely awaited (`Pipes::eager`) or
    /// when small messages have piled up (`Pipes::small_output_piled`); the I/O thread
    /// otherwise.
    pub(crate) fn start_writers(&mut self, here: bool) {
        while let Some(key) = self.pipes.next_started() {
            if here || self.pipes.eager || self.pipes.small_output_piled(key) {
                self.pipes.flush(key, false);
            } else if let Some(outbox) = self.pipes.claim(key, false) {
                self.io.request_write(self.id, key, outbox);
            }
        }
    }

    /// Takes the next outbox to write once the socket's lock is released.
    pub(crate) fn next_write(&mut self) -> Option<(usize, Arc<Outbox>)> {
        self.pipes.next_write()
    }

    /// Takes a writer's news (see `Written`).
    pub(crate) fn written(&mut self, key: usize, written: Written) {
        self.pipes.written(key, &written);
        if matches!(written, Written::Blocked) {
            self.watch_out(key);
        }
        self.start_writers(true);
        self.sweep();
    }

    /// Has the I/O thread told when a connection whose write blocked has room again; a lent
    /// connection goes back to it for that (the waiter watches input only).
    fn watch_out(&mut self, key: usize) {
        let id = self.id;
        if let Some(Pipe {
            kind: PipeKind::Stream(s),
            ..
        }) = self.pipes.slab.get_mut(key)
        {
            if let Some(conn) = s.conn.as_mut().filter(|c| !c.watching_out) {
                conn.watching_out = true;
                let token = token(id, key as u32);
                if conn.lent {
                    conn.lent = false;
                    conn.stream.rewatch(&self.io.registry, token, true);
                } else {
                    conn.stream.watch(&self.io.registry, token, true);
                }
            }
        }
    }

    /// Lends the reading of the socket's active connections to a user's thread about to wait
    /// on them with `waiter`: the I/O thread stops watching them. Only connections with nothing
    /// left to write are lent (the waiter watches input only). Returns false, with every
    /// connection back with the I/O thread, when there are none, or more than `MAX_WATCHED`, or
    /// one cannot be lent.
    ///
    /// Connections stay lent after the wait (see `Lending`), so that a `recv` after a `recv`
    /// costs no change of watcher, and no wake-up of the I/O thread for a message that comes
    /// between the two.
    pub(crate) fn lend_reading(&mut self, waiter: &Registry) -> bool {
        if !self.can_lend() {
            self.take_back_reading();
            return false;
        }
        for (key, pipe) in self.pipes.slab.iter_mut() {
            let PipeKind::Stream(s) = &mut pipe.kind else {
                continue;
            };
            let Some(conn) = s.conn.as_mut().filter(|c| c.is_active() && !c.lent) else {
                continue;
            };
            if !conn.in_waiter {
                if conn.stream.register_input(waiter, mio::Token(key)).is_err() {
                    continue;
                }
                conn.in_waiter = true;
            }
            conn.stream.deregister(&self.io.registry);
            conn.lent = true;
            conn.watching_out = false;
            self.lending.lent = true;
        }
        self.lending.waiting = true;
        self.lending.waits += 1;
        true
    }

    /// Whether every pipe's connection can be lent: at most `MAX_WATCHED`, at least one active,
    /// none connecting or in its handshake (those are the I/O thread's), none whose reading is
    /// paused (see `InQueue::is_full`) and none with output waiting.
    fn can_lend(&self) -> bool {
        if self.pipes.slab.len() > MAX_WATCHED {
            return false;
        }
        let mut count = 0;
        for (_, pipe) in self.pipes.slab.iter() {
            match &pipe.kind {
                PipeKind::Stream(s) if pipe.dead.is_none() => match s.conn.as_ref() {
                    Some(c) if c.is_active() => {
                        if s.read_blocked || !s.out.outbox.is_idle() {
                            return false;
                        }
                        count += 1;
                    }
                    Some(_) => return false,
                    None => {}
                },
                _ => {}
            }
        }
        count > 0
    }

    /// Ends the user's wait: reads what has arrived and keeps the connections lent, with a
    /// check armed that gives them back once unused (a connection whose write blocked goes
    /// back at once, in `watch_out`).
    pub(crate) fn end_wait(&mut self, peer_closed: bool) {
        self.read_arrived(UserRead::Woken { peer_closed });
        self.lending.waiting = false;
        // A pipe that came during the wait took the socket past what this thread reads: the
        // wait's news would be lost with the connections, which go back at once.
        if self.pipes.slab.len() > MAX_WATCHED {
            self.take_back_reading();
        }
        if self.lending.lent && self.lending.check.is_none() {
            self.lending.check = Some(Instant::now() + KEEP_LENT);
            self.arm_timer();
        }
    }

    /// The I/O thread's look at lent connections: unless the user's thread is waiting on them
    /// now, or has waited since the last look, it takes back each one not read since then.
    fn check_lending(&mut self, now: Instant) {
        if self.lending.check.is_none_or(|at| at > now) {
            return;
        }
        let waited = self.lending.waits != self.lending.seen;
        self.lending.seen = self.lending.waits;
        self.lending.check = None;
        if self.lending.waiting {
            // Waiting since the last look: `end_wait` arms the next one.
            return;
        }
        // Waited on since the last look: all stay. Otherwise those read since (a receiver
        // working through a backlog reads without waiting) stay, and the others go back.
        let mut kept = false;
        for (key, pipe) in self.pipes.slab.iter_mut() {
            let PipeKind::Stream(s) = &mut pipe.kind else {
                continue;
            };
            if let Some(conn) = s.conn.as_mut().filter(|c| c.lent) {
                if std::mem::take(&mut conn.read_lent) || waited {
                    kept = true;
                } else {
                    give_back(conn, &s.out, &self.io.registry, token(self.id, key as u32));
                }
            }
        }
        self.lending.lent = kept;
        if kept {
            self.lending.check = Some(now + KEEP_LENT);
        }
    }

    /// Gives every lent connection back to the I/O thread (for room to write as well only if
    /// a write is blocked: registering for it would report the idle socket's room at once and
    /// wake the thread). Called by the user's thread before it waits in any other way or hands
    /// out readiness (`events`, `Socket::fd`), and by the I/O thread when lent connections go
    /// unused.
    pub(crate) fn take_back_reading(&mut self) {
        if !self.lending.lent {
            return;
        }
        self.lending.lent = false;
        self.lending.check = None;
        for (key, pipe) in self.pipes.slab.iter_mut() {
            let PipeKind::Stream(s) = &mut pipe.kind else {
                continue;
            };
            if let Some(conn) = s.conn.as_mut().filter(|c| c.lent) {
                give_back(conn, &s.out, &self.io.registry, token(self.id, key as u32));
            }
        }
    }

    /// Takes a look-up's answer: dials the address, or counts a failed attempt.
    pub(crate) fn handle_resolved(&mut self, lookup: Lookup) {
        self.pipes.maybe_dead = true;
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
        self.start_writers(true);
        self.sweep();
        // The dial's handshake deadline.
        self.arm_timer();
    }

    pub(crate) fn handle_timer(&mut self, now: Instant) {
        self.pipes.maybe_dead = true;
        self.timer_armed = None;
        self.check_lending(now);
        for key in 0..self.pipes.slab.capacity() {
            let Some(pipe) = self.pipes.slab.get_mut(key) else {
                continue;
            };
            let PipeKind::Stream(s) = &mut pipe.kind else {
                continue;
            };
            match s.conn.as_mut() {
                Some(conn) if conn.deadline().is_some_and(|d| d <= now) => {
                    if let Err(closed) = conn.on_timer(now, &mut s.out) {
                        pipe.dead = Some(closed);
                    } else if flush_stream(pipe) {
                        self.watch_out(key);
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
        self.start_writers(true);
        self.sweep();
        self.arm_timer();
    }

    pub(super) fn accept(&mut self, lkey: usize) {
        self.pipes.maybe_dead = true;
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
            let conn = Connection::new(stream, false, self.handshake(), self.connection_options());
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
                StreamPipe::accepted(conn, lkey, Arc::clone(&self.signal)),
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
    pub(super) fn dial(&mut self, key: usize) {
        self.pipes.maybe_dead = true;
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
        let (stream, connecting) = match started {
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
        s.out.outbox.attach(Arc::clone(&conn.stream));
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

    /// Progress on a stream pipe after a readiness event; everything queued is written after,
    /// and a pipe left dead is noted for the sweep.
    pub(super) fn pipe_event(&mut self, key: usize, ready: bool, to: ReadTo) {
        self.pipe_event_on(key, ready, to);
        self.pipes.check(key);
    }

    fn pipe_event_on(&mut self, key: usize, ready: bool, to: ReadTo) {
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
                    return self.pipe_event(key, ready, to);
                }
                Err(e) => {
                    pipe.dead = Some(Closed::connect_failed(&e));
                    return;
                }
            }
        }
        let mut progress = Progress::default();
        if ready || !conn.is_active() {
            progress = conn.read(&mut s.inq, rcvhwm, &mut s.out, to);
            s.read_blocked = s.inq.is_full(rcvhwm);
        }
        if let Some(request) = progress.auth_request.take() {
            flush_stream(pipe);
            return self.authenticate(key, request);
        }
        // A peer may finish its handshake, send and leave in one read: the handshake is
        // taken in first, so that what it sent is delivered.
        if progress.handshake_done {
            self.handshake_done(key);
        }
        if progress.received {
            self.pipes.received(key);
        }
        let pipe = &mut self.pipes.slab[key];
        if let Some(reason) = progress.closed {
            flush_stream(pipe);
            pipe.dead = Some(reason);
            return;
        }
        self.pipes.flush(key, true);
        if progress.received
            || progress.handshake_done
            || (was_full && self.pipes.stream_has_room(key))
        {
            self.notify = true;
        }
    }

    /// Reads every active connection whose reading is not paused (see `InQueue::is_full`), on
    /// the user's thread, when the socket has at most `MAX_WATCHED` pipes; returns whether it
    /// read any.
    pub(super) fn read_arrived(&mut self, when: UserRead) -> bool {
        // With many peers, a read of each on every empty `recv` would cost more than the
        // wake-up it saves: the I/O thread reads those.
        if self.pipes.slab.len() > MAX_WATCHED {
            return false;
        }
        let mut read = false;
        for key in 0..self.pipes.slab.capacity() {
            let readable = matches!(
                self.pipes.slab.get(key),
                Some(Pipe { kind: PipeKind::Stream(s), dead: None, .. })
                    if !s.read_blocked && s.conn.as_ref().is_some_and(|c| c.is_active()
                        && !(when == UserRead::ThenWaits && c.lent && c.drained))
            );
            if readable {
                self.pipe_event(key, true, when.reads_to());
                read = true;
            }
        }
        self.sweep();
        read
    }

    pub(super) fn handshake_done(&mut self, key: usize) {
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

    /// Asks the ZAP handler about a client whose handshake waits on its credentials. With no
    /// handler (or, under `zap_enforce_domain`, no domain), a CURVE client is let in and a PLAIN
    /// one is not, as libzmq does: a password nobody checks is no authentication.
    fn authenticate(&mut self, key: usize, request: AuthRequest) {
        self.pipes.maybe_dead = true;
        let address = match self.pipes.slab.get(key).map(|p| &p.kind) {
            Some(PipeKind::Stream(s)) => s
                .conn
                .as_ref()
                .map(|c| c.peer_address.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let ip = address
            .rsplit_once(':')
            .map_or("", |(ip, _)| ip)
            .trim_matches(|c| c == '[' || c == ']');
        let (domain, identity) = (
            self.options.zap_domain.clone(),
            self.options.routing_id.clone(),
        );
        let skip = self.options.zap_enforce_domain && domain.is_empty();
        let reply = match self.zap.as_mut() {
            Some(zap) if !skip && zap.handler_present() => {
                match zap.ask(key, &domain, ip, &identity, &request) {
                    Ok(()) => return,
                    Err(e) => AuthReply::Refuse {
                        status_code: 500,
                        text: format!("cannot ask the ZAP handler: {e}"),
                    },
                }
            }
            _ if request.mechanism == Mechanism::Plain => {
                if let Some(pipe) = self.pipes.slab.get_mut(key) {
                    pipe.dead = Some(Closed::HandshakeFailed(
                        format!("a PLAIN server needs a ZAP handler, and none is bound at {ZAP_ENDPOINT}"),
                        None,
                    ));
                }
                return;
            }
            _ => AuthReply::accept(),
        };
        self.give_verdict(key, reply);
    }

    /// Hands the handler's verdicts to the handshakes waiting for them.
    fn take_zap_answers(&mut self) {
        let answers = self
            .zap
            .as_mut()
            .map(ZapClient::answers)
            .unwrap_or_default();
        for (key, reply) in answers {
            self.give_verdict(key, reply);
        }
    }

    fn give_verdict(&mut self, key: usize, reply: AuthReply) {
        self.pipes.maybe_dead = true;
        if let Some(Pipe {
            kind: PipeKind::Stream(s),
            ..
        }) = self.pipes.slab.get_mut(key)
        {
            if let Some(conn) = s.conn.as_mut() {
                conn.auth_reply(reply);
                // The handshake goes on from what it already holds.
                self.pipe_event(key, true, ReadTo::End);
            }
        }
    }

    /// Closes failed pipes, or starts reconnecting those that `connect` made.
    pub(super) fn sweep(&mut self) {
        // A pass over every pipe only when one may have died: with many peers, a pass on every
        // call would cost more than the call. Looked for first: collecting the keys would cost
        // a pass and a vector.
        if !self.pipes.sweep_due() || !self.pipes.slab.iter().any(|(_, p)| p.dead.is_some()) {
            return;
        }
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
                Some(
                    Closed::ProtocolError(reason)
                    | Closed::HandshakeFailed(reason, _)
                    | Closed::AuthFailed(reason, _),
                ) => {
                    tracing::warn!(endpoint = %pipe.endpoint, %peer, "connection closed: {reason}")
                }
                Some(reason) => {
                    tracing::debug!(endpoint = %pipe.endpoint, %peer, "disconnected: {reason}")
                }
                None => {}
            }
            let give_up = match &closed {
                Some(Closed::Refused(_)) => stop.conn_refused,
                Some(Closed::HandshakeFailed(..) | Closed::AuthFailed(..)) => stop.handshake_failed,
                _ => false,
            };
            if let Some(Closed::AuthFailed(_, status)) = &closed {
                let status = *status;
                self.emit(|| Event::HandshakeFailedAuth { status }, &endpoint, &peer);
            }
            if let Some(zap) = self.zap.as_mut() {
                zap.forget(key);
            }
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
                    if let Some(conn) = s.conn.take() {
                        conn.stream.deregister(&self.io.registry);
                    }
                    s.connection_gone();
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
                    if let Some(conn) = s.conn.take() {
                        conn.stream.deregister(&self.io.registry);
                    }
                    s.redial = None;
                    s.connection_gone();
                    s.pending.clear();
                    self.notify = true;
                }
                _ => self.remove_pipe(key),
            }
        }
        // A pipe found dead during a user call or a flush needs its redial timer armed.
        self.arm_timer();
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pipes
            .slab
            .iter()
            .filter_map(|(_, p)| pipe_deadline(p))
            .chain(self.linger_deadline)
            .chain(self.lending.check)
            .min()
    }

    pub(super) fn arm_timer(&mut self) {
        self.arm_timer_at(self.next_deadline());
    }

    /// Arms the timer for `at`, or for the socket's own deadlines, if earlier than it is armed
    /// for; a later one is found when the timer fires.
    fn arm_timer_at(&mut self, at: Option<Instant>) {
        let at = at
            .into_iter()
            .chain(self.linger_deadline)
            .chain(self.lending.check)
            .min();
        if let Some(at) = at {
            if self.timer_armed.is_none_or(|armed| at < armed) {
                self.timer_armed = Some(at);
                self.io.add_timer(at, self.id);
            }
        }
    }
}

/// Gives one lent connection back to the I/O thread's poll (for room to write as well only if
/// a write is blocked, see `take_back_reading`).
fn give_back(conn: &mut Connection, out: &OutBuffer, registry: &Registry, token: mio::Token) {
    let blocked = !out.outbox.is_idle();
    conn.lent = false;
    conn.read_lent = false;
    conn.watching_out = blocked;
    conn.stream.rewatch(registry, token, blocked);
}

/// When a pipe next needs the timer: a connection's heartbeat or handshake deadline, or a
/// redial.
fn pipe_deadline(p: &Pipe) -> Option<Instant> {
    match &p.kind {
        PipeKind::Stream(s) => match &s.conn {
            Some(conn) => conn.deadline(),
            None => s.redial.as_ref().and_then(|r| r.at),
        },
        PipeKind::Inproc(_) => None,
    }
}
