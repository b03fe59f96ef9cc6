//! Starting one child process so that it can never outlive the supervisor, and signalling it.
//!
//! Each child leads a process group of its own, so that a signal reaches whatever it started
//! too, and so that a Ctrl-C at the terminal reaches only the supervisor, which then stops the
//! children in order. Each child also asks the kernel for SIGKILL when its parent dies
//! (`PR_SET_PDEATHSIG`): that is what still holds when the supervisor is killed with SIGKILL and
//! runs no code at all. The kernel sends that signal when the *thread* that forked the child
//! exits, so children are only ever spawned from the supervisor's main loop thread, which lives
//! as long as the supervisor.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use rustix::process::{Pid, Signal};

use crate::manifest::ProcessConfig;
use crate::output::{self, Stream};

/// Environment variables every child is given.
pub mod env {
    /// The directory's endpoint.
    pub const DIRECTORY: &str = "FERROMQ_DIRECTORY";
    /// The name a child registers under; it names one start of one instance
    /// (`name[instance]#start`), so that a registration from an earlier run never counts for
    /// the current one.
    pub const OWNER: &str = "FERROMQ_OWNER";
    /// The process's name in the manifest.
    pub const PROCESS: &str = "FERROMQ_PROCESS";
    /// Which instance this is, from 0.
    pub const INSTANCE: &str = "FERROMQ_INSTANCE";
}

/// What a child is started with besides its manifest entry.
pub struct Launch<'a> {
    pub config: &'a ProcessConfig,
    pub instance: u32,
    pub owner: &'a str,
    pub directory: &'a str,
}

/// Starts the child with its output forwarded, prefixed with `name[instance]`; returns it with
/// the threads that forward its output, which finish when it (and whatever it started) closes
/// its end of the pipes.
pub fn spawn(launch: &Launch<'_>) -> std::io::Result<(Child, Vec<JoinHandle<()>>)> {
    let config = launch.config;
    let mut command = Command::new(&config.command);
    command
        .args(&config.args)
        .envs(&config.env)
        .env(env::DIRECTORY, launch.directory)
        .env(env::OWNER, launch.owner)
        .env(env::PROCESS, &config.name)
        .env(env::INSTANCE, launch.instance.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &config.cwd {
        command.current_dir(cwd);
    }
    let supervisor = rustix::process::getpid();
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed. It makes two system calls (prctl and getppid), allocates nothing and
    // takes no lock.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The supervisor may have died before the prctl: then nobody will send the signal.
            if rustix::process::getppid() != Some(supervisor) {
                return Err(std::io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let prefix = format!("{}[{}]", config.name, launch.instance);
    let mut forwarders = Vec::new();
    if let Some(out) = child.stdout.take() {
        forwarders.push(output::forward(out, prefix.clone(), Stream::Stdout));
    }
    if let Some(err) = child.stderr.take() {
        forwarders.push(output::forward(err, prefix, Stream::Stderr));
    }
    Ok((child, forwarders))
}

/// Sends `signal` to the child's process group (the child and whatever it started); a group that
/// is already gone is not an error.
pub fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}
