//! What every part of the example shares: its settings from the environment (the manifest sets
//! them), the directory it finds the others through, and a bound on how long it runs, so that
//! no part can wait for ever whatever the others do.

use std::time::{Duration, Instant};

use ferromq::directory::Directory;
use ferromq::{Context, Events, Poller, Socket, SocketType};

/// How long a socket may still spend writing what it holds when the part exits: enough for
/// the last records to reach the recorder, never a hang on a peer that has gone.
const LINGER: Duration = Duration::from_secs(2);

/// How long a part waits for a service it needs to appear: long enough for a first run that
/// builds the Rust parts and installs pyzmq.
const LOOKUP_WAIT: Duration = Duration::from_secs(180);

/// A setting from the environment, or its default.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A number from the environment, or its default; a value that is not a number is an error.
pub fn env_num(name: &str, default: i64) -> Result<i64, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// A duration in milliseconds from the environment.
pub fn env_ms(name: &str, default: u64) -> Result<Duration, String> {
    env_num(name, default as i64).map(|ms| Duration::from_millis(ms.max(0) as u64))
}

/// One running part: its context, its directory, and the time by which it gives up.
pub struct Part {
    pub ctx: Context,
    pub directory: Directory,
    /// `TRADING_MAX_SECS` after the start: the latest any part runs.
    pub deadline: Instant,
}

impl Part {
    pub fn start() -> Result<Part, String> {
        let ctx = Context::new();
        let directory = Directory::from_env(&ctx).map_err(|e| e.to_string())?;
        let max = env_num("TRADING_MAX_SECS", 300)?;
        Ok(Part {
            ctx,
            directory,
            deadline: Instant::now() + Duration::from_secs(max.max(1) as u64),
        })
    }

    /// A socket that lingers at most [`LINGER`].
    pub fn socket(&self, kind: SocketType) -> Result<Socket, String> {
        let socket = self.ctx.socket(kind).map_err(|e| e.to_string())?;
        socket.set_linger(Some(LINGER)).map_err(|e| e.to_string())?;
        Ok(socket)
    }

    /// A socket bound to an ephemeral loopback port.
    pub fn bind(&self, kind: SocketType) -> Result<Socket, String> {
        let socket = self.socket(kind)?;
        socket
            .bind("tcp://127.0.0.1:*")
            .map_err(|e| e.to_string())?;
        Ok(socket)
    }

    /// A socket connected to the first endpoint of `service`, waiting for it to be registered;
    /// to the directory itself when `service` is empty.
    pub fn connect(&self, kind: SocketType, service: &str) -> Result<Socket, String> {
        let endpoint = if service.is_empty() {
            self.directory.endpoint().to_owned()
        } else {
            self.lookup(service)?
        };
        let socket = self.socket(kind)?;
        socket.connect(&endpoint).map_err(|e| e.to_string())?;
        Ok(socket)
    }

    /// The first endpoint of `service`, waiting for it to be registered (bounded by the part's
    /// deadline).
    pub fn lookup(&self, service: &str) -> Result<String, String> {
        let wait = LOOKUP_WAIT.min(self.left());
        let found = self
            .directory
            .lookup(service, wait)
            .map_err(|e| format!("lookup {service}: {e}"))?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| format!("no {service} registered within {} s", wait.as_secs()))
    }

    /// Registers `service` at the socket's endpoint.
    pub fn register(&self, service: &str, socket: &Socket) -> Result<(), String> {
        self.directory
            .register(service, &[socket.last_endpoint()])
            .map_err(|e| format!("register {service}: {e}"))
    }

    /// Time left before the deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Has the supervisor asked this part to stop, or has its time run out?
    pub fn should_stop(&self) -> bool {
        self.directory.stop_requested() || self.left().is_zero()
    }
}

/// Waits up to `timeout` for any of `sockets` to have a message; returns the indexes of those
/// that have.
pub fn wait_any(sockets: &[&Socket], timeout: Duration) -> Result<Vec<usize>, String> {
    let mut poller = Poller::new().map_err(|e| e.to_string())?;
    for socket in sockets {
        poller
            .add(socket, Events::POLLIN)
            .map_err(|e| e.to_string())?;
    }
    let ready = poller.wait(Some(timeout)).map_err(|e| e.to_string())?;
    Ok(ready.into_iter().map(|(index, _)| index).collect())
}
