//! The context's end: blocked calls are released, nothing hangs, queued messages get their
//! linger.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferromq::{Context, ErrorKind, SocketType};

/// Starts `n` threads blocked in `recv` (no timeout) on sockets of `ctx`; each reports the
/// error its recv returned.
fn blocked_receivers(ctx: &Context, n: usize) -> mpsc::Receiver<ErrorKind> {
    let (tx, rx) = mpsc::channel();
    for i in 0..n {
        let socket_type = [
            SocketType::Pull,
            SocketType::Sub,
            SocketType::Rep,
            SocketType::Dealer,
        ][i % 4];
        let socket = ctx.socket(socket_type).unwrap();
        socket.bind(&format!("inproc://blocked-{i}")).unwrap();
        if socket_type == SocketType::Sub {
            socket.subscribe("").unwrap();
        }
        let tx = tx.clone();
        std::thread::spawn(move || {
            let kind = match socket.recv() {
                Ok(_) => panic!("a message arrived from nowhere"),
                Err(e) => e.kind(),
            };
            tx.send(kind).unwrap();
        });
    }
    rx
}

#[test]
fn shutdown_releases_every_blocked_recv_with_terminated() {
    let ctx = Context::new();
    let released = blocked_receivers(&ctx, 8);
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    ctx.shutdown();
    for _ in 0..8 {
        let kind = released
            .recv_timeout(Duration::from_secs(1))
            .expect("a recv stayed blocked");
        assert_eq!(kind, ErrorKind::Terminated);
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(
        ctx.socket(SocketType::Push).unwrap_err().kind(),
        ErrorKind::Terminated
    );
}

#[test]
fn terminate_releases_blocked_sends_and_returns_within_the_linger() {
    let ctx = Context::new();
    // A PUSH that can never deliver: its peer address does not answer.
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(Some(Duration::from_millis(300))).unwrap();
    push.set_sndhwm(1).unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap();
    push.send("queued").unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = push.send("blocks at the high-water mark");
        tx.send(result.map_err(|e| e.kind())).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    ctx.terminate();
    let elapsed = start.elapsed();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap(),
        Err(ErrorKind::Terminated)
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "terminate took {elapsed:?}"
    );
}

#[test]
fn calls_after_shutdown_fail_with_terminated() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://after").unwrap();
    ctx.shutdown();
    assert_eq!(pull.try_recv().unwrap_err().kind(), ErrorKind::Terminated);
    assert_eq!(
        pull.bind("inproc://other").unwrap_err().kind(),
        ErrorKind::Terminated
    );
    assert_eq!(
        pull.connect("tcp://127.0.0.1:5").unwrap_err().kind(),
        ErrorKind::Terminated
    );
}

#[test]
fn a_socket_keeps_its_context_alive() {
    let socket = {
        let ctx = Context::new();
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        pull
    };
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&socket.last_endpoint()).unwrap();
    push.send("still here").unwrap();
    socket.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(socket.recv().unwrap().frames()[0], "still here");
}

/// A peer that sends its greeting, READY and a message in one write and leaves at once is
/// still heard: the handshake is taken in before the close.
#[test]
fn a_peer_that_says_everything_and_leaves_at_once_is_heard() {
    use ferromq_zmtp::encode_frame;
    use std::io::Write;

    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let mut bytes = common::zmtp_hello("PUSH");
    encode_frame(&mut bytes, false, b"said and gone");
    let address = pull
        .last_endpoint()
        .trim_start_matches("tcp://")
        .to_string();
    let mut raw = std::net::TcpStream::connect(address).unwrap();
    raw.write_all(&bytes).unwrap();
    drop(raw);
    assert_eq!(pull.recv().unwrap().frames()[0], "said and gone");
}
