//! A STREAM socket as an HTTP/1.1 server: real clients (a raw TCP client, Python's
//! `http.client`, curl when it is installed) get a well-formed reply, and the connection is
//! closed after it; the socket reports each connection opening and closing as `[id, ""]`, and a
//! send to an id it does not know is `HostUnreachable`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ferromq::{Context, ErrorKind, Frame, Message, SocketType};

/// The longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to listen for something that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the server saw: one STREAM message, a routing id and some bytes.
type Seen = (Frame, Frame);

/// An HTTP/1.1 server on a ferromq STREAM socket, in its own thread. Each request is answered
/// with a body that echoes its method, path and `X-Test` header; the connection is then closed.
struct HttpServer {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: mpsc::Receiver<Seen>,
    handle: Option<JoinHandle<Result<(), String>>>,
}

/// The body the server answers a request with.
fn answer_body(method: &str, path: &str, x_test: &str) -> String {
    format!("method={method}\npath={path}\nx-test={x_test}\n")
}

fn respond(request: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(request).map_err(|e| format!("request not UTF-8: {e}"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {request_line:?}"));
    };
    if version != "HTTP/1.1" {
        return Err(format!("expected HTTP/1.1, got {request_line:?}"));
    }
    let x_test = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("x-test"))
        .map(|(_, value)| value.trim())
        .unwrap_or("");
    let body = answer_body(method, path, x_test);
    Ok(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\nX-Server: ferromq-stream\r\n\r\n{body}",
        body.len()
    )
    .into_bytes())
}

impl HttpServer {
    fn start() -> HttpServer {
        let ctx = Context::new();
        let server = ctx.socket(SocketType::Stream).expect("a STREAM socket");
        server.set_linger(Some(Duration::ZERO)).unwrap();
        server.set_sndtimeo(Some(WAIT)).unwrap();
        server
            .set_rcvtimeo(Some(Duration::from_millis(20)))
            .unwrap();
        server.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = server.last_endpoint();
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {endpoint}"));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, seen) = mpsc::channel();
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let _ctx = ctx;
            let mut pending: std::collections::HashMap<Frame, Vec<u8>> = Default::default();
            while !flag.load(Ordering::Relaxed) {
                let msg = match server.recv() {
                    Ok(msg) => msg,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(format!("recv: {e}")),
                };
                let frames = msg.frames();
                if frames.len() != 2 {
                    return Err(format!("a STREAM message of {} frames", frames.len()));
                }
                let (id, data) = (frames[0].clone(), frames[1].clone());
                let _ = tx.send((id.clone(), data.clone()));
                if data.is_empty() {
                    pending.remove(&id);
                    continue;
                }
                let request = pending.entry(id.clone()).or_default();
                request.extend_from_slice(&data);
                if request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let reply = respond(request)?;
                    pending.remove(&id);
                    server
                        .send([id.clone(), Frame::from(reply)])
                        .map_err(|e| format!("send reply: {e}"))?;
                    // A client that has read the reply may close first: its routing id is
                    // then gone, and a STREAM socket says so (EHOSTUNREACH, as libzmq's).
                    match server.send([id, Frame::new()]) {
                        Err(e) if e.kind() != ErrorKind::HostUnreachable => {
                            return Err(format!("send close: {e}"))
                        }
                        _ => {}
                    }
                }
            }
            Ok(())
        });
        HttpServer {
            port,
            stop,
            seen,
            handle: Some(handle),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The messages of the next connection: from its opening `[id, ""]` to its closing one.
    fn next_connection(&self, what: &str) -> (Frame, Vec<Frame>) {
        let deadline = Instant::now() + WAIT;
        let next = |got: &[Frame]| {
            let left = deadline.saturating_duration_since(Instant::now());
            self.seen.recv_timeout(left).unwrap_or_else(|_| {
                panic!("{what}: the server saw only {got:?} of this connection within {WAIT:?}")
            })
        };
        let (id, first) = next(&[]);
        assert!(
            first.is_empty(),
            "{what}: a connection starts with [id, \"\"], got data {first:?}"
        );
        assert!(
            id.len() == 5 && id[0] == 0,
            "{what}: a generated routing id: {id:?}"
        );
        let mut data = Vec::new();
        loop {
            let (other, bytes) = next(&data);
            assert_eq!(other, id, "{what}: a message of another connection");
            if bytes.is_empty() {
                return (id, data);
            }
            data.push(bytes);
        }
    }

    fn expect_no_connection(&self, what: &str) {
        if let Ok(seen) = self.seen.recv_timeout(QUIET) {
            panic!("{what}: the server saw {seen:?}");
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().expect("joined once").join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the HTTP server failed: {e}"),
            Err(_) => panic!("the HTTP server panicked"),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..end]).expect("headers are text");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap_or_else(|| panic!("header {l:?}"));
                (name.trim().to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        Response {
            status_line,
            headers,
            body: raw[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Status 200, the server's headers, and the body it promised.
    fn check(&self, expected_body: &str, what: &str) {
        assert_eq!(self.status_line, "HTTP/1.1 200 OK", "{what}");
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{what}"
        );
        assert_eq!(self.header("connection"), Some("close"), "{what}");
        assert_eq!(self.header("x-server"), Some("ferromq-stream"), "{what}");
        assert_eq!(
            self.header("content-length"),
            Some(expected_body.len().to_string().as_str()),
            "{what}"
        );
        assert_eq!(
            String::from_utf8_lossy(&self.body),
            expected_body,
            "{what}: body"
        );
    }
}

/// A child process killed if it is still running when dropped.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a command to its end, killing it after `limit`.
fn run(mut command: Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut guard = ChildGuard(Some(child));
    let child = guard.0.as_mut().expect("just spawned");
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{command:?} did not finish within {limit:?}"
        );
        thread::sleep(Duration::from_millis(10));
    };
    guard.0 = None;
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// `$FERROMQ_PYTHON`, else the workspace's `.venv` Python, else `python3`: only the standard
/// library is needed here.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("FERROMQ_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = common::workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

#[test]
fn a_raw_client_gets_the_reply_and_then_the_connection_closes() {
    let server = HttpServer::start();
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    client.set_read_timeout(Some(WAIT)).unwrap();
    let request = "GET /raw/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: raw\r\n\r\n";
    // In two writes, so that the server must put the request together.
    client.write_all(&request.as_bytes()[..10]).unwrap();
    client.flush().unwrap();
    thread::sleep(Duration::from_millis(50));
    client.write_all(&request.as_bytes()[10..]).unwrap();
    let mut raw = Vec::new();
    let started = Instant::now();
    if let Err(e) = client.read_to_end(&mut raw) {
        panic!(
            "the connection was not closed after the reply ({e} after {:?}); read so far: {:?}",
            started.elapsed(),
            String::from_utf8_lossy(&raw)
        );
    }
    Response::parse(&raw).check(&answer_body("GET", "/raw/path?q=1", "raw"), "raw client");

    let (_, data) = server.next_connection("raw client");
    let received: Vec<u8> = data.concat();
    assert_eq!(
        String::from_utf8_lossy(&received),
        request,
        "the server received the request whole"
    );
    drop(client);
    server.expect_no_connection("after the raw client");
    server.finish();
}

const PYTHON_CLIENT: &str = r#"
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for path in ("/python/first", "/python/second?x=%20y"):
    conn.request("GET", path, headers={"X-Test": "python"})
    resp = conn.getresponse()
    body = resp.read()
    print(json.dumps({
        "status": resp.status,
        "reason": resp.reason,
        "version": resp.version,
        "headers": {k.lower(): v for k, v in resp.getheaders()},
        "body": body.decode(),
        "will_close": resp.will_close,
    }), flush=True)
"#;

#[test]
fn python_http_client_gets_each_reply_on_its_own_connection() {
    let server = HttpServer::start();
    let mut command = Command::new(python());
    command
        .args(["-c", PYTHON_CLIENT])
        .arg(server.port.to_string());
    let output = run(command, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python client failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per response: {stdout}");
    for (path, n) in [("/python/first", 0), ("/python/second?x=%20y", 1)] {
        let expected_body = answer_body("GET", path, "python");
        let mut fields = Vec::new();
        fields.push("\"status\": 200".to_string());
        fields.push("\"reason\": \"OK\"".to_string());
        fields.push("\"version\": 11".to_string());
        fields.push("\"content-type\": \"text/plain; charset=utf-8\"".to_string());
        fields.push(format!("\"content-length\": \"{}\"", expected_body.len()));
        fields.push("\"connection\": \"close\"".to_string());
        fields.push("\"x-server\": \"ferromq-stream\"".to_string());
        fields.push(format!("\"body\": {}", json_string(&expected_body)));
        fields.push("\"will_close\": true".to_string());
        let record = lines[n];
        for field in fields {
            assert!(
                record.contains(&field),
                "response {n} should have {field}: {record}"
            );
        }
    }

    let mut ids = Vec::new();
    for (path, n) in [("/python/first", 0), ("/python/second?x=%20y", 1)] {
        let (id, data) = server.next_connection(&format!("Python connection {n}"));
        let request = String::from_utf8_lossy(&data.concat()).into_owned();
        assert!(
            request.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "connection {n} carried {request:?}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each connection has its own routing id");
    server.expect_no_connection("after the Python client");
    server.finish();
}

/// A string as Python's `json.dumps` writes it (enough for the bodies here).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn curl_gets_the_reply_when_curl_is_installed() {
    let version = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !version.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("skipping the curl half: `curl --version` does not run here ({version:?})");
        return;
    }
    let server = HttpServer::start();
    let url = server.url("/curl/index.html");
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--http1.1",
        "--include",
        "--max-time",
        "5",
        "--header",
        "X-Test: curl",
        &url,
    ]);
    let output = run(command, Duration::from_secs(20));
    assert!(
        output.status.success(),
        "curl failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Response::parse(&output.stdout).check(&answer_body("GET", "/curl/index.html", "curl"), "curl");

    let (_, data) = server.next_connection("curl");
    let request = String::from_utf8_lossy(&data.concat()).into_owned();
    assert!(
        request.starts_with("GET /curl/index.html HTTP/1.1\r\n")
            && request.contains("X-Test: curl\r\n"),
        "curl sent {request:?}"
    );
    server.expect_no_connection("after curl");
    server.finish();
}

/// A STREAM socket bound on tcp, with every blocking call bounded; and its port.
fn stream_socket(ctx: &Context, rcvtimeo: Duration) -> (ferromq::Socket, u16) {
    let stream = ctx.socket(SocketType::Stream).expect("a STREAM socket");
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    stream.set_rcvtimeo(Some(rcvtimeo)).unwrap();
    stream.set_sndtimeo(Some(WAIT)).unwrap();
    stream.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = stream.last_endpoint();
    let port = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    (stream, port)
}

#[test]
fn a_new_connection_wakes_a_blocked_recv() {
    let ctx = Context::new();
    let rcvtimeo = Duration::from_secs(2);
    let (stream, port) = stream_socket(&ctx, rcvtimeo);
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    let opened = stream.recv().unwrap_or_else(|e| {
        panic!(
            "a client that connected and sent nothing was not reported to recv ({e}, after {:?})",
            started.elapsed()
        )
    });
    assert_eq!(opened.len(), 2);
    assert!(opened.frames()[1].is_empty(), "[id, \"\"] on connect");
    assert!(
        started.elapsed() < rcvtimeo / 2,
        "the connection was reported only after {:?}",
        started.elapsed()
    );
    drop(client);
}

#[test]
fn stream_reports_connections_and_refuses_unknown_ids() {
    let ctx = Context::new();
    let (stream, port) = stream_socket(&ctx, WAIT);

    let unknown = [0u8, 1, 2, 3, 4];
    let e = stream
        .send([Frame::copy_from_slice(&unknown), Frame::from_static(b"x")])
        .expect_err("a send to an unknown id");
    assert_eq!(e.kind(), ErrorKind::HostUnreachable, "{e}");
    assert!(e.to_string().contains(&hex(&unknown)), "{e}");

    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.write_all(b"ping").unwrap();
    let opened = stream.recv().expect("the connection is reported");
    assert_eq!(opened.len(), 2);
    let id = opened.frames()[0].clone();
    assert!(
        opened.frames()[1].is_empty(),
        "[id, \"\"] on connect comes before the data"
    );
    assert!(id.len() == 5 && id[0] == 0, "a generated id: {id:?}");

    let mut got = Vec::new();
    while got.len() < 4 {
        let msg = stream.recv().expect("the client's bytes");
        assert_eq!(msg.frames()[0], id);
        assert!(!msg.frames()[1].is_empty(), "data, not a close");
        got.extend_from_slice(&msg.frames()[1]);
    }
    assert_eq!(got, b"ping");
    stream
        .send([id.clone(), Frame::from_static(b"pong")])
        .unwrap();
    let mut pong = [0u8; 4];
    client.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"pong");

    let e = stream
        .send(Message::from(["a", "b", "c"]))
        .expect_err("three frames");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

    drop(client);
    let closed = stream.recv().expect("the disconnect is reported");
    assert_eq!(closed.frames()[0], id, "[id, \"\"] on disconnect");
    assert!(closed.frames()[1].is_empty(), "[id, \"\"] on disconnect");
    let e = stream
        .send([id.clone(), Frame::from_static(b"too late")])
        .expect_err("a send to a closed connection");
    assert_eq!(e.kind(), ErrorKind::HostUnreachable, "{e}");
    assert!(
        e.to_string().contains(&hex(&id)),
        "the error names the id in hex: {e}"
    );
}
