//! A blocked `recv` that waits on its socket's connections itself.
//!
//! Otherwise a message that arrives for a sleeping user wakes two threads: the I/O thread,
//! which reads it and then wakes the user's thread. The I/O thread stops watching those
//! connections and this waiter watches them instead, with the socket's signal, so that the
//! thread that wants the message is the one that wakes. They stay lent between waits; the I/O
//! thread takes them back when they go unused (see `Lending` in `core::connections`).

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

/// The token of the socket's signal; a connection's token is its pipe key.
const SIGNAL: Token = Token(usize::MAX);

/// A socket's connections (at most this many) can be waited on by its user's thread; a socket
/// with more leaves them to the I/O thread.
pub(crate) const MAX_WATCHED: usize = 16;

#[derive(Debug)]
pub(crate) struct Waiter {
    poll: Poll,
    events: Events,
}

impl Waiter {
    /// A waiter that also wakes when the socket's signal fd is raised.
    pub(crate) fn new(signal_fd: RawFd) -> io::Result<Waiter> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut SourceFd(&signal_fd), SIGNAL, Interest::READABLE)?;
        Ok(Waiter {
            poll,
            events: Events::with_capacity(MAX_WATCHED + 1),
        })
    }

    /// Where the socket registers the connections to watch (once each: a registration lasts
    /// as long as the connection's descriptor).
    pub(crate) fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Sleeps until input arrives on a watched connection, the signal is raised, or the
    /// deadline passes. Returns whether a peer closed or a stream failed (reported once: the
    /// reads that follow must go to the end), or the poll itself failed (nothing is known).
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> bool {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::warn!("waiting on the socket's connections failed: {e}");
            }
            return true;
        }
        self.events
            .iter()
            .any(|e| e.token() != SIGNAL && (e.is_read_closed() || e.is_error()))
    }
}
