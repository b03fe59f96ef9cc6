//! Waiting on many sockets and file descriptors at once (libzmq's `zmq_poller` and `zmq_poll`).
//!
//! Each socket is watched through its readiness fd; a socket whose fd fired, or that was ready
//! last time, is asked for its events, so a wait costs in proportion to what is happening, not
//! to how many sockets there are. Raw file descriptors are reported level-triggered, as
//! `zmq_poll` does: ready for as long as they are ready.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};

use crate::error::{Error, ErrorKind, Result};
use crate::socket::{Events, Socket};

/// What one entry watches.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Socket(&'a Socket),
    Fd(RawFd),
}

#[derive(Debug)]
struct Entry<'a> {
    target: Target<'a>,
    wanted: Events,
    /// Look at it on the next wait: its fd fired, or it was ready last time.
    dirty: bool,
}

/// A set of sockets and file descriptors to wait on together.
///
/// ```
/// use std::time::Duration;
/// use ferromq::{Context, Events, Poller, SocketType};
///
/// let ctx = Context::new();
/// let a = ctx.socket(SocketType::Pull)?;
/// a.bind("inproc://a")?;
/// let b = ctx.socket(SocketType::Pull)?;
/// b.bind("inproc://b")?;
/// let push = ctx.socket(SocketType::Push)?;
/// push.connect("inproc://b")?;
/// push.send("for b")?;
///
/// let mut poller = Poller::new()?;
/// let ia = poller.add(&a, Events { pollin: true, pollout: false })?;
/// let ib = poller.add(&b, Events { pollin: true, pollout: false })?;
/// let ready = poller.wait(Some(Duration::from_secs(1)))?;
/// assert_eq!(ready, vec![(ib, Events { pollin: true, pollout: false })]);
/// # let _ = ia;
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug)]
pub struct Poller<'a> {
    poll: Poll,
    fired: mio::Events,
    entries: Vec<Option<Entry<'a>>>,
}

fn interest(wanted: Events) -> Interest {
    match (wanted.pollin, wanted.pollout) {
        (_, false) => Interest::READABLE,
        (false, true) => Interest::WRITABLE,
        (true, true) => Interest::READABLE | Interest::WRITABLE,
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::io("poller", e)
}

impl<'a> Poller<'a> {
    /// An empty poller.
    pub fn new() -> Result<Poller<'a>> {
        Ok(Poller {
            poll: Poll::new().map_err(io_error)?,
            fired: mio::Events::with_capacity(256),
            entries: Vec::new(),
        })
    }

    fn insert(&mut self, target: Target<'a>, wanted: Events) -> Result<usize> {
        let index = self
            .entries
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.entries.len());
        let (fd, interest) = match target {
            Target::Socket(socket) => (socket.fd()?.as_raw_fd(), Interest::READABLE),
            Target::Fd(fd) => (fd, interest(wanted)),
        };
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(index), interest)
            .map_err(io_error)?;
        let entry = Some(Entry {
            target,
            wanted,
            dirty: true,
        });
        if index == self.entries.len() {
            self.entries.push(entry);
        } else {
            self.entries[index] = entry;
        }
        Ok(index)
    }

    /// Watches a socket for the events in `wanted`; returns its index in `wait`'s answers.
    pub fn add(&mut self, socket: &'a Socket, wanted: Events) -> Result<usize> {
        self.insert(Target::Socket(socket), wanted)
    }

    /// Watches a file descriptor (readable for `pollin`, writable for `pollout`).
    pub fn add_fd(&mut self, fd: RawFd, wanted: Events) -> Result<usize> {
        self.insert(Target::Fd(fd), wanted)
    }

    /// Changes what an entry is watched for.
    pub fn modify(&mut self, index: usize, wanted: Events) -> Result<()> {
        let entry = self.entry(index)?;
        entry.wanted = wanted;
        entry.dirty = true;
        if let Target::Fd(fd) = entry.target {
            self.poll
                .registry()
                .reregister(&mut SourceFd(&fd), Token(index), interest(wanted))
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Stops watching an entry.
    pub fn remove(&mut self, index: usize) -> Result<()> {
        let entry = self.entry(index)?;
        let fd = match entry.target {
            Target::Socket(socket) => socket.fd()?.as_raw_fd(),
            Target::Fd(fd) => fd,
        };
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.entries[index] = None;
        Ok(())
    }

    fn entry(&mut self, index: usize) -> Result<&mut Entry<'a>> {
        self.entries
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("no poller entry {index}"),
                )
            })
    }

    /// Waits until some entry is ready for what it is watched for, or `timeout` passes
    /// (`None`: for ever; zero: just look). Returns each ready entry's index with what it is
    /// ready for; empty on a timeout.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<(usize, Events)>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut fds_ready: Vec<(usize, Events)> = Vec::new();
        loop {
            let mut ready = std::mem::take(&mut fds_ready);
            for (index, entry) in self.entries.iter_mut().enumerate() {
                let Some(entry) = entry else { continue };
                let Target::Socket(socket) = entry.target else {
                    continue;
                };
                // Messages a `recv` took ahead raise no fd: they are looked for every time.
                if !entry.dirty && !socket.has_received() {
                    continue;
                }
                let now = socket.events()?;
                let hit = Events {
                    pollin: now.pollin && entry.wanted.pollin,
                    pollout: now.pollout && entry.wanted.pollout,
                };
                // A ready socket stays to be looked at next time; an idle one waits for its fd.
                entry.dirty = hit.pollin || hit.pollout;
                if entry.dirty {
                    ready.push((index, hit));
                }
            }
            if !ready.is_empty() {
                ready.sort_by_key(|(index, _)| *index);
                return Ok(ready);
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let expired = remaining.is_some_and(|r| r.is_zero());
            // With no time left this still takes one look, so a zero timeout polls.
            let woken = self.poll_once(remaining, &mut fds_ready)?;
            if expired && !woken && fds_ready.is_empty() {
                return Ok(Vec::new());
            }
        }
    }

    /// One wait on the fds: marks the sockets whose fd fired (true if any did) and collects the
    /// raw fds that are ready.
    fn poll_once(
        &mut self,
        wait: Option<Duration>,
        fds_ready: &mut Vec<(usize, Events)>,
    ) -> Result<bool> {
        match self.poll.poll(&mut self.fired, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(io_error(e)),
        }
        let mut woken = false;
        for event in self.fired.iter() {
            let index = event.token().0;
            let Some(Some(entry)) = self.entries.get_mut(index) else {
                continue;
            };
            match entry.target {
                Target::Socket(_) => {
                    entry.dirty = true;
                    woken = true;
                }
                Target::Fd(fd) => {
                    let hit = Events {
                        pollin: entry.wanted.pollin
                            && (event.is_readable() || event.is_read_closed()),
                        pollout: entry.wanted.pollout && event.is_writable(),
                    };
                    if hit.pollin || hit.pollout {
                        fds_ready.push((index, hit));
                    }
                    // Re-arming makes the edge-triggered registration report a still-ready fd
                    // again next time, as a level-triggered poll would.
                    let interest = interest(entry.wanted);
                    self.poll
                        .registry()
                        .reregister(&mut SourceFd(&fd), Token(index), interest)
                        .map_err(io_error)?;
                }
            }
        }
        Ok(woken)
    }
}

/// One item of [`poll`]: a socket or a file descriptor, what to wait for, and what happened.
#[derive(Debug, Clone, Copy)]
pub struct PollItem<'a> {
    target: Target<'a>,
    /// What to wait for.
    pub events: Events,
    /// What the item is ready for, set by `poll`.
    pub revents: Events,
}

impl<'a> PollItem<'a> {
    /// Waits on a socket.
    pub fn socket(socket: &'a Socket, events: Events) -> PollItem<'a> {
        PollItem {
            target: Target::Socket(socket),
            events,
            revents: Events::default(),
        }
    }

    /// Waits on a file descriptor.
    pub fn fd(fd: RawFd, events: Events) -> PollItem<'a> {
        PollItem {
            target: Target::Fd(fd),
            events,
            revents: Events::default(),
        }
    }
}

/// Waits on `items` as `zmq_poll` does: sets each item's `revents` and returns how many are
/// ready (0 on a timeout). For a loop that waits again and again on the same items, a
/// [`Poller`] does less work per wait.
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize> {
    let mut poller = Poller::new()?;
    for item in items.iter() {
        poller.insert(item.target, item.events)?;
    }
    let ready = poller.wait(timeout)?;
    for item in items.iter_mut() {
        item.revents = Events::default();
    }
    for (index, events) in &ready {
        items[*index].revents = *events;
    }
    Ok(ready.len())
}
