//! Interoperability with libzmq through pyzmq: every socket pair ferromq offers, each side of
//! bind/connect and of the data flow, over tcp and ipc, against a real libzmq peer running in a
//! separate process (`interop/python/zmq_peer.py`).
//!
//! Needs a Python with pyzmq: `$FERROMQ_PYTHON`, or the workspace's `.venv` that
//! `scripts/test` creates. Without one these tests fail, saying so.

mod common;

use std::time::{Duration, Instant};

use common::{
    free_tcp_port, join_peer, pattern, send_frames, Binder, Frames, IpcEndpoint, Peer, Transport,
};
use ferromq::{Context, ErrorKind, Socket, SocketType};

/// Generous, for a loaded two-core machine: only a failing test waits this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive.
const QUIET: Duration = Duration::from_millis(300);
/// One round of waiting for a subscription to reach the publisher.
const POLL: Duration = Duration::from_millis(100);

/// A ferromq socket whose every blocking call gives up after [`TIMEOUT`], and which drops what
/// it still holds when closed, so a failing test can neither hang nor stall at the end.
fn ferro_socket(ctx: &Context, socket_type: SocketType) -> Socket {
    let name = socket_type.name();
    let socket = ctx
        .socket(socket_type)
        .unwrap_or_else(|e| panic!("ferromq {name}: {e}"));
    socket.set_rcvtimeo(Some(TIMEOUT)).expect("rcvtimeo");
    socket.set_sndtimeo(Some(TIMEOUT)).expect("sndtimeo");
    socket.set_linger(Some(Duration::ZERO)).expect("linger");
    socket
}

/// One end of a link, ferromq or pyzmq, so that each scenario is written once for both.
enum End {
    Ferro { socket: Socket, kind: SocketType },
    Py { peer: Peer, kind: SocketType },
}

impl End {
    fn name(&self) -> String {
        match self {
            End::Ferro { kind, .. } => format!("ferromq {}", kind.name()),
            End::Py { kind, .. } => format!("pyzmq {}", kind.name()),
        }
    }

    fn kind(&self) -> SocketType {
        match self {
            End::Ferro { kind, .. } | End::Py { kind, .. } => *kind,
        }
    }

    fn send<F: AsRef<[u8]>>(&mut self, frames: &[F]) {
        let name = self.name();
        match self {
            End::Ferro { socket, .. } => send_frames(socket, frames, &name),
            End::Py { peer, .. } => peer.send(frames),
        }
    }

    /// The next message, or `None` when the receive timeout ran out.
    fn recv(&mut self) -> Option<Frames> {
        let name = self.name();
        match self {
            End::Ferro { socket, .. } => match socket.recv() {
                Ok(msg) => Some(msg.iter().map(|f| f.to_vec()).collect()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => panic!("{name}: recv failed: {e}"),
            },
            End::Py { peer, .. } => peer.recv(),
        }
    }

    fn set_recv_timeout(&mut self, timeout: Duration) {
        match self {
            End::Ferro { socket, .. } => socket.set_rcvtimeo(Some(timeout)).expect("rcvtimeo"),
            End::Py { peer, .. } => peer.set("RCVTIMEO", timeout.as_millis() as i64),
        }
    }

    /// Receives with a shorter timeout than usual, then restores the usual one.
    fn recv_within(&mut self, timeout: Duration) -> Option<Frames> {
        self.set_recv_timeout(timeout);
        let msg = self.recv();
        self.set_recv_timeout(TIMEOUT);
        msg
    }

    /// A message that must arrive.
    fn expect(&mut self, expected: &[&[u8]], what: &str) {
        let name = self.name();
        let got = self.recv();
        let got = got.unwrap_or_else(|| panic!("{name}: {what}: nothing arrived in {TIMEOUT:?}"));
        assert_frames(&got, &to_frames(expected), &format!("{name}: {what}"));
    }

    /// Checks that nothing (more) arrives.
    fn expect_nothing(&mut self, what: &str) {
        if let Some(msg) = self.recv_within(QUIET) {
            panic!("{}: {what}: got {}", self.name(), describe(&msg));
        }
    }

    fn subscribe(&mut self, topic: &[u8]) {
        self.set_subscription(topic, true);
    }

    fn unsubscribe(&mut self, topic: &[u8]) {
        self.set_subscription(topic, false);
    }

    /// The socket option on a SUB, a subscription message (0x01 or 0x00, then the topic)
    /// from an XSUB.
    fn set_subscription(&mut self, topic: &[u8], on: bool) {
        if self.kind() == SocketType::XSub {
            let mut msg = vec![u8::from(on)];
            msg.extend_from_slice(topic);
            self.send(&[msg]);
            return;
        }
        let name = self.name();
        match self {
            End::Ferro { socket, .. } => {
                let result = if on {
                    socket.subscribe(topic)
                } else {
                    socket.unsubscribe(topic)
                };
                result.unwrap_or_else(|e| panic!("{name}: (un)subscribe failed: {e}"));
            }
            End::Py { peer, .. } if on => peer.subscribe(topic),
            End::Py { peer, .. } => peer.unsubscribe(topic),
        }
    }
}

/// A ferromq socket linked to a pyzmq peer.
struct Link {
    ferro: End,
    py: End,
    _ipc: Option<IpcEndpoint>,
}

fn link(ferro: SocketType, py: SocketType, binder: Binder, transport: Transport) -> Link {
    let ctx = Context::new();
    let socket = ferro_socket(&ctx, ferro);
    let mut peer = Peer::pyzmq_socket(&format!("pyzmq {}", py.name()), py.name(), TIMEOUT);
    let ipc = join_peer(&socket, &mut peer, binder, transport, "interop");
    Link {
        ferro: End::Ferro {
            socket,
            kind: ferro,
        },
        py: End::Py { peer, kind: py },
        _ipc: ipc,
    }
}

fn to_frames(frames: &[&[u8]]) -> Frames {
    frames.iter().map(|f| f.to_vec()).collect()
}

/// A short account of a message (large frames are not printed whole).
fn describe(msg: &Frames) -> String {
    let frames: Vec<String> = msg
        .iter()
        .map(|f| {
            if f.len() <= 32 {
                format!("{:?}", String::from_utf8_lossy(f))
            } else {
                format!("<{} bytes>", f.len())
            }
        })
        .collect();
    format!("[{}]", frames.join(", "))
}

/// Compares messages byte for byte, reporting where they differ rather than dumping megabytes.
fn assert_frames(got: &Frames, expected: &Frames, context: &str) {
    if got == expected {
        return;
    }
    let mut detail = format!("got {}, expected {}", describe(got), describe(expected));
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if g != e {
            let at = g.iter().zip(e).position(|(a, b)| a != b);
            detail += &format!(
                "; frame {i} first differs at byte {at:?} (lengths {} and {})",
                g.len(),
                e.len()
            );
            break;
        }
    }
    panic!("{context}: {detail}");
}

/// Messages in the shapes that framing tends to get wrong: multipart, empty frames, a 0-byte
/// message, and frames around the 255-byte short/long frame boundary.
fn sample_messages() -> Vec<Frames> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    vec![
        vec![b"hello".to_vec()],
        vec![b"key".to_vec(), Vec::new(), b"value".to_vec()],
        vec![Vec::new()],
        vec![Vec::new(), Vec::new(), Vec::new()],
        vec![
            all_bytes[..255].to_vec(),
            all_bytes.clone(),
            pattern(70_000, 1),
        ],
        (0..20u8).map(|i| vec![i; usize::from(i)]).collect(),
        vec![b"last".to_vec()],
    ]
}

/// Sends every message, then checks each arrives whole and in order.
fn expect_flow(from: &mut End, to: &mut End, msgs: &[Frames]) {
    for msg in msgs {
        from.send(msg);
    }
    let context = format!("{} -> {}", from.name(), to.name());
    for (i, expected) in msgs.iter().enumerate() {
        let got = to
            .recv()
            .unwrap_or_else(|| panic!("{context}: message {i} did not arrive in {TIMEOUT:?}"));
        assert_frames(&got, expected, &format!("{context}: message {i}"));
    }
}

// ---- PUSH / PULL -------------------------------------------------------------------------

fn push_pull(ferro_pushes: bool, binder: Binder, transport: Transport) {
    let (ferro, py) = if ferro_pushes {
        (SocketType::Push, SocketType::Pull)
    } else {
        (SocketType::Pull, SocketType::Push)
    };
    let mut link = link(ferro, py, binder, transport);
    if ferro_pushes {
        expect_flow(&mut link.ferro, &mut link.py, &sample_messages());
    } else {
        expect_flow(&mut link.py, &mut link.ferro, &sample_messages());
    }
}

#[test]
fn ferromq_push_to_pyzmq_pull_tcp_ferromq_binds() {
    push_pull(true, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn ferromq_push_to_pyzmq_pull_tcp_pyzmq_binds() {
    push_pull(true, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn ferromq_push_to_pyzmq_pull_ipc_ferromq_binds() {
    push_pull(true, Binder::Ferromq, Transport::Ipc);
}

#[test]
fn ferromq_push_to_pyzmq_pull_ipc_pyzmq_binds() {
    push_pull(true, Binder::Pyzmq, Transport::Ipc);
}

#[test]
fn pyzmq_push_to_ferromq_pull_tcp_ferromq_binds() {
    push_pull(false, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pyzmq_push_to_ferromq_pull_tcp_pyzmq_binds() {
    push_pull(false, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pyzmq_push_to_ferromq_pull_ipc_ferromq_binds() {
    push_pull(false, Binder::Ferromq, Transport::Ipc);
}

#[test]
fn pyzmq_push_to_ferromq_pull_ipc_pyzmq_binds() {
    push_pull(false, Binder::Pyzmq, Transport::Ipc);
}

// ---- large messages ------------------------------------------------------------------------

/// A 4 MiB frame followed by small messages: checks the large-frame encoding and that the
/// stream stays in step after it.
fn large_message(ferro_sends: bool) {
    let (ferro, py) = if ferro_sends {
        (SocketType::Push, SocketType::Pull)
    } else {
        (SocketType::Pull, SocketType::Push)
    };
    let mut link = link(ferro, py, Binder::Ferromq, Transport::Tcp);
    let msgs = vec![
        vec![pattern(4 << 20, 7)],
        vec![b"big".to_vec(), pattern((4 << 20) - 1, 8), Vec::new()],
        vec![b"after".to_vec()],
    ];
    if ferro_sends {
        expect_flow(&mut link.ferro, &mut link.py, &msgs);
    } else {
        expect_flow(&mut link.py, &mut link.ferro, &msgs);
    }
}

#[test]
fn large_message_ferromq_to_pyzmq() {
    large_message(true);
}

#[test]
fn large_message_pyzmq_to_ferromq() {
    large_message(false);
}

// ---- PAIR ----------------------------------------------------------------------------------

fn pair(binder: Binder, transport: Transport) {
    let mut link = link(SocketType::Pair, SocketType::Pair, binder, transport);
    expect_flow(&mut link.ferro, &mut link.py, &sample_messages());
    expect_flow(&mut link.py, &mut link.ferro, &sample_messages());
    for round in 0..3 {
        let ping = format!("ping {round}");
        let pong = format!("pong {round}");
        link.ferro.send(&[ping.as_bytes(), b""]);
        link.py.expect(&[ping.as_bytes(), b""], "ping");
        link.py.send(&[pong.as_bytes()]);
        link.ferro.expect(&[pong.as_bytes()], "pong");
    }
}

#[test]
fn pair_tcp_ferromq_binds() {
    pair(Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pair_tcp_pyzmq_binds() {
    pair(Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pair_ipc_ferromq_binds() {
    pair(Binder::Ferromq, Transport::Ipc);
}

#[test]
fn pair_ipc_pyzmq_binds() {
    pair(Binder::Pyzmq, Transport::Ipc);
}

// ---- publish / subscribe --------------------------------------------------------------------

const SYNC: &[u8] = b"a-sync";

/// Publishes a1, b1, a2 to a subscriber of "a": only a1 and a2 may arrive, in order. Leading
/// SYNC messages left from waiting for the subscription are skipped.
fn expect_filtering(publisher: &mut End, subscriber: &mut End) {
    publisher.send(&[b"a1".as_slice()]);
    publisher.send(&[b"b1".as_slice()]);
    publisher.send(&[b"a2".as_slice(), b"", b"body"]);
    let context = format!(
        "{} -> {} subscribed to \"a\"",
        publisher.name(),
        subscriber.name()
    );
    let mut got = Vec::new();
    while got.len() < 2 {
        match subscriber.recv() {
            Some(msg) if got.is_empty() && msg == [SYNC] => {}
            Some(msg) => got.push(msg),
            None => panic!(
                "{context}: got {} then nothing in {TIMEOUT:?}; expected a1 and a2",
                got.iter().map(describe).collect::<Vec<_>>().join(" ")
            ),
        }
    }
    assert_frames(&got[0], &to_frames(&[b"a1"]), &format!("{context}: first"));
    assert_frames(
        &got[1],
        &to_frames(&[b"a2", b"", b"body"]),
        &format!("{context}: second (b1 must be filtered out)"),
    );
    subscriber.expect_nothing(&format!("{context}: after a2"));
}

/// Publishes SYNC until the subscriber gets one: a subscription reaches a PUB unannounced.
fn wait_for_subscription(publisher: &mut End, subscriber: &mut End) {
    let deadline = Instant::now() + 2 * TIMEOUT;
    loop {
        publisher.send(&[SYNC]);
        match subscriber.recv_within(POLL) {
            Some(msg) if msg == [SYNC] => return,
            Some(msg) => panic!(
                "{} -> {}: expected {:?}, got {}",
                publisher.name(),
                subscriber.name(),
                String::from_utf8_lossy(SYNC),
                describe(&msg)
            ),
            None if Instant::now() < deadline => {}
            None => panic!(
                "{}: the subscription of {} to \"a\" never took effect",
                publisher.name(),
                subscriber.name()
            ),
        }
    }
}

/// Splits a link into (publisher, subscriber).
fn roles(link: &mut Link, ferro_publishes: bool) -> (&mut End, &mut End) {
    if ferro_publishes {
        (&mut link.ferro, &mut link.py)
    } else {
        (&mut link.py, &mut link.ferro)
    }
}

/// PUB to SUB or XSUB: the subscription crosses the wire and the publisher filters by it.
fn pub_sub(ferro_publishes: bool, sub: SocketType, binder: Binder, transport: Transport) {
    let (ferro, py) = if ferro_publishes {
        (SocketType::Pub, sub)
    } else {
        (sub, SocketType::Pub)
    };
    let mut link = link(ferro, py, binder, transport);
    let (publisher, subscriber) = roles(&mut link, ferro_publishes);
    subscriber.subscribe(b"a");
    wait_for_subscription(publisher, subscriber);
    expect_filtering(publisher, subscriber);
}

/// XPUB to SUB or XSUB: the XPUB user reads the subscription (0x01 + topic) and, after the
/// unsubscribe, its cancel (0x00 + topic); the filter applies in between and not after.
fn xpub_sub(ferro_publishes: bool, sub: SocketType, binder: Binder, transport: Transport) {
    let (ferro, py) = if ferro_publishes {
        (SocketType::XPub, sub)
    } else {
        (sub, SocketType::XPub)
    };
    let mut link = link(ferro, py, binder, transport);
    let (publisher, subscriber) = roles(&mut link, ferro_publishes);
    subscriber.subscribe(b"a");
    publisher.expect(&[b"\x01a"], "the subscription message");
    expect_filtering(publisher, subscriber);
    subscriber.unsubscribe(b"a");
    publisher.expect(&[b"\x00a"], "the cancel message");
    publisher.send(&[b"a3".as_slice()]);
    subscriber.expect_nothing("after unsubscribing");
    publisher.expect_nothing("no more subscription messages");
}

#[test]
fn ferromq_pub_to_pyzmq_sub_ferromq_binds() {
    pub_sub(true, SocketType::Sub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn ferromq_pub_to_pyzmq_sub_pyzmq_binds() {
    pub_sub(true, SocketType::Sub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn ferromq_pub_to_pyzmq_sub_ipc() {
    pub_sub(true, SocketType::Sub, Binder::Ferromq, Transport::Ipc);
}

#[test]
fn pyzmq_pub_to_ferromq_sub_ferromq_binds() {
    pub_sub(false, SocketType::Sub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pyzmq_pub_to_ferromq_sub_pyzmq_binds() {
    pub_sub(false, SocketType::Sub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pyzmq_pub_to_ferromq_sub_ipc() {
    pub_sub(false, SocketType::Sub, Binder::Pyzmq, Transport::Ipc);
}

#[test]
fn ferromq_pub_to_pyzmq_xsub_ferromq_binds() {
    pub_sub(true, SocketType::XSub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn ferromq_pub_to_pyzmq_xsub_pyzmq_binds() {
    pub_sub(true, SocketType::XSub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pyzmq_pub_to_ferromq_xsub_ferromq_binds() {
    pub_sub(false, SocketType::XSub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pyzmq_pub_to_ferromq_xsub_pyzmq_binds() {
    pub_sub(false, SocketType::XSub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn ferromq_xpub_to_pyzmq_sub_ferromq_binds() {
    xpub_sub(true, SocketType::Sub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn ferromq_xpub_to_pyzmq_sub_pyzmq_binds() {
    xpub_sub(true, SocketType::Sub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pyzmq_xpub_to_ferromq_sub_ferromq_binds() {
    xpub_sub(false, SocketType::Sub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pyzmq_xpub_to_ferromq_sub_pyzmq_binds() {
    xpub_sub(false, SocketType::Sub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn ferromq_xpub_to_pyzmq_xsub_ferromq_binds() {
    xpub_sub(true, SocketType::XSub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn ferromq_xpub_to_pyzmq_xsub_pyzmq_binds() {
    xpub_sub(true, SocketType::XSub, Binder::Pyzmq, Transport::Tcp);
}

#[test]
fn pyzmq_xpub_to_ferromq_xsub_ferromq_binds() {
    xpub_sub(false, SocketType::XSub, Binder::Ferromq, Transport::Tcp);
}

#[test]
fn pyzmq_xpub_to_ferromq_xsub_pyzmq_binds() {
    xpub_sub(false, SocketType::XSub, Binder::Pyzmq, Transport::Tcp);
}

// ---- a libzmq peer restarting ------------------------------------------------------------

fn numbered(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}-{i}").into_bytes()
}

/// The peer that a ferromq PUSH connects to quits and a new process binds the same port:
/// ferromq reconnects by itself, and what it sends from then on reaches the new peer, in order.
#[test]
fn ferromq_push_keeps_sending_to_restarted_pyzmq_pull() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let mut first = Peer::pyzmq_socket("first pyzmq PULL", "PULL", TIMEOUT);
    first.bind(&endpoint);

    let ctx = Context::new();
    let push = ferro_socket(&ctx, SocketType::Push);
    push.set_reconnect_ivl(Duration::from_millis(50))
        .expect("reconnect_ivl");
    push.connect(&endpoint).expect("connect");
    for i in 0..5 {
        push.send(numbered("before", i))
            .expect("send before restart");
    }
    for i in 0..5 {
        let got = first.recv();
        assert_eq!(
            got,
            Some(vec![numbered("before", i)]),
            "first peer, message {i}"
        );
    }
    first.quit();

    let mut second = Peer::pyzmq_socket("restarted pyzmq PULL", "PULL", TIMEOUT);
    second.bind(&endpoint);
    const SENT: usize = 10;
    for i in 0..SENT {
        push.send(numbered("after", i))
            .unwrap_or_else(|e| panic!("ferromq PUSH: send {i} after the restart: {e}"));
    }
    let mut received = Vec::new();
    while received.last() != Some(&(SENT - 1)) {
        let Some(msg) = second.recv() else {
            panic!(
                "restarted peer: got messages {received:?} of 0..{SENT}, then nothing in \
                 {TIMEOUT:?}; the last one sent never arrived"
            );
        };
        let i = (0..SENT)
            .find(|&i| msg == [numbered("after", i)])
            .unwrap_or_else(|| panic!("restarted peer: unexpected message {}", describe(&msg)));
        assert!(
            received.iter().all(|&earlier| earlier < i),
            "restarted peer: message {i} after {received:?}: out of order or repeated"
        );
        received.push(i);
    }
    if received.len() < SENT {
        eprintln!("restarted peer got {received:?} of 0..{SENT}");
    }
}

/// A pyzmq PUSH that a bound ferromq PULL receives from is killed and a new process connects:
/// ferromq drops the dead connection and receives everything the new peer sends.
#[test]
fn ferromq_pull_keeps_receiving_from_restarted_pyzmq_push() {
    let ctx = Context::new();
    let pull = ferro_socket(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = pull.last_endpoint();
    let mut pull = End::Ferro {
        socket: pull,
        kind: SocketType::Pull,
    };

    let mut first = Peer::pyzmq_socket("first pyzmq PUSH", "PUSH", TIMEOUT);
    first.connect(&endpoint);
    for i in 0..5 {
        first.send(&[numbered("before", i)]);
    }
    for i in 0..5 {
        pull.expect(&[numbered("before", i).as_slice()], "from the first peer");
    }
    first.kill();

    let mut second = Peer::pyzmq_socket("restarted pyzmq PUSH", "PUSH", TIMEOUT);
    second.connect(&endpoint);
    for i in 0..5 {
        second.send(&[numbered("after", i)]);
    }
    for i in 0..5 {
        pull.expect(
            &[numbered("after", i).as_slice()],
            "from the restarted peer",
        );
    }
    pull.expect_nothing("after the restarted peer's messages");
}
