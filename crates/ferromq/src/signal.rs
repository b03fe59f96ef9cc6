//! A wake-up that is only paid for when somebody sleeps.
//!
//! The user's thread sleeps on a socket's `Signal` when it must wait; the I/O thread and inproc
//! peers `notify` it when something the sleeper may want has happened. A notify with nobody
//! asleep costs two atomic operations and no system call.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

/// Looks at the epoch before going to sleep on it.
const SPINS: usize = 20;

#[derive(Debug, Default)]
pub(crate) struct Signal {
    epoch: AtomicU64,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    /// A file descriptor that turns readable on notify, for foreign event loops; made on
    /// first use.
    fd: OnceLock<ReadinessFd>,
    /// The fd has been handed out (`fd`): every notify raises it from then on.
    fd_watched: AtomicBool,
    /// Threads of this socket's own waiting on the fd (`begin_fd_wait`): while there are none
    /// and nobody else watches it, a notify leaves it alone, which spares a write to raise it
    /// and two reads to lower it on every message a waiting `recv` reads for itself.
    fd_waiters: AtomicUsize,
}

/// One end of a socket pair that a notify writes a byte to, unless one is already there.
#[derive(Debug)]
struct ReadinessFd {
    reader: UnixStream,
    writer: UnixStream,
    raised: AtomicBool,
}

impl ReadinessFd {
    fn raise(&self) {
        if !self.raised.swap(true, Ordering::SeqCst) {
            // A full buffer already holds a byte: the fd is readable either way.
            let _ = (&self.writer).write(&[1]);
        }
    }
}

impl Signal {
    /// The current epoch: read it before checking for work, then `wait` for it to move on.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Tells any sleeper that something changed.
    pub(crate) fn notify(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(fd) = self.fd.get() {
            if self.fd_watched.load(Ordering::SeqCst) || self.fd_waiters.load(Ordering::SeqCst) > 0
            {
                fd.raise();
            }
        }
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// The readiness fd, made now if need be, for a watcher that may wait on it at any time;
    /// it starts raised, so that a new watcher looks at the socket once.
    pub(crate) fn fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        self.fd_watched.store(true, Ordering::SeqCst);
        self.own_fd()
    }

    /// The readiness fd, for this socket's own waits between `begin_fd_wait` and
    /// `end_fd_wait`.
    pub(crate) fn own_fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        if self.fd.get().is_none() {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            let fd = ReadinessFd {
                reader,
                writer,
                raised: AtomicBool::new(false),
            };
            fd.raise();
            let _ = self.fd.set(fd);
        }
        match self.fd.get() {
            Some(fd) => Ok(fd.reader.as_fd()),
            None => Err(std::io::Error::other("the readiness fd could not be kept")),
        }
    }

    /// Starts a wait on the fd: notifies raise it until `end_fd_wait`. Call it before
    /// `lower_fd` and before reading the epoch to wait on: a notify that comes after the
    /// epoch was read then raises the fd.
    pub(crate) fn begin_fd_wait(&self) {
        self.fd_waiters.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn end_fd_wait(&self) {
        self.fd_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Lowers the readiness fd before the socket's state is looked at: a change after this
    /// raises it again. (Draining first and clearing after loses nothing: a notify in between
    /// is seen by the look that follows.)
    pub(crate) fn lower_fd(&self) {
        // Not raised: nothing was written since the last lowering, and nothing to drain.
        if let Some(fd) = self.fd.get().filter(|fd| fd.raised.load(Ordering::SeqCst)) {
            let mut buf = [0u8; 64];
            while matches!((&fd.reader).read(&mut buf), Ok(n) if n > 0) {}
            fd.raised.store(false, Ordering::SeqCst);
        }
    }

    /// Sleeps until the epoch differs from `seen` or `deadline` passes. Returns false on timeout.
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
        // What the sleeper waits for often comes within microseconds (the peer is running on
        // the other core): look again a few times, letting others run, before paying for a
        // sleep and a wake-up.
        for _ in 0..SPINS {
            if self.epoch.load(Ordering::SeqCst) != seen {
                return true;
            }
            std::thread::yield_now();
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let woken = loop {
            if self.epoch.load(Ordering::SeqCst) != seen {
                break true;
            }
            match deadline {
                None => guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    guard = self
                        .wake
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(guard);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        woken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn wait_returns_at_once_when_notified_before() {
        let signal = Signal::default();
        let seen = signal.epoch();
        signal.notify();
        assert!(signal.wait(seen, Some(Instant::now() + Duration::from_secs(5))));
    }

    #[test]
    fn wait_times_out_without_notify() {
        let signal = Signal::default();
        let start = Instant::now();
        assert!(!signal.wait(signal.epoch(), Some(start + Duration::from_millis(30))));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    /// Whether the readiness fd had a byte to read; it is lowered after.
    fn raised(signal: &Signal) -> bool {
        let fd = signal.fd.get().unwrap();
        let had = matches!((&fd.reader).read(&mut [0u8; 8]), Ok(n) if n > 0);
        signal.lower_fd();
        had
    }

    #[test]
    fn the_fd_is_raised_only_while_someone_may_wait_on_it() {
        let signal = Signal::default();
        signal.own_fd().unwrap();
        assert!(raised(&signal), "a new fd starts raised");
        signal.notify();
        assert!(
            !raised(&signal),
            "nobody waits on the fd: a notify leaves it"
        );
        signal.begin_fd_wait();
        signal.notify();
        assert!(
            raised(&signal),
            "a notify during a wait on the fd raises it"
        );
        signal.end_fd_wait();
        signal.notify();
        assert!(!raised(&signal));
        // Once handed out, the fd may be watched at any time.
        signal.fd().unwrap();
        signal.lower_fd();
        signal.notify();
        assert!(raised(&signal), "a handed-out fd is raised by every notify");
    }

    #[test]
    fn notify_from_another_thread_wakes_a_sleeper() {
        let signal = Arc::new(Signal::default());
        let seen = signal.epoch();
        let other = Arc::clone(&signal);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.notify();
        });
        assert!(signal.wait(seen, Some(Instant::now() + Duration::from_secs(5))));
        t.join().unwrap();
    }
}
