//! The context: I/O threads and the inproc name registry, shared by its sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferromq_zmtp::SocketType;

use crate::error::{Error, ErrorKind, Result};
use crate::inproc::{InprocEnd, InprocPeer};
use crate::io_thread::IoThread;
use crate::socket::{Socket, SocketShared};

/// An inproc name: bound by a socket, or waiting for one with the pipes of early connectors.
enum InprocName {
    Bound(Weak<SocketShared>),
    Pending(Vec<(InprocEnd, String)>),
}

struct Inner {
    io_threads: Vec<IoThread>,
    next_io: AtomicUsize,
    inproc: Mutex<HashMap<String, InprocName>>,
}

/// A ZeroMQ context: the I/O threads and the inproc namespace its sockets share. Cheap to
/// clone; the I/O threads stop when the last clone and the last socket are gone, after every
/// socket's linger.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("io_threads", &self.inner.io_threads.len())
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
        Ok(Context {
            inner: Arc::new(Inner {
                io_threads,
                next_io: AtomicUsize::new(0),
                inproc: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A new socket of the given type.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket> {
        let n = self.inner.next_io.fetch_add(1, Ordering::Relaxed) % self.inner.io_threads.len();
        let io = Arc::clone(&self.inner.io_threads[n].shared);
        Socket::new(self.clone(), socket_type, io)
    }

    fn names(&self) -> MutexGuard<'_, HashMap<String, InprocName>> {
        self.inner.inproc.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut names = self.names();
        let binder = match names.get(name) {
            Some(InprocName::Bound(weak)) => weak.upgrade(),
            _ => None,
        };
        match binder {
            Some(binder) => {
                // The binder's side is filled in now, so the connector knows its peer at once.
                theirs.attach(binder.inproc_peer());
                binder.deliver_inproc(theirs, endpoint.to_string());
            }
            None => match names
                .entry(name.to_string())
                .or_insert_with(|| InprocName::Pending(Vec::new()))
            {
                InprocName::Pending(list) => list.push((theirs, endpoint.to_string())),
                slot => *slot = InprocName::Pending(vec![(theirs, endpoint.to_string())]),
            },
        }
        mine
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
