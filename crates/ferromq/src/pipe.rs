//! A socket's link to one peer, whatever the transport: what the patterns load-balance,
//! fair-queue and distribute over.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromq_zmtp::Command;
use slab::Slab;

use crate::connection::{
    subscription, Closed, Connection, OutBuffer, Progress, ReadTo, LARGE_FRAME,
};
use crate::endpoint::Endpoint;
use crate::in_queue::InQueue;
use crate::inproc::InprocEnd;
use crate::message::Message;
use crate::outbox::{Outbox, Written};
use crate::signal::Signal;

/// Write at once from the caller's thread when this much is queued for one peer in small
/// messages.
const FLUSH_AT: usize = 64 * 1024;

/// A pipe over a ZMTP stream. It outlives its connection when it was made by `connect`: the
/// messages queued for the peer wait through reconnects.
#[derive(Debug)]
pub(crate) struct StreamPipe {
    pub conn: Option<Connection>,
    pub out: OutBuffer,
    /// Messages queued before the handshake finished.
    pub pending: VecDeque<Message>,
    pub inq: InQueue,
    /// Reading paused because `inq` was full.
    pub read_blocked: bool,
    /// For a connecting pipe, where to reconnect to and when.
    pub redial: Option<Redial>,
    /// For an accepted pipe, the listener it came through.
    pub listener: Option<usize>,
    /// Close once everything queued is written (a STREAM socket's empty message).
    pub closing: bool,
    /// Waits in `Pipes::to_start`.
    starting: bool,
    /// Waits in `Pipes::arrived`.
    arrived: bool,
}

impl StreamPipe {
    fn kind(
        mut conn: Option<Connection>,
        redial: Option<Redial>,
        listener: Option<usize>,
        signal: Arc<Signal>,
    ) -> PipeKind {
        let mut out = OutBuffer::new(signal);
        if let Some(conn) = conn.as_mut() {
            out.outbox.attach(Arc::clone(&conn.stream));
            conn.handshake_output(&mut out);
        }
        PipeKind::Stream(Box::new(StreamPipe {
            conn,
            out,
            pending: VecDeque::new(),
            inq: InQueue::default(),
            read_blocked: false,
            redial,
            listener,
            closing: false,
            starting: false,
            arrived: false,
        }))
    }

    /// Whether another message may be queued: the pipe can still reach a peer and holds fewer
    /// than `sndhwm` messages (0: no limit).
    fn has_room(&self, sndhwm: usize) -> bool {
        (self.conn.is_some() || self.redial.is_some())
            && !self.closing
            && self.out.outbox.has_room(self.pending.len(), sndhwm)
    }

    /// Nothing is left to write and no writer is out.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.out.outbox.is_idle()
    }

    /// Forgets the connection's output, and a writer that is still out: its stream is no
    /// longer this pipe's.
    pub(crate) fn connection_gone(&mut self) {
        self.out.clear();
    }

    /// A pipe made by `connect`: it dials, and redials whenever its connection fails.
    pub(crate) fn connecting(
        endpoint: Endpoint,
        reconnect_ivl: Duration,
        signal: Arc<Signal>,
    ) -> PipeKind {
        let redial = Redial {
            endpoint,
            at: None,
            backoff: reconnect_ivl,
            resolved: None,
            lookup: None,
        };
        StreamPipe::kind(None, Some(redial), None, signal)
    }

    /// A pipe for a connection accepted by listener `listener`.
    pub(crate) fn accepted(conn: Connection, listener: usize, signal: Arc<Signal>) -> PipeKind {
        StreamPipe::kind(Some(conn), None, Some(listener), signal)
    }
}

#[derive(Debug)]
pub(crate) struct Redial {
    pub endpoint: Endpoint,
    pub at: Option<Instant>,
    /// The pause before the next attempt; doubles up to `reconnect_ivl_max`.
    pub backoff: Duration,
    /// The address a look-up of the host name gave, for the next attempt.
    pub resolved: Option<std::net::SocketAddr>,
    /// The look-up under way, if any (its sequence number).
    pub lookup: Option<u64>,
}

#[derive(Debug)]
pub(crate) enum PipeKind {
    Stream(Box<StreamPipe>),
    Inproc(InprocEnd),
}

/// One pipe.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub kind: PipeKind,
    /// The endpoint given to `bind` or `connect` that made it.
    pub endpoint: String,
    /// Whether the pattern knows of it.
    pub attached: bool,
    /// Set when the pipe has failed; the socket then closes or reconnects it.
    pub dead: Option<Closed>,
    /// The routing id a ROUTER was told to give this peer (`connect_routing_id`).
    pub connect_routing_id: Option<Bytes>,
    /// The peer came in through one of this socket's binds (rather than its connects).
    pub bound: bool,
}

impl Pipe {
    /// A pipe the pattern does not know of yet; `bound` when the peer came in through a bind.
    pub(crate) fn new(
        kind: PipeKind,
        endpoint: &str,
        bound: bool,
        connect_routing_id: Option<Bytes>,
    ) -> Pipe {
        Pipe {
            kind,
            endpoint: endpoint.to_string(),
            attached: false,
            dead: None,
            connect_routing_id,
            bound,
        }
    }
}

/// The pipes of one socket, with the high-water marks that bound them.
/// `SocketCore::sweep` looks at every pipe at least once in this many calls.
const FULL_SWEEP: u32 = 64;

#[derive(Debug)]
pub(crate) struct Pipes {
    pub slab: Slab<Pipe>,
    pub sndhwm: usize,
    pub rcvhwm: usize,
    /// Write straight away instead of leaving it to the I/O thread (set after a `recv`, when a
    /// reply is likely wanted now).
    pub eager: bool,
    /// Keep only the newest message each way (`conflate`).
    pub conflate: bool,
    /// The last message read came from a connection's queue, which only this socket touches,
    /// not from a ring it shares with an inproc peer (see `SocketCore::recv_batch`).
    pub read_from_stream: bool,
    /// Stream pipes with new output, which may need a writer (see `SocketCore::start_writers`).
    to_start: Vec<usize>,
    /// Stream pipes whose outboxes this thread writes once the socket's lock is released.
    to_write: Vec<usize>,
    /// Stream pipes that have received since the fair queue last asked (see `FairQueue`).
    arrived: Vec<usize>,
    /// A pipe may have died since the last sweep (see `sweep_due`).
    pub maybe_dead: bool,
    sweeps: u32,
}

impl Pipes {
    pub(crate) fn new(sndhwm: usize, rcvhwm: usize) -> Pipes {
        Pipes {
            slab: Slab::new(),
            sndhwm,
            rcvhwm,
            eager: false,
            conflate: false,
            read_from_stream: false,
            to_start: Vec::new(),
            to_write: Vec::new(),
            arrived: Vec::new(),
            maybe_dead: false,
            sweeps: 0,
        }
    }

    /// Whether `SocketCore::sweep` is to look for dead pipes: when one may have died, and once
    /// every `FULL_SWEEP` calls whatever was noted, so that a death not noted is still found.
    pub(crate) fn sweep_due(&mut self) -> bool {
        self.sweeps = self.sweeps.wrapping_add(1);
        std::mem::take(&mut self.maybe_dead) || self.sweeps % FULL_SWEEP == 0
    }

    /// Notes it if the pipe at `key` has died, for the next sweep.
    pub(crate) fn check(&mut self, key: usize) {
        if self.slab.get(key).is_some_and(|p| p.dead.is_some()) {
            self.maybe_dead = true;
        }
    }

    /// The stream pipe at `key`, if it is one.
    fn stream_mut(&mut self, key: usize) -> Option<&mut StreamPipe> {
        match self.slab.get_mut(key) {
            Some(Pipe {
                kind: PipeKind::Stream(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    /// Notes that a stream pipe's queue has new messages.
    pub(crate) fn received(&mut self, key: usize) {
        if self
            .stream_mut(key)
            .is_some_and(|s| !std::mem::replace(&mut s.arrived, true))
        {
            self.arrived.push(key);
        }
    }

    /// Forgets what was noted of a pipe about to be removed: a pattern that does not
    /// fair-queue never takes the arrivals, which would otherwise pile up with every pipe
    /// that comes and goes.
    pub(crate) fn forget(&mut self, key: usize) {
        self.arrived.retain(|&k| k != key);
    }

    /// Hands `wake` each stream pipe that has received since the last call.
    pub(crate) fn take_arrived(&mut self, mut wake: impl FnMut(usize)) {
        // Taken out and put back, to keep its room: no allocation per call.
        let mut arrived = std::mem::take(&mut self.arrived);
        for &key in &arrived {
            if let Some(s) = self.stream_mut(key) {
                s.arrived = false;
            }
            wake(key);
        }
        arrived.clear();
        self.arrived = arrived;
    }

    /// Whether `key` is a stream pipe with nothing queued: a read of it gives nothing until
    /// its connection receives (`received`). Inproc pipes are never quiet: their peer writes
    /// to them without this socket's lock.
    pub(crate) fn is_quiet(&self, key: usize) -> bool {
        matches!(self.slab.get(key), Some(Pipe { kind: PipeKind::Stream(s), .. }) if s.inq.is_empty())
    }

    /// Notes that a stream pipe has new output: a writer is found for it at the end of the
    /// socket's call.
    fn queued(&mut self, key: usize) {
        if self
            .stream_mut(key)
            .is_some_and(|s| !std::mem::replace(&mut s.starting, true))
        {
            self.to_start.push(key);
        }
    }

    /// Takes the next stream pipe with new output.
    pub(crate) fn next_started(&mut self) -> Option<usize> {
        while let Some(key) = self.to_start.pop() {
            if let Some(s) = self.stream_mut(key) {
                s.starting = false;
                return Some(key);
            }
        }
        None
    }

    /// Makes this thread the writer of a pipe's outbox, if nobody writes it already; it
    /// writes once it has let go of the socket's lock. `resume`: also when the last write
    /// found the stream full.
    pub(crate) fn flush(&mut self, key: usize, resume: bool) {
        if self.claimed(key, resume).is_some() {
            self.to_write.push(key);
        }
        self.check(key);
    }

    /// Claims the writing of a pipe's outbox for another thread (see `Outbox::claim`).
    pub(crate) fn claim(&mut self, key: usize, resume: bool) -> Option<Arc<Outbox>> {
        let outbox = self.claimed(key, resume).cloned();
        self.check(key);
        outbox
    }

    fn claimed(&mut self, key: usize, resume: bool) -> Option<&Arc<Outbox>> {
        let pipe = self.slab.get_mut(key).filter(|p| p.dead.is_none())?;
        let s = writable(pipe)?;
        s.out.outbox.claim(resume).then_some(&s.out.outbox)
    }

    /// Whether the pipe's output is to be written now by the thread that queued it: much of
    /// it, piled up in small messages, which the I/O thread would take in many small turns. Large
    /// messages are left to the I/O thread: its write, mostly the kernel's copy, then runs
    /// beside the sender making the next message.
    pub(crate) fn small_output_piled(&self, key: usize) -> bool {
        let Some(Pipe {
            kind: PipeKind::Stream(s),
            ..
        }) = self.slab.get(key)
        else {
            return false;
        };
        let (bytes, messages) = s.out.outbox.queued();
        bytes >= FLUSH_AT && bytes < messages * LARGE_FRAME
    }

    /// Takes the next outbox this thread is to write.
    pub(crate) fn next_write(&mut self) -> Option<(usize, Arc<Outbox>)> {
        while let Some(key) = self.to_write.pop() {
            // A pipe gone while claimed took its outbox with it.
            if let Some(PipeKind::Stream(s)) = self.slab.get(key).map(|p| &p.kind) {
                return Some((key, Arc::clone(&s.out.outbox)));
            }
        }
        None
    }

    /// Takes a writer's news: a failed write kills the pipe; a drained one lets a conflated
    /// message that waited go out, or closes a STREAM peer that was to close once written.
    pub(crate) fn written(&mut self, key: usize, written: &Written) {
        let Some(pipe) = self.slab.get_mut(key) else {
            return;
        };
        if let Written::Failed(e) = written {
            pipe.dead = Closed::disconnected(format!("write failed: {e}"));
        } else if matches!(written, Written::Drained { .. }) && drained(pipe) {
            self.queued(key);
        }
        self.check(key);
    }

    /// The routing id to know the peer by: the one given at connect, else the one the peer
    /// sent (empty when it sent none); `None` until the handshake is done.
    pub(crate) fn peer_routing_id(&self, key: usize) -> Option<Bytes> {
        let pipe = self.slab.get(key)?;
        if let Some(id) = &pipe.connect_routing_id {
            return Some(id.clone());
        }
        match &pipe.kind {
            PipeKind::Stream(s) => {
                let conn = s.conn.as_ref().filter(|c| c.is_active())?;
                Some(
                    conn.peer()
                        .map(|p| p.routing_id.clone())
                        .unwrap_or_default(),
                )
            }
            PipeKind::Inproc(end) => end.peer_routing_id(),
        }
    }

    /// Writes raw bytes to a STREAM peer, or gives them back when it is full.
    pub(crate) fn write_raw(&mut self, key: usize, data: Bytes) -> Result<(), Bytes> {
        let sndhwm = self.sndhwm;
        match self.slab.get_mut(key) {
            Some(pipe @ Pipe { dead: None, .. }) => match &mut pipe.kind {
                PipeKind::Stream(s) if s.has_room(sndhwm) => {
                    s.out.push_bytes(data);
                    self.queued(key);
                    Ok(())
                }
                _ => Err(data),
            },
            _ => Err(data),
        }
    }

    /// Closes a STREAM peer's connection once what is queued for it is written.
    pub(crate) fn close_when_flushed(&mut self, key: usize) {
        if let Some(pipe) = self.slab.get_mut(key) {
            if let PipeKind::Stream(s) = &mut pipe.kind {
                s.closing = true;
                s.out.outbox.tell_drained();
                if s.out.outbox.is_idle() {
                    s.redial = None;
                    pipe.dead = Closed::disconnected("closed by this side");
                    self.maybe_dead = true;
                    return;
                }
            }
            self.queued(key);
        }
    }

    /// Marks a pipe for closing; the socket closes it after the current call.
    pub(crate) fn close(&mut self, key: usize, reason: &str) {
        if let Some(pipe) = self.slab.get_mut(key) {
            pipe.dead = Closed::disconnected(reason);
            self.maybe_dead = true;
        }
    }

    /// Whether a stream pipe has room for another message.
    pub(crate) fn stream_has_room(&self, key: usize) -> bool {
        match self.slab.get(key) {
            Some(Pipe {
                kind: PipeKind::Stream(s),
                dead: None,
                ..
            }) => s.has_room(self.sndhwm),
            _ => false,
        }
    }

    /// Whether a message written to this pipe now would be taken.
    pub(crate) fn has_room(&self, key: usize) -> bool {
        match self.slab.get(key) {
            Some(Pipe {
                kind: PipeKind::Inproc(end),
                dead: None,
                ..
            }) => end.has_room(),
            _ => self.stream_has_room(key),
        }
    }

    /// Queues a message for the peer, or gives it back when the pipe is full.
    pub(crate) fn write(&mut self, key: usize, msg: Message) -> Result<(), Message> {
        let written = self.write_inner(key, msg, false);
        self.check(key);
        written
    }

    /// Queues a message whatever the high-water mark says (subscriptions, which must not be lost).
    pub(crate) fn force_write(&mut self, key: usize, msg: Message) {
        let _ = self.write_inner(key, msg, true);
        self.check(key);
    }

    fn write_inner(&mut self, key: usize, msg: Message, force: bool) -> Result<(), Message> {
        let (sndhwm, conflate) = (self.sndhwm, self.conflate);
        let Some(pipe) = self.slab.get_mut(key) else {
            return Err(msg);
        };
        if pipe.dead.is_some() {
            return Err(msg);
        }
        match &mut pipe.kind {
            PipeKind::Inproc(end) => end.write(msg, force).inspect_err(|_| {
                // Refused because the peer left, and all it sent has been read: the pipe is
                // gone. Until then what it sent before leaving stays readable.
                if end.is_finished() {
                    pipe.dead = Closed::disconnected("the inproc peer closed");
                }
            }),
            PipeKind::Stream(s) => {
                let active = s.conn.as_ref().is_some_and(Connection::is_active);
                if conflate && (!active || !s.out.outbox.is_idle()) {
                    // The newest message replaces any still waiting; it goes out when the
                    // connection has written what it holds.
                    s.pending.clear();
                    s.pending.push_back(msg);
                    s.out.outbox.tell_drained();
                    return Ok(());
                }
                let limit = if force { 0 } else { sndhwm };
                if !active || !s.pending.is_empty() {
                    if !s.has_room(limit) {
                        return Err(msg);
                    }
                    s.pending.push_back(msg);
                    return Ok(());
                }
                if s.closing {
                    return Err(msg);
                }
                match s.out.push_message_within(&msg, 0, limit) {
                    None => Err(msg),
                    Some(needs_writer) => {
                        if needs_writer {
                            self.queued(key);
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// Sends a subscription or cancellation: a command to ZMTP 3.1 peers, a message to others.
    pub(crate) fn write_subscription(&mut self, key: usize, subscribe: bool, topic: &[u8]) {
        let Some(pipe) = self.slab.get_mut(key) else {
            return;
        };
        if let PipeKind::Stream(s) = &mut pipe.kind {
            // Before the handshake there is nothing to do: `Pattern::connected` sends them all.
            let Some(peer) = s.conn.as_ref().and_then(Connection::peer) else {
                return;
            };
            if peer.version.minor >= 1 && s.pending.is_empty() {
                let topic = Bytes::copy_from_slice(topic);
                let cmd = if subscribe {
                    Command::Subscribe(topic)
                } else {
                    Command::Cancel(topic)
                };
                s.out.push_command(&cmd);
                self.queued(key);
                return;
            }
        }
        self.force_write(key, subscription(subscribe, topic));
    }

    /// Takes the next message from a pipe.
    pub(crate) fn read(&mut self, key: usize) -> Option<Message> {
        let msg = if self.conflate {
            // Only the newest message counts; everything before it is dropped.
            let mut newest = None;
            while let Some(msg) = self.read_one(key) {
                newest = Some(msg);
            }
            newest
        } else {
            self.read_one(key)
        };
        self.check(key);
        msg
    }

    fn read_one(&mut self, key: usize) -> Option<Message> {
        let rcvhwm = self.rcvhwm;
        let pipe = self.slab.get_mut(key)?;
        self.read_from_stream = matches!(pipe.kind, PipeKind::Stream(_));
        match &mut pipe.kind {
            PipeKind::Inproc(end) => {
                let msg = end.read();
                if msg.is_none() && end.is_finished() {
                    pipe.dead = Closed::disconnected("the inproc peer closed");
                }
                msg
            }
            PipeKind::Stream(s) => {
                let msg = s.inq.pop_front();
                if s.inq.is_empty() && s.conn.is_none() && s.redial.is_none() {
                    pipe.dead =
                        Closed::disconnected("the peer has gone and everything it sent was read");
                    return msg;
                }
                if s.read_blocked && s.inq.has_room_again(rcvhwm) {
                    s.read_blocked = false;
                    let progress = resume_reading(s, rcvhwm);
                    if progress.received && !s.arrived {
                        s.arrived = true;
                        self.arrived.push(key);
                    }
                    if let Some(reason) = progress.closed {
                        pipe.dead = Some(reason);
                    } else {
                        self.queued(key);
                    }
                }
                msg
            }
        }
    }
}

fn resume_reading(s: &mut StreamPipe, rcvhwm: usize) -> Progress {
    let Some(conn) = s.conn.as_mut() else {
        return Progress::default();
    };
    // The report of a close may have come while reading was paused.
    let progress = conn.read(&mut s.inq, rcvhwm, &mut s.out, ReadTo::End);
    s.read_blocked = s.inq.is_full(rcvhwm);
    progress
}

/// Writes what a stream pipe has queued, on this thread and under the socket's lock (where
/// the write must happen before what follows: a handshake, a last command before closing),
/// unless a writer is out already (it writes what was queued meanwhile before it stops);
/// marks the pipe dead when the stream fails, or when it was to close once written. Returns
/// whether the write blocked with bytes left, which must then be watched for room.
pub(crate) fn flush_stream(pipe: &mut Pipe) -> bool {
    let Some(s) = writable(pipe) else {
        return false;
    };
    let outbox = Arc::clone(&s.out.outbox);
    loop {
        match outbox.write_now() {
            Some(Written::Failed(e)) => {
                pipe.dead = Closed::disconnected(format!("write failed: {e}"));
                return false;
            }
            Some(Written::Blocked) => return true,
            Some(Written::Drained { .. }) => {
                if !drained(pipe) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A stream pipe that can be written now: connected (its handshake may still be going on)
/// and with its encoder sound. A pipe whose CURVE sealing failed is marked dead instead.
fn writable(pipe: &mut Pipe) -> Option<&StreamPipe> {
    let PipeKind::Stream(s) = &mut pipe.kind else {
        return None;
    };
    if s.conn.as_ref().is_none_or(Connection::is_connecting) {
        return None;
    }
    if let Some(reason) = s.out.broken.take() {
        pipe.dead = Some(Closed::ProtocolError(reason));
        return None;
    }
    Some(s)
}

/// After a writer has emptied a stream pipe's outbox: a conflated message that waited for it
/// is queued (returns true: it needs writing), or a STREAM peer that was to close once
/// written is closed.
fn drained(pipe: &mut Pipe) -> bool {
    let PipeKind::Stream(s) = &mut pipe.kind else {
        return false;
    };
    if !s.conn.as_ref().is_some_and(Connection::is_active) {
        return false;
    }
    if !s.pending.is_empty() {
        while let Some(msg) = s.pending.pop_front() {
            s.out.push_message(&msg);
        }
        return true;
    }
    if s.closing && s.out.outbox.is_idle() {
        s.redial = None;
        pipe.dead = Closed::disconnected("closed by this side");
    }
    false
}
