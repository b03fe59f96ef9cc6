//! The byte-stream transports, tcp and ipc, behind one type each for streams and listeners.
//! (inproc has no stream: see `crate::inproc`.)

pub(crate) mod ipc;
pub(crate) mod tcp;

use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use bytes::BytesMut;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{MaybeUninitSlice, SockRef};

/// A connected, non-blocking byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    Ipc(mio::net::UnixStream),
}

/// Kernel settings for each connection, from the socket's options; `None` leaves the
/// system's default.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamSettings {
    pub keepalive: Option<bool>,
    pub keepalive_idle: Option<Duration>,
    pub keepalive_cnt: Option<u32>,
    pub keepalive_intvl: Option<Duration>,
    pub sndbuf: Option<usize>,
    pub rcvbuf: Option<usize>,
    pub tos: Option<u32>,
}

/// A bound, non-blocking listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(mio::net::TcpListener),
    Ipc(ipc::IpcListener),
}

/// Input always; room to write as well when `out`.
fn interest(out: bool) -> Interest {
    if out {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    }
}

impl Stream {
    /// The socket, for the calls mio's types do not offer.
    fn sock(&self) -> SockRef<'_> {
        match self {
            Stream::Tcp(s) => SockRef::from(s),
            Stream::Ipc(s) => SockRef::from(s),
        }
    }

    /// Reads up to `max` bytes onto the end of `buf`, into its spare capacity, so that the
    /// memory is not zeroed first only to be overwritten by the kernel.
    #[allow(unsafe_code)]
    pub(crate) fn read_buf(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        buf.reserve(max);
        let spare = &mut buf.spare_capacity_mut()[..max];
        let n = self.sock().recv(spare)?;
        // SAFETY: recv(2) has initialised the first `n` bytes of the spare capacity it was
        // given, and `n` is at most `max`, which `reserve` made available.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    /// Reads up to `max` bytes onto the end of `buf` and, in the same system call, up to
    /// `then_max` more onto the end of `then`: the rest of a large frame into its own buffer
    /// and the next frame's header beside it.
    #[allow(unsafe_code)]
    pub(crate) fn read_buf_then(
        &self,
        buf: &mut BytesMut,
        max: usize,
        then: &mut BytesMut,
        then_max: usize,
    ) -> io::Result<usize> {
        buf.reserve(max);
        then.reserve(then_max);
        let mut slices = [
            MaybeUninitSlice::new(&mut buf.spare_capacity_mut()[..max]),
            MaybeUninitSlice::new(&mut then.spare_capacity_mut()[..then_max]),
        ];
        let (n, _) = self.sock().recv_vectored(&mut slices)?;
        let first = n.min(max);
        // SAFETY: recvmsg(2) fills its buffers in order: it has initialised the first `first`
        // bytes of `buf`'s spare capacity and the next `n - first` of `then`'s, within the
        // `max` and `then_max` that `reserve` made available.
        unsafe {
            buf.set_len(buf.len() + first);
            then.set_len(then.len() + (n - first));
        }
        Ok(n)
    }

    /// Takes `&self`: a connection's writer may write while another thread holds the socket.
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write_vectored(bufs),
            Stream::Ipc(s) => (&*s).write_vectored(bufs),
        }
    }

    /// After a non-blocking connect: `Ok(true)` once connected, `Ok(false)` while still
    /// connecting, an error when the connection failed.
    pub(crate) fn finish_connect(&self) -> io::Result<bool> {
        let (err, peer) = match self {
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Stream::Ipc(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
        };
        if let Some(err) = err {
            return Err(err);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Applies the socket's kernel settings; one that the system refuses is logged and skipped.
    pub(crate) fn apply(&self, settings: &StreamSettings) {
        let sock = self.sock();
        let mut results = Vec::new();
        if let Some(size) = settings.sndbuf {
            results.push(("sndbuf", sock.set_send_buffer_size(size)));
        }
        if let Some(size) = settings.rcvbuf {
            results.push(("rcvbuf", sock.set_recv_buffer_size(size)));
        }
        if let Stream::Tcp(s) = self {
            if let Some(tos) = settings.tos {
                let result = match s.local_addr() {
                    Ok(std::net::SocketAddr::V6(_)) => sock.set_tclass_v6(tos),
                    _ => sock.set_tos_v4(tos),
                };
                results.push(("tos", result));
            }
            if let Some(on) = settings.keepalive {
                results.push(("tcp_keepalive", sock.set_keepalive(on)));
            }
            if settings.keepalive == Some(true) {
                let mut keepalive = socket2::TcpKeepalive::new();
                if let Some(idle) = settings.keepalive_idle {
                    keepalive = keepalive.with_time(idle);
                }
                if let Some(intvl) = settings.keepalive_intvl {
                    keepalive = keepalive.with_interval(intvl);
                }
                if let Some(cnt) = settings.keepalive_cnt {
                    keepalive = keepalive.with_retries(cnt);
                }
                results.push((
                    "tcp_keepalive_idle/cnt/intvl",
                    sock.set_tcp_keepalive(&keepalive),
                ));
            }
        }
        for (option, result) in results {
            if let Err(e) = result {
                tracing::warn!("the system refused {option} on a connection: {e}");
            }
        }
    }

    /// The peer's address as text, for logs and message metadata.
    pub(crate) fn peer_address(&self) -> String {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
            Stream::Ipc(_) => String::new(),
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Ipc(s) => s.as_raw_fd(),
        }
    }

    pub(crate) fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut SourceFd(&self.fd()),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Tells the I/O thread about input only, or about room to write as well (only while a
    /// write is blocked: an edge-triggered registration for writability fires at every change).
    pub(crate) fn watch(&self, registry: &Registry, token: Token, out: bool) {
        if let Err(e) = registry.reregister(&mut SourceFd(&self.fd()), token, interest(out)) {
            tracing::warn!("cannot change what a connection is watched for: {e}");
        }
    }

    /// Watches the stream again after `deregister`.
    pub(crate) fn rewatch(&self, registry: &Registry, token: Token, out: bool) {
        if let Err(e) = registry.register(&mut SourceFd(&self.fd()), token, interest(out)) {
            tracing::warn!("cannot watch a connection again: {e}");
        }
    }

    /// Adds the stream to a user's waiter, for input.
    pub(crate) fn register_input(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut SourceFd(&self.fd()), token, Interest::READABLE)
    }

    pub(crate) fn deregister(&self, registry: &Registry) {
        let _ = registry.deregister(&mut SourceFd(&self.fd()));
    }
}

impl Listener {
    /// Accepts one pending connection, if any.
    pub(crate) fn accept(&mut self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Listener::Ipc(l) => Ok(Stream::Ipc(l.inner.accept()?.0)),
        }
    }

    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => registry.register(l, token, Interest::READABLE),
            Listener::Ipc(l) => registry.register(&mut l.inner, token, Interest::READABLE),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = match self {
            Listener::Tcp(l) => registry.deregister(l),
            Listener::Ipc(l) => registry.deregister(&mut l.inner),
        };
    }
}
