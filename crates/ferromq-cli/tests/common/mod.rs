//! What the `ferromq` command-line tests share: running the binary with a time limit and killing
//! it if it outlives that or the test, its output, and free tcp endpoints.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferromq");

/// A running `ferromq`, killed when dropped so that a failing test leaves no process behind;
/// its output lines can be awaited one by one.
pub struct Running {
    what: String,
    child: Child,
    started: Instant,
    lines: Receiver<String>,
    seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a child ended.
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.status.code(),
            Some(code),
            "`{}` exited with {:?}\nstdout: {}\nstderr: {}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

/// Reads all of `pipe` on a thread, so that a full pipe never blocks the child.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Like `collect`, and also sends each line as it comes, for tests that react to the output.
fn collect_lines(pipe: impl Read + Send + 'static, lines: Sender<String>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut bytes = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            bytes.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let _ = lines.send(text.lines().next().unwrap_or_default().to_string());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Starts `ferromq args...` with an empty stdin.
pub fn spawn(args: &[&str]) -> Running {
    spawn_with_stdin(args, None)
}

/// Starts `ferromq args...`; `stdin` is written and closed, or stdin is empty.
pub fn spawn_with_stdin(args: &[&str], stdin: Option<&str>) -> Running {
    spawn_program_with_stdin(std::path::Path::new(BIN), args, stdin)
}

/// Starts another program (a foreign peer's tool) the same way, with an empty stdin.
pub fn spawn_program(program: &std::path::Path, args: &[&str]) -> Running {
    spawn_program_with_stdin(program, args, None)
}

fn spawn_program_with_stdin(
    program: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Running {
    let name = program.file_name().unwrap_or_default().to_string_lossy();
    let what = format!("{name} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let (sender, lines) = mpsc::channel();
    Running {
        stdout: Some(collect_lines(
            child.stdout.take().expect("stdout is piped"),
            sender,
        )),
        stderr: Some(collect(child.stderr.take().expect("stderr is piped"))),
        what,
        child,
        started: Instant::now(),
        lines,
        seen: Vec::new(),
    }
}

impl Running {
    /// Waits for the next line of standard output; fails after `limit` from the start.
    pub fn next_line(&mut self, limit: Duration) -> String {
        let left = (self.started + limit).saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!(
                "`{}`: no line of output ({e}); so far: {:?}",
                self.what, self.seen
            ),
        }
    }

    /// Waits for the exit, at most `limit` from the start; kills the child and fails after that.
    pub fn finish(self, limit: Duration) -> Outcome {
        let deadline = self.started + limit;
        self.finish_by(deadline, limit)
    }

    /// Waits for the exit, at most `limit` from now; kills the child and fails after that.
    pub fn finish_within(self, limit: Duration) -> Outcome {
        self.finish_by(Instant::now() + limit, limit)
    }

    fn finish_by(mut self, deadline: Instant, limit: Duration) -> Outcome {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
                    let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
                    panic!(
                        "`{}` did not exit within {limit:?}\nstdout: {stdout}\nstderr: {stderr}",
                        self.what
                    );
                }
                Err(e) => panic!("waiting for `{}`: {e}", self.what),
            }
        };
        let elapsed = self.started.elapsed();
        Outcome {
            what: self.what.clone(),
            status,
            stdout: self.stdout.take().unwrap().join().unwrap_or_default(),
            stderr: self.stderr.take().unwrap().join().unwrap_or_default(),
            elapsed,
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with `kill`, as a service manager or a terminal would.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed: {status:?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// A `tcp://127.0.0.1:PORT` endpoint whose port was free a moment ago.
pub fn free_endpoint() -> String {
    format!("tcp://127.0.0.1:{}", free_port())
}

/// Waits until something listens on `endpoint` (a `tcp://` one), at most `limit`.
pub fn wait_listening(endpoint: &str, limit: Duration) {
    let addr: std::net::SocketAddr = endpoint
        .strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .expect("a tcp://ip:port endpoint");
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {endpoint}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `out` must have exited with status 2 and one line on stderr containing each of `names`.
pub fn assert_usage_error_line(out: &Outcome, names: &[&str]) {
    out.assert_code(2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.len() == 1 && !lines[0].trim().is_empty(),
        "`{}` should print one line on stderr, printed:\n{}",
        out.what,
        out.stderr
    );
    for name in names {
        assert!(
            lines[0].contains(name),
            "`{}`: the error should name {name:?}: {}",
            out.what,
            lines[0]
        );
    }
}
