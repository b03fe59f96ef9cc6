//! Finding services by name: the client of the directory a ferromq supervisor serves
//! (`ferromq run`), whose endpoint it passes to every process it starts in `FERROMQ_DIRECTORY`.
//!
//! A process registers the services it offers with [`Directory::register`]; from then on a
//! background thread sends heartbeats, so that the entries vanish when the process dies and
//! come back (registered again) if the directory ever forgets them. It looks up what it needs
//! with [`Directory::lookup`], which can wait for a name to appear. The supervisor asks a
//! registered process to exit with a stop message: see [`Directory::stop_requested`].
//!
//! The protocol is plain ZeroMQ frames over DEALER and ROUTER (docs/directory.md), so a process
//! in any language can take part; this is the Rust side.
//!
//! ```no_run
//! use std::time::Duration;
//! use ferromq::{directory::Directory, Context, SocketType};
//!
//! let ctx = Context::new();
//! let dir = Directory::from_env(&ctx)?;
//! let quotes = ctx.socket(SocketType::Pub)?;
//! quotes.bind("tcp://127.0.0.1:*")?;
//! dir.register("quotes", &[quotes.last_endpoint()])?;
//! let orders = dir.lookup("orders", Duration::from_secs(5))?;
//! while !dir.wait_for_stop(Duration::from_millis(100)) { /* work */ }
//! # let _ = orders;
//! # Ok::<(), ferromq::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::{Context, Events, Message, Poller, Socket, SocketType};

/// The environment variable that holds the directory's endpoint.
pub const DIRECTORY_ENV: &str = "FERROMQ_DIRECTORY";
/// The environment variable that holds the name a supervised process registers under.
pub const OWNER_ENV: &str = "FERROMQ_OWNER";

/// How long a request waits for the directory's answer (beyond a lookup's own wait).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// The heartbeat interval until the directory has said how long its entries live.
const FIRST_INTERVAL: Duration = Duration::from_secs(1);

/// What the caller and the heartbeat thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<SharedState>,
    changed: Condvar,
}

#[derive(Default)]
struct SharedState {
    /// Every service registered, to register again if the directory forgets them.
    services: Vec<(String, Vec<String>)>,
    interval: Option<Duration>,
    stop_requested: bool,
}

/// The heartbeat thread and the inproc socket that wakes it.
struct Heartbeat {
    wake: Socket,
    thread: JoinHandle<()>,
}

/// A connection to a directory: registers services, keeps them alive, looks services up.
pub struct Directory {
    ctx: Context,
    endpoint: String,
    owner: String,
    /// The socket requests and their answers go over, one at a time.
    requests: Mutex<Option<Socket>>,
    heartbeat: Mutex<Option<Heartbeat>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("endpoint", &self.endpoint)
            .field("owner", &self.owner)
            .finish()
    }
}

fn default_owner() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "pid{}-{nanos:x}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

impl Directory {
    /// The directory whose endpoint is in `FERROMQ_DIRECTORY`, registering under
    /// `FERROMQ_OWNER` (both set by the supervisor for the processes it starts).
    pub fn from_env(ctx: &Context) -> Result<Directory> {
        let endpoint = std::env::var(DIRECTORY_ENV).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{DIRECTORY_ENV} is not set: this process was not started by a ferromq supervisor"),
            )
        })?;
        let owner = std::env::var(OWNER_ENV).unwrap_or_else(|_| default_owner());
        Ok(Directory::connect(ctx, &endpoint, &owner))
    }

    /// The directory at `endpoint`; services registered through it belong to `owner`, a name
    /// unique in the system (the supervisor knows a process by it).
    pub fn connect(ctx: &Context, endpoint: &str, owner: &str) -> Directory {
        Directory {
            ctx: ctx.clone(),
            endpoint: endpoint.to_owned(),
            owner: owner.to_owned(),
            requests: Mutex::new(None),
            heartbeat: Mutex::new(None),
            shared: Arc::default(),
        }
    }

    /// The directory's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The name this process's entries belong to.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Sends one request and waits up to `timeout` for its answer. A stop message that arrives
    /// meanwhile is noted, not taken for the answer. After a timeout the socket is replaced, so
    /// that a late answer is never taken for the next request's.
    fn request(&self, frames: Vec<String>, timeout: Duration) -> Result<Message> {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if requests.is_none() {
            let socket = self.ctx.socket(SocketType::Dealer)?;
            socket.set_linger(Some(Duration::ZERO))?;
            socket.connect(&self.endpoint)?;
            *requests = Some(socket);
        }
        let socket = requests.as_ref().expect("just made");
        let deadline = Instant::now() + timeout;
        socket.send(Message::from(frames))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                *requests = None;
                return Err(Error::new(
                    ErrorKind::WouldBlock,
                    format!(
                        "no answer from the directory at {} within {} ms",
                        self.endpoint,
                        timeout.as_millis()
                    ),
                ));
            }
            socket.set_rcvtimeo(Some(left))?;
            match socket.recv() {
                Ok(msg) if msg.frames().first().is_some_and(|f| f == "STOP") => {
                    note_stop(&self.shared);
                }
                Ok(msg) => return Ok(msg),
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Registers `service` at `endpoints` (replacing what this owner registered for it
    /// before), and starts sending heartbeats if they are not being sent already. Returns once
    /// the directory has accepted it.
    pub fn register<S: AsRef<str>>(&self, service: &str, endpoints: &[S]) -> Result<()> {
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_owned()).collect();
        let mut frames = vec!["REGISTER".into(), self.owner.clone(), service.to_owned()];
        frames.extend(endpoints.iter().cloned());
        let answer = self.request(frames, ANSWER_TIMEOUT)?;
        let ttl = expect_ok(&answer, "REGISTER")?;
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.services.retain(|(name, _)| name != service);
            state.services.push((service.to_owned(), endpoints));
            state.interval = Some(ttl / 3);
        }
        self.beat_now()
    }

    /// Removes this owner's entry for `service`.
    pub fn unregister(&self, service: &str) -> Result<()> {
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.services.retain(|(name, _)| name != service);
        }
        let frames = vec!["UNREGISTER".into(), self.owner.clone(), service.to_owned()];
        expect_ok(&self.request(frames, ANSWER_TIMEOUT)?, "UNREGISTER").map(|_| ())
    }

    /// The endpoints registered for `service`, waiting up to `wait` for at least one to
    /// appear; empty if none did.
    pub fn lookup(&self, service: &str, wait: Duration) -> Result<Vec<String>> {
        let frames = vec![
            "LOOKUP".into(),
            service.to_owned(),
            wait.as_millis().to_string(),
        ];
        let answer = self.request(frames, wait + ANSWER_TIMEOUT)?;
        let frames = answer.frames();
        match frames.first().map(|f| &f[..]) {
            Some(b"FOUND") => Ok(frames.iter().skip(2).map(|f| text(f)).collect()),
            Some(b"NOTFOUND") => Ok(Vec::new()),
            _ => Err(unexpected(&answer, "LOOKUP")),
        }
    }

    /// Has the supervisor asked this process to stop? A process that honours it exits soon
    /// after; one that does not is sent SIGTERM when the supervisor's stop timeout runs out.
    pub fn stop_requested(&self) -> bool {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop_requested
    }

    /// Waits up to `timeout` for a stop message; true if one came.
    pub fn wait_for_stop(&self, timeout: Duration) -> bool {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| !s.stop_requested)
            .unwrap_or_else(|e| e.into_inner());
        state.stop_requested
    }

    /// Starts the heartbeat thread if needed, and has it send a heartbeat at once: the
    /// directory sends stop messages to the connection it last heard from.
    fn beat_now(&self) -> Result<()> {
        let mut heartbeat = self.heartbeat.lock().unwrap_or_else(|e| e.into_inner());
        if heartbeat.is_none() {
            *heartbeat = Some(self.start_heartbeat()?);
        }
        let heartbeat = heartbeat.as_ref().expect("just started");
        heartbeat.wake.send("beat")
    }

    fn start_heartbeat(&self) -> Result<Heartbeat> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let inproc = format!(
            "inproc://ferromq-directory-heartbeat-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let wake = self.ctx.socket(SocketType::Pair)?;
        wake.bind(&inproc)?;
        let woken = self.ctx.socket(SocketType::Pair)?;
        woken.connect(&inproc)?;
        let dealer = self.ctx.socket(SocketType::Dealer)?;
        dealer.set_linger(Some(Duration::ZERO))?;
        dealer.connect(&self.endpoint)?;
        let shared = Arc::clone(&self.shared);
        let owner = self.owner.clone();
        let thread = std::thread::Builder::new()
            .name("ferromq directory heartbeat".into())
            .spawn(move || heartbeat_loop(&dealer, &woken, &shared, &owner))
            .map_err(|e| Error::io("directory heartbeat thread", e))?;
        Ok(Heartbeat { wake, thread })
    }
}

impl Drop for Directory {
    /// Stops the heartbeats and tells the directory this owner's entries are gone.
    fn drop(&mut self) {
        let heartbeat = self
            .heartbeat
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(heartbeat) = heartbeat {
            if heartbeat.wake.send("quit").is_ok() {
                let _ = heartbeat.thread.join();
            }
            let _ = self.request(
                vec!["BYE".into(), self.owner.clone()],
                Duration::from_millis(500),
            );
        }
    }
}

fn note_stop(shared: &Shared) {
    shared
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .stop_requested = true;
    shared.changed.notify_all();
}

/// `OK ttl_ms`: the entries' time to live.
fn expect_ok(answer: &Message, what: &str) -> Result<Duration> {
    let frames = answer.frames();
    match (frames.first().map(|f| &f[..]), frames.get(1)) {
        (Some(b"OK"), Some(ttl)) => text(ttl)
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| unexpected(answer, what)),
        (Some(b"ERROR"), reason) => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the directory refused {what}: {}",
                reason.map(|r| text(r)).unwrap_or_default()
            ),
        )),
        _ => Err(unexpected(answer, what)),
    }
}

fn unexpected(answer: &Message, what: &str) -> Error {
    let frames: Vec<String> = answer.frames().iter().map(|f| text(f)).collect();
    Error::new(
        ErrorKind::Io,
        format!(
            "an unexpected answer to {what} from the directory: {}",
            frames.join(" ")
        ),
    )
}

/// Sends a heartbeat every third of the entries' time to live, registers everything again
/// when the directory answers `UNKNOWN` (it restarted, or expired this owner while the
/// network was down), and notes stop messages, until told to quit.
fn heartbeat_loop(dealer: &Socket, woken: &Socket, shared: &Shared, owner: &str) {
    let mut next = Instant::now();
    let beat = || dealer.try_send(Message::from(vec!["HEARTBEAT", owner]));
    loop {
        let now = Instant::now();
        if now >= next {
            // A full queue (the directory is away) only skips this heartbeat; a context that
            // was shut down ends the thread.
            if beat().is_err_and(|e| e.kind() == ErrorKind::Terminated) {
                return;
            }
            let interval = shared
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .interval
                .unwrap_or(FIRST_INTERVAL);
            next = now + interval.max(Duration::from_millis(10));
        }
        let Ok(mut poller) = Poller::new() else {
            return;
        };
        let (Ok(d), Ok(w)) = (
            poller.add(dealer, Events::POLLIN),
            poller.add(woken, Events::POLLIN),
        ) else {
            return;
        };
        let Ok(ready) = poller.wait(Some(next.saturating_duration_since(Instant::now()))) else {
            return;
        };
        for (index, _) in ready {
            if index == w {
                while let Ok(msg) = woken.try_recv() {
                    if msg.frames().first().is_some_and(|f| f == "quit") {
                        return;
                    }
                    next = Instant::now();
                }
            } else if index == d {
                while let Ok(msg) = dealer.try_recv() {
                    match msg.frames().first().map(|f| &f[..]) {
                        Some(b"STOP") => note_stop(shared),
                        Some(b"UNKNOWN") => {
                            let services = shared
                                .state
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .services
                                .clone();
                            for (service, endpoints) in services {
                                let mut frames =
                                    vec!["REGISTER".to_string(), owner.to_owned(), service];
                                frames.extend(endpoints);
                                let _ = dealer.try_send(Message::from(frames));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
