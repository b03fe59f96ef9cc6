//! The user's socket: blocking and non-blocking send and receive, endpoints and options.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferromq_zmtp::SocketType;

use crate::connection::ReadTo;
use crate::context::ContextShared;
use crate::core::{SocketCore, UserRead};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::inproc::InprocEnd;
use crate::io_thread::IoShared;
use crate::message::Message;
use crate::pattern::Sent;
use crate::signal::Signal;
use crate::waiter::Waiter;

/// What a socket shares with its I/O thread and its inproc peers.
#[derive(Debug)]
pub(crate) struct SocketShared {
    id: u32,
    core: Mutex<SocketCore>,
    pub(crate) signal: Arc<Signal>,
    /// Inproc pipes handed over by connecting sockets, picked up at the next call.
    inbox: Mutex<Vec<(InprocEnd, String)>>,
    inbox_full: AtomicBool,
    io: Arc<IoShared>,
    closed: AtomicBool,
}

impl SocketShared {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, SocketCore> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the core, writes what it left this thread to write with the lock
    /// released, then wakes the user if the core says something changed.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut SocketCore) -> T) -> T {
        let mut core = self.core();
        let result = f(&mut core);
        // Output queued by `f` that no writer was found for yet goes to the I/O thread.
        core.start_writers(false);
        while let Some((key, outbox)) = core.next_write() {
            // Another thread may use the socket while this one is in the kernel.
            drop(core);
            let written = outbox.write_out(false, false);
            core = self.lock();
            if written.concerns_socket() {
                core.written(key, written);
            }
        }
        let notify = std::mem::take(&mut core.notify);
        drop(core);
        if notify {
            self.signal.notify();
        }
        result
    }

    pub(crate) fn handle_event(&self, key: u32, readable: bool, writable: bool, to: ReadTo) {
        self.with_core(|core| core.handle_event(key, readable, writable, to));
    }

    pub(crate) fn handle_resolved(&self, lookup: crate::io_thread::Lookup) {
        self.with_core(|core| core.handle_resolved(lookup));
    }

    pub(crate) fn handle_timer(&self, now: Instant) {
        self.with_core(|core| core.handle_timer(now));
    }

    pub(crate) fn linger_done(&self, now: Instant) -> bool {
        self.lock().linger_done(now)
    }

    pub(crate) fn terminate(&self) {
        self.with_core(SocketCore::terminate);
    }

    /// Closes the socket once: stops listening, and hands what is still queued to the I/O
    /// thread to write within the linger period.
    pub(crate) fn close(self: &Arc<Self>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Dropped out here: it closes a socket of its own.
        drop(self.with_core(SocketCore::take_zap));
        if self.with_core(SocketCore::close) {
            self.io.linger(Arc::clone(self));
        } else {
            self.io.remove_socket(self.id);
        }
    }

    /// What this socket tells an inproc peer about itself.
    pub(crate) fn inproc_peer(&self) -> crate::inproc::InprocPeer {
        self.lock().inproc_peer()
    }

    /// Hands an inproc pipe to this (bound) socket.
    pub(crate) fn deliver_inproc(&self, end: InprocEnd, endpoint: String) {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((end, endpoint));
        self.inbox_full.store(true, Ordering::Release);
        self.signal.notify();
    }

    /// The core, with any inproc pipes from the inbox attached.
    fn core(&self) -> MutexGuard<'_, SocketCore> {
        let mut core = self.lock();
        // A load first: a swap on every call would write the flag's cache line each time.
        if self.inbox_full.load(Ordering::Relaxed) && self.inbox_full.swap(false, Ordering::Acquire)
        {
            let ends = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|e| e.into_inner()));
            for (end, endpoint) in ends {
                end.attach(core.inproc_peer());
                core.attach_inproc(end, &endpoint, None);
            }
        }
        core
    }
}

/// Whether a socket can receive and send without waiting (libzmq's `ZMQ_EVENTS`), and what a
/// poller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events {
    /// A message can be received now (`ZMQ_POLLIN`).
    pub pollin: bool,
    /// A message can be sent now (`ZMQ_POLLOUT`).
    pub pollout: bool,
}

impl Events {
    /// Readable only.
    pub const POLLIN: Events = Events {
        pollin: true,
        pollout: false,
    };
    /// Writable only.
    pub const POLLOUT: Events = Events {
        pollin: false,
        pollout: true,
    };
    /// Either.
    pub const BOTH: Events = Events {
        pollin: true,
        pollout: true,
    };
}

/// How long a call may wait.
#[derive(Clone, Copy)]
enum Wait {
    Never,
    Until(Instant, Duration),
    Forever,
}

impl Wait {
    fn from_timeout(timeout: Option<Duration>) -> Wait {
        match timeout {
            None => Wait::Forever,
            Some(t) if t.is_zero() => Wait::Never,
            Some(t) => Wait::Until(Instant::now() + t, t),
        }
    }
}

/// The error of a `send` or `recv` that waited its whole timeout.
fn timed_out(what: &str, timeout: Duration) -> Error {
    let option = if what == "send" {
        "sndtimeo"
    } else {
        "rcvtimeo"
    };
    Error::new(
        ErrorKind::WouldBlock,
        format!(
            "{what} timed out after {} ms ({option})",
            timeout.as_millis()
        ),
    )
}

/// A ZeroMQ socket. It is `Send` (move it to the thread that uses it) but not `Sync`: one
/// socket is used by one thread at a time, and the compiler holds you to it.
///
/// ```
/// use ferromq::{Context, SocketType};
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull)?;
/// pull.bind("inproc://example")?;
/// let push = ctx.socket(SocketType::Push)?;
/// push.connect("inproc://example")?;
/// push.send("hello")?;
/// assert_eq!(pull.recv()?.frames()[0], "hello");
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct Socket {
    shared: Arc<SocketShared>,
    ctx: Arc<ContextShared>,
    /// For a blocked `recv` to wait on the connections itself; made on first use.
    waiter: RefCell<Option<Waiter>>,
    /// Messages taken off the queues together with the one `recv` last returned, for the next
    /// calls to return without the socket's lock (see `SocketCore::recv_batch`).
    received: RefCell<VecDeque<Message>>,
    /// One of those was returned since the last send (see `SocketCore::received_ahead`).
    received_since_send: Cell<bool>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.socket_type())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(
        ctx: Arc<ContextShared>,
        socket_type: SocketType,
        io: Arc<IoShared>,
    ) -> Result<Socket> {
        let pattern = crate::pattern::for_type(socket_type)?;
        let signal = Arc::new(Signal::default());
        let shared = io.add_socket(|id| {
            let core = SocketCore::new(
                socket_type,
                pattern,
                id,
                Arc::clone(&io),
                Arc::clone(&signal),
            );
            Arc::new(SocketShared {
                id,
                core: Mutex::new(core),
                signal,
                inbox: Mutex::new(Vec::new()),
                inbox_full: AtomicBool::new(false),
                io: Arc::clone(&io),
                closed: AtomicBool::new(false),
            })
        });
        Ok(Socket {
            shared,
            ctx,
            waiter: RefCell::new(None),
            received: RefCell::new(VecDeque::new()),
            received_since_send: Cell::new(false),
            _not_sync: PhantomData,
        })
    }

    /// Gives a server socket its link to the ZAP handler, once.
    pub(crate) fn start_zap(&self) -> Result<()> {
        if self.with_core(|core| core.has_zap()) {
            return Ok(());
        }
        let zap = crate::zap::ZapClient::new(&self.ctx)?;
        self.with_core(|core| core.set_zap(zap))
    }

    /// Runs `f` on the socket's core.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut SocketCore) -> T) -> T {
        self.shared.with_core(f)
    }

    pub(crate) fn shared(&self) -> std::sync::Weak<SocketShared> {
        Arc::downgrade(&self.shared)
    }

    /// `Terminated` once the context is.
    fn alive(&self) -> Result<()> {
        if self.ctx.is_terminated() {
            Err(Error::terminated())
        } else {
            Ok(())
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.shared.lock().socket_type
    }

    /// Accepts connections on an endpoint: `tcp://*:5555`, `tcp://127.0.0.1:*`,
    /// `ipc:///tmp/feed`, `ipc://@abstract`, `ipc://*`, `inproc://name`.
    pub fn bind(&self, endpoint: &str) -> Result<()> {
        self.alive()?;
        let parsed: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(name) = &parsed {
            let pending = self.ctx.bind_inproc(name, &self.shared)?;
            let mut core = self.shared.core();
            for end in pending {
                end.attach(core.inproc_peer());
                core.attach_inproc(end, endpoint, None);
            }
            core.last_endpoint = endpoint.to_string();
            return Ok(());
        }
        self.shared.core().bind(endpoint, &parsed)
    }

    /// Connects to an endpoint. The peer need not be there yet: the socket keeps trying every
    /// `reconnect_ivl`, and messages sent meanwhile wait for it (up to the high-water mark).
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        self.alive()?;
        let parsed: Endpoint = endpoint.parse()?;
        if let Endpoint::Tcp {
            host: crate::endpoint::TcpHost::Any,
            ..
        } = parsed
        {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint {endpoint:?}: cannot connect to * (name a host)"),
            ));
        }
        if matches!(parsed, Endpoint::Ipc(crate::endpoint::IpcAddr::Generated)) {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint {endpoint:?}: cannot connect to ipc://*"),
            ));
        }
        if let Endpoint::Inproc(name) = &parsed {
            let me = self.shared.core().inproc_peer();
            let end = self.ctx.connect_inproc(name, me, endpoint);
            let mut core = self.shared.core();
            let routing_id = core.options.connect_routing_id.take();
            core.attach_inproc(end, endpoint, Some(routing_id));
            core.last_endpoint = endpoint.to_string();
            return Ok(());
        }
        self.shared.core().connect(endpoint, parsed);
        Ok(())
    }

    /// Stops listening on an endpoint given to `bind` (or reported by `last_endpoint`), and
    /// closes the connections accepted through it.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.alive()?;
        if let Ok(Endpoint::Inproc(name)) = endpoint.parse::<Endpoint>() {
            self.ctx.unbind_inproc(&name, &self.shared)?;
            self.with_core(|core| core.unbind_inproc(endpoint));
            return Ok(());
        }
        self.shared.core().unbind(endpoint)
    }

    /// Closes the connection made by `connect` to this endpoint.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.alive()?;
        self.shared.core().disconnect(endpoint)
    }

    /// The endpoint last bound or connected, with the real port or path when one was chosen
    /// for `*`.
    pub fn last_endpoint(&self) -> String {
        self.shared.lock().last_endpoint.clone()
    }

    /// Sends a message, waiting up to `sndtimeo` while no peer can take it.
    pub fn send(&self, msg: impl Into<Message>) -> Result<()> {
        self.send_with(msg.into(), None)
    }

    /// Sends a message if a peer can take it now; an error of kind `WouldBlock` otherwise.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<()> {
        self.send_with(msg.into(), Some(Wait::Never))
    }

    /// Sends, waiting as `wait` says, or as `sndtimeo` says when it is `None` (read under the
    /// same lock as the first attempt, and timed from the first time the send would block).
    fn send_with(&self, msg: Message, mut wait: Option<Wait>) -> Result<()> {
        if msg.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a message needs at least one frame",
            ));
        }
        let mut msg = msg;
        loop {
            self.alive()?;
            let seen = self.shared.signal.epoch();
            let (sent, timeout) = self.shared.with_core(|core| {
                if self.received_since_send.take() {
                    core.received_ahead();
                }
                (core.send(msg), core.options.sndtimeo)
            });
            match sent? {
                Sent::Done => return Ok(()),
                Sent::Blocked(back) => msg = back,
            }
            let wait = *wait.get_or_insert_with(|| Wait::from_timeout(timeout));
            self.wait(seen, wait, "send")?;
        }
    }

    /// Receives a message, waiting up to `rcvtimeo`.
    pub fn recv(&self) -> Result<Message> {
        self.recv_with(None)
    }

    /// Receives a message if one is ready; an error of kind `WouldBlock` otherwise.
    pub fn try_recv(&self) -> Result<Message> {
        self.recv_with(Some(Wait::Never))
    }

    /// Receives, waiting as `wait` says, or as `rcvtimeo` says when it is `None` (as for
    /// `send_with`).
    fn recv_with(&self, mut wait: Option<Wait>) -> Result<Message> {
        loop {
            self.alive()?;
            if let Some(msg) = self.received.borrow_mut().pop_front() {
                self.received_since_send.set(true);
                return Ok(msg);
            }
            let seen = self.shared.signal.epoch();
            let (msg, wait) = self.shared.with_core(|core| {
                let wait = *wait.get_or_insert_with(|| Wait::from_timeout(core.options.rcvtimeo));
                // Past its deadline a recv does not wait again: it reads everything first.
                let when = match wait {
                    Wait::Forever => UserRead::ThenWaits,
                    Wait::Until(deadline, _) if Instant::now() < deadline => UserRead::ThenWaits,
                    Wait::Never | Wait::Until(..) => UserRead::NoWait,
                };
                let msg = core.recv(when);
                if matches!(msg, Ok(Some(_))) {
                    core.recv_batch(&mut self.received.borrow_mut());
                }
                (msg, wait)
            });
            if let Some(msg) = msg? {
                return Ok(msg);
            }
            if !self.wait_on_connections(seen, wait)? {
                self.wait(seen, wait, "recv")?;
            }
        }
    }

    /// Waits for input on the socket's connections on this thread (see `crate::waiter`).
    /// Returns false when it cannot, and the caller waits on the signal instead.
    fn wait_on_connections(&self, seen: u64, wait: Wait) -> Result<bool> {
        let deadline = match wait {
            Wait::Never => return Ok(false),
            Wait::Forever => None,
            Wait::Until(deadline, timeout) => {
                if Instant::now() >= deadline {
                    return Err(timed_out("recv", timeout));
                }
                Some(deadline)
            }
        };
        let mut waiter = self.waiter.borrow_mut();
        if waiter.is_none() {
            let Ok(fd) = self.shared.signal.own_fd() else {
                return Ok(false);
            };
            match Waiter::new(fd.as_raw_fd()) {
                Ok(made) => *waiter = Some(made),
                Err(_) => return Ok(false),
            }
        }
        let Some(waiter) = waiter.as_mut() else {
            return Ok(false);
        };
        if !self
            .shared
            .with_core(|core| core.lend_reading(waiter.registry()))
        {
            return Ok(false);
        }
        // Lowered before the epoch is read: a notify after this raises the fd again.
        self.shared.signal.begin_fd_wait();
        self.shared.signal.lower_fd();
        let peer_closed = self.shared.signal.epoch() == seen && waiter.wait(deadline);
        self.shared.signal.end_fd_wait();
        self.shared.with_core(|core| core.end_wait(peer_closed));
        Ok(true)
    }

    /// Waits on the socket's signal, which only the I/O thread raises for its connections:
    /// any lent to this thread go back to it first.
    fn wait(&self, seen: u64, wait: Wait, what: &str) -> Result<()> {
        if !matches!(wait, Wait::Never) {
            self.shared.with_core(SocketCore::take_back_reading);
        }
        match wait {
            Wait::Never => Err(Error::would_block(&format!("{what} would block"))),
            Wait::Forever => {
                self.shared.signal.wait(seen, None);
                self.alive()
            }
            Wait::Until(deadline, timeout) => {
                if self.shared.signal.wait(seen, Some(deadline)) || Instant::now() < deadline {
                    self.alive()
                } else {
                    Err(timed_out(what, timeout))
                }
            }
        }
    }

    /// Watches this socket's connections: every event from now on, in order, as typed
    /// values. Attach it before `bind` and `connect` to see `Listening` and `ConnectDelayed`.
    ///
    /// ```
    /// use ferromq::{Context, Event, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull)?;
    /// let monitor = pull.monitor()?;
    /// pull.bind("tcp://127.0.0.1:*")?;
    /// let first = monitor.recv()?;
    /// assert_eq!(first.event, Event::Listening);
    /// assert_eq!(first.endpoint, pull.last_endpoint());
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn monitor(&self) -> Result<crate::Monitor> {
        self.alive()?;
        Ok(self.shared.core().monitors.add_queue())
    }

    /// Sends this socket's events in `events` (a mask of libzmq's `ZMQ_EVENT_*` numbers;
    /// `u64::MAX` for all) to a PAIR socket bound at `endpoint` (inproc), in libzmq's message
    /// format `version` 1 or 2, as `zmq_socket_monitor_versioned` does, so that code written
    /// for libzmq's monitor messages reads them.
    pub fn monitor_versioned(&self, endpoint: &str, events: u64, version: u8) -> Result<()> {
        self.alive()?;
        if !matches!(endpoint.parse::<Endpoint>()?, Endpoint::Inproc(_)) {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint {endpoint:?}: a monitor endpoint must be inproc://"),
            ));
        }
        if version != 1 && version != 2 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "monitor event versions are 1 and 2",
            ));
        }
        let pair = self.ctx.socket(SocketType::Pair)?;
        pair.bind(endpoint)?;
        self.shared.core().monitors.add_pair(pair, events, version);
        Ok(())
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix` (empty: all).
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.alive()?;
        self.shared
            .with_core(|core| core.subscribe(prefix.as_ref(), true))
    }

    /// Cancels one earlier `subscribe` of the same prefix.
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.alive()?;
        self.shared
            .with_core(|core| core.subscribe(prefix.as_ref(), false))
    }

    /// Puts the socket's connections on one of the context's I/O threads: the first whose bit
    /// is set in `mask` (thread 0 is bit 0; libzmq's `ZMQ_AFFINITY`). Zero leaves the thread
    /// the context chose. It must be set before the first `bind` or `connect`; the options and
    /// monitors set so far are kept.
    pub fn set_affinity(&mut self, mask: u64) -> Result<()> {
        self.alive()?;
        let threads = self.ctx.io_threads();
        let index = mask.trailing_zeros() as usize;
        if mask != 0 && index >= threads {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("affinity {mask:#x}: the context has {threads} I/O threads"),
            ));
        }
        let (used, mut options, monitors) = self.with_core(|core| {
            let used = !core.last_endpoint.is_empty();
            let monitors = if used {
                Default::default()
            } else {
                std::mem::take(&mut core.monitors)
            };
            (used, core.options.clone(), monitors)
        });
        if used {
            return Err(Error::new(
                ErrorKind::State,
                "affinity must be set before bind or connect",
            ));
        }
        options.affinity = mask;
        if mask != 0 {
            let mut moved = self.ctx.socket_on(self.socket_type(), index)?;
            std::mem::swap(self, &mut moved);
        }
        self.with_core(|core| {
            core.options = options;
            core.monitors = monitors;
            core.options_changed();
        });
        Ok(())
    }

    /// The mask set with `set_affinity`.
    pub fn affinity(&self) -> u64 {
        self.with_core(|core| core.options.affinity)
    }

    /// Whether a message can be received, and one sent, right now, without waiting
    /// (`ZMQ_EVENTS`). Looking for a message to receive takes it ahead for the next `recv`.
    pub fn events(&self) -> Result<Events> {
        self.alive()?;
        self.shared.signal.lower_fd();
        let mut events = self.with_core(SocketCore::events);
        events.pollin |= self.has_received();
        Ok(events)
    }

    /// Whether a `recv` took messages ahead for the next calls, which no fd announces.
    pub(crate) fn has_received(&self) -> bool {
        !self.received.borrow().is_empty()
    }

    /// A file descriptor that becomes readable when this socket's readiness may have changed
    /// (libzmq's `ZMQ_FD`), to plug the socket into any event loop (mio, tokio, glib, Python's
    /// `selectors`). It is edge-triggered: readable means "look again", not "a message is
    /// there". After it turns readable, call [`Socket::events`] (which also clears it), and
    /// keep receiving (or sending) while `events` says you can, before waiting on the fd again:
    ///
    /// ```
    /// use ferromq::{Context, SocketType};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://fd-example")?;
    /// let fd = pull.fd()?;
    /// // ... register `fd` for readability in your loop; when it fires:
    /// while pull.events()?.pollin {
    ///     let msg = pull.try_recv()?;
    ///     # let _ = msg;
    /// }
    /// # let _ = fd;
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    ///
    /// The descriptor belongs to the socket and lives as long as it (`try_clone_to_owned`
    /// gives one to hand on, for example to a child process).
    pub fn fd(&self) -> Result<std::os::fd::BorrowedFd<'_>> {
        // Whoever holds the fd waits on it: connections lent to a `recv` go back to the I/O
        // thread, which raises it.
        self.shared.with_core(SocketCore::take_back_reading);
        self.shared
            .signal
            .fd()
            .map_err(|e| Error::io("cannot make the readiness fd", e))
    }

    /// Always false: `recv` returns whole messages, so no part of one is ever left to read
    /// (libzmq's `ZMQ_RCVMORE`, kept for code that asks).
    pub fn rcvmore(&self) -> bool {
        false
    }

    /// How many messages this socket has dropped: unroutable ones (ROUTER without
    /// `router_mandatory`) and those for a peer at its high-water mark (PUB, XPUB, ROUTER).
    pub fn dropped_messages(&self) -> u64 {
        self.shared.lock().dropped_messages()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ctx.forget_inproc(&self.shared);
        self.shared.close();
    }
}
