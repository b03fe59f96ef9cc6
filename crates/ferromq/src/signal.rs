//! A wake-up that is only paid for when somebody sleeps.
//!
//! The user's thread sleeps on a socket's `Signal` when it must wait; the I/O thread and inproc
//! peers `notify` it when something the sleeper may want has happened. A notify with nobody
//! asleep costs two atomic operations and no system call.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Signal {
    epoch: AtomicU64,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Signal {
    /// The current epoch: read it before checking for work, then `wait` for it to move on.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Tells any sleeper that something changed.
    pub(crate) fn notify(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
    }

    /// Sleeps until the epoch differs from `seen` or `deadline` passes. Returns false on timeout.
    pub(crate) fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
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
