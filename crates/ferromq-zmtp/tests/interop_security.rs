//! PLAIN and CURVE against libzmq, through pyzmq, with no engine in between: each test drives a
//! `Handshake` over a `TcpStream` itself, then sends or receives one message and checks that
//! the other side saw exactly it.
//!
//! Needs Python with pyzmq: `FERROMQ_PYTHON`, or the workspace's `.venv` (made by
//! `python3 -m venv .venv && .venv/bin/pip install 'pyzmq>=25,<28'`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferromq_zmtp::{
    curve_keypair, curve_public, encode_frame, AuthReply, AuthRequest, Credentials, CurvePublicKey,
    Frame, FrameDecoder, Handshake, HandshakeConfig, Mechanism, PeerInfo, ProtocolError, Security,
    SocketType,
};

/// The other side: pyzmq sockets in one of several roles, chosen by the first argument. It
/// prints `KEY`, `PORT` and `MSG` lines, and exits when its standard input closes.
const SCRIPT: &str = r#"
import os, sys, threading, zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

printing = threading.Lock()

def out(*words):
    # One write per line under a lock: the monitor's thread prints too, and print() writes
    # its words one by one, so two lines could mix.
    with printing:
        sys.stdout.write(" ".join(map(str, words)) + "\n")
        sys.stdout.flush()

def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
mode, args = sys.argv[1], sys.argv[2:]
ctx = zmq.Context()

if mode in ("curve-server", "plain-server"):
    auth = ThreadAuthenticator(ctx)
    auth.start()
    sock = ctx.socket(zmq.PULL)
    if mode == "curve-server":
        auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        public, secret = zmq.curve_keypair()
        sock.curve_server = True
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        out("KEY", public.decode())
    else:
        auth.configure_plain(domain="*", passwords={"admin": "secret"})
        sock.plain_server = True
    out("PORT", sock.bind_to_random_port("tcp://127.0.0.1"))
    frames = sock.recv_multipart(copy=False)
    # Frames in hex, comma-separated so that an empty one shows.
    out("MSG", ",".join(f.bytes.hex() for f in frames), "USER", frames[0].get("User-Id") or "-")
else:
    port = args[0]
    sock = ctx.socket(zmq.PUSH)
    monitor = sock.get_monitor_socket()

    def print_events():
        while True:
            event = recv_monitor_message(monitor)
            out("EVENT", zmq.Event(event["event"]).name, event["value"])

    threading.Thread(target=print_events, daemon=True).start()
    if mode == "curve-client":
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey = args[1].encode()
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        out("KEY", public.decode())
    else:
        sock.plain_username = args[1].encode()
        sock.plain_password = args[2].encode()
    sock.connect("tcp://127.0.0.1:" + port)
    sock.send_multipart([b"hello", mode.encode()])
    out("SENT")
threading.Event().wait()
"#;

/// How long any one step may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(20);

fn python() -> PathBuf {
    let python = std::env::var_os("FERROMQ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let works = Command::new(&python)
        .args(["-c", "import zmq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        works,
        "these interop tests need Python with pyzmq at {} (or set FERROMQ_PYTHON); from the \
         workspace root: python3 -m venv .venv && .venv/bin/pip install 'pyzmq>=25,<28'",
        python.display()
    );
    python
}

/// The Python process; ended when dropped, by closing its input (and killing it if need be).
struct Pyzmq {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Pyzmq {
    fn spawn(args: &[&str]) -> Pyzmq {
        let mut child = Command::new(python())
            .arg("-c")
            .arg(SCRIPT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start Python");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Pyzmq {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// The words after `tag` on the next line that starts with it.
    fn expect(&self, tag: &str) -> Vec<String> {
        loop {
            let line = self
                .lines
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("pyzmq printed no {tag} line"));
            let mut words = line.split_whitespace().map(str::to_owned);
            if words.next().as_deref() == Some(tag) {
                return words.collect();
            }
        }
    }

    /// The next monitor event whose name starts with `prefix`, with its value.
    fn expect_event(&self, prefix: &str) -> String {
        loop {
            let event = self.expect("EVENT");
            if event[0].starts_with(prefix) {
                return event.join(" ");
            }
        }
    }

    fn port(&self) -> u16 {
        self.expect("PORT")[0].parse().expect("a port number")
    }

    fn key(&self) -> CurvePublicKey {
        CurvePublicKey::from_z85(&self.expect("KEY")[0]).expect("a Z85 key")
    }
}

impl Drop for Pyzmq {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !matches!(self.child.wait_timeout(), Some(true)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

trait WaitTimeout {
    /// Whether the child exited within a few seconds.
    fn wait_timeout(&mut self) -> Option<bool>;
}

impl WaitTimeout for Child {
    fn wait_timeout(&mut self) -> Option<bool> {
        for _ in 0..50 {
            if self.try_wait().ok()?.is_some() {
                return Some(true);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(false)
    }
}

/// How a handshake over TCP ended.
#[derive(Debug)]
enum Outcome {
    Done(Box<PeerInfo>),
    Failed(ProtocolError),
    /// The peer closed the connection first.
    Closed,
}

/// One connection: the stream and the bytes read but not yet taken.
struct Connection {
    stream: TcpStream,
    input: BytesMut,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Connection {
            stream,
            input: BytesMut::new(),
        }
    }

    fn connect(port: u16) -> Connection {
        Connection::new(TcpStream::connect(("127.0.0.1", port)).expect("connect to pyzmq"))
    }

    fn flush(&mut self, handshake: &mut Handshake) {
        let mut out = BytesMut::new();
        handshake.write_to(&mut out);
        // The peer may already have closed after an error; what it missed does not matter.
        let _ = self.stream.write_all(&out);
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut buf = [0; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.input.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Runs `handshake` to its end, answering authentication with `verdict`.
    fn handshake(
        &mut self,
        mut handshake: Handshake,
        verdict: impl Fn(&AuthRequest) -> AuthReply,
    ) -> Outcome {
        loop {
            let result = handshake.read_from(&mut self.input);
            self.flush(&mut handshake);
            match result {
                Ok(Some(peer)) => return Outcome::Done(Box::new(peer)),
                Err(err) => return Outcome::Failed(err),
                Ok(None) => {}
            }
            if let Some(request) = handshake.auth_request() {
                let reply = verdict(request);
                handshake.auth_reply(reply);
            } else if !self.fill() {
                return Outcome::Closed;
            }
        }
    }

    /// Reads frames until one without MORE, opening each with `peer`'s codec if it has one.
    fn receive(&mut self, peer: &mut PeerInfo) -> Vec<Bytes> {
        let mut decoder = FrameDecoder::new(None);
        let mut frames = Vec::new();
        loop {
            let Some(frame) = decoder.decode(&mut self.input).expect("a valid frame") else {
                assert!(self.fill(), "pyzmq closed the connection");
                continue;
            };
            let frame = match &mut peer.codec {
                Some(codec) => codec.decode(frame).expect("a MESSAGE that opens"),
                None => frame,
            };
            match frame {
                Frame::Message { more, body } => {
                    frames.push(body);
                    if !more {
                        return frames;
                    }
                }
                Frame::Command(command) => panic!("unexpected command {command:?}"),
            }
        }
    }

    /// Sends a multipart message, boxed with `peer`'s codec if it has one.
    fn send(&mut self, peer: &mut PeerInfo, frames: &[&[u8]]) {
        let mut out = BytesMut::new();
        for (i, body) in frames.iter().enumerate() {
            let more = i + 1 < frames.len();
            match &mut peer.codec {
                Some(codec) => codec.encode_message(&mut out, more, body).unwrap(),
                None => encode_frame(&mut out, more, body),
            }
        }
        self.stream.write_all(&out).unwrap();
    }
}

fn config(socket_type: SocketType, security: Security) -> HandshakeConfig {
    HandshakeConfig {
        socket_type,
        routing_id: Bytes::new(),
        properties: Vec::new(),
        security,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn expect_done(outcome: Outcome) -> PeerInfo {
    match outcome {
        Outcome::Done(peer) => *peer,
        other => panic!("handshake did not complete: {other:?}"),
    }
}

fn no_verdict(request: &AuthRequest) -> AuthReply {
    panic!("a client was asked to authenticate {request:?}")
}

#[test]
fn curve_client_to_libzmq_server() {
    let pyzmq = Pyzmq::spawn(&["curve-server"]);
    let server_key = pyzmq.key();
    let mut conn = Connection::connect(pyzmq.port());
    let client = curve_keypair();
    let security = Security::CurveClient {
        server_key,
        public_key: client.public,
        secret_key: client.secret,
    };
    let handshake = Handshake::new(config(SocketType::Push, security));
    let mut peer = expect_done(conn.handshake(handshake, no_verdict));
    assert_eq!(peer.socket_type, SocketType::Pull);
    assert_eq!(peer.curve_public_key, Some(server_key));

    let big = vec![0x5A; 1000];
    conn.send(&mut peer, &[b"hello", b"", &big]);
    let received = pyzmq.expect("MSG");
    assert_eq!(
        received[0].split(',').collect::<Vec<_>>(),
        [hex(b"hello"), String::new(), hex(&big)]
    );
}

#[test]
fn plain_client_to_libzmq_server() {
    let pyzmq = Pyzmq::spawn(&["plain-server"]);
    let mut conn = Connection::connect(pyzmq.port());
    let security = Security::PlainClient {
        username: Bytes::from_static(b"admin"),
        password: Bytes::from_static(b"secret"),
    };
    let handshake = Handshake::new(config(SocketType::Push, security));
    let mut peer = expect_done(conn.handshake(handshake, no_verdict));
    assert_eq!(peer.socket_type, SocketType::Pull);
    assert!(peer.codec.is_none());

    conn.send(&mut peer, &[b"hello", b"plain"]);
    // The ZAP handler's User-Id is the username.
    assert_eq!(
        pyzmq.expect("MSG"),
        [
            format!("{},{}", hex(b"hello"), hex(b"plain")),
            "USER".into(),
            "admin".into()
        ]
    );
}

#[test]
fn libzmq_curve_client_to_our_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = curve_keypair();
    let server_key = server.public.to_z85();
    let pyzmq = Pyzmq::spawn(&["curve-client", &port, &server_key]);
    let client_key = pyzmq.key();
    let mut conn = Connection::new(listener.accept().unwrap().0);

    let security = Security::CurveServer {
        secret_key: server.secret,
    };
    let handshake = Handshake::new(config(SocketType::Pull, security));
    let verdict = |request: &AuthRequest| {
        assert_eq!(request.mechanism, Mechanism::Curve);
        assert_eq!(
            request.credentials,
            Credentials::Curve {
                public_key: client_key
            }
        );
        AuthReply::Accept {
            user_id: Bytes::from(client_key.to_z85()),
            properties: Default::default(),
        }
    };
    let mut peer = expect_done(conn.handshake(handshake, verdict));
    assert_eq!(peer.socket_type, SocketType::Push);
    assert_eq!(peer.curve_public_key, Some(client_key));
    assert_eq!(peer.user_id, client_key.to_z85());
    assert_eq!(
        conn.receive(&mut peer),
        [
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"curve-client")
        ]
    );
}

#[test]
fn libzmq_plain_client_to_our_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let pyzmq = Pyzmq::spawn(&["plain-client", &port, "admin", "secret"]);
    let mut conn = Connection::new(listener.accept().unwrap().0);
    let handshake = Handshake::new(config(SocketType::Pull, Security::PlainServer));
    let verdict = |request: &AuthRequest| {
        assert_eq!(
            request.credentials,
            Credentials::Plain {
                username: Bytes::from_static(b"admin"),
                password: Bytes::from_static(b"secret"),
            }
        );
        AuthReply::Accept {
            user_id: Bytes::from_static(b"admin"),
            properties: Default::default(),
        }
    };
    let mut peer = expect_done(conn.handshake(handshake, verdict));
    assert_eq!(peer.user_id, Bytes::from_static(b"admin"));
    assert_eq!(
        conn.receive(&mut peer),
        [
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"plain-client")
        ]
    );
    drop(pyzmq);
}

#[test]
fn wrong_server_key_against_libzmq_fails() {
    let pyzmq = Pyzmq::spawn(&["curve-server"]);
    let _ = pyzmq.key();
    let mut conn = Connection::connect(pyzmq.port());
    let client = curve_keypair();
    let security = Security::CurveClient {
        // Some other server's key.
        server_key: curve_keypair().public,
        public_key: client.public,
        secret_key: client.secret,
    };
    let handshake = Handshake::new(config(SocketType::Push, security));
    // libzmq cannot open our HELLO and closes the connection without a word.
    assert!(matches!(
        conn.handshake(handshake, no_verdict),
        Outcome::Closed
    ));
}

#[test]
fn libzmq_client_with_the_wrong_server_key_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let wrong_key = curve_keypair().public.to_z85();
    let pyzmq = Pyzmq::spawn(&["curve-client", &port, &wrong_key]);
    let _ = pyzmq.key();
    let mut conn = Connection::new(listener.accept().unwrap().0);
    let server = curve_keypair();
    assert_eq!(
        curve_public(&server.secret).to_z85(),
        server.public.to_z85()
    );
    let security = Security::CurveServer {
        secret_key: server.secret,
    };
    let handshake = Handshake::new(config(SocketType::Pull, security));
    match conn.handshake(handshake, |_: &AuthRequest| AuthReply::accept()) {
        Outcome::Failed(err) => {
            assert_eq!(err, ProtocolError::DecryptionFailed("HELLO box"))
        }
        other => panic!("expected a failed handshake, got {other:?}"),
    }
}

#[test]
fn wrong_password_against_libzmq_is_an_authentication_failure() {
    let pyzmq = Pyzmq::spawn(&["plain-server"]);
    let mut conn = Connection::connect(pyzmq.port());
    let security = Security::PlainClient {
        username: Bytes::from_static(b"admin"),
        password: Bytes::from_static(b"guess"),
    };
    let handshake = Handshake::new(config(SocketType::Push, security));
    match conn.handshake(handshake, no_verdict) {
        Outcome::Failed(ProtocolError::AuthenticationFailed { status_code, .. }) => {
            assert_eq!(status_code, 400)
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}

/// Accepts one pyzmq client of `mode` and refuses it with status 400; returns how the
/// handshake ended here, and the monitor event pyzmq reported.
fn refuse_a_libzmq_client(
    mode: &str,
    security: Security,
    credentials: &[&str],
) -> (Outcome, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut args = vec![mode, &port];
    args.extend_from_slice(credentials);
    let pyzmq = Pyzmq::spawn(&args);
    let mut conn = Connection::new(listener.accept().unwrap().0);
    let handshake = Handshake::new(config(SocketType::Pull, security));
    let refuse = |_: &AuthRequest| AuthReply::Refuse {
        status_code: 400,
        text: "not on the list".into(),
    };
    let outcome = conn.handshake(handshake, refuse);
    (outcome, pyzmq.expect_event("HANDSHAKE_FAILED"))
}

#[test]
fn libzmq_curve_client_refused_by_our_server() {
    let server = curve_keypair();
    let server_key = server.public.to_z85();
    let security = Security::CurveServer {
        secret_key: server.secret,
    };
    let (outcome, event) = refuse_a_libzmq_client("curve-client", security, &[&server_key]);
    assert!(matches!(
        outcome,
        Outcome::Failed(ProtocolError::AuthenticationFailed {
            status_code: 400,
            ..
        })
    ));
    // libzmq reads our ERROR as the authentication failure it is.
    assert_eq!(event, "HANDSHAKE_FAILED_AUTH 400");
}

#[test]
fn libzmq_plain_client_refused_by_our_server() {
    let (outcome, event) =
        refuse_a_libzmq_client("plain-client", Security::PlainServer, &["admin", "guess"]);
    assert!(matches!(
        outcome,
        Outcome::Failed(ProtocolError::AuthenticationFailed {
            status_code: 400,
            ..
        })
    ));
    // libzmq 4.3's PLAIN client looks for its own misspelt ERROR (see `plain::LIBZMQ_ERROR`),
    // so it takes this RFC 24 one as an unexpected command: it fails all the same.
    assert!(event.starts_with("HANDSHAKE_FAILED_"), "{event}");
}
