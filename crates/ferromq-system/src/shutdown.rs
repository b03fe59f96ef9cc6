//! The ordered stop: one instance at a time, in reverse start order, each asked first with a
//! stop message over the directory (if it registered), then with SIGTERM, then killed with
//! SIGKILL, waiting up to the stop timeout after each of the first two.

use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::events::EventKind;
use crate::instance::State;
use crate::protocol;
use crate::spawn;
use crate::supervisor::Supervisor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Message,
    Term,
    Kill,
}

#[derive(Debug)]
pub(crate) struct Shutdown {
    /// Instance indices, in the order they are stopped.
    order: Vec<usize>,
    next: usize,
    /// What was last done to the instance being stopped, and until when to wait for it.
    step: Option<(Step, Instant)>,
    timeout: Duration,
    /// A second SIGINT or SIGTERM: kill everything still running at once.
    hurry: bool,
    hurried: bool,
}

impl Shutdown {
    pub fn new(order: Vec<usize>, timeout: Duration) -> Shutdown {
        Shutdown {
            order,
            next: 0,
            step: None,
            timeout,
            hurry: false,
            hurried: false,
        }
    }

    pub fn hurry(&mut self) {
        self.hurry = true;
    }

    /// When the instance being stopped is due for its next step.
    pub fn deadline(&self) -> Option<Instant> {
        self.step.map(|(_, at)| at)
    }
}

impl Supervisor {
    /// Moves the stop along; true once every instance has exited.
    pub(crate) fn step_shutdown(&mut self, now: Instant) -> bool {
        let Some(mut shutdown) = self.shutdown.take() else {
            return true;
        };
        let done = self.advance(&mut shutdown, now);
        self.shutdown = Some(shutdown);
        done
    }

    fn advance(&mut self, shutdown: &mut Shutdown, now: Instant) -> bool {
        if shutdown.hurry && !shutdown.hurried {
            shutdown.hurried = true;
            for instance in self.instances.iter().filter(|i| i.running()) {
                if let Some(pid) = instance.pid {
                    spawn::signal_group(pid, Signal::KILL);
                }
            }
        }
        loop {
            let Some(&index) = shutdown.order.get(shutdown.next) else {
                return true;
            };
            if !self.instances[index].running() {
                self.instances[index].state = State::Exited;
                shutdown.next += 1;
                shutdown.step = None;
                continue;
            }
            let step = match shutdown.step {
                None => {
                    let owner = self.instances[index].owner();
                    match self.registry.route_of(&owner) {
                        Some(route) if !shutdown.hurry => {
                            self.send(protocol::reply(route, ["STOP"]));
                            Step::Message
                        }
                        _ => Step::Term,
                    }
                }
                Some((step, deadline)) if now >= deadline => match step {
                    Step::Message => Step::Term,
                    Step::Term => Step::Kill,
                    Step::Kill => {
                        // SIGKILL cannot be ignored; the exit will come. Move on.
                        shutdown.next += 1;
                        shutdown.step = None;
                        continue;
                    }
                },
                Some(_) => return false,
            };
            let instance = &mut self.instances[index];
            instance.state = State::Stopping;
            let pid = instance.pid.unwrap_or(0);
            let label = instance.label.clone();
            let what = match step {
                Step::Message => "stop message",
                Step::Term => {
                    spawn::signal_group(pid, Signal::TERM);
                    "SIGTERM"
                }
                Step::Kill => {
                    spawn::signal_group(pid, Signal::KILL);
                    "SIGKILL"
                }
            };
            self.events.record(&label, EventKind::Stopping(what));
            shutdown.step = Some((step, now + shutdown.timeout));
            return false;
        }
    }
}
