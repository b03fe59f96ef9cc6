//! Helpers shared by the integration tests: an out-of-process ZeroMQ peer driven over a
//! language-neutral line protocol (see `interop/python/zmq_peer.py`), and unique endpoints.
//!
//! Every wait here is bounded, so a broken peer fails the test with a message instead of
//! hanging it.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A multipart message as plain bytes, for comparing across implementations.
pub type Frames = Vec<Vec<u8>>;

/// The longest wait for any answer of a peer. Commands that block inside the peer (`recv`,
/// `send`) give up sooner through its RCVTIMEO and SNDTIMEO.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The root of the Cargo workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The Python that has pyzmq: `$FERROMQ_PYTHON`, else the workspace's `.venv`. Panics with
/// what to do when it is missing, so the interop tests can never pass by not running.
pub fn pyzmq_python() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let python = std::env::var_os("FERROMQ_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
        let hint = "run scripts/test, which creates .venv with pyzmq and sets FERROMQ_PYTHON \
                    (or set FERROMQ_PYTHON to a Python that has pyzmq)";
        let output = Command::new(&python)
            .args(["-c", "import zmq; print(zmq.__version__)"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}; {hint}", python.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!(
                "{} cannot import pyzmq ({}); {hint}",
                python.display(),
                reason.trim()
            ));
        }
        Ok(python)
    });
    match found {
        Ok(python) => python.clone(),
        Err(e) => panic!("pyzmq interop tests cannot run: {e}"),
    }
}

/// A peer process that answers one line per command line.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Peer {
    /// Starts a peer; `name` appears in every failure message about it.
    pub fn spawn(name: &str, mut command: Command) -> Peer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let line = line.trim_end_matches(['\n', '\r']).to_string();
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        let stdin = child.stdin.take();
        Peer {
            name: name.to_string(),
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// Starts the pyzmq peer of `interop/python/zmq_peer.py`.
    pub fn pyzmq(name: &str) -> Peer {
        let mut command = Command::new(pyzmq_python());
        command.arg(workspace_root().join("interop/python/zmq_peer.py"));
        Peer::spawn(name, command)
    }

    /// Starts a pyzmq peer with one socket of `socket_type` whose every blocking call gives up
    /// after `timeout`, and which drops what it still holds when it closes.
    pub fn pyzmq_socket(name: &str, socket_type: &str, timeout: Duration) -> Peer {
        let mut peer = Peer::pyzmq(name);
        peer.socket(socket_type);
        let ms = i64::try_from(timeout.as_millis()).expect("timeout fits in i64");
        peer.set("RCVTIMEO", ms);
        peer.set("SNDTIMEO", ms);
        peer.set("LINGER", 0);
        peer
    }

    /// The peer's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the peer wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends one command line and returns the answer line.
    pub fn command(&mut self, line: &str) -> String {
        let shown = shorten(line);
        let stdin = self.stdin.as_mut().expect("stdin is open until drop");
        if let Err(e) = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
        {
            panic!(
                "{}: cannot send `{shown}`: {e}; stderr: {}",
                self.name,
                self.stderr()
            );
        }
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} did not answer `{shown}` within {REPLY_TIMEOUT:?}; stderr: {}",
                self.name,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait_exit(Duration::from_secs(2));
                panic!(
                    "{} exited ({status:?}) instead of answering `{shown}`; stderr: {}",
                    self.name,
                    self.stderr()
                )
            }
        }
    }

    /// Sends a command that must succeed; returns what follows `ok` in the answer.
    pub fn ok(&mut self, line: &str) -> String {
        let answer = self.command(line);
        if answer == "ok" {
            return String::new();
        }
        match answer.strip_prefix("ok ") {
            Some(rest) => rest.to_string(),
            None => panic!(
                "{}: `{}` answered `{}`",
                self.name,
                shorten(line),
                shorten(&answer)
            ),
        }
    }

    /// Creates the peer's socket (replacing any earlier one).
    pub fn socket(&mut self, socket_type: &str) {
        self.ok(&format!("socket {socket_type}"));
    }

    /// Sets an integer socket option, named as in libzmq without `ZMQ_` (`RCVTIMEO`).
    pub fn set(&mut self, option: &str, value: i64) {
        self.ok(&format!("set {option} {value}"));
    }

    /// Sets a bytes socket option (`ROUTING_ID`, `CONNECT_ROUTING_ID`), named as in libzmq
    /// without `ZMQ_`.
    pub fn set_bytes(&mut self, option: &str, value: &[u8]) {
        self.ok(&format!("setb {option} {}", encode_frame(value)));
    }

    /// Binds; returns the endpoint actually bound.
    pub fn bind(&mut self, endpoint: &str) -> String {
        self.ok(&format!("bind {endpoint}"))
    }

    pub fn connect(&mut self, endpoint: &str) {
        self.ok(&format!("connect {endpoint}"));
    }

    pub fn subscribe(&mut self, topic: &[u8]) {
        self.ok(&format!("subscribe {}", encode_frame(topic)));
    }

    pub fn unsubscribe(&mut self, topic: &[u8]) {
        self.ok(&format!("unsubscribe {}", encode_frame(topic)));
    }

    /// Sends a multipart message; it must be accepted.
    pub fn send<F: AsRef<[u8]>>(&mut self, frames: &[F]) {
        self.ok(&format!("send {}", encode_frames(frames)));
    }

    /// Receives a message, or `None` when the peer's RCVTIMEO ran out.
    pub fn recv(&mut self) -> Option<Frames> {
        let answer = self.command("recv");
        if answer == "timeout" {
            return None;
        }
        match answer.strip_prefix("msg ") {
            Some(frames) => Some(decode_frames(frames).unwrap_or_else(|e| {
                panic!(
                    "{}: bad answer to recv ({e}): {}",
                    self.name,
                    shorten(&answer)
                )
            })),
            None => panic!("{}: recv answered `{}`", self.name, shorten(&answer)),
        }
    }

    /// Closes the peer's socket.
    pub fn close(&mut self) {
        self.ok("close");
    }

    /// Tells the peer to quit and checks that it exits cleanly.
    pub fn quit(mut self) {
        self.ok("quit");
        let status = self.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly after quit: {status:?}; stderr: {}",
            self.name,
            self.stderr()
        );
    }

    /// Kills the peer process at once, as a crash would.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// A command or answer cut to a readable length (a 4 MiB frame is 8 MiB of hex).
fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.len() <= MAX {
        text.to_string()
    } else {
        let start: String = text.chars().take(MAX).collect();
        format!("{start}... ({} bytes)", text.len())
    }
}

/// One frame as the protocol writes it: hex, or `-` when empty.
pub fn encode_frame(frame: &[u8]) -> String {
    if frame.is_empty() {
        return "-".to_string();
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(frame.len() * 2);
    for &b in frame {
        text.push(HEX[usize::from(b >> 4)] as char);
        text.push(HEX[usize::from(b & 15)] as char);
    }
    text
}

/// A multipart message as the protocol writes it: frames separated by commas.
pub fn encode_frames<F: AsRef<[u8]>>(frames: &[F]) -> String {
    let frames: Vec<String> = frames.iter().map(|f| encode_frame(f.as_ref())).collect();
    frames.join(",")
}

/// Reads a multipart message written by [`encode_frames`].
pub fn decode_frames(text: &str) -> Result<Frames, String> {
    text.split(',')
        .map(|frame| {
            if frame == "-" {
                return Ok(Vec::new());
            }
            if frame.len() % 2 != 0 {
                return Err(format!("odd-length hex frame of {} digits", frame.len()));
            }
            frame
                .as_bytes()
                .chunks(2)
                .map(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| format!("bad hex digits {pair:?}"))
                })
                .collect()
        })
        .collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a peer that must bind a fixed one.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port on 127.0.0.1")
        .port()
}

/// A unique `ipc:///tmp/...` endpoint; the socket file is removed on drop.
pub struct IpcEndpoint {
    path: PathBuf,
}

impl IpcEndpoint {
    pub fn new(tag: &str) -> IpcEndpoint {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = Path::new("/tmp").join(format!("ferromq-{tag}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        IpcEndpoint { path }
    }

    pub fn endpoint(&self) -> String {
        format!("ipc://{}", self.path.display())
    }
}

impl Drop for IpcEndpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The transport between a ferromq socket and a foreign peer.
#[derive(Clone, Copy, Debug)]
pub enum Transport {
    Tcp,
    Ipc,
}

/// Which side binds; the other connects.
#[derive(Clone, Copy, Debug)]
pub enum Binder {
    Ferromq,
    Pyzmq,
}

/// Binds one of `socket` and `peer` and connects the other to it over `transport`. An ipc
/// endpoint is returned so that the caller keeps its path until the test ends.
pub fn join_peer(
    socket: &ferromq::Socket,
    peer: &mut Peer,
    binder: Binder,
    transport: Transport,
    tag: &str,
) -> Option<IpcEndpoint> {
    let ipc = matches!(transport, Transport::Ipc).then(|| IpcEndpoint::new(tag));
    let address = match &ipc {
        Some(ipc) => ipc.endpoint(),
        None => "tcp://127.0.0.1:*".to_string(),
    };
    let name = socket.socket_type().name();
    match binder {
        Binder::Ferromq => {
            socket
                .bind(&address)
                .unwrap_or_else(|e| panic!("ferromq {name} bind {address}: {e}"));
            peer.connect(&socket.last_endpoint());
        }
        Binder::Pyzmq => {
            let endpoint = peer.bind(&address);
            socket
                .connect(&endpoint)
                .unwrap_or_else(|e| panic!("ferromq {name} connect {endpoint}: {e}"));
        }
    }
    ipc
}

/// The next monitor event named one of `names`, skipping the others. Panics when no event at
/// all comes for 5 seconds.
pub fn next_named(events: &ferromq::Monitor, names: &[&str]) -> ferromq::Event {
    loop {
        let event = events
            .recv_timeout(Some(Duration::from_secs(5)))
            .expect("no monitor event")
            .event;
        if names.contains(&event.name()) {
            return event;
        }
    }
}

/// Pseudo-random bytes, so that a misplaced or repeated chunk shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Sends `frames` as one message on a ferromq socket; `what` names it if that fails.
pub fn send_frames<F: AsRef<[u8]>>(socket: &ferromq::Socket, frames: &[F], what: &str) {
    let msg: ferromq::Message = frames
        .iter()
        .map(|f| ferromq::Bytes::copy_from_slice(f.as_ref()))
        .collect();
    socket
        .send(msg)
        .unwrap_or_else(|e| panic!("{what}: send failed: {e}"));
}

/// What a raw ZMTP 3.1 peer of type `socket_type` sends first: a NULL client's greeting and its
/// READY (RFC 23 and 37), made with the protocol crate's encoders.
pub fn zmtp_hello(socket_type: &'static str) -> bytes::BytesMut {
    let greeting = ferromq_zmtp::Greeting {
        version: ferromq_zmtp::Version { major: 3, minor: 1 },
        mechanism: ferromq_zmtp::Mechanism::Null,
        as_server: false,
    };
    let mut hello = bytes::BytesMut::from(&greeting.encode()[..]);
    let ready = ferromq_zmtp::Metadata(vec![(
        "Socket-Type".into(),
        bytes::Bytes::from_static(socket_type.as_bytes()),
    )]);
    ferromq_zmtp::Command::Ready(ready).encode(&mut hello);
    hello
}

/// A message frame as a raw ZMTP peer sends it.
pub fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = bytes::BytesMut::new();
    ferromq_zmtp::encode_frame(&mut bytes, false, body);
    bytes.to_vec()
}

/// A raw PUSH peer connected to `endpoint` whose handshake is done both ways.
pub fn raw_push(endpoint: &str) -> std::net::TcpStream {
    let mut raw = std::net::TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(&zmtp_hello("PUSH")).unwrap();
    // The server's greeting and READY are read, so that closing sends a FIN, not a reset.
    let mut greeting_and_head = [0u8; 66];
    raw.read_exact(&mut greeting_and_head).unwrap();
    assert_eq!(greeting_and_head[64], 0x04, "READY is a short command");
    let mut ready = vec![0u8; usize::from(greeting_and_head[65])];
    raw.read_exact(&mut ready).unwrap();
    raw
}
