//! The link to another supervisor's directory (`[directory] join`), so that one system spans
//! hosts. It runs in a thread of its own, so that a slow or unreachable remote never holds up
//! the supervisor's loop, and talks to the remote directory with the protocol any client uses
//! (docs/directory.md):
//!
//! - it mirrors the entries of the local directory there, under the owner names prefixed with
//!   this host's name (`NAME/owner`), registers them, sends their heartbeats every third of the
//!   remote's time to live while they live here, registers them again when told `UNKNOWN`, and
//!   says `BYE` (or `UNREGISTER`) when they go away here;
//! - it looks up there the services a local lookup did not find here, polling until the
//!   lookup's wait is over.
//!
//! Each request waits a bounded time for its answer; without one the socket is closed and made
//! anew, and every entry is registered again (the remote may have expired them meanwhile).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferromq::{Context, Message, Socket, SocketType};

/// How often a lookup asks the remote again while its wait lasts.
const LOOKUP_POLL: Duration = Duration::from_millis(100);

/// The longest the link sleeps with nothing due.
const IDLE: Duration = Duration::from_millis(500);

/// What the supervisor tells the link.
#[derive(Debug)]
pub(crate) enum Command {
    /// A local owner registered a service (or registered it again).
    Register {
        owner: String,
        service: String,
        endpoints: Vec<String>,
    },
    Unregister {
        owner: String,
        service: String,
    },
    /// A local owner and all its entries are gone (goodbye, exit or expiry).
    Gone {
        owner: String,
    },
    /// Look `service` up remotely until found or `deadline` (at least once).
    Lookup {
        id: u64,
        service: String,
        deadline: Instant,
    },
    Quit,
}

/// The answer to a [`Command::Lookup`]: the endpoints, or empty when its wait ended first.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub id: u64,
    pub endpoints: Vec<String>,
}

/// The supervisor's end of the link.
pub(crate) struct Link {
    commands: Sender<Command>,
    answers: Receiver<Found>,
    /// Readable when an answer is waiting, for the supervisor's poller.
    pub wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    /// Starts the link to the directory at `remote`, mirroring local owners as `prefix/owner`.
    pub fn start(
        ctx: &Context,
        remote: &str,
        prefix: &str,
        ttl: Duration,
    ) -> std::io::Result<Link> {
        let (wake, waker) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        waker.set_nonblocking(true)?;
        let (commands, inbox) = mpsc::channel();
        let (outbox, answers) = mpsc::channel();
        let worker = Worker {
            ctx: ctx.clone(),
            remote: remote.to_owned(),
            prefix: prefix.to_owned(),
            socket: None,
            ttl,
            owners: BTreeMap::new(),
            farewells: VecDeque::new(),
            lookups: Vec::new(),
            next_beat: Instant::now(),
            answers: outbox,
            waker,
            up: None,
        };
        let thread = std::thread::Builder::new()
            .name("ferromq-directory-link".into())
            .spawn(move || worker.run(inbox))?;
        Ok(Link {
            commands,
            answers,
            wake,
            thread: Some(thread),
        })
    }

    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// The lookups answered since the last call.
    pub fn take_answers(&mut self) -> Vec<Found> {
        let mut buf = [0u8; 64];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        self.answers.try_iter().collect()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Quit);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One local owner's entries, as mirrored remotely.
#[derive(Debug, Default)]
struct Mirror {
    services: BTreeMap<String, Vec<String>>,
    /// The remote has every one of them (as far as the link knows).
    synced: bool,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    service: String,
    deadline: Instant,
    next_try: Instant,
    tried: bool,
}

struct Worker {
    ctx: Context,
    remote: String,
    prefix: String,
    socket: Option<Socket>,
    /// The remote's time to live, as its `OK` replies say (the local one until then).
    ttl: Duration,
    owners: BTreeMap<String, Mirror>,
    /// `BYE` and `UNREGISTER` requests, each tried once: without them, the remote expires the
    /// entries anyway.
    farewells: VecDeque<Vec<String>>,
    lookups: Vec<Pending>,
    next_beat: Instant,
    answers: Sender<Found>,
    waker: UnixStream,
    /// Whether the last request was answered, to report only the changes.
    up: Option<bool>,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Command>) {
        loop {
            let timeout = self
                .next_due()
                .map_or(IDLE, |at| at.saturating_duration_since(Instant::now()))
                .min(IDLE);
            let mut quit = false;
            match inbox.recv_timeout(timeout) {
                Ok(Command::Quit) | Err(RecvTimeoutError::Disconnected) => quit = true,
                Ok(command) => self.apply(command),
                Err(RecvTimeoutError::Timeout) => {}
            }
            while !quit {
                match inbox.try_recv() {
                    Ok(Command::Quit) | Err(TryRecvError::Disconnected) => quit = true,
                    Ok(command) => self.apply(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            if quit {
                // Goodbyes for what is still mirrored, while the remote answers.
                let owners: Vec<String> = std::mem::take(&mut self.owners).into_keys().collect();
                for owner in owners {
                    self.farewells
                        .push_back(vec!["BYE".into(), self.remote_owner(&owner)]);
                }
                self.say_farewells();
                return;
            }
            self.work();
        }
    }

    fn remote_owner(&self, owner: &str) -> String {
        format!("{}/{owner}", self.prefix)
    }

    /// The request timeout: a third of the remote's time to live, within reason.
    fn timeout(&self) -> Duration {
        (self.ttl / 3).clamp(Duration::from_millis(250), Duration::from_secs(2))
    }

    fn next_due(&self) -> Option<Instant> {
        let now = Instant::now();
        if !self.farewells.is_empty() || self.owners.values().any(|m| !m.synced) {
            return Some(now);
        }
        let beat = (!self.owners.is_empty()).then_some(self.next_beat);
        let lookups = self.lookups.iter().map(|p| {
            if p.tried {
                p.next_try.min(p.deadline)
            } else {
                now
            }
        });
        beat.into_iter().chain(lookups).min()
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Register {
                owner,
                service,
                endpoints,
            } => {
                let mirror = self.owners.entry(owner).or_default();
                mirror.services.insert(service, endpoints);
                mirror.synced = false;
            }
            Command::Unregister { owner, service } => {
                if let Some(mirror) = self.owners.get_mut(&owner) {
                    if mirror.services.remove(&service).is_some() {
                        let remote = self.remote_owner(&owner);
                        self.farewells
                            .push_back(vec!["UNREGISTER".into(), remote, service]);
                    }
                }
            }
            Command::Gone { owner } => {
                if self.owners.remove(&owner).is_some() {
                    let remote = self.remote_owner(&owner);
                    self.farewells.push_back(vec!["BYE".into(), remote]);
                }
            }
            Command::Lookup {
                id,
                service,
                deadline,
            } => self.lookups.push(Pending {
                id,
                service,
                deadline,
                next_try: Instant::now(),
                tried: false,
            }),
            Command::Quit => {}
        }
    }

    /// Sends one request and waits for its answer, as text frames; `None` when none came in
    /// time, after which the socket is made anew and every owner registered again.
    fn request(&mut self, frames: Vec<String>) -> Option<Vec<String>> {
        let timeout = self.timeout();
        let answer = self.exchange(frames, timeout);
        match &answer {
            Some(_) => {
                if self.up != Some(true) {
                    eprintln!("ferromq| directory: joined {}", self.remote);
                }
                self.up = Some(true);
            }
            None => {
                if self.up != Some(false) {
                    eprintln!(
                        "ferromq| directory: no answer from {} within {} ms; trying again",
                        self.remote,
                        timeout.as_millis()
                    );
                }
                self.up = Some(false);
                self.socket = None;
                for mirror in self.owners.values_mut() {
                    mirror.synced = false;
                }
            }
        }
        answer
    }

    fn exchange(&mut self, frames: Vec<String>, timeout: Duration) -> Option<Vec<String>> {
        if self.socket.is_none() {
            let socket = self.ctx.socket(SocketType::Dealer).ok()?;
            socket.set_linger(Some(Duration::ZERO)).ok()?;
            socket.set_sndtimeo(Some(timeout)).ok()?;
            socket.connect(&self.remote).ok()?;
            self.socket = Some(socket);
        }
        let socket = self.socket.as_ref()?;
        let deadline = Instant::now() + timeout;
        socket.send(Message::from(frames)).ok()?;
        let left = deadline.saturating_duration_since(Instant::now());
        socket
            .set_rcvtimeo(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let reply = socket.recv().ok()?;
        Some(
            reply
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        )
    }

    /// Notes the time to live an `OK` reply carries.
    fn ok(&mut self, reply: &[String]) -> bool {
        if reply.first().map(String::as_str) != Some("OK") {
            return false;
        }
        if let Some(ms) = reply.get(1).and_then(|ms| ms.parse::<u64>().ok()) {
            if ms > 0 {
                self.ttl = Duration::from_millis(ms);
            }
        }
        true
    }

    fn say_farewells(&mut self) {
        while let Some(frames) = self.farewells.pop_front() {
            if self.request(frames).is_none() {
                self.farewells.clear();
            }
        }
    }

    fn work(&mut self) {
        self.say_farewells();
        let now = Instant::now();
        let beat = now >= self.next_beat;
        if beat {
            self.next_beat = now + self.ttl / 3;
        }
        let owners: Vec<String> = self.owners.keys().cloned().collect();
        for owner in owners {
            let Some(mirror) = self.owners.get(&owner) else {
                continue;
            };
            if !mirror.synced {
                self.register(&owner);
            } else if beat {
                let frames = vec!["HEARTBEAT".into(), self.remote_owner(&owner)];
                match self.request(frames) {
                    Some(reply) if reply.first().map(String::as_str) == Some("UNKNOWN") => {
                        self.register(&owner);
                    }
                    Some(reply) => {
                        self.ok(&reply);
                    }
                    None => {}
                }
            }
            if self.up == Some(false) {
                // Unreachable: try again from the top, rather than wait out every owner's
                // timeout in turn.
                break;
            }
        }
        self.poll_lookups();
    }

    /// Registers every entry of `owner` remotely; it is synced once all are accepted.
    fn register(&mut self, owner: &str) {
        let Some(mirror) = self.owners.get(owner) else {
            return;
        };
        let remote = self.remote_owner(owner);
        let requests: Vec<Vec<String>> = mirror
            .services
            .iter()
            .map(|(service, endpoints)| {
                let mut frames = vec!["REGISTER".into(), remote.clone(), service.clone()];
                frames.extend(endpoints.iter().cloned());
                frames
            })
            .collect();
        for frames in requests {
            match self.request(frames) {
                Some(reply) if self.ok(&reply) => {}
                Some(reply) => {
                    eprintln!(
                        "ferromq| directory: {} refused {remote}'s entry: {}",
                        self.remote,
                        reply.join(" ")
                    );
                }
                None => return,
            }
        }
        if let Some(mirror) = self.owners.get_mut(owner) {
            mirror.synced = true;
        }
    }

    fn answer(&mut self, id: u64, endpoints: Vec<String>) {
        let _ = self.answers.send(Found { id, endpoints });
        let _ = self.waker.write(&[1]);
    }

    fn poll_lookups(&mut self) {
        let mut index = 0;
        while index < self.lookups.len() {
            let now = Instant::now();
            let pending = &self.lookups[index];
            if pending.tried && now >= pending.deadline {
                let done = self.lookups.remove(index);
                self.answer(done.id, Vec::new());
                continue;
            }
            if now < pending.next_try {
                index += 1;
                continue;
            }
            let frames = vec!["LOOKUP".into(), pending.service.clone()];
            let reply = self.request(frames);
            let pending = &mut self.lookups[index];
            pending.tried = true;
            pending.next_try = Instant::now() + LOOKUP_POLL;
            match reply {
                Some(reply) if reply.first().map(String::as_str) == Some("FOUND") => {
                    let done = self.lookups.remove(index);
                    self.answer(done.id, reply.into_iter().skip(2).collect());
                }
                _ => index += 1,
            }
        }
    }
}
