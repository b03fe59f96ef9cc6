//! One instance of one process in the manifest, across all its starts: what it is doing now and
//! what it has been through.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::restart::Backoff;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet: the processes it starts after are not all ready.
    Waiting,
    /// Running, not yet registered.
    Starting,
    /// Running and registered (or running, with `ready = "start"`).
    Ready,
    /// Exited; it starts again at the instant given.
    Backoff(Instant),
    /// Exited for good (its policy says so, or the system is stopping).
    Exited,
    /// Being stopped by the supervisor.
    Stopping,
}

impl State {
    /// The word `ferromq ps` shows.
    pub fn word(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Backoff(_) => "backoff",
            State::Exited => "exited",
            State::Stopping => "stopping",
        }
    }
}

#[derive(Debug)]
pub struct Instance {
    /// Index of its process in the manifest.
    pub process: usize,
    pub number: u32,
    /// `name[number]`, as its output lines and events are prefixed.
    pub label: String,
    pub state: State,
    pub child: Option<Child>,
    /// The pid of the current (or last) start.
    pub pid: Option<u32>,
    /// How many times it was started; part of the owner name, so each start registers afresh.
    pub starts: u32,
    pub restarts: u32,
    pub started_at: Option<Instant>,
    /// Has it been ready at least once? Those that start after it wait for that only.
    pub been_ready: bool,
    pub backoff: Backoff,
    pub last_exit: Option<String>,
}

impl Instance {
    pub fn new(process: usize, name: &str, number: u32, backoff: Backoff) -> Instance {
        Instance {
            process,
            number,
            label: format!("{name}[{number}]"),
            state: State::Waiting,
            child: None,
            pid: None,
            starts: 0,
            restarts: 0,
            started_at: None,
            been_ready: false,
            backoff,
            last_exit: None,
        }
    }

    /// The name this start registers under (`FERROMQ_OWNER`).
    pub fn owner(&self) -> String {
        format!("{}#{}", self.label, self.starts)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn uptime(&self, now: Instant) -> Duration {
        match (self.running(), self.started_at) {
            (true, Some(at)) => now.saturating_duration_since(at),
            _ => Duration::ZERO,
        }
    }
}
