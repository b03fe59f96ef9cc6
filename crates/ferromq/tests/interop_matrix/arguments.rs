//! Each peer with its commands as command-line arguments instead of on stdin: a PUSH that
//! connects to a ferromq PULL and sends two messages, a PULL that binds and takes two from a
//! ferromq PUSH, and a run whose last command fails, which must end with exit status 1. A
//! peer whose software is missing fails, as in the matrix.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferromq::{Bytes, Context, Message, Socket, SocketType};

use crate::common::{encode_frames, free_tcp_port, Frames};
use crate::peers::{Kind, Launcher};

/// The peer's RCVTIMEO, SNDTIMEO and LINGER.
const PEER_TIMEOUT_MS: u64 = 10_000;
/// How long ferromq waits for a message, and for a peer to exit (a JRE compiling the Java peer
/// from source on a loaded machine takes a few seconds).
const WAIT: Duration = Duration::from_secs(30);

/// The two messages sent each way: one frame, then three with an empty one.
fn messages() -> [Frames; 2] {
    [
        vec![b"one".to_vec()],
        vec![b"two".to_vec(), Vec::new(), b"!".to_vec()],
    ]
}

#[test]
fn peers_run_commands_from_arguments() {
    let build_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-peers-arguments");
    std::fs::create_dir_all(&build_dir).expect("a directory for the C peers");
    let threads: Vec<_> = crate::selected_peers()
        .into_iter()
        .map(|kind| {
            let dir = build_dir.clone();
            std::thread::spawn(move || (kind, check_peer(kind, &dir)))
        })
        .collect();
    let mut failures = Vec::new();
    for thread in threads {
        let (kind, result) = thread.join().expect("a peer's thread");
        match result {
            Ok(()) => println!("{}: commands from arguments: pass", kind.name()),
            Err(why) => {
                println!("{}: commands from arguments: FAIL: {why}", kind.name());
                failures.push(kind.name());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "peers failed with commands from arguments (the lines above say why): {failures:?}"
    );
}

fn check_peer(kind: Kind, build_dir: &Path) -> Result<(), String> {
    let launcher = kind
        .launcher(build_dir)
        .map_err(|missing| format!("peer missing: {missing}"))?;
    peer_pushes(&launcher).map_err(|e| format!("PUSH: {e}"))?;
    peer_pulls(&launcher).map_err(|e| format!("PULL: {e}"))?;
    peer_fails(&launcher).map_err(|e| format!("err: {e}"))
}

/// The peer connects a PUSH to a ferromq PULL, sends, and exits once the messages are out.
fn peer_pushes(launcher: &Launcher) -> Result<(), String> {
    let ctx = Context::new();
    let pull = ferromq_socket(&ctx, SocketType::Pull)?;
    pull.bind("tcp://127.0.0.1:*")
        .map_err(|e| format!("ferromq bind: {e}"))?;
    let endpoint = pull.last_endpoint();
    let mut args = vec![
        "socket PUSH".to_string(),
        format!("set SNDTIMEO {PEER_TIMEOUT_MS}"),
        format!("set LINGER {PEER_TIMEOUT_MS}"),
        format!("connect {endpoint}"),
    ];
    args.extend(
        messages()
            .iter()
            .map(|m| format!("send {}", encode_frames(m))),
    );
    let mut run = Run::start(launcher, &args)?;
    for (i, expected) in messages().iter().enumerate() {
        let got = match pull.recv() {
            Ok(msg) => msg.iter().map(|f| f.to_vec()).collect::<Frames>(),
            Err(e) => {
                let seen = run.finish(Duration::from_secs(1));
                return Err(format!("ferromq got no message {}: {e}; {seen}", i + 1));
            }
        };
        if &got != expected {
            return Err(format!("ferromq got {got:?}, not {expected:?}"));
        }
    }
    run.finish(WAIT).answered(&["ok"; 6])
}

/// The peer binds a PULL on a fixed port, takes two messages from a ferromq PUSH that connects
/// to it, and exits.
fn peer_pulls(launcher: &Launcher) -> Result<(), String> {
    let endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let args = [
        "socket PULL".to_string(),
        format!("set RCVTIMEO {PEER_TIMEOUT_MS}"),
        format!("bind {endpoint}"),
        "recv".to_string(),
        "recv".to_string(),
    ];
    let mut run = Run::start(launcher, &args)?;
    let ctx = Context::new();
    let push = ferromq_socket(&ctx, SocketType::Push)?;
    push.connect(&endpoint)
        .map_err(|e| format!("ferromq connect: {e}"))?;
    for frames in messages() {
        let msg: Message = frames.iter().map(|f| Bytes::copy_from_slice(f)).collect();
        push.send(msg).map_err(|e| format!("ferromq send: {e}"))?;
    }
    let bound = format!("ok {endpoint}");
    let received: Vec<String> = messages()
        .iter()
        .map(|m| format!("msg {}", encode_frames(m)))
        .collect();
    run.finish(WAIT)
        .answered(&["ok", "ok", &bound, &received[0], &received[1]])
}

/// A command that fails answers `err`, and the peer exits with status 1 after the rest.
fn peer_fails(launcher: &Launcher) -> Result<(), String> {
    let args = ["recv".to_string(), "version".to_string()];
    let finished = Run::start(launcher, &args)?.finish(WAIT);
    let lines: Vec<&str> = finished.stdout.lines().collect();
    let answered =
        matches!(lines.as_slice(), [err, ok] if err.starts_with("err ") && ok.starts_with("ok "));
    if !answered || finished.status.and_then(|s| s.code()) != Some(1) {
        return Err(format!(
            "wanted `err ...`, `ok ...` and exit status 1; {finished}"
        ));
    }
    Ok(())
}

fn ferromq_socket(ctx: &Context, kind: SocketType) -> Result<Socket, String> {
    let socket = ctx
        .socket(kind)
        .map_err(|e| format!("ferromq {}: {e}", kind.name()))?;
    let timeout = Some(WAIT);
    socket
        .set_rcvtimeo(timeout)
        .and_then(|()| socket.set_sndtimeo(timeout))
        .and_then(|()| socket.set_linger(Some(Duration::ZERO)))
        .map_err(|e| format!("ferromq {}: {e}", kind.name()))?;
    Ok(socket)
}

/// A peer process started with command lines as arguments and nothing on stdin.
struct Run {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a peer process printed, and how it ended (`None`: killed after the wait).
struct Finished {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn start(launcher: &Launcher, args: &[String]) -> Result<Run, String> {
        let mut command = launcher.command();
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stdout = child.stdout.take().map(read_all);
        let stderr = child.stderr.take().map(read_all);
        Ok(Run {
            child,
            stdout,
            stderr,
        })
    }

    /// Waits up to `wait` for the peer to exit, killing it after that.
    fn finish(&mut self, wait: Duration) -> Finished {
        let deadline = Instant::now() + wait;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let text =
            |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        Finished {
            status,
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Finished {
    /// The peer answered exactly `answers` and exited with status 0.
    fn answered(self, answers: &[&str]) -> Result<(), String> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        if lines != answers || !self.status.is_some_and(|s| s.success()) {
            return Err(format!(
                "wanted answers {answers:?} and exit status 0; {self}"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "the peer exited with {status}")?,
            None => write!(f, "the peer did not exit in time and was killed")?,
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
        write!(f, ", answering {:?}; stderr ends {tail:?}", self.stdout)
    }
}
