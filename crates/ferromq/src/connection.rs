//! One ZMTP connection over a byte stream: handshake, then frames in and out.
//!
//! Reads are batched (one `read` fills many frames, split off the buffer without copying);
//! writes are batched (small frames are packed into one buffer, large bodies are written from
//! their own memory with one vectored write).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use ferromq_zmtp::{
    message_header, AuthReply, AuthRequest, Command, CurveCodec, Frame as WireFrame, FrameDecoder,
    Framing, Handshake, PeerInfo, ProtocolError,
};

use crate::frame::Frame;
use crate::in_queue::InQueue;
use crate::message::{Message, PeerMetadata};
use crate::outbox::{Outbox, Written};
use crate::signal::Signal;
use crate::spare_buffers::{SpareBuffers, KEEP_BYTES};
use crate::transport::Stream;

/// Bytes asked of the kernel per read at first.
const READ_SIZE: usize = 64 * 1024;
/// The most asked of the kernel per read, when reads keep coming back full.
const MAX_READ: usize = 256 * 1024;
/// Reads go into the input buffer's free room while it has at least this much. Frames are
/// slices of that buffer, so a fresh one for every read would cost an allocation per read.
const MIN_ROOM: usize = 8 * 1024;
/// Frame bodies at least this large are written from their own buffer instead of copied,
/// and read into a buffer of their own size.
pub(crate) const LARGE_FRAME: usize = 8 * 1024;
/// Frames up to this size are read into a buffer of exactly their size once their header is
/// in: no more than one read may take anyway. A larger one grows its buffer read by read, as
/// the bytes arrive, so that a length a peer announces is never allocated before it is sent.
const OWN_BUFFER_MAX: usize = MAX_READ;
/// The longest frame header of any framing (ZMTP 1.0: 0xFF, 8 bytes of length, flags).
const MAX_HEADER: usize = 10;
/// At most this many buffers go into one vectored write.
const MAX_IOV: usize = 64;

/// A piece of the output that is not in the packed buffer: the header of a large frame, or
/// its body, written from the message's own memory.
#[derive(Debug)]
enum Chunk {
    Header {
        bytes: [u8; 10],
        start: u8,
        end: u8,
    },
    Body(Bytes),
    /// Small frames packed before a large one.
    Packed(Bytes),
}

impl Chunk {
    fn as_slice(&self) -> &[u8] {
        match self {
            Chunk::Header { bytes, start, end } => &bytes[*start as usize..*end as usize],
            Chunk::Body(b) | Chunk::Packed(b) => b,
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Chunk::Header { start, .. } => *start += n as u8,
            Chunk::Body(b) | Chunk::Packed(b) => b.advance(n),
        }
    }
}

/// Encoded bytes waiting to be written: large bodies by reference in `chunks`, and the newest
/// small frames packed into `tail`, which is always written last. A writer takes a whole queue
/// out of its connection's outbox and writes it without holding any lock.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    tail: BytesMut,
    bytes: usize,
    /// Messages encoded since the queue was last empty: the part of the high-water mark that
    /// has left the pipe but not the process.
    messages: usize,
}

impl OutQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    pub(crate) fn messages(&self) -> usize {
        self.messages
    }

    /// Moves everything `later` holds to the end of this queue, leaving it empty.
    pub(crate) fn append(&mut self, later: &mut OutQueue) {
        if later.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            self.chunks
                .push_back(Chunk::Packed(self.tail.split().freeze()));
        }
        self.chunks.append(&mut later.chunks);
        std::mem::swap(&mut self.tail, &mut later.tail);
        self.bytes += later.bytes;
        self.messages += later.messages;
        later.bytes = 0;
        later.messages = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.bytes = 0;
        self.messages = 0;
    }

    /// Writes as much as the stream takes. `Ok` whether or not everything went.
    pub(crate) fn write_to(&mut self, stream: &Stream) -> io::Result<()> {
        while self.bytes > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            for chunk in self.chunks.iter().take(MAX_IOV - 1) {
                slices[n] = IoSlice::new(chunk.as_slice());
                n += 1;
            }
            if n < MAX_IOV - 1 || self.chunks.len() == n {
                slices[n] = IoSlice::new(&self.tail);
                n += 1;
            }
            let written = match stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        self.messages = 0;
        Ok(())
    }

    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.as_slice().len() <= n => {
                    n -= chunk.as_slice().len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
    }
}

/// Encodes what a connection has to send into its outbox, sealed by its CURVE session.
#[derive(Debug)]
pub(crate) struct OutBuffer {
    pub outbox: Arc<Outbox>,
    /// The CURVE session of the connection, once its handshake is done: every frame out is
    /// sealed by it here, and every frame in is opened by it (nonces run both ways in one
    /// object, so it lives where the frames are encoded).
    pub curve: Option<CurveCodec>,
    /// Why sealing a frame failed: the connection must close.
    pub broken: Option<String>,
    /// An older peer's framing, once the handshake has found one.
    pub legacy: Option<Framing>,
}

impl OutBuffer {
    /// An empty buffer whose writers wake `signal` when they make room.
    pub(crate) fn new(signal: Arc<Signal>) -> OutBuffer {
        OutBuffer {
            outbox: Outbox::new(signal),
            curve: None,
            broken: None,
            legacy: None,
        }
    }

    pub(crate) fn push_message(&mut self, msg: &Message) {
        self.push_message_within(msg, 0, 0);
    }

    /// Queues a message when fewer than `limit` messages (0: no limit) are queued or being
    /// written besides `others`, with one look at the outbox: `None` when full, else whether
    /// the outbox had no writer (one must be started).
    pub(crate) fn push_message_within(
        &mut self,
        msg: &Message,
        others: usize,
        limit: usize,
    ) -> Option<bool> {
        let mut st = self.outbox.state();
        if !st.has_room(others, limit) {
            return None;
        }
        let needs_writer = st.needs_writer();
        let q = &mut st.queue;
        let last = msg.len().saturating_sub(1);
        if let Some(curve) = self.curve.as_mut() {
            let before = q.tail.len();
            for (i, frame) in msg.iter().enumerate() {
                if let Err(e) = curve.encode_message(&mut q.tail, i < last, frame) {
                    self.broken = Some(format!("CURVE: {e}"));
                }
            }
            q.bytes += q.tail.len() - before;
            q.messages += 1;
            return Some(needs_writer);
        }
        let framing = self.legacy.unwrap_or(Framing::Zmtp3);
        for (i, frame) in msg.iter().enumerate() {
            let (header, n) = message_header(framing, i < last, frame.len());
            if let Some(body) = frame.shared().filter(|b| b.len() >= LARGE_FRAME) {
                if !q.tail.is_empty() {
                    q.chunks.push_back(Chunk::Packed(q.tail.split().freeze()));
                }
                q.chunks.push_back(Chunk::Header {
                    bytes: header,
                    start: 0,
                    end: n as u8,
                });
                q.chunks.push_back(Chunk::Body(body.clone()));
            } else {
                q.tail.extend_from_slice(&header[..n]);
                q.tail.extend_from_slice(frame);
            }
            q.bytes += n + frame.len();
        }
        q.messages += 1;
        Some(needs_writer)
    }

    /// Bytes for a raw (STREAM) connection, written as they are.
    pub(crate) fn push_bytes(&mut self, data: Bytes) {
        let mut st = self.outbox.state();
        let q = &mut st.queue;
        if !q.tail.is_empty() {
            q.chunks.push_back(Chunk::Packed(q.tail.split().freeze()));
        }
        q.bytes += data.len();
        q.chunks.push_back(Chunk::Body(data));
        q.messages += 1;
    }

    pub(crate) fn push_command(&mut self, cmd: &Command) {
        let mut st = self.outbox.state();
        let q = &mut st.queue;
        let before = q.tail.len();
        match self.curve.as_mut() {
            Some(curve) => {
                if let Err(e) = curve.encode_command(&mut q.tail, cmd) {
                    self.broken = Some(format!("CURVE: {e}"));
                }
            }
            None => cmd.encode(&mut q.tail),
        }
        q.bytes += q.tail.len() - before;
    }

    pub(crate) fn push_raw(&mut self, f: impl FnOnce(&mut BytesMut)) {
        let mut st = self.outbox.state();
        let q = &mut st.queue;
        let before = q.tail.len();
        f(&mut q.tail);
        q.bytes += q.tail.len() - before;
    }

    /// Drops what was not written, and the connection's CURVE session with it.
    pub(crate) fn clear(&mut self) {
        self.outbox.detach();
        self.curve = None;
        self.broken = None;
        self.legacy = None;
    }

    /// Writes what the stream takes now, on this thread, unless a writer is out already.
    pub(crate) fn write_now(&self) -> io::Result<()> {
        match self.outbox.write_now() {
            Some(Written::Failed(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for OutBuffer {
    /// A writer still out (the I/O thread may hold the outbox for a few more turns) must not
    /// go on writing for a pipe that is gone, nor keep its stream open.
    fn drop(&mut self) {
        self.outbox.detach();
    }
}

/// ZMTP 3.1 heartbeats (RFC 37 PING and PONG), from the socket's options.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Heartbeat {
    /// Send a PING this often.
    pub ivl: Option<Duration>,
    /// Close when nothing arrives this long after a PING.
    pub timeout: Option<Duration>,
    /// Ask the peer to close when it hears nothing from us for this long.
    pub ttl: Option<Duration>,
}

/// What a connection takes from its socket's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionOptions {
    pub maxmsgsize: Option<u64>,
    pub handshake_ivl: Option<Duration>,
    pub heartbeat: Heartbeat,
}

/// Where a connection is in its life.
#[derive(Debug)]
enum Phase {
    /// A non-blocking connect is under way; the handshake starts when it finishes (there is
    /// none for a raw connection).
    Connecting(Option<Box<Handshake>>),
    Handshaking(Box<Handshake>),
    Active(Box<PeerInfo>),
    /// A STREAM socket's connection: raw bytes, no ZMTP at all.
    Raw,
    /// Only while moving from one phase to the next.
    Failed,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The peer went away, or the network failed: an everyday event.
    Disconnected(String),
    /// Nothing listens at the address (ECONNREFUSED).
    Refused(String),
    /// The handshake failed (with libzmq's protocol error code) or did not finish in time
    /// (no code): worth a warning.
    HandshakeFailed(String, Option<u32>),
    /// Authentication refused the client (on a server), or the server refused this side (on a
    /// client), with the ZAP status code.
    AuthFailed(String, u16),
    /// The peer broke the protocol after the handshake: worth a warning.
    ProtocolError(String),
}

impl Closed {
    pub(crate) fn disconnected(reason: impl Into<String>) -> Option<Closed> {
        Some(Closed::Disconnected(reason.into()))
    }

    /// A failed connect, told apart by whether anybody listens there.
    pub(crate) fn connect_failed(e: &io::Error) -> Closed {
        let reason = format!("connect failed: {e}");
        if e.kind() == io::ErrorKind::ConnectionRefused {
            Closed::Refused(reason)
        } else {
            Closed::Disconnected(reason)
        }
    }
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Disconnected(reason)
            | Closed::Refused(reason)
            | Closed::HandshakeFailed(reason, _)
            | Closed::AuthFailed(reason, _)
            | Closed::ProtocolError(reason) => f.write_str(reason),
        }
    }
}

/// How far a read goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadTo {
    /// Until a read comes back short: a stream socket returns all it holds, so a further read
    /// would only say it would block, and whoever watches the stream is told of anything newer.
    Short,
    /// Until the stream would block or ends: when the watcher's report said the peer closed
    /// (it says so once, and the data before the close comes back short), or when no report
    /// is to come.
    End,
}

/// The next read of `Connection::read`.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// The rest of a large frame (this many bytes), with the next header beside it.
    Large(usize),
    /// A header by itself, after a large frame.
    Header,
    /// This many bytes into the input buffer; the size adapts to what the reads bring.
    Chunk(usize),
}

/// What a call on a connection changed, for the socket to act on.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The handshake finished during this call.
    pub handshake_done: bool,
    /// At least one message was queued for the user.
    pub received: bool,
    /// The handshake waits for the authenticator's verdict on these credentials.
    pub auth_request: Option<AuthRequest>,
    /// Set when the connection is finished, with the reason.
    pub closed: Option<Closed>,
}

/// A ZMTP connection over one stream.
#[derive(Debug)]
pub(crate) struct Connection {
    /// Shared with a writer that writes outside the socket's lock; the descriptor stays open
    /// until both are done with it.
    pub stream: Arc<Stream>,
    phase: Phase,
    inbuf: BytesMut,
    decoder: FrameDecoder,
    partial: Message,
    /// When the handshake must be finished by.
    pub handshake_deadline: Option<Instant>,
    pub peer_address: String,
    read_size: usize,
    /// Set while the input buffer ends with a large frame: what was read beside it (the next
    /// header, or more), where the input goes on once the frame is taken.
    beside: Option<BytesMut>,
    /// Buffers the input was read into (a large frame's own, or one that frames in the queue
    /// still shared when the next read needed room), to read into again once they are free.
    spares: SpareBuffers,
    /// The input buffer is one of those, of this size.
    inbuf_spare: Option<usize>,
    heartbeat: Heartbeat,
    /// When the next PING is due.
    next_ping: Option<Instant>,
    /// When the connection times out unless something arrives (after our PING).
    answer_by: Option<Instant>,
    /// The TTL the peer asked for in its PINGs.
    peer_ttl: Option<Duration>,
    /// When the connection times out under the peer's TTL unless something arrives.
    expires: Option<Instant>,
    /// What every message from this peer carries about it, once the handshake is done.
    metadata: Option<Arc<PeerMetadata>>,
    /// The credentials were handed to the socket for authentication.
    auth_asked: bool,
    /// The I/O thread is told about room to write (from the start, and after a write blocked).
    pub watching_out: bool,
    /// The user's waiter watches this stream (see `crate::waiter`).
    pub in_waiter: bool,
    /// The user's thread is waiting on this stream: the I/O thread is not watching it.
    pub lent: bool,
    /// Read while lent (so on the user's thread, the only reader then) since the I/O thread's
    /// last look (see `SocketCore::check_lending`).
    pub read_lent: bool,
    /// The last read took all the stream held: whatever comes next raises a new edge.
    pub drained: bool,
}

impl Connection {
    /// A connection whose stream may still be connecting. Without a handshake it is raw: the
    /// bytes are the messages (STREAM sockets).
    pub(crate) fn new(
        stream: Stream,
        connecting: bool,
        handshake: Option<Handshake>,
        options: ConnectionOptions,
    ) -> Connection {
        let peer_address = stream.peer_address();
        let handshake = handshake.map(Box::new);
        let phase = match (connecting, handshake) {
            (true, handshake) => Phase::Connecting(handshake),
            (false, Some(handshake)) => Phase::Handshaking(handshake),
            (false, None) => Phase::Raw,
        };
        let handshake_deadline = match phase {
            Phase::Raw => None,
            _ => options.handshake_ivl.map(|ivl| Instant::now() + ivl),
        };
        Connection {
            stream: Arc::new(stream),
            handshake_deadline,
            phase,
            inbuf: BytesMut::new(),
            decoder: FrameDecoder::new(options.maxmsgsize),
            partial: Message::new(),
            peer_address,
            read_size: READ_SIZE,
            beside: None,
            spares: SpareBuffers::new(KEEP_BYTES),
            inbuf_spare: None,
            heartbeat: options.heartbeat,
            next_ping: None,
            answer_by: None,
            peer_ttl: None,
            expires: None,
            metadata: None,
            auth_asked: false,
            watching_out: true,
            in_waiter: false,
            read_lent: false,
            lent: false,
            drained: false,
        }
    }

    /// Whether messages can flow: the handshake is done, or the connection is raw.
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active(_) | Phase::Raw)
    }

    /// The peer, once the handshake is done.
    pub(crate) fn peer(&self) -> Option<&PeerInfo> {
        match &self.phase {
            Phase::Active(peer) => Some(peer),
            _ => None,
        }
    }

    pub(crate) fn is_connecting(&self) -> bool {
        matches!(self.phase, Phase::Connecting(_))
    }

    /// Gives the authenticator's verdict to a handshake that waits for it; `read` then goes on.
    pub(crate) fn auth_reply(&mut self, reply: AuthReply) {
        if let Phase::Handshaking(hs) = &mut self.phase {
            hs.auth_reply(reply);
        }
    }

    /// The next instant a timer of this connection needs attention.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        [
            self.handshake_deadline,
            self.next_ping,
            self.answer_by,
            self.expires,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the connection's timers: the handshake's limit, and heartbeats. An error closes
    /// the connection.
    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut OutBuffer) -> Result<(), Closed> {
        if self.handshake_deadline.is_some_and(|d| d <= now) {
            return Err(Closed::HandshakeFailed(
                "the handshake did not finish within handshake_ivl".into(),
                None,
            ));
        }
        if self.answer_by.is_some_and(|d| d <= now) {
            return Err(Closed::Disconnected(
                "heartbeat: nothing arrived within heartbeat_timeout of a PING".into(),
            ));
        }
        if self.expires.is_some_and(|d| d <= now) {
            return Err(Closed::Disconnected(
                "heartbeat: nothing arrived within the TTL the peer asked for".into(),
            ));
        }
        if let (Some(due), Some(ivl)) = (self.next_ping, self.heartbeat.ivl) {
            if due <= now {
                let ttl = self
                    .heartbeat
                    .ttl
                    .map_or(0, |t| (t.as_millis() / 100).min(u16::MAX as u128) as u16);
                out.push_command(&Command::Ping {
                    ttl,
                    context: Bytes::new(),
                });
                self.next_ping = Some(now + ivl);
                let timeout = self.heartbeat.timeout.unwrap_or(ivl);
                self.answer_by.get_or_insert(now + timeout);
            }
        }
        Ok(())
    }

    /// Moves a connecting stream on to the handshake (or straight to raw) once the connect has
    /// finished.
    pub(crate) fn finish_connect(&mut self) -> io::Result<bool> {
        if !self.stream.finish_connect()? {
            return Ok(false);
        }
        self.peer_address = self.stream.peer_address();
        self.phase = match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Connecting(Some(hs)) => Phase::Handshaking(hs),
            Phase::Connecting(None) => {
                self.handshake_deadline = None;
                Phase::Raw
            }
            other => other,
        };
        Ok(true)
    }

    /// Queues the handshake's next bytes.
    pub(crate) fn handshake_output(&mut self, out: &mut OutBuffer) {
        if let Phase::Handshaking(hs) = &mut self.phase {
            out.push_raw(|buf| hs.write_to(buf));
        }
    }

    /// Reads and decodes until the stream is drained (as `to` says) or `inq` is full (see
    /// `InQueue::is_full`). Commands are answered through `out`; subscriptions become
    /// messages, as libzmq shows them to XPUB users.
    pub(crate) fn read(
        &mut self,
        inq: &mut InQueue,
        rcvhwm: usize,
        out: &mut OutBuffer,
        to: ReadTo,
    ) -> Progress {
        self.read_lent |= self.lent;
        let mut progress = Progress::default();
        if self.is_connecting() {
            return progress;
        }
        self.drained = false;
        let mut short = false;
        loop {
            if let Err(reason) = self.process(inq, rcvhwm, out, &mut progress) {
                progress.closed = Some(reason);
                return progress;
            }
            if inq.is_full(rcvhwm) {
                return progress;
            }
            // Bytes read beside a large frame are out of the kernel: no new edge will come for
            // them, so they are decoded before a short read counts as the end.
            if short && to == ReadTo::Short && self.beside.as_ref().is_none_or(BytesMut::is_empty) {
                self.drained = true;
                return progress;
            }
            let Some(plan) = self.plan_read() else {
                // The header read beside a large frame is in: it is decoded first.
                continue;
            };
            let (result, chunk) = match plan {
                Plan::Large(chunk) => {
                    let beside = self.beside.get_or_insert_with(BytesMut::new);
                    let result =
                        self.stream
                            .read_buf_then(&mut self.inbuf, chunk, beside, MAX_HEADER);
                    (result, chunk + MAX_HEADER)
                }
                Plan::Header => (
                    self.stream.read_buf(&mut self.inbuf, MAX_HEADER),
                    MAX_HEADER,
                ),
                Plan::Chunk(chunk) => (self.stream.read_buf(&mut self.inbuf, chunk), chunk),
            };
            let adapt = matches!(plan, Plan::Chunk(_));
            if matches!(result, Ok(n) if n > 0)
                && (self.answer_by.is_some() || self.expires.is_some())
            {
                self.answer_by = None;
                self.expires = self.peer_ttl.map(|ttl| Instant::now() + ttl);
            }
            match result {
                Ok(0) => {
                    progress.closed = Closed::disconnected("the peer closed the connection");
                    return progress;
                }
                // A full read says more is waiting: read more at a time, up to MAX_READ, and
                // less again when reads come back half empty.
                Ok(n) if adapt && n == chunk => self.read_size = (self.read_size * 2).min(MAX_READ),
                Ok(n) => {
                    short = n < chunk;
                    if adapt && n < chunk / 2 {
                        self.read_size = (self.read_size / 2).max(READ_SIZE);
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        self.drained = true;
                        return progress;
                    }
                    io::ErrorKind::Interrupted => {}
                    _ => {
                        progress.closed = Closed::disconnected(format!("read failed: {e}"));
                        return progress;
                    }
                },
            }
        }
    }

    /// What the next read is, and into which buffer; `None` when the bytes read beside a large
    /// frame are to be decoded first.
    fn plan_read(&mut self) -> Option<Plan> {
        let needed = self.decoder.needed(&self.inbuf);
        let wanted = needed.saturating_sub(self.inbuf.len());
        let active = self.is_active();
        if active && (LARGE_FRAME..=OWN_BUFFER_MAX).contains(&needed) {
            // A large frame whose header is in: the rest goes into a buffer of the frame's own
            // size, which the frame then owns alone. The allocator reuses such buffers from
            // frame to frame, where a buffer shared by several frames outlives its read and
            // each read would take fresh pages; and no copy is made as the frame grows. The
            // next header is read beside it, in the same call.
            debug_assert!(
                self.beside.as_ref().is_none_or(BytesMut::is_empty),
                "what was read beside the last frame is undecoded"
            );
            if self.inbuf.capacity() - self.inbuf.len() < wanted {
                self.move_input(needed);
            }
            return Some(Plan::Large(wanted));
        }
        if active && self.inbuf.is_empty() {
            if let Some(beside) = self.beside.take() {
                // The frame is gone: its buffer is kept, and the input goes on beside it.
                let used = std::mem::replace(&mut self.inbuf, beside);
                if let Some(size) = self.inbuf_spare.take() {
                    self.spares.keep(used, size);
                }
                return self.inbuf.is_empty().then_some(Plan::Header);
            }
        }
        let chunk = wanted.clamp(self.read_size, MAX_READ);
        if self.inbuf.capacity() - self.inbuf.len() < chunk.min(MIN_ROOM)
            && !self.inbuf.try_reclaim(chunk)
        {
            // Frames in the queue still share the buffer: the next one is a kept one, as for
            // large frames, rather than fresh pages for every read. (Only a short frame can be
            // incomplete here, and `chunk` is at least `READ_SIZE`: the move copies less than
            // `LARGE_FRAME` and leaves room to read. A frame over `OWN_BUFFER_MAX` grows its
            // buffer instead.)
            if active && needed < LARGE_FRAME {
                self.move_input(chunk);
            } else {
                self.inbuf.reserve(chunk);
                // It may be a new buffer now, of another size: not one to keep.
                self.inbuf_spare = None;
            }
        }
        Some(Plan::Chunk(
            chunk.min(self.inbuf.capacity() - self.inbuf.len()),
        ))
    }

    /// Moves the input onto a kept buffer of at least `size` bytes (see `SpareBuffers`), and
    /// keeps the buffer it leaves when that was a kept one too.
    fn move_input(&mut self, size: usize) {
        let (mut fresh, whole) = self.spares.take(size);
        fresh.extend_from_slice(&self.inbuf);
        let used = std::mem::replace(&mut self.inbuf, fresh);
        if let Some(used_size) = self.inbuf_spare.replace(whole) {
            self.spares.keep(used, used_size);
        }
    }

    /// Handles whatever whole units the input buffer holds.
    fn process(
        &mut self,
        inq: &mut InQueue,
        rcvhwm: usize,
        out: &mut OutBuffer,
        progress: &mut Progress,
    ) -> Result<(), Closed> {
        if let Phase::Handshaking(hs) = &mut self.phase {
            let result = hs.read_from(&mut self.inbuf);
            out.push_raw(|buf| hs.write_to(buf));
            match result {
                Ok(None) => {
                    if let Some(request) = hs.auth_request().filter(|_| !self.auth_asked) {
                        self.auth_asked = true;
                        progress.auth_request = Some(request.clone());
                    }
                    return Ok(());
                }
                Ok(Some(mut peer)) => {
                    // From here on every frame both ways goes through the CURVE session.
                    out.curve = peer.codec.take();
                    if peer.framing != Framing::Zmtp3 {
                        out.legacy = Some(peer.framing);
                        self.decoder.set_framing(peer.framing);
                    }
                    // PING is ZMTP 3.1; a 3.0 peer would not know it.
                    if peer.version.minor >= 1 {
                        self.next_ping = self.heartbeat.ivl.map(|ivl| Instant::now() + ivl);
                    }
                    let ip = self.peer_address.rsplit_once(':').map_or("", |(ip, _)| ip);
                    self.metadata = Some(Arc::new(PeerMetadata {
                        properties: message_properties(&peer),
                        peer_address: ip.trim_start_matches('[').trim_end_matches(']').to_string(),
                    }));
                    self.phase = Phase::Active(Box::new(peer));
                    self.handshake_deadline = None;
                    progress.handshake_done = true;
                }
                Err(e) => {
                    let _ = out.write_now();
                    let reason = format!("handshake failed: {e}");
                    if let Some(status) = auth_status(&e) {
                        return Err(Closed::AuthFailed(reason, status));
                    }
                    return Err(Closed::HandshakeFailed(
                        reason,
                        Some(protocol_error_code(&e)),
                    ));
                }
            }
        }
        if matches!(self.phase, Phase::Raw) {
            if !self.inbuf.is_empty() {
                inq.push_back(Message::from(self.inbuf.split().freeze()));
                progress.received = true;
            }
            return Ok(());
        }
        let protocol_error =
            |e: ProtocolError| Closed::ProtocolError(format!("protocol error: {e}"));
        while !inq.is_full(rcvhwm) {
            let Some(head) = self.decoder.peek(&self.inbuf).map_err(protocol_error)? else {
                break;
            };
            // A message frame is taken here, without the decoder's `Frame`: a short one is
            // copied into its `Frame`, leaving the input buffer unshared; a longer one is split
            // off it. Under CURVE every frame goes to the codec below, which opens it or
            // refuses it.
            if out.curve.is_none() && !head.command {
                let body = if head.body_len <= Frame::INLINE {
                    let body =
                        Frame::copy_from_slice(&self.inbuf[head.header_len..][..head.body_len]);
                    self.inbuf.advance(head.header_len + head.body_len);
                    body
                } else {
                    self.inbuf.advance(head.header_len);
                    Frame::from(self.inbuf.split_to(head.body_len).freeze())
                };
                self.take_frame(head.more, body, inq, progress);
                continue;
            }
            let frame = self
                .decoder
                .take(&mut self.inbuf, head)
                .map_err(protocol_error)?;
            // A box that does not open, or comes out of order, ends the connection with no
            // ERROR (RFC 26).
            let frame = match out.curve.as_mut() {
                Some(curve) => curve
                    .decode(frame)
                    .map_err(|e| Closed::ProtocolError(format!("CURVE: {e}")))?,
                None => frame,
            };
            match frame {
                WireFrame::Message { more, body } => {
                    self.take_frame(more, body.into(), inq, progress)
                }
                WireFrame::Command(cmd) => self.command(cmd, inq, out, progress)?,
            }
        }
        Ok(())
    }

    /// Adds a frame to the message being received; the last one queues the message.
    fn take_frame(&mut self, more: bool, body: Frame, inq: &mut InQueue, progress: &mut Progress) {
        self.partial.push(body);
        if !more {
            let mut msg = std::mem::take(&mut self.partial);
            if let Some(metadata) = &self.metadata {
                msg.set_metadata(Arc::clone(metadata));
            }
            inq.push_back(msg);
            progress.received = true;
        }
    }

    fn command(
        &mut self,
        cmd: Command,
        inq: &mut InQueue,
        out: &mut OutBuffer,
        progress: &mut Progress,
    ) -> Result<(), Closed> {
        match cmd {
            Command::Ping { ttl, context } => {
                out.push_command(&Command::Pong { context });
                // The TTL is in tenths of a second; zero asks for nothing.
                self.peer_ttl = (ttl > 0).then(|| Duration::from_millis(u64::from(ttl) * 100));
                self.expires = self.peer_ttl.map(|ttl| Instant::now() + ttl);
            }
            Command::Subscribe(topic) => {
                inq.push_back(subscription(true, &topic));
                progress.received = true;
            }
            Command::Cancel(topic) => {
                inq.push_back(subscription(false, &topic));
                progress.received = true;
            }
            Command::Error { reason } => {
                return Err(Closed::ProtocolError(format!(
                    "the peer sent ERROR: {}",
                    String::from_utf8_lossy(&reason)
                )))
            }
            Command::Ready(_) => {
                return Err(Closed::ProtocolError(
                    "protocol error: READY after the handshake".into(),
                ))
            }
            Command::Pong { .. } | Command::Join(_) | Command::Leave(_) | Command::Other { .. } => {
            }
        }
        Ok(())
    }
}

/// What every message from a peer reports about it: what it said in its handshake, then the
/// `User-Id` and metadata the authenticator gave (later names win, as in libzmq).
fn message_properties(peer: &PeerInfo) -> Vec<(String, Bytes)> {
    let mut properties = peer.properties.0.clone();
    properties.extend(peer.zap_properties.0.iter().cloned());
    if !peer.user_id.is_empty() {
        properties.push(("User-Id".to_string(), peer.user_id.clone()));
    }
    properties
}

/// The ZAP status of a handshake that failed on authentication: the authenticator's on a
/// server, and on a client the code a server puts in its ERROR, as libzmq does.
fn auth_status(e: &ProtocolError) -> Option<u16> {
    match e {
        ProtocolError::AuthenticationFailed { status_code, .. } => Some(*status_code),
        ProtocolError::PeerError(reason) => match reason.as_str() {
            "300" | "400" | "500" => reason.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// libzmq's `ZMQ_PROTOCOL_ERROR_*` code for a failed handshake, as monitors report it.
fn protocol_error_code(e: &ProtocolError) -> u32 {
    use crate::monitor::protocol_error::*;
    match e {
        ProtocolError::MechanismMismatch { .. } => ZMTP_MECHANISM_MISMATCH,
        ProtocolError::DecryptionFailed(_) | ProtocolError::EncryptionFailed(_) => {
            ZMTP_CRYPTOGRAPHIC
        }
        ProtocolError::BadNonce { .. } => ZMTP_INVALID_SEQUENCE,
        ProtocolError::UnexpectedCommand(_) => ZMTP_UNEXPECTED_COMMAND,
        ProtocolError::BadCommand(_)
        | ProtocolError::BadFrame(_)
        | ProtocolError::FrameTooLarge { .. } => ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        ProtocolError::BadMetadata(_)
        | ProtocolError::MissingSocketType
        | ProtocolError::IncompatibleSocketType { .. } => ZMTP_INVALID_METADATA,
        _ => ZMTP_UNSPECIFIED,
    }
}

/// A subscription as a message: 0x01 (subscribe) or 0x00 (cancel), then the topic.
pub(crate) fn subscription(subscribe: bool, topic: &[u8]) -> Message {
    let mut body = BytesMut::with_capacity(topic.len() + 1);
    body.extend_from_slice(&[u8::from(subscribe)]);
    body.extend_from_slice(topic);
    Message::from(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq_zmtp::encode_frame;

    /// Everything still to be written, in the order it would be written.
    fn pending(out: &OutQueue) -> Vec<u8> {
        let mut all: Vec<u8> = out
            .chunks
            .iter()
            .flat_map(|c| c.as_slice().to_vec())
            .collect();
        all.extend_from_slice(&out.tail);
        all
    }

    #[test]
    fn frames_keep_their_order_through_partial_writes() {
        let large = Bytes::from(vec![7u8; LARGE_FRAME + 3]);
        let first = Message::from(vec![
            Bytes::from_static(b"a"),
            large.clone(),
            Bytes::from_static(b"b"),
        ]);
        let second = Message::from("c");
        let mut expected = BytesMut::new();
        encode_frame(&mut expected, true, b"a");
        encode_frame(&mut expected, true, &large);
        encode_frame(&mut expected, false, b"b");
        encode_frame(&mut expected, false, b"c");

        let mut out = OutBuffer::new(Arc::default());
        out.push_message(&first);
        out.push_message(&second);
        assert_eq!(out.outbox.queued(), (expected.len(), 2));
        assert_eq!(pending(&out.outbox.state().queue), expected.to_vec());

        // Write it in uneven pieces that end inside headers and bodies.
        let mut written = 0;
        for step in [1, 2, 5, 4000, 3, LARGE_FRAME, 1] {
            let step = step.min(out.outbox.queued().0);
            out.outbox.state().queue.consume(step);
            written += step;
            assert_eq!(
                pending(&out.outbox.state().queue),
                expected[written..].to_vec()
            );
        }
        let rest = out.outbox.queued().0;
        out.outbox.state().queue.consume(rest);
        assert_eq!(out.outbox.queued().0, 0);
    }

    #[test]
    fn what_a_writer_left_goes_before_what_came_meanwhile() {
        let large = Bytes::from(vec![3u8; LARGE_FRAME]);
        let mut out = OutBuffer::new(Arc::default());
        out.push_message(&Message::from("a"));
        out.push_message(&Message::from(large.clone()));
        out.push_message(&Message::from("b"));
        // A writer takes the queue and writes part of it; meanwhile more is queued.
        let mut taken = std::mem::take(&mut out.outbox.state().queue);
        taken.consume(5);
        out.push_message(&Message::from("c"));
        out.push_message(&Message::from(large.clone()));
        let mut expected = BytesMut::new();
        for body in [&b"a"[..], &large, b"b", b"c", &large] {
            encode_frame(&mut expected, false, body);
        }
        taken.append(&mut out.outbox.state().queue);
        assert_eq!(out.outbox.queued().0, 0);
        assert_eq!(taken.messages(), 5);
        assert_eq!(taken.bytes, expected.len() - 5);
        assert_eq!(pending(&taken), expected[5..].to_vec());
    }

    #[test]
    fn large_bodies_are_not_copied() {
        let large = Bytes::from(vec![1u8; LARGE_FRAME]);
        let mut out = OutBuffer::new(Arc::default());
        out.push_message(&Message::from(large.clone()));
        let state = out.outbox.state();
        let body = state.queue.chunks.iter().find_map(|c| match c {
            Chunk::Body(b) => Some(b),
            _ => None,
        });
        assert_eq!(body.map(|b| b.as_ptr()), Some(large.as_ptr()));
    }
}
