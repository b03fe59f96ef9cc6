//! Whether and when an exited process is started again: its policy, an exponential back-off,
//! and the system-wide intensity limit that turns a crash loop into a clean stop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::manifest::RestartPolicy;

/// Does the policy restart a process that exited this way (`success`: exit status 0)?
pub fn wants_restart(policy: RestartPolicy, success: bool) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => !success,
        RestartPolicy::Never => false,
    }
}

/// The pause before a process's next start. Each exit that follows quickly on a start doubles
/// it; a process that ran for at least the longest pause is taken to be healthy again, so its
/// next restart is quick.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    quick_exits: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            quick_exits: 0,
        }
    }

    /// The pause after a process that ran for `uptime` exited.
    pub fn next(&mut self, uptime: Duration) -> Duration {
        if uptime >= self.max {
            self.quick_exits = 0;
        }
        let factor = 1u32 << self.quick_exits.min(16);
        self.quick_exits = self.quick_exits.saturating_add(1);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// At most `max` restarts within `period`, across the whole system.
#[derive(Debug)]
pub struct Intensity {
    max: u32,
    period: Duration,
    recent: VecDeque<Instant>,
}

impl Intensity {
    pub fn new(max: u32, period: Duration) -> Intensity {
        Intensity {
            max,
            period,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; false when it is one too many, and the system must stop.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) > self.period)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.max {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(wants_restart(RestartPolicy::Always, true));
        assert!(!wants_restart(RestartPolicy::OnFailure, true));
        assert!(wants_restart(RestartPolicy::OnFailure, false));
        assert!(!wants_restart(RestartPolicy::Never, false));
    }

    #[test]
    fn backoff_doubles_then_resets_after_a_long_run() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let quick = ms(10);
        let pauses: Vec<_> = (0..6).map(|_| b.next(quick)).collect();
        assert_eq!(
            pauses,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.next(ms(1000)), ms(100));
        assert_eq!(b.next(quick), ms(200));
    }

    #[test]
    fn intensity_counts_within_the_period_only() {
        let start = Instant::now();
        let s = Duration::from_secs;
        let mut i = Intensity::new(3, s(10));
        assert!(i.allow(start));
        assert!(i.allow(start + s(1)));
        assert!(i.allow(start + s(2)));
        assert!(!i.allow(start + s(3)));
        // The first restart falls out of the window.
        assert!(i.allow(start + s(11)));
        assert!(!i.allow(start + s(11)));
    }
}
