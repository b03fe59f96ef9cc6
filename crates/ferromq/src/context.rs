//! The context: I/O threads and the inproc name registry, shared by its sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferromq_zmtp::SocketType;

use crate::error::{Error, ErrorKind, Result};
use crate::inproc::{InprocEnd, InprocPeer};
use crate::io_thread::{IoShared, IoThread};
use crate::socket::{Socket, SocketShared};

/// An inproc name: bound by a socket, or waiting for one with the pipes of early connectors.
enum InprocName {
    Bound(Weak<SocketShared>),
    Pending(Vec<(InprocEnd, String)>),
}

/// What a context's sockets share: the I/O threads, the inproc names, and whether the
/// context has been terminated.
pub(crate) struct ContextShared {
    io_threads: Mutex<Vec<IoThread>>,
    io: Vec<Arc<IoShared>>,
    next_io: AtomicUsize,
    inproc: Mutex<HashMap<String, InprocName>>,
    sockets: Mutex<Vec<Weak<SocketShared>>>,
    terminated: AtomicBool,
}

impl Drop for ContextShared {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A ZeroMQ context: the I/O threads and the inproc namespace its sockets share. Cheap to
/// clone; it lives as long as any clone or any of its sockets.
///
/// [`Context::shutdown`] unblocks every call waiting on one of its sockets with an error of
/// kind `Terminated`, and makes every later call fail the same way (`zmq_ctx_shutdown`);
/// [`Context::terminate`] also closes the sockets and returns once their queued messages are
/// written or their linger has run out (`zmq_ctx_term`). When the last clone and the last socket
/// are dropped, the I/O threads stop the same way.
#[derive(Clone)]
pub struct Context {
    shared: Arc<ContextShared>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("io_threads", &self.shared.io.len())
            .finish()
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

impl Context {
    /// A context with one I/O thread.
    ///
    /// # Panics
    /// If the operating system refuses to start a thread, as `std::thread::spawn` does.
    pub fn new() -> Context {
        Context::with_io_threads(1).expect("cannot start the I/O thread")
    }

    /// A context with `n` I/O threads (at least one); sockets are spread over them in turn.
    pub fn with_io_threads(n: usize) -> Result<Context> {
        if n == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a context needs at least one I/O thread",
            ));
        }
        let io_threads = (0..n)
            .map(IoThread::start)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io("cannot start an I/O thread", e))?;
        let shared = Arc::new(ContextShared {
            io: io_threads.iter().map(|t| Arc::clone(&t.shared)).collect(),
            io_threads: Mutex::new(io_threads),
            next_io: AtomicUsize::new(0),
            inproc: Mutex::new(HashMap::new()),
            sockets: Mutex::new(Vec::new()),
            terminated: AtomicBool::new(false),
        });
        Ok(Context { shared })
    }

    /// Unblocks every call waiting on a socket of this context with a `Terminated` error, and
    /// makes every later call but dropping a socket fail the same way (`zmq_ctx_shutdown`). It
    /// does not wait for anything.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Shuts down, closes every socket, and returns once the messages they still hold have been
    /// written or their linger has run out (`zmq_ctx_term`). The sockets stay valid objects whose
    /// calls all return `Terminated`.
    pub fn terminate(&self) {
        self.shared.terminate();
    }

    /// A new socket of the given type.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket> {
        self.shared.socket(socket_type)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ContextShared {
    /// A new socket, on the next I/O thread in turn.
    pub(crate) fn socket(self: &Arc<Self>, socket_type: SocketType) -> Result<Socket> {
        let n = self.next_io.fetch_add(1, Ordering::Relaxed) % self.io.len();
        self.socket_on(socket_type, n)
    }

    /// How many I/O threads there are.
    pub(crate) fn io_threads(&self) -> usize {
        self.io.len()
    }

    /// A new socket on I/O thread `n`.
    pub(crate) fn socket_on(self: &Arc<Self>, socket_type: SocketType, n: usize) -> Result<Socket> {
        let shared = self;
        if shared.is_terminated() {
            return Err(Error::terminated());
        }
        let socket = Socket::new(Arc::clone(shared), socket_type, Arc::clone(&shared.io[n]))?;
        let mut sockets = lock(&shared.sockets);
        sockets.retain(|s| s.strong_count() > 0);
        sockets.push(socket.shared());
        Ok(socket)
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    fn shutdown(&self) {
        if self.terminated.swap(true, Ordering::AcqRel) {
            return;
        }
        for socket in lock(&self.sockets).iter().filter_map(Weak::upgrade) {
            socket.signal.notify();
        }
    }

    /// Shuts down, closes every socket (their queued messages get their linger) and stops the
    /// I/O threads once nothing lingers.
    fn terminate(&self) {
        self.shutdown();
        lock(&self.inproc).clear();
        let sockets: Vec<_> = lock(&self.sockets)
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        for socket in sockets {
            socket.close();
        }
        // Dropping the threads stops them, each once its lingering sockets are done.
        drop(std::mem::take(&mut *lock(&self.io_threads)));
    }

    fn names(&self) -> MutexGuard<'_, HashMap<String, InprocName>> {
        lock(&self.inproc)
    }

    /// Binds an inproc name; returns the pipes of sockets that connected before.
    pub(crate) fn bind_inproc(
        &self,
        name: &str,
        socket: &Arc<SocketShared>,
    ) -> Result<Vec<InprocEnd>> {
        let mut names = self.names();
        let pending = match names.remove(name) {
            Some(InprocName::Bound(weak)) if weak.strong_count() > 0 => {
                names.insert(name.to_string(), InprocName::Bound(weak));
                return Err(Error::new(
                    ErrorKind::AddressInUse,
                    format!("cannot bind to inproc://{name}: already bound"),
                ));
            }
            Some(InprocName::Pending(pending)) => pending.into_iter().map(|(end, _)| end).collect(),
            _ => Vec::new(),
        };
        names.insert(name.to_string(), InprocName::Bound(Arc::downgrade(socket)));
        Ok(pending)
    }

    /// Connects to an inproc name, bound or not yet; returns the connector's end of the pipe.
    pub(crate) fn connect_inproc(&self, name: &str, me: InprocPeer, endpoint: &str) -> InprocEnd {
        let (mine, theirs) = InprocEnd::new_pair(me);
        loop {
            let binder = match self.names().get(name) {
                Some(InprocName::Bound(weak)) => weak.upgrade(),
                _ => None,
            };
            if let Some(binder) = binder {
                // The binder's side is filled in now, so the connector knows its peer at once.
                // No registry lock is held here: the binder's lock comes first elsewhere.
                theirs.attach(binder.inproc_peer());
                binder.deliver_inproc(theirs, endpoint.to_string());
                return mine;
            }
            let mut names = self.names();
            match names
                .entry(name.to_string())
                .or_insert_with(|| InprocName::Pending(Vec::new()))
            {
                InprocName::Pending(list) => {
                    list.push((theirs, endpoint.to_string()));
                    return mine;
                }
                InprocName::Bound(weak) if weak.strong_count() > 0 => continue,
                slot => {
                    *slot = InprocName::Pending(vec![(theirs, endpoint.to_string())]);
                    return mine;
                }
            }
        }
    }

    /// Whether a live socket is bound to the inproc name.
    pub(crate) fn is_bound(&self, name: &str) -> bool {
        matches!(self.names().get(name), Some(InprocName::Bound(weak)) if weak.strong_count() > 0)
    }

    pub(crate) fn unbind_inproc(&self, name: &str, socket: &Arc<SocketShared>) -> Result<()> {
        let mut names = self.names();
        match names.get(name) {
            Some(InprocName::Bound(weak)) if weak.as_ptr() == Arc::as_ptr(socket) => {
                names.remove(name);
                Ok(())
            }
            _ => Err(Error::new(
                ErrorKind::AddressNotAvailable,
                format!("cannot unbind inproc://{name}: not bound by this socket"),
            )),
        }
    }

    /// Releases the inproc names a closing socket had bound.
    pub(crate) fn forget_inproc(&self, socket: &Arc<SocketShared>) {
        self.names()
            .retain(|_, entry| !matches!(entry, InprocName::Bound(weak) if weak.as_ptr() == Arc::as_ptr(socket)));
    }
}
