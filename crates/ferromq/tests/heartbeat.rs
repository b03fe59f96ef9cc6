//! Heartbeats (ZMTP 3.1 PING/PONG), reconnection and its back-off, and host-name look-ups.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferromq::{Context, ErrorKind, ReconnectStop, Socket, SocketType};
use ferromq_zmtp::{Command, Frame, FrameDecoder, Handshake, HandshakeConfig};

use common::{free_tcp_port, Peer};

const WAIT: Duration = Duration::from_secs(5);

/// A raw ZMTP 3.1 PUSH peer, driven by hand.
struct RawPeer {
    stream: TcpStream,
    input: BytesMut,
}

impl RawPeer {
    /// Connects and completes the handshake as a PUSH socket.
    fn connect(endpoint: &str) -> RawPeer {
        let address = endpoint.trim_start_matches("tcp://");
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut handshake = Handshake::new(HandshakeConfig {
            socket_type: SocketType::Push,
            routing_id: Default::default(),
            properties: Vec::new(),
            security: Default::default(),
        });
        let mut input = BytesMut::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let done = handshake.read_from(&mut input).unwrap().is_some();
            // What the last step queued (the rest of the greeting, READY) goes out even when
            // it finished the handshake.
            let mut out = BytesMut::new();
            handshake.write_to(&mut out);
            stream.write_all(&out).unwrap();
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "the handshake did not finish");
            read_some(&mut stream, &mut input);
        }
        RawPeer { stream, input }
    }

    /// Reads what arrives within `window`: the PINGs received, and whether the connection was
    /// closed.
    fn listen(&mut self, window: Duration, answer_pings: bool) -> (usize, bool) {
        let mut decoder = FrameDecoder::new(None);
        let mut pings = 0;
        let end = Instant::now() + window;
        while Instant::now() < end {
            if !read_some(&mut self.stream, &mut self.input) {
                return (pings, true);
            }
            while let Some(frame) = decoder.decode(&mut self.input).unwrap() {
                if let Frame::Command(Command::Ping { context, .. }) = frame {
                    pings += 1;
                    if answer_pings {
                        let mut out = BytesMut::new();
                        Command::Pong { context }.encode(&mut out);
                        self.stream.write_all(&out).unwrap();
                    }
                }
            }
        }
        (pings, false)
    }
}

/// Reads what is there; false when the peer closed the connection.
fn read_some(stream: &mut TcpStream, input: &mut BytesMut) -> bool {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            input.extend_from_slice(&buf[..n]);
            true
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            true
        }
        Err(_) => false,
    }
}

fn pull_with_heartbeats(ctx: &Context) -> Socket {
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_heartbeat_ivl(Some(Duration::from_millis(100)))
        .unwrap();
    pull.set_heartbeat_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    pull
}

#[test]
fn a_silent_peer_is_dropped_within_the_heartbeat_timeout() {
    let ctx = Context::new();
    let pull = pull_with_heartbeats(&ctx);
    let mut peer = RawPeer::connect(&pull.last_endpoint());
    let start = Instant::now();
    let (pings, closed) = peer.listen(Duration::from_secs(3), false);
    let elapsed = start.elapsed();
    assert!(closed, "the silent peer was never dropped");
    assert!(pings >= 1, "no PING before the drop");
    // The first PING goes at 100 ms, the timeout runs 300 ms from it.
    assert!(
        elapsed >= Duration::from_millis(350),
        "dropped too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "dropped too late: {elapsed:?}"
    );
}

#[test]
fn a_peer_that_answers_is_kept_and_pinged_regularly() {
    let ctx = Context::new();
    let pull = pull_with_heartbeats(&ctx);
    let mut peer = RawPeer::connect(&pull.last_endpoint());
    let (pings, closed) = peer.listen(Duration::from_millis(1500), true);
    assert!(!closed, "a peer answering every PING was dropped");
    assert!(
        (8..=20).contains(&pings),
        "{pings} PINGs in 1.5 s at a 100 ms interval"
    );
}

#[test]
fn the_peers_ttl_is_honoured() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut peer = RawPeer::connect(&pull.last_endpoint());
    // A PING asking to be dropped after 0.3 s of silence, then silence.
    let mut out = BytesMut::new();
    Command::Ping {
        ttl: 3,
        context: Default::default(),
    }
    .encode(&mut out);
    peer.stream.write_all(&out).unwrap();
    let start = Instant::now();
    let (_, closed) = peer.listen(Duration::from_secs(3), false);
    assert!(closed, "the TTL was not honoured");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

/// With pyzmq on the other side: heartbeats in both directions keep an idle connection up.
/// The connecting side reconnects only after 10 s, so a dropped connection would make the
/// message after the idle period late.
#[test]
fn heartbeats_interoperate_with_libzmq_both_ways() {
    let ctx = Context::new();
    // ferromq pings, pyzmq answers.
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_heartbeat_ivl(Some(Duration::from_millis(50)))
        .unwrap();
    push.set_heartbeat_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    push.set_sndtimeo(Some(WAIT)).unwrap();
    push.bind("tcp://127.0.0.1:*").unwrap();
    let mut pull = Peer::pyzmq_socket("pyzmq PULL", "PULL", Duration::from_secs(2));
    pull.set("RECONNECT_IVL", 10_000);
    pull.connect(&push.last_endpoint());
    push.send("before").unwrap();
    assert_eq!(
        pull.recv().expect("first message"),
        vec![b"before".to_vec()]
    );
    std::thread::sleep(Duration::from_millis(1000));
    push.send("after").unwrap();
    assert_eq!(
        pull.recv().expect("the connection was dropped"),
        vec![b"after".to_vec()]
    );

    // pyzmq pings, ferromq answers.
    let mut py_pull = Peer::pyzmq_socket("pyzmq PULL", "PULL", Duration::from_secs(2));
    py_pull.set("HEARTBEAT_IVL", 50);
    py_pull.set("HEARTBEAT_TIMEOUT", 150);
    let endpoint = py_pull.bind("tcp://127.0.0.1:*");
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_reconnect_ivl(Duration::from_secs(10)).unwrap();
    push.set_sndtimeo(Some(WAIT)).unwrap();
    push.connect(&endpoint).unwrap();
    push.send("before").unwrap();
    assert_eq!(
        py_pull.recv().expect("first message"),
        vec![b"before".to_vec()]
    );
    std::thread::sleep(Duration::from_millis(1000));
    push.send("after").unwrap();
    assert_eq!(
        py_pull.recv().expect("libzmq dropped the connection"),
        vec![b"after".to_vec()]
    );
}

/// Counts the connections a listener that closes each at once receives in `window`.
fn count_attempts(configure: impl FnOnce(&Socket), window: Duration) -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    configure(&push);
    push.connect(&format!("tcp://{}", listener.local_addr().unwrap()))
        .unwrap();
    let end = Instant::now() + window;
    let mut attempts = 0;
    while Instant::now() < end {
        match listener.accept() {
            Ok((stream, _)) => {
                attempts += 1;
                drop(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    attempts
}

#[test]
fn reconnect_backs_off_up_to_reconnect_ivl_max() {
    let window = Duration::from_millis(1200);
    let steady = count_attempts(
        |s| s.set_reconnect_ivl(Duration::from_millis(20)).unwrap(),
        window,
    );
    let backing_off = count_attempts(
        |s| {
            s.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
            s.set_reconnect_ivl_max(Duration::from_millis(320)).unwrap();
        },
        window,
    );
    // Pauses of 20 ms: dozens of attempts. Pauses of 20, 40, ..., 320 ms: about eight.
    assert!(steady >= 25, "{steady} attempts at a steady 20 ms");
    assert!(
        (4..=12).contains(&backing_off),
        "{backing_off} attempts with back-off"
    );
}

#[test]
fn reconnect_stop_on_refused_gives_up() {
    let ctx = Context::new();
    let port = free_tcp_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let make_push = |stop: bool| {
        let push = ctx.socket(SocketType::Push).unwrap();
        push.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
        push.set_reconnect_stop(ReconnectStop {
            conn_refused: stop,
            ..Default::default()
        })
        .unwrap();
        push.set_sndtimeo(Some(Duration::from_millis(300))).unwrap();
        push.connect(&endpoint).unwrap();
        push
    };
    let giving_up = make_push(true);
    let persistent = make_push(false);
    std::thread::sleep(Duration::from_millis(200));
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(WAIT)).unwrap();
    pull.bind(&endpoint).unwrap();
    let err = giving_up.send("never").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    persistent.send("delivered").unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "delivered");
}

#[test]
fn a_host_name_is_looked_up_and_connected_to() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(WAIT)).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let port = pull.last_endpoint().rsplit(':').next().unwrap().to_string();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&format!("tcp://localhost:{port}")).unwrap();
    push.send("by name").unwrap();
    assert_eq!(pull.recv().unwrap().frames()[0], "by name");
}

/// A name that does not resolve is tried again and again, and the I/O thread keeps serving
/// the context's other sockets meanwhile.
#[test]
fn a_name_that_does_not_resolve_is_retried_without_stalling_others() {
    let ctx = Context::new();
    let lost = ctx.socket(SocketType::Push).unwrap();
    lost.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
    let events = lost.monitor().unwrap();
    lost.connect("tcp://no-such-host.invalid:5555").unwrap();

    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(WAIT)).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    let start = Instant::now();
    let mut retries = 0;
    while retries < 3 {
        let event = events.recv_timeout(Some(WAIT)).expect("no retry");
        if event.event.name() == "connect_retried" {
            retries += 1;
        }
        push.send("meanwhile").unwrap();
        assert_eq!(pull.recv().unwrap().frames()[0], "meanwhile");
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}
