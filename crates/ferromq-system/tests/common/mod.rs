//! What the system tests share. The test binary is its own test child and its own supervisor:
//! started again with `FERROMQ_TEST_ROLE` set, its `role_entry` test plays that role (see
//! [`role_entry`]), so no other program is needed and each role is a real process.
//!
//! Every process a test starts carries a unique `FERROMQ_TEST_TOKEN` in its environment, so
//! that the test can find, in `/proc`, any of them still alive.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferromq::directory::Directory;
use ferromq::{Context, SocketType};
use ferromq_system::control::{self, ProcessRow};
use ferromq_system::Manifest;

pub const ROLE: &str = "FERROMQ_TEST_ROLE";
pub const TOKEN: &str = "FERROMQ_TEST_TOKEN";
/// Generous, for a loaded 2-core machine; every wait is bounded by it.
pub const LONG: Duration = Duration::from_secs(20);

/// Plays the role this process was started for, if any. Each test file has a test that calls
/// this; started normally, it returns at once.
pub fn role_entry() {
    match std::env::var(ROLE).as_deref() {
        Ok("supervisor") => {
            // Its children are told their role in the manifest; none may inherit this one.
            std::env::remove_var(ROLE);
            let path = std::env::var("FERROMQ_TEST_MANIFEST").expect("manifest path");
            let manifest = Manifest::load(Path::new(&path)).expect("manifest");
            let code = match ferromq_system::run(manifest) {
                Ok(ending) => ending.exit_code() as i32,
                Err(e) => {
                    eprintln!("supervisor failed: {e}");
                    3
                }
            };
            std::process::exit(code);
        }
        Ok("child") => child(),
        Ok("lookup") => lookup(),
        _ => {}
    }
}

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

/// Looks up `LOOKUP_SERVICE` in the directory at `FERROMQ_DIRECTORY`, waiting up to
/// `LOOKUP_WAIT_MS`, and prints `endpoints:` and what it found, space-separated.
fn lookup() -> ! {
    let ctx = Context::new();
    let directory = Directory::from_env(&ctx).expect("FERROMQ_DIRECTORY");
    let service = std::env::var("LOOKUP_SERVICE").expect("LOOKUP_SERVICE");
    let wait = env_ms("LOOKUP_WAIT_MS").unwrap_or(Duration::ZERO);
    match directory.lookup(&service, wait) {
        Ok(found) => println!(
            "endpoints:{}",
            found.iter().map(|e| format!(" {e}")).collect::<String>()
        ),
        Err(e) => println!("error: {e}"),
    }
    drop(directory);
    ctx.terminate();
    std::process::exit(0);
}

/// A test child. `CHILD_SERVICE`: register that service (at a PULL socket's endpoint, bound
/// on `CHILD_BIND`'s address, by default 127.0.0.1); `CHILD_LOOKUP`: look that service up,
/// waiting for it, and print `found NAME: ENDPOINTS`;
/// `CHILD_REGISTER_AFTER_MS`: wait that long first; `CHILD_EXIT_AFTER_MS` and
/// `CHILD_EXIT_CODE`: exit so; `CHILD_IGNORE_STOP`: ignore stop messages and SIGTERM.
/// Otherwise it runs until it is asked to stop, and prints what stopped it.
fn child() -> ! {
    let ignore = std::env::var("CHILD_IGNORE_STOP").is_ok();
    let term = Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term)).unwrap();
    let ctx = Context::new();
    let directory = Directory::from_env(&ctx).expect("FERROMQ_DIRECTORY");
    let started = Instant::now();
    let exit_at = env_ms("CHILD_EXIT_AFTER_MS").map(|d| started + d);
    let register_at = env_ms("CHILD_REGISTER_AFTER_MS").map_or(started, |d| started + d);
    let service = std::env::var("CHILD_SERVICE").ok();
    let mut registered = false;
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let host = std::env::var("CHILD_BIND").unwrap_or_else(|_| "127.0.0.1".into());
    pull.bind(&format!("tcp://{host}:*")).unwrap();
    println!("child up, pid {}", std::process::id());
    let mut wanted = std::env::var("CHILD_LOOKUP").ok();
    loop {
        let now = Instant::now();
        if let (Some(service), false) = (&service, registered) {
            if now >= register_at {
                directory
                    .register(service, &[pull.last_endpoint()])
                    .unwrap();
                registered = true;
                println!("registered {service}");
            }
        }
        if let Some(wanted) = wanted.take() {
            let found = directory.lookup(&wanted, LONG).unwrap();
            println!("found {wanted}: {}", found.join(" "));
        }
        if exit_at.is_some_and(|at| now >= at) {
            let code = std::env::var("CHILD_EXIT_CODE").map_or(0, |c| c.parse().unwrap());
            println!("exiting with {code}");
            std::process::exit(code);
        }
        if !ignore && directory.wait_for_stop(Duration::from_millis(20)) {
            println!("stopped by the stop message");
            std::process::exit(0);
        }
        if ignore {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !ignore && term.load(Ordering::SeqCst) {
            println!("stopped by SIGTERM");
            std::process::exit(0);
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A supervisor running a manifest, killed (with its children) when dropped.
pub struct System {
    pub child: Child,
    pub dir: PathBuf,
    pub token: String,
    pub directory: String,
    lines: Receiver<String>,
    pub seen: Arc<Mutex<Vec<String>>>,
}

/// A manifest's `[[process]]` table for a test child, with `extra` keys and `env` variables.
pub fn process(name: &str, extra: &str, env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut vars = format!("{ROLE} = \"child\"");
    for (k, v) in env {
        vars.push_str(&format!(", {k} = {v:?}"));
    }
    format!(
        "[[process]]\nname = \"{name}\"\ncommand = {exe:?}\n\
         args = [\"--exact\", \"role_entry\", \"--nocapture\", \"--test-threads=1\", \"-q\"]\n\
         env = {{ {vars} }}\n{extra}\n"
    )
}

impl System {
    /// Writes the manifest (`[supervisor]` etc. plus processes) and starts a supervisor on it;
    /// returns once it has said where its directory is.
    pub fn start(manifest: &str) -> System {
        System::start_in(manifest, &[])
    }

    /// As [`System::start`], with the supervisor's command line put after `wrapper` (for
    /// example `ip netns exec NAME`).
    pub fn start_in(manifest: &str, wrapper: &[&str]) -> System {
        let token = format!(
            "{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            Instant::now().elapsed().as_nanos()
        );
        let dir = std::env::temp_dir().join(format!("ferromq-system-test-{token}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.toml");
        std::fs::write(&path, manifest).unwrap();
        let mut child = as_role("supervisor", wrapper)
            .env("FERROMQ_TEST_MANIFEST", &path)
            .env("FERROMQ_RUNTIME_DIR", &dir)
            .env(TOKEN, &token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    seen.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let mut system = System {
            child,
            dir,
            token,
            directory: String::new(),
            lines,
            seen,
        };
        let line = system.wait_line("directory at", LONG);
        system.directory = line.rsplit(' ').next().unwrap().to_owned();
        system
    }

    /// Waits for an output line containing `text`; panics with everything seen if none
    /// comes within `timeout`.
    pub fn wait_line(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!(
                    "no line with {text:?} within {timeout:?}; output so far:\n{}",
                    self.output()
                ),
            }
        }
    }

    pub fn output(&self) -> String {
        self.seen.lock().unwrap().join("\n")
    }

    /// The supervisor's view of its processes.
    pub fn ps(&self) -> Vec<ProcessRow> {
        control::ps(&self.directory, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("ps: {e}\n{}", self.output()))
            .1
    }

    pub fn row(&self, name: &str) -> ProcessRow {
        self.ps()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no {name} in ps"))
    }

    pub fn signal(&self, signal: i32) {
        signal_pid(self.child.id(), signal);
    }

    /// Waits for the supervisor to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "the supervisor did not exit within {timeout:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no process carrying this system's token is alive, as `/proc` tells;
    /// returns those still there after `timeout`.
    pub fn survivors_after(&self, timeout: Duration) -> Vec<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = carrying(&self.token);
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn signal_pid(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Live processes (not zombies) whose environment holds `FERROMQ_TEST_TOKEN=token`.
pub fn carrying(token: &str) -> Vec<u32> {
    let needle = format!("{TOKEN}={token}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let holds = environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes());
        if holds && !zombie(pid) {
            found.push(pid);
        }
    }
    found
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|s| s == "Z")
        })
        .unwrap_or(true)
}

pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !zombie(pid)
}

/// Polls `f` until it returns `Some`, for up to `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This test binary, started to play `role` (its `role_entry` test), under `wrapper` (a command
/// and its arguments, such as `ip netns exec NS`) when there is one.
pub fn as_role(role: &str, wrapper: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command
        .args([
            "--exact",
            "role_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, role);
    command
}
