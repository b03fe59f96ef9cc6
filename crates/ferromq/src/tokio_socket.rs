//! Async send and receive on tokio (the `tokio` feature), through the socket's readiness fd.
//!
//! The socket still does its I/O as always; tokio only waits on the readiness fd, so an
//! `AsyncSocket` costs no thread and works beside any number of others on one runtime.

use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::socket::Socket;

/// The readiness fd, as tokio wants it: something that has a raw fd. The socket owns it.
struct ReadinessFd(RawFd);

impl AsRawFd for ReadinessFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A socket for async code on tokio. `recv` and `send` wait without blocking the runtime; as
/// a `Stream` it yields received messages (ending when the context is terminated), as a
/// `Sink` it sends them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ferromq::Result<()> {
/// use ferromq::{AsyncSocket, Context, SocketType};
/// let ctx = Context::new();
/// let mut pull = AsyncSocket::new(ctx.socket(SocketType::Pull)?)?;
/// pull.socket().bind("inproc://async-example")?;
/// let mut push = AsyncSocket::new(ctx.socket(SocketType::Push)?)?;
/// push.socket().connect("inproc://async-example")?;
/// push.send("hello").await?;
/// assert_eq!(pull.recv().await?.frames()[0], "hello");
/// # Ok(())
/// # }
/// ```
pub struct AsyncSocket {
    fd: AsyncFd<ReadinessFd>,
    // Declared after `fd`, so that tokio lets go of the descriptor before the socket closes it.
    socket: Socket,
}

impl std::fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSocket")
            .field("socket", &self.socket)
            .finish()
    }
}

impl AsyncSocket {
    /// Wraps a socket; must be called within a tokio runtime.
    #[allow(unsafe_code)]
    pub fn new(socket: Socket) -> Result<AsyncSocket> {
        let fd = ReadinessFd(socket.fd()?.as_raw_fd());
        // SAFETY: the descriptor is the socket's readiness fd, which stays open and the same for
        // as long as the socket lives; the socket is dropped after the `AsyncFd` (field order,
        // and `into_inner` drops the `AsyncFd` first), so it outlives the registration.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| Error::io("cannot watch the socket on tokio", e.into_parts().1))?;
        Ok(AsyncSocket { fd, socket })
    }

    /// The socket, for binding, connecting and options.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Unwraps the socket.
    pub fn into_inner(self) -> Socket {
        let AsyncSocket { fd, socket } = self;
        drop(fd);
        socket
    }

    /// Waits until `attempt` stops saying `WouldBlock`. The readiness fd is lowered (by
    /// `events`) before each attempt, so a change after it wakes the task again.
    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&Socket) -> Result<T>,
    ) -> Poll<Result<T>> {
        loop {
            self.socket.events()?;
            match attempt(&self.socket) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
            let mut guard = ready!(self.fd.poll_read_ready(cx))
                .map_err(|e| Error::io("waiting on the socket", e))?;
            guard.clear_ready();
        }
    }

    /// Polls for the next message.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.poll_with(cx, Socket::try_recv)
    }

    /// Polls until a message could be sent, and sends it.
    pub fn poll_send(&self, cx: &mut Context<'_>, msg: &Message) -> Poll<Result<()>> {
        self.poll_with(cx, |socket| socket.try_send(msg.clone()))
    }

    /// Receives a message, waiting without blocking the runtime. It takes `&mut self`, as a
    /// socket serves one task at a time, and so that the future can move between threads.
    pub async fn recv(&mut self) -> Result<Message> {
        std::future::poll_fn(move |cx| self.poll_recv(cx)).await
    }

    /// Sends a message, waiting without blocking the runtime while no peer can take it.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<()> {
        let msg = msg.into();
        std::future::poll_fn(move |cx| self.poll_send(cx, &msg)).await
    }
}

impl Stream for AsyncSocket {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        match ready!(self.poll_recv(cx)) {
            Err(e) if e.kind() == ErrorKind::Terminated => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}

impl Sink<Message> for AsyncSocket {
    type Error = Error;

    /// Ready when a message can be sent now (`events().pollout`).
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_with(cx, |socket| {
            if socket.events()?.pollout {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::WouldBlock,
                    "no peer can take a message",
                ))
            }
        })
    }

    fn start_send(self: Pin<&mut Self>, msg: Message) -> Result<()> {
        self.socket.try_send(msg)
    }

    /// Sent messages are the socket's to deliver, as with `Socket::send`: nothing to wait for.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }
}
