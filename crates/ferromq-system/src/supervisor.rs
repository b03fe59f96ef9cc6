//! The supervisor's loop: it starts instances when what they wait for is ready, reaps them when
//! they exit, restarts them by their policy, serves the directory, and stops everything in
//! reverse order on SIGINT or SIGTERM or when the restart intensity is exceeded.
//!
//! Everything happens on one thread, the one that called [`run`]: children must be spawned from
//! a thread that outlives them (see `spawn`), and one thread needs no locks. It sleeps in a
//! poller on the directory's ROUTER and a self-pipe that SIGINT, SIGTERM and SIGCHLD write to,
//! so it wakes at once for a request, a stop or an exit. The one other thread, with `[directory]
//! join`, is the link to the joined directory (see `link`), which wakes the poller through a
//! socket pair when it has answered a lookup.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferromq::{Context, Events, Poller, Socket, SocketType};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};

use crate::events::{EventKind, Events as EventLog, Exit};
use crate::instance::{Instance, State};
use crate::link::{Command, Link};
use crate::manifest::{Manifest, Readiness};
use crate::registry::{Registry, Route};
use crate::restart::{wants_restart, Backoff, Intensity};
use crate::shutdown::Shutdown;
use crate::spawn::{self, Launch};
use crate::state_file;

/// How long the supervisor waits, before it exits, for the last lines of its children's output.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// The longest the loop sleeps with nothing due: a safety net only, as signals and requests
/// wake it.
const IDLE: Duration = Duration::from_millis(500);

/// How a run of the system ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// SIGINT or SIGTERM stopped it.
    Signalled,
    /// Every process exited and none is to be restarted; `failed` when one ended badly.
    Finished { failed: bool },
    /// A process needed more restarts than the intensity limit allows; the message names it.
    GaveUp { message: String },
}

impl Ending {
    /// The supervisor's exit status for this ending.
    pub fn exit_code(&self) -> u8 {
        match self {
            Ending::Signalled | Ending::Finished { failed: false } => 0,
            Ending::Finished { failed: true } | Ending::GaveUp { .. } => 1,
        }
    }
}

pub(crate) struct Supervisor {
    pub manifest: Manifest,
    /// Instances in start order; the system stops in the reverse.
    pub instances: Vec<Instance>,
    pub registry: Registry,
    pub events: EventLog,
    pub directory: String,
    pub router: Socket,
    intensity: Intensity,
    pub shutdown: Option<Shutdown>,
    /// The threads copying children's output, to let them finish before the supervisor exits.
    forwarders: Vec<JoinHandle<()>>,
    ending: Option<Ending>,
    failed: bool,
    /// The link to the directory this one joined, if it joined one.
    pub link: Option<Link>,
    /// Local lookups the link is asking the remote about, by id.
    pub remote_lookups: Vec<RemoteLookup>,
    next_lookup: u64,
}

/// A local lookup that found nothing here and is being asked of the joined directory.
pub(crate) struct RemoteLookup {
    id: u64,
    route: Route,
    service: String,
    /// A lookup with a wait is also parked in the registry, so that a local registration
    /// answers it too, and the registry answers it, empty, when its wait is over.
    waits: bool,
}

/// Signals, seen by the loop through flags and a self-pipe that wakes its poller.
struct Signals {
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        let (wake, writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [SIGINT, SIGTERM] {
            ids.push(signal_hook::flag::register(signal, Arc::clone(&stop))?);
        }
        for signal in [SIGINT, SIGTERM, SIGCHLD] {
            ids.push(signal_hook::low_level::pipe::register(
                signal,
                writer.try_clone()?,
            )?);
        }
        Ok(Signals { stop, wake, ids })
    }

    /// Empties the self-pipe; true when SIGINT or SIGTERM arrived since the last call.
    fn take_stop(&mut self) -> bool {
        let mut buf = [0u8; 64];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        self.stop.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Runs the system the manifest describes until it is stopped or ends; the directory is bound
/// first, and a state file tells `ferromq ps` where it is.
pub fn run(manifest: Manifest) -> Result<Ending, String> {
    let runtime = state_file::runtime_dir();
    if let Ok(other) = state_file::find(&runtime, Some(manifest.system_name())) {
        return Err(format!(
            "a system named {:?} is already running (supervisor pid {}); give this one another name",
            other.system, other.pid
        ));
    }
    let ctx = Context::new();
    let router = ctx
        .socket(SocketType::Router)
        .map_err(|e| format!("directory socket: {e}"))?;
    router
        .set_linger(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    router
        .bind(&manifest.directory.bind)
        .map_err(|e| format!("directory: cannot bind {}: {e}", manifest.directory.bind))?;
    let directory = router.last_endpoint();
    let mut signals = Signals::install().map_err(|e| format!("signal handlers: {e}"))?;
    let state_path = state_file::write(
        &runtime,
        &state_file::Running {
            system: manifest.system_name().to_owned(),
            pid: std::process::id(),
            directory: directory.clone(),
        },
    )
    .map_err(|e| format!("state file: {e}"))?;
    eprintln!(
        "ferromq| system {} (supervisor pid {}), directory at {directory}",
        manifest.system_name(),
        std::process::id()
    );
    let link = match &manifest.directory.join {
        Some(remote) => {
            let prefix = manifest.directory.name.clone().unwrap_or_else(host_name);
            eprintln!("ferromq| directory: joining {remote} as {prefix}");
            let ttl = Duration::from_millis(manifest.directory.ttl_ms);
            Some(Link::start(&ctx, remote, &prefix, ttl).map_err(|e| format!("link: {e}"))?)
        }
        None => None,
    };
    let mut supervisor = Supervisor::new(manifest, router, directory)?;
    supervisor.link = link;
    let ending = supervisor.run_loop(&mut signals);
    supervisor.drain_output();
    let _ = std::fs::remove_file(&state_path);
    if let Ending::GaveUp { message } = &ending {
        eprintln!("ferromq: {message}");
    }
    // The link says goodbye for what it still mirrors, and closes its socket.
    drop(supervisor);
    ctx.terminate();
    Ok(ending)
}

impl Supervisor {
    fn new(manifest: Manifest, router: Socket, directory: String) -> Result<Supervisor, String> {
        let order = manifest.start_order().map_err(|e| e.to_string())?;
        let config = &manifest.supervisor;
        let mut instances = Vec::new();
        for index in order {
            let process = &manifest.processes[index];
            for number in 0..process.instances {
                let backoff = Backoff::new(config.backoff(), config.backoff_max());
                instances.push(Instance::new(index, &process.name, number, backoff));
            }
        }
        Ok(Supervisor {
            registry: Registry::new(Duration::from_millis(manifest.directory.ttl_ms)),
            intensity: Intensity::new(config.max_restarts, config.within()),
            instances,
            events: EventLog::default(),
            directory,
            router,
            shutdown: None,
            forwarders: Vec::new(),
            ending: None,
            failed: false,
            link: None,
            remote_lookups: Vec::new(),
            next_lookup: 0,
            manifest,
        })
    }

    fn run_loop(&mut self, signals: &mut Signals) -> Ending {
        loop {
            let now = Instant::now();
            self.reap(now);
            if signals.take_stop() {
                match &mut self.shutdown {
                    None => self.begin_shutdown(Ending::Signalled),
                    // A second Ctrl-C: no more waiting.
                    Some(shutdown) => shutdown.hurry(),
                }
            }
            if self.shutdown.is_none() {
                // Starting may fail and exhaust the intensity limit, which begins the stop.
                self.start_due(Instant::now());
            }
            if self.shutdown.is_some() {
                if self.step_shutdown(Instant::now()) {
                    return self.ending.take().unwrap_or(Ending::Signalled);
                }
            } else if !self
                .instances
                .iter()
                .any(|i| i.running() || matches!(i.state, State::Backoff(_) | State::Stopping))
            {
                eprintln!("ferromq| every process has exited; nothing left to supervise");
                return Ending::Finished {
                    failed: self.failed,
                };
            }
            self.expire(Instant::now());
            self.wait(signals);
        }
    }

    /// Sleeps until a request, a signal, or the next thing due.
    fn wait(&mut self, signals: &Signals) {
        let now = Instant::now();
        let backoffs = self.instances.iter().filter_map(|i| match i.state {
            State::Backoff(at) => Some(at),
            _ => None,
        });
        let due = backoffs
            .chain(self.registry.next_deadline())
            .chain(self.shutdown.as_ref().and_then(Shutdown::deadline))
            .min();
        let timeout = due
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or(IDLE)
            .min(IDLE);
        let ready = {
            let Ok(mut poller) = Poller::new() else {
                std::thread::sleep(timeout);
                return;
            };
            let _ = poller.add(&self.router, Events::POLLIN);
            let _ = poller.add_fd(signals.wake.as_raw_fd(), Events::POLLIN);
            if let Some(link) = &self.link {
                let _ = poller.add_fd(link.wake.as_raw_fd(), Events::POLLIN);
            }
            poller.wait(Some(timeout)).unwrap_or_default()
        };
        if !ready.is_empty() {
            self.serve_pending();
            self.remote_answers();
        }
    }

    /// Tells the link, if there is one.
    pub fn tell_link(&self, command: Command) {
        if let Some(link) = &self.link {
            link.send(command);
        }
    }

    /// Asks the joined directory for a service not found here; false when there is none to ask.
    pub fn ask_remote(&mut self, route: Route, service: &str, wait: Duration) -> bool {
        let Some(link) = &self.link else {
            return false;
        };
        let now = Instant::now();
        self.next_lookup += 1;
        let id = self.next_lookup;
        link.send(Command::Lookup {
            id,
            service: service.to_owned(),
            deadline: now + wait,
        });
        let waits = !wait.is_zero();
        if waits {
            self.registry.wait(route.clone(), service, now + wait);
        }
        self.remote_lookups.push(RemoteLookup {
            id,
            route,
            service: service.to_owned(),
            waits,
        });
        true
    }

    /// A parked lookup was answered here: the remote's answer is no longer wanted.
    pub fn answered_here(&mut self, route: &Route, service: &str) {
        if let Some(index) = self
            .remote_lookups
            .iter()
            .position(|r| r.route == *route && r.service == service)
        {
            self.remote_lookups.remove(index);
        }
    }

    /// Replies to the lookups the joined directory answered.
    fn remote_answers(&mut self) {
        let Some(link) = &mut self.link else {
            return;
        };
        for found in link.take_answers() {
            let Some(index) = self.remote_lookups.iter().position(|r| r.id == found.id) else {
                continue;
            };
            let lookup = self.remote_lookups.remove(index);
            if !found.endpoints.is_empty() {
                if lookup.waits && !self.registry.take_waiter(&lookup.route, &lookup.service) {
                    continue;
                }
                self.send(crate::protocol::lookup_reply(
                    &lookup.route,
                    &lookup.service,
                    &found.endpoints,
                ));
            } else if !lookup.waits {
                self.send(crate::protocol::lookup_reply(
                    &lookup.route,
                    &lookup.service,
                    &[],
                ));
            }
        }
    }

    /// Collects every child that has exited.
    fn reap(&mut self, now: Instant) {
        for index in 0..self.instances.len() {
            let status = match self.instances[index].child.as_mut() {
                Some(child) => match child.try_wait() {
                    Ok(Some(status)) => status,
                    _ => continue,
                },
                None => continue,
            };
            self.exited(index, Exit::from_status(status), now);
        }
    }

    fn exited(&mut self, index: usize, exit: Exit, now: Instant) {
        let owner = self.instances[index].owner();
        if self.registry.remove_owner(&owner) {
            self.tell_link(Command::Gone { owner });
        }
        let instance = &mut self.instances[index];
        instance.child = None;
        if let Some(pid) = instance.pid {
            // Whatever it started goes with it.
            spawn::signal_group(pid, rustix::process::Signal::KILL);
        }
        instance.last_exit = Some(exit.to_string());
        let uptime = instance
            .started_at
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        let label = instance.label.clone();
        self.events.record(&label, EventKind::Exited(exit));
        if self.shutdown.is_some() {
            self.instances[index].state = State::Exited;
            return;
        }
        let policy = self.manifest.processes[self.instances[index].process].restart;
        if !wants_restart(policy, exit.success()) {
            self.failed |= !exit.success();
            self.instances[index].state = State::Exited;
            return;
        }
        if !self.intensity.allow(now) {
            let config = &self.manifest.supervisor;
            let message = format!(
                "{label} exited ({exit}) and would be restarted, but the limit is {} restarts in {} s: stopping the system",
                config.max_restarts, config.within_secs
            );
            self.instances[index].state = State::Exited;
            self.begin_shutdown(Ending::GaveUp { message });
            return;
        }
        let pause = self.instances[index].backoff.next(uptime);
        self.instances[index].state = State::Backoff(now + pause);
        self.events
            .record(&label, EventKind::Restarting { after: pause });
    }

    /// Starts the instances whose turn has come: those waiting whose dependencies have all been
    /// ready, and those whose back-off is over.
    fn start_due(&mut self, now: Instant) {
        for index in 0..self.instances.len() {
            let due = match self.instances[index].state {
                State::Waiting => self.dependencies_ready(self.instances[index].process),
                State::Backoff(at) => at <= now,
                _ => false,
            };
            if due {
                self.start(index, now);
            }
        }
    }

    fn dependencies_ready(&self, process: usize) -> bool {
        self.manifest.processes[process].after.iter().all(|dep| {
            self.instances
                .iter()
                .filter(|i| self.manifest.processes[i.process].name == *dep)
                .all(|i| i.been_ready)
        })
    }

    fn start(&mut self, index: usize, now: Instant) {
        let restart = self.instances[index].starts > 0;
        self.instances[index].starts += 1;
        if restart {
            self.instances[index].restarts += 1;
        }
        let instance = &self.instances[index];
        let config = &self.manifest.processes[instance.process];
        let owner = instance.owner();
        let launch = Launch {
            config,
            instance: instance.number,
            owner: &owner,
            directory: &self.directory,
        };
        let label = instance.label.clone();
        match spawn::spawn(&launch) {
            Ok((child, forwarders)) => {
                self.forwarders.retain(|f| !f.is_finished());
                self.forwarders.extend(forwarders);
                let pid = child.id();
                let ready_on_start = config.ready == Readiness::Start;
                let instance = &mut self.instances[index];
                instance.child = Some(child);
                instance.pid = Some(pid);
                instance.started_at = Some(now);
                instance.state = State::Starting;
                self.events.record(&label, EventKind::Started { pid });
                if ready_on_start {
                    self.mark_ready(index);
                }
            }
            Err(e) => {
                // Counts as a failed run, so a command that does not exist hits the intensity
                // limit instead of being retried for ever.
                self.events
                    .record(&label, EventKind::SpawnFailed(e.to_string()));
                self.instances[index].started_at = Some(now);
                // There is no process group of this start to clean up after.
                self.instances[index].pid = None;
                self.exited(index, Exit::Code(127), now);
            }
        }
    }

    /// The instance registered (or started, with `ready = "start"`).
    pub fn mark_ready(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if instance.state != State::Starting {
            return;
        }
        instance.state = State::Ready;
        instance.been_ready = true;
        let label = instance.label.clone();
        self.events.record(&label, EventKind::Ready);
    }

    fn expire(&mut self, now: Instant) {
        let (gone, answers) = self.registry.expire(now);
        for owner in gone {
            eprintln!(
                "ferromq| directory: {owner} stopped sending heartbeats; its entries are removed"
            );
            self.tell_link(Command::Gone { owner });
        }
        for answer in answers {
            self.answered_here(&answer.route, &answer.service);
            self.send(crate::protocol::lookup_reply(
                &answer.route,
                &answer.service,
                &answer.endpoints,
            ));
        }
    }

    /// Lets the output of the children that have exited reach the supervisor's own, waiting no
    /// longer than [`OUTPUT_DRAIN`]: something a child started may hold its pipe open.
    fn drain_output(&mut self) {
        let deadline = Instant::now() + OUTPUT_DRAIN;
        while Instant::now() < deadline && self.forwarders.iter().any(|f| !f.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends on the ROUTER without waiting: a peer that has gone simply misses its reply.
    pub fn send(&self, msg: ferromq::Message) {
        let _ = self.router.try_send(msg);
    }

    fn begin_shutdown(&mut self, ending: Ending) {
        eprintln!("ferromq| stopping the system");
        self.ending = Some(ending);
        let order: Vec<usize> = (0..self.instances.len()).rev().collect();
        let timeout = self.manifest.supervisor.stop_timeout();
        self.shutdown = Some(Shutdown::new(order, timeout));
    }
}

/// This host's name, for the owner names of its entries in a joined directory.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().replace(['/', ' '], "-"))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".into())
}
