//! `ferromq proxy`: a streamer between `ferromq send` and `ferromq recv`, the capture socket,
//! stopping on SIGTERM and SIGINT with status 0, and one-line usage errors. Every child process
//! is killed if it outlives its time limit.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferromq");
/// The longest any child may run.
const LIMIT: Duration = Duration::from_secs(15);
/// How soon the proxy must exit after a signal.
const PROMPTLY: Duration = Duration::from_secs(3);

/// A running `ferromq`, killed when dropped.
struct Running {
    what: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a child ended.
struct Outcome {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn assert_code(&self, code: i32) {
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

    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Starts `ferromq args...` with an empty stdin.
fn spawn(args: &[&str]) -> Running {
    let what = format!("ferromq {}", args.join(" "));
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    Running {
        stdout: Some(collect(child.stdout.take().expect("stdout is piped"))),
        stderr: Some(collect(child.stderr.take().expect("stderr is piped"))),
        what,
        child,
    }
}

impl Running {
    /// Waits for the exit, at most `limit` from now; kills the child and fails after that.
    fn finish(mut self, limit: Duration) -> Outcome {
        let deadline = Instant::now() + limit;
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
        Outcome {
            what: self.what.clone(),
            status,
            stdout: self.stdout.take().unwrap().join().unwrap_or_default(),
            stderr: self.stderr.take().unwrap().join().unwrap_or_default(),
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with `kill`, as a service manager or a terminal would.
    fn signal(&self, signal: &str) {
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

fn run(args: &[&str]) -> Outcome {
    spawn(args).finish(LIMIT)
}

/// A `tcp://127.0.0.1:PORT` endpoint whose port was free a moment ago.
fn free_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port();
    format!("tcp://127.0.0.1:{port}")
}

/// Waits until something listens on `endpoint` (a `tcp://` one).
fn wait_listening(endpoint: &str) {
    let addr: std::net::SocketAddr = endpoint
        .strip_prefix("tcp://")
        .and_then(|a| a.parse().ok())
        .expect("a tcp://ip:port endpoint");
    let deadline = Instant::now() + LIMIT;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {endpoint}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stops the proxy with `signal` and checks that it exits 0, promptly and quietly.
fn stop(proxy: Running, signal: &str) {
    let asked = Instant::now();
    proxy.signal(signal);
    let out = proxy.finish(PROMPTLY);
    out.assert_code(0);
    assert!(asked.elapsed() < PROMPTLY);
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
}

#[test]
fn a_streamer_passes_messages_from_send_to_recv_and_stops_on_sigterm() {
    let front = free_endpoint();
    let back = free_endpoint();
    let proxy = spawn(&[
        "proxy",
        "--frontend",
        "PULL",
        "--frontend-bind",
        &front,
        "--backend",
        "push",
        "--backend-bind",
        &back,
    ]);
    wait_listening(&front);
    wait_listening(&back);
    let receiver = spawn(&[
        "recv",
        "--type",
        "PULL",
        "--connect",
        &back,
        "--count",
        "3",
        "--timeout",
        "10000",
    ]);
    run(&[
        "send",
        "--type",
        "PUSH",
        "--connect",
        &front,
        "one",
        "two",
        "three",
    ])
    .assert_code(0);
    let received = receiver.finish(LIMIT);
    received.assert_code(0);
    assert_eq!(received.lines(), ["one", "two", "three"]);
    stop(proxy, "TERM");
}

#[test]
fn the_capture_socket_publishes_copies_and_sigint_stops_the_proxy() {
    let front = free_endpoint();
    let back = free_endpoint();
    let capture = free_endpoint();
    let proxy = spawn(&[
        "proxy",
        "--frontend",
        "PULL",
        "--frontend-bind",
        &front,
        "--backend",
        "PUSH",
        "--backend-bind",
        &back,
        "--capture",
        &capture,
    ]);
    wait_listening(&front);
    wait_listening(&back);
    wait_listening(&capture);
    let receiver = spawn(&[
        "recv",
        "--type",
        "PULL",
        "--connect",
        &back,
        "--count",
        "6",
        "--timeout",
        "10000",
    ]);
    // A subscriber only sees what is published after it has joined: the spaced-out messages
    // give it time, and it needs only the later ones.
    let listener = spawn(&[
        "recv",
        "--type",
        "SUB",
        "--connect",
        &capture,
        "--count",
        "3",
        "--timeout",
        "10000",
    ]);
    let sent = ["m1", "m2", "m3", "m4", "m5", "m6"];
    let mut send = vec![
        "send",
        "--type",
        "PUSH",
        "--connect",
        &front,
        "--interval",
        "150",
    ];
    send.extend_from_slice(&sent);
    run(&send).assert_code(0);
    let received = receiver.finish(LIMIT);
    received.assert_code(0);
    assert_eq!(received.lines(), sent);
    let copies = listener.finish(LIMIT);
    copies.assert_code(0);
    let lines = copies.lines();
    let start = sent
        .iter()
        .position(|m| Some(m) == lines.first())
        .unwrap_or_else(|| panic!("copies of what was sent: {lines:?}"));
    assert_eq!(lines, sent[start..start + 3], "copies, in order");
    stop(proxy, "INT");
}

// ---- bad arguments -------------------------------------------------------------------------

/// The command must fail with status 2 and one line on stderr containing each of `names`.
fn assert_usage_error(args: &[&str], names: &[&str]) {
    let out = run(args);
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

#[test]
fn bad_arguments_exit_2_with_one_line_naming_the_argument() {
    let ep = free_endpoint();
    let ep2 = free_endpoint();
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
        ],
        &["--backend"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULLEY",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
            "--backend-bind",
            &ep2,
        ],
        &["--frontend", "PULLEY"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            "tcp//nowhere",
            "--backend",
            "PUSH",
            "--backend-bind",
            &ep2,
        ],
        &["--frontend-bind", "tcp//nowhere"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
            "--backend-connect",
            "tcp://*:1",
        ],
        &["--backend-connect"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "ROUTER",
            "--frontend-bind",
            &ep,
            "--backend",
            "DEALER",
            "--backend-bind",
            &ep2,
            "--capture",
            "bogus",
        ],
        &["--capture", "bogus"],
    );
    assert_usage_error(
        &["proxy", "--frontend", "PULL", "--frontend-bind", &ep],
        &["--backend"],
    );
    assert_usage_error(
        &["proxy", "--frontend-bind", &ep, "--backend", "PUSH"],
        &["--frontend"],
    );
}
