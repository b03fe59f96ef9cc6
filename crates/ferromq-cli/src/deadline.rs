//! `--timeout`: how long a command may wait in all.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The end of a command's `--timeout`, if it has one.
pub(crate) struct Deadline {
    at: Option<Instant>,
    ms: u64,
}

impl Deadline {
    pub(crate) fn new(timeout_ms: Option<u64>) -> Deadline {
        let at = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        Deadline {
            at,
            ms: timeout_ms.unwrap_or(0),
        }
    }

    /// How long the next wait may take (`None`: for ever), or, once the time is up, the exit
    /// status 1 after saying how far the command got.
    pub(crate) fn remaining(&self, progress: &str) -> Result<Option<Duration>, ExitCode> {
        match self
            .at
            .map(|at| at.saturating_duration_since(Instant::now()))
        {
            Some(left) if left.is_zero() => {
                eprintln!("ferromq: timed out after {} ms with {progress}", self.ms);
                Err(ExitCode::from(1))
            }
            left => Ok(left),
        }
    }
}
