//! What happened to each process, as events: printed by the supervisor as they happen (on its
//! standard error, after `ferromq| `) and kept, the latest few hundred, for the `EVENTS` request.

use std::collections::VecDeque;
use std::fmt;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

/// How many events the supervisor keeps for `EVENTS`.
const KEPT: usize = 256;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn from_status(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        }
    }

    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "signal {signal} ({})", signal_name(*signal)),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "other",
    }
}

/// One thing that happened to one instance (`name[instance]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Started {
        pid: u32,
    },
    /// It registered with the directory (or, with `ready = "start"`, it started).
    Ready,
    Exited(Exit),
    /// It could not be started at all.
    SpawnFailed(String),
    Restarting {
        after: Duration,
    },
    /// A step of the ordered stop: `stop message`, `SIGTERM` or `SIGKILL`.
    Stopping(&'static str),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub at: SystemTime,
    pub instance: String,
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = &self.instance;
        match &self.kind {
            EventKind::Started { pid } => write!(f, "{who} started (pid {pid})"),
            EventKind::Ready => write!(f, "{who} ready"),
            EventKind::Exited(exit) => write!(f, "{who} exited ({exit})"),
            EventKind::SpawnFailed(why) => write!(f, "{who} could not start: {why}"),
            EventKind::Restarting { after } => {
                write!(f, "{who} restarting in {} ms", after.as_millis())
            }
            EventKind::Stopping(step) => write!(f, "{who} stopping: {step}"),
        }
    }
}

/// The log of events.
#[derive(Debug, Default)]
pub struct Events {
    kept: VecDeque<Event>,
}

impl Events {
    /// Records an event and prints it.
    pub fn record(&mut self, instance: &str, kind: EventKind) {
        let event = Event {
            at: SystemTime::now(),
            instance: instance.to_owned(),
            kind,
        };
        eprintln!("ferromq| {event}");
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(event);
    }

    /// The kept events as lines: milliseconds since the Unix epoch, a tab, the event.
    pub fn lines(&self) -> Vec<String> {
        self.kept
            .iter()
            .map(|e| {
                let ms =
                    e.at.duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis();
                format!("{ms}\t{e}")
            })
            .collect()
    }
}
