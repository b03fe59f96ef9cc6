//! An I/O thread: one mio event loop that does the work sockets leave in the background —
//! accepting, connecting and reconnecting, handshakes, reading what arrives, writing what the
//! user queued, and keeping closed sockets alive until their linger runs out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use mio::{Events, Poll, Registry, Token, Waker};

use crate::connection::ReadTo;
use crate::endpoint::TcpHost;
use crate::outbox::{Outbox, Written};
use crate::socket::SocketShared;

const WAKER: Token = Token(usize::MAX);

/// Turns of the loop a writer that has emptied its outbox stays for more before it leaves
/// (a few tens of microseconds, yielding the CPU between turns): a sender that keeps sending
/// then needs no new wake-up, which on a machine with few cores costs the sender its CPU.
const STAY_TURNS: u32 = 64;

/// A request from a socket to its I/O thread.
enum Request {
    /// Write the outbox of pipe `key` of socket `id`, as its claimed writer.
    Write(u32, usize, Arc<Outbox>),
    /// Call the socket's timer handler at this instant.
    Timer(Instant, u32),
    /// Keep the closed socket until its queued messages are gone or its linger ends.
    Linger(Arc<SocketShared>),
    /// A host name a socket asked for has been looked up.
    Resolved(u32, Lookup),
    /// Exit once no socket lingers.
    Stop,
}

/// The answer to a name look-up made for pipe `key`; `seq` tells it from a stale one.
pub(crate) struct Lookup {
    pub key: usize,
    pub seq: u64,
    pub result: std::io::Result<std::net::SocketAddr>,
}

/// One socket known to the loop: weakly while the user holds it, strongly while it lingers.
struct Entry {
    weak: Weak<SocketShared>,
    lingering: Option<Arc<SocketShared>>,
}

/// The part of an I/O thread that sockets share with it.
pub(crate) struct IoShared {
    pub(crate) registry: Registry,
    waker: Waker,
    requests: Mutex<Vec<Request>>,
    sockets: Mutex<HashMap<u32, Entry>>,
    next_id: Mutex<u32>,
}

impl std::fmt::Debug for IoShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoShared")
    }
}

impl IoShared {
    fn push(&self, request: Request) {
        lock(&self.requests).push(request);
        let _ = self.waker.wake();
    }

    /// Adds a socket to this loop; its id is the high half of every token it registers.
    pub(crate) fn add_socket(
        &self,
        make: impl FnOnce(u32) -> Arc<SocketShared>,
    ) -> Arc<SocketShared> {
        let mut next = lock(&self.next_id);
        let mut sockets = lock(&self.sockets);
        while sockets.contains_key(&*next) {
            *next = next.wrapping_add(1);
        }
        let id = *next;
        *next = next.wrapping_add(1);
        let socket = make(id);
        sockets.insert(
            id,
            Entry {
                weak: Arc::downgrade(&socket),
                lingering: None,
            },
        );
        socket
    }

    /// Forgets a socket that has finished.
    pub(crate) fn remove_socket(&self, id: u32) {
        lock(&self.sockets).remove(&id);
    }

    /// Asks this thread to write an outbox whose writing the caller has claimed.
    pub(crate) fn request_write(&self, id: u32, key: usize, outbox: Arc<Outbox>) {
        self.push(Request::Write(id, key, outbox));
    }

    pub(crate) fn add_timer(&self, at: Instant, id: u32) {
        self.push(Request::Timer(at, id));
    }

    /// Looks `host` up on a thread of its own, as a resolver may take seconds, and hands the
    /// answer to socket `id` on this loop.
    pub(crate) fn resolve(
        self: &Arc<Self>,
        id: u32,
        key: usize,
        seq: u64,
        host: TcpHost,
        port: u16,
        ipv6: bool,
    ) {
        let io = Arc::clone(self);
        let lookup = move || {
            let result = crate::transport::tcp::resolve(&host, port, ipv6);
            io.push(Request::Resolved(id, Lookup { key, seq, result }));
        };
        if let Err(e) = std::thread::Builder::new()
            .name("ferromq-resolve".into())
            .spawn(lookup)
        {
            let result = Err(e);
            self.push(Request::Resolved(id, Lookup { key, seq, result }));
        }
    }

    pub(crate) fn linger(&self, socket: Arc<SocketShared>) {
        self.push(Request::Linger(socket));
    }

    fn socket(&self, id: u32) -> Option<Arc<SocketShared>> {
        let sockets = lock(&self.sockets);
        let entry = sockets.get(&id)?;
        entry.lingering.clone().or_else(|| entry.weak.upgrade())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The token of item `key` of socket `id`.
pub(crate) fn token(id: u32, key: u32) -> Token {
    Token(((id as usize) << 32) | key as usize)
}

/// A running I/O thread, stopped and joined when dropped.
pub(crate) struct IoThread {
    pub(crate) shared: Arc<IoShared>,
    join: Option<JoinHandle<()>>,
}

impl IoThread {
    pub(crate) fn start(index: usize) -> std::io::Result<IoThread> {
        let poll = Poll::new()?;
        let shared = Arc::new(IoShared {
            registry: poll.registry().try_clone()?,
            waker: Waker::new(poll.registry(), WAKER)?,
            requests: Mutex::new(Vec::new()),
            sockets: Mutex::new(HashMap::new()),
            next_id: Mutex::new(0),
        });
        let looped = Arc::clone(&shared);
        let join = std::thread::Builder::new()
            .name(format!("ferromq-io-{index}"))
            .spawn(move || EventLoop::new(poll, looped).run())?;
        Ok(IoThread {
            shared,
            join: Some(join),
        })
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        self.shared.push(Request::Stop);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

struct EventLoop {
    poll: Poll,
    shared: Arc<IoShared>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    lingering: Vec<u32>,
    stopping: bool,
}

impl EventLoop {
    fn new(poll: Poll, shared: Arc<IoShared>) -> EventLoop {
        EventLoop {
            poll,
            shared,
            timers: BinaryHeap::new(),
            lingering: Vec::new(),
            stopping: false,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        // Kept from one turn to the next, so that a busy loop does not allocate.
        let mut touched: Vec<u32> = Vec::new();
        let mut requests: Vec<Request> = Vec::new();
        // Outboxes this thread writes, with the turns each has found nothing to write, and
        // those of the turn before: each gets one batch per turn, so that one busy peer does
        // not starve the others.
        let mut writes: Vec<(u32, usize, Arc<Outbox>, u32)> = Vec::new();
        let mut writing: Vec<(u32, usize, Arc<Outbox>, u32)> = Vec::new();
        loop {
            let timeout = if writes.is_empty() {
                self.timers
                    .peek()
                    .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
            } else {
                // Every writer found nothing to write last turn: a sender sharing this CPU
                // gets it before the next look, instead of a loop that spins against it and
                // leaves it fewer messages per batch.
                if writes.iter().all(|&(_, _, _, idle)| idle > 0) {
                    std::thread::yield_now();
                }
                Some(std::time::Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!("I/O thread stops: poll failed: {e}");
                    return;
                }
            }
            touched.clear();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let id = (event.token().0 >> 32) as u32;
                let key = event.token().0 as u32;
                if let Some(socket) = self.shared.socket(id) {
                    let to = if event.is_read_closed() || event.is_error() {
                        ReadTo::End
                    } else {
                        ReadTo::Short
                    };
                    socket.handle_event(
                        key,
                        event.is_readable() || event.is_read_closed(),
                        event.is_writable() || event.is_error(),
                        to,
                    );
                    touched.push(id);
                }
            }
            std::mem::swap(&mut requests, &mut *lock(&self.shared.requests));
            for request in requests.drain(..) {
                match request {
                    Request::Write(id, key, outbox) => writes.push((id, key, outbox, 0)),
                    Request::Timer(at, id) => self.timers.push(Reverse((at, id))),
                    Request::Linger(socket) => {
                        let id = socket.id();
                        if let Some(entry) = lock(&self.shared.sockets).get_mut(&id) {
                            entry.lingering = Some(socket);
                        }
                        self.lingering.push(id);
                        touched.push(id);
                    }
                    Request::Resolved(id, lookup) => {
                        if let Some(socket) = self.shared.socket(id) {
                            socket.handle_resolved(lookup);
                            touched.push(id);
                        }
                    }
                    Request::Stop => self.stopping = true,
                }
            }
            std::mem::swap(&mut writes, &mut writing);
            for (id, key, outbox, idle) in writing.drain(..) {
                // The socket itself is looked up only when it must hear of the write: taking
                // a reference to it would touch memory its user's thread is using.
                match outbox.write_out(true, idle < STAY_TURNS) {
                    Written::More { wrote } => {
                        let idle = if wrote { 0 } else { idle + 1 };
                        writes.push((id, key, outbox, idle));
                    }
                    written if written.concerns_socket() => {
                        if let Some(socket) = self.shared.socket(id) {
                            socket.with_core(|core| core.written(key, written));
                        }
                    }
                    _ => {}
                }
                touched.push(id);
            }
            // The clock is read only when a timer is set: a busy loop turns often.
            let now = (!self.timers.is_empty()).then(Instant::now);
            while let (Some(now), Some(Reverse((at, id)))) = (now, self.timers.peek().copied()) {
                if at > now {
                    break;
                }
                self.timers.pop();
                if let Some(socket) = self.shared.socket(id) {
                    socket.handle_timer(now);
                    touched.push(id);
                }
            }
            if !self.lingering.is_empty() {
                self.finish_lingering(&touched);
            }
            if self.stopping && self.lingering.is_empty() {
                return;
            }
        }
    }

    /// Releases lingering sockets that have nothing left to send or whose linger ran out.
    fn finish_lingering(&mut self, touched: &[u32]) {
        let now = Instant::now();
        let shared = Arc::clone(&self.shared);
        self.lingering.retain(|id| {
            if !touched.contains(id) {
                return true;
            }
            let Some(socket) = shared.socket(*id) else {
                return false;
            };
            if socket.linger_done(now) {
                socket.terminate();
                shared.remove_socket(*id);
                false
            } else {
                true
            }
        });
    }
}
