//! A raw TCP client that breaks ZMTP (RFC 23, RFC 37) in various ways against a PULL socket
//! that serves a well-behaved PUSH peer all along. Each bad connection must be closed by
//! ferromq, without a panic, without holding on to memory, and without disturbing the good
//! peer.
//!
//! The raw client's bytes are written by hand from the RFCs; the test that a valid handshake
//! and a good frame from it are accepted shows that they are right, so that the failures below
//! fail for the reason claimed.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferromq::{Context, Message, Socket, SocketType};

/// The longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How soon a connection that broke the protocol must be closed.
const PROMPT: Duration = Duration::from_secs(2);

/// A PULL bound on tcp, with a ferromq PUSH connected to it that behaves.
struct Server {
    _ctx: Context,
    pull: Socket,
    good: Socket,
    addr: SocketAddr,
    sent: usize,
}

impl Server {
    fn new(configure: impl FnOnce(&Socket)) -> Server {
        let ctx = Context::new();
        let pull = ctx.socket(SocketType::Pull).unwrap();
        configure(&pull);
        pull.set_rcvtimeo(Some(WAIT)).unwrap();
        pull.set_linger(Some(Duration::ZERO)).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint();
        let addr = endpoint
            .strip_prefix("tcp://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("last_endpoint is not tcp://ip:port: {endpoint}"));
        let good = ctx.socket(SocketType::Push).unwrap();
        good.set_sndtimeo(Some(WAIT)).unwrap();
        good.set_linger(Some(Duration::ZERO)).unwrap();
        good.connect(&endpoint).unwrap();
        let mut server = Server {
            _ctx: ctx,
            pull,
            good,
            addr,
            sent: 0,
        };
        server.check_good("before any bad connection");
        server
    }

    /// The good peer sends a message; it must be the next one the PULL receives.
    fn check_good(&mut self, when: &str) {
        self.sent += 1;
        let body = format!("good-{}", self.sent);
        self.good
            .send(Message::from(vec!["good", body.as_str()]))
            .unwrap_or_else(|e| panic!("{when}: the good peer cannot send: {e}"));
        self.expect(&["good", &body], when);
    }

    /// The next message the PULL receives must be `frames`.
    fn expect(&self, frames: &[&str], when: &str) {
        let msg = self
            .pull
            .recv()
            .unwrap_or_else(|e| panic!("{when}: expected {frames:?}, got nothing: {e}"));
        let got: Vec<String> = msg
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        assert_eq!(got, frames, "{when}");
    }

    fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, WAIT).expect("connect to the PULL");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }
}

// ---- ZMTP by hand --------------------------------------------------------------------------

/// A ZMTP 3.1 greeting for the NULL mechanism, as a client (RFC 23, "The Greeting").
fn greeting() -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    g.extend_from_slice(&mechanism);
    g.push(0);
    g.extend_from_slice(&[0; 31]);
    assert_eq!(g.len(), 64);
    g
}

/// A command frame (RFC 23, "Commands"): a name of one length byte and text, then data.
fn command(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut frame = if body.len() <= 255 {
        vec![0x04, body.len() as u8]
    } else {
        let mut f = vec![0x06];
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        f
    };
    frame.extend_from_slice(&body);
    frame
}

/// READY with one property, Socket-Type (RFC 37, "The READY Command").
fn ready(socket_type: &str) -> Vec<u8> {
    let mut data = vec![b"Socket-Type".len() as u8];
    data.extend_from_slice(b"Socket-Type");
    data.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    data.extend_from_slice(socket_type.as_bytes());
    command("READY", &data)
}

/// A message frame, short or long as its size requires.
fn message_frame(body: &[u8], more: bool) -> Vec<u8> {
    let more = u8::from(more);
    let mut frame = if body.len() <= 255 {
        vec![more, body.len() as u8]
    } else {
        let mut f = vec![0x02 | more];
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        f
    };
    frame.extend_from_slice(body);
    frame
}

fn read_exact(stream: &mut TcpStream, n: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {what} ({n} bytes) from ferromq: {e}"));
    buf
}

/// One frame from the stream: (flags, body).
fn read_frame(stream: &mut TcpStream, what: &str) -> (u8, Vec<u8>) {
    let flags = read_exact(stream, 1, what)[0];
    let size = if flags & 0x02 != 0 {
        u64::from_be_bytes(read_exact(stream, 8, what).try_into().unwrap())
    } else {
        u64::from(read_exact(stream, 1, what)[0])
    };
    assert!(
        size < 1 << 20,
        "{what}: ferromq announced a {size}-byte frame"
    );
    (flags, read_exact(stream, size as usize, what))
}

/// The name of a command frame's body.
fn command_name(body: &[u8]) -> &[u8] {
    let len = usize::from(body[0]);
    &body[1..=len]
}

/// Reads the server's greeting and READY; returns the Socket-Type it announced.
fn read_server_handshake(stream: &mut TcpStream) -> String {
    let g = read_exact(stream, 64, "the greeting");
    assert_eq!(g[0], 0xFF, "greeting signature");
    assert_eq!(g[9] & 1, 1, "greeting signature");
    assert_eq!(&g[10..12], &[3, 1], "ZMTP 3.1");
    assert_eq!(&g[12..16], b"NULL", "mechanism");
    let (flags, body) = read_frame(stream, "READY");
    assert_eq!(flags, 0x04, "READY must be a short command frame");
    assert_eq!(command_name(&body), b"READY");
    let props = &body[6..];
    let name_len = usize::from(props[0]);
    assert_eq!(&props[1..=name_len], b"Socket-Type");
    let value_len = u32::from_be_bytes(props[1 + name_len..5 + name_len].try_into().unwrap());
    String::from_utf8_lossy(&props[5 + name_len..5 + name_len + value_len as usize]).into_owned()
}

/// Sends a valid greeting and READY as a PUSH, and checks the server's.
fn handshake(stream: &mut TcpStream) {
    let mut hello = greeting();
    hello.extend(ready("PUSH"));
    stream.write_all(&hello).expect("send the handshake");
    assert_eq!(read_server_handshake(stream), "PULL");
}

/// Reads until ferromq closes the connection (end of stream or reset); fails if it stays open
/// past `within`. Returns what was read and how long it took.
fn expect_closed(stream: &mut TcpStream, within: Duration, what: &str) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let deadline = started + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what}: ferromq did not close the connection within {within:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (got, started.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {}
            Err(e) if e.kind() == IoErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    IoErrorKind::ConnectionReset
                        | IoErrorKind::ConnectionAborted
                        | IoErrorKind::BrokenPipe
                ) =>
            {
                return (got, started.elapsed())
            }
            Err(e) => panic!("{what}: unexpected read error {e}"),
        }
    }
}

/// Taken by every test, so that they run one at a time and the memory test measures only
/// what it does itself.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The resident set size of this process, from /proc/self/status.
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

// ---- the cases -----------------------------------------------------------------------------

#[test]
fn a_valid_raw_handshake_and_its_frames_are_accepted() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    let mut raw = server.raw();
    handshake(&mut raw);
    raw.write_all(&message_frame(b"hello", false)).unwrap();
    server.expect(&["hello"], "a good frame from the raw client");
    let mut multipart = message_frame(b"part-1", true);
    multipart.extend(message_frame(b"", true));
    multipart.extend(message_frame(&[b'x'; 300], false));
    raw.write_all(&multipart).unwrap();
    server.expect(
        &["part-1", "", &"x".repeat(300)],
        "a multipart message from the raw client",
    );
    server.check_good("while the raw client is connected");
    raw.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut raw, PROMPT, "after the raw client closed its side");
    server.check_good("after the raw client left");
}

#[test]
fn garbage_instead_of_a_greeting_is_dropped() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"[..],
        &[0u8; 64],
        &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7E, 3, 1],
    ] {
        let mut raw = server.raw();
        let _ = raw.write_all(garbage);
        server.check_good("while a client sends garbage");
        expect_closed(&mut raw, PROMPT, &format!("garbage {garbage:02x?}"));
        server.check_good("after a client sent garbage");
    }
}

#[test]
fn a_truncated_greeting_then_close_is_dropped() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    let mut raw = server.raw();
    raw.write_all(&greeting()[..30]).unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    let (got, _) = expect_closed(&mut raw, PROMPT, "a truncated greeting");
    assert!(
        got.len() >= 11 && got[0] == 0xFF && got[9] == 0x7F && got[10] == 3,
        "ferromq should have started its own greeting: {got:02x?}"
    );
    server.check_good("after a truncated greeting");
}

#[test]
fn a_frame_announcing_2_pow_44_bytes_is_refused() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    let mut raw = server.raw();
    handshake(&mut raw);
    let mut header = vec![0x02];
    header.extend_from_slice(&(1u64 << 44).to_be_bytes());
    header.extend_from_slice(b"some of the body");
    raw.write_all(&header).unwrap();
    server.check_good("while a client announces 16 TiB");
    let (_, took) = expect_closed(&mut raw, PROMPT, "a 2^44-byte frame header");
    assert!(took < PROMPT);
    server.check_good("after a client announced 16 TiB");
}

#[test]
fn a_frame_over_maxmsgsize_is_refused() {
    let _serial = serial();
    let mut server = Server::new(|pull| pull.set_maxmsgsize(Some(1024)).unwrap());
    let mut raw = server.raw();
    handshake(&mut raw);
    let fits = vec![b'f'; 1024];
    raw.write_all(&message_frame(&fits, false)).unwrap();
    server.expect(&[&"f".repeat(1024)], "a frame of exactly maxmsgsize");
    let _ = raw.write_all(&message_frame(&[b'o'; 2000], false));
    expect_closed(&mut raw, PROMPT, "a 2000-byte frame over maxmsgsize 1024");
    server.check_good("after a frame over maxmsgsize");
}

#[test]
fn a_handshake_that_never_finishes_is_cut_off_after_handshake_ivl() {
    let _serial = serial();
    let mut server = Server::new(|pull| {
        pull.set_handshake_ivl(Some(Duration::from_millis(300)))
            .unwrap()
    });
    for (what, sent) in [
        ("half a greeting", &greeting()[..32]),
        ("a greeting without READY", &greeting()[..]),
        ("nothing at all", &[][..]),
    ] {
        let mut raw = server.raw();
        let started = Instant::now();
        raw.write_all(sent).unwrap();
        server.check_good(&format!("while a client sends {what} and waits"));
        let (_, _) = expect_closed(&mut raw, WAIT, what);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
            "{what}: handshake_ivl is 300 ms, the connection was closed after {took:?}"
        );
        server.check_good(&format!("after a client sent {what}"));
    }
}

#[test]
fn a_peer_of_an_incompatible_type_gets_an_error_and_is_closed() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    let mut raw = server.raw();
    let mut hello = greeting();
    hello.extend(ready("PUB"));
    raw.write_all(&hello).unwrap();
    assert_eq!(read_server_handshake(&mut raw), "PULL");
    let (rest, _) = expect_closed(&mut raw, PROMPT, "a PUB peer of a PULL");
    assert!(
        rest.len() >= 2 && rest[0] == 0x04,
        "ferromq should send an ERROR command before closing, sent {rest:02x?}"
    );
    let size = usize::from(rest[1]);
    assert_eq!(
        rest.len(),
        2 + size,
        "one command, then the close: {rest:02x?}"
    );
    let body = &rest[2..];
    assert_eq!(command_name(body), b"ERROR", "{rest:02x?}");
    let reason_len = usize::from(body[6]);
    assert!(
        reason_len > 0 && body.len() == 7 + reason_len,
        "{rest:02x?}"
    );
    server.check_good("after a PUB peer was refused");
}

#[test]
fn bad_connections_again_and_again_do_not_grow_memory() {
    let _serial = serial();
    let mut server = Server::new(|_| {});
    let attack = |server: &Server| {
        let mut raw = server.raw();
        let mut bytes = greeting();
        bytes.extend(ready("PUSH"));
        bytes.push(0x02);
        bytes.extend_from_slice(&(1u64 << 44).to_be_bytes());
        bytes.extend_from_slice(&[0xAB; 1000]);
        let _ = raw.write_all(&bytes);
        expect_closed(&mut raw, PROMPT, "a 2^44-byte frame header");
    };
    for _ in 0..20 {
        attack(&server);
    }
    server.check_good("after warming up");
    let before = vm_rss_kib();
    for round in 0..200 {
        attack(&server);
        if round % 50 == 49 {
            server.check_good(&format!("after {} bad connections", round + 1));
        }
    }
    let after = vm_rss_kib();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 20 * 1024,
        "VmRSS grew by {growth} KiB over 200 bad connections ({before} KiB -> {after} KiB)"
    );
    server.check_good("at the end");
}
