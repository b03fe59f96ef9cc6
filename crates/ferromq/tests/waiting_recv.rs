//! A `recv` that waits on its socket's connections itself, which then stay with the user's
//! thread between calls: a peer's close must still be noticed, whether it comes while `recv`
//! waits or while nobody is in `recv` at all, and a quiet peer heard while a busy one keeps
//! `recv` from waiting.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use ferromq::{Context, Monitor, Socket, SocketType};
use socket2::SockRef;

/// A PULL bound to a fresh tcp port, with a monitor attached before the bind.
fn watched_pull(ctx: &Context) -> (Socket, Monitor) {
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let events = pull.monitor().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    (pull, events)
}

/// The last message and the close arrive together (in one segment) while `recv` waits on the
/// connection: the waiter is told of the close once, with the message, so the read that takes
/// the message must take the close too. Otherwise a later `recv`, waiting, is left with a
/// connection that is gone; here the monitor reports the close while that `recv` still waits.
#[test]
fn a_close_that_comes_with_the_last_message_is_noticed() {
    let ctx = Context::new();
    let (pull, events) = watched_pull(&ctx);
    let raw = common::raw_push(&pull.last_endpoint());
    common::next_named(&events, &["handshake_succeeded"]);

    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        // Corked, the frame waits for the FIN, which then leaves with it.
        SockRef::from(&raw).set_tcp_cork(true).unwrap();
        (&raw).write_all(&common::raw_frame(b"last")).unwrap();
        raw.shutdown(Shutdown::Write).unwrap();
        raw
    });
    assert_eq!(pull.recv().unwrap().frames()[0], "last");
    let raw = writer.join().unwrap();

    pull.set_rcvtimeo(Some(Duration::from_secs(3))).unwrap();
    let started = Instant::now();
    let waiting = std::thread::spawn(move || pull.recv().is_err());
    let event = common::next_named(&events, &["disconnected"]);
    assert_eq!(event.name(), "disconnected");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the close was noticed only after {:?}, once the waiting recv had given up",
        started.elapsed()
    );
    assert!(waiting.join().unwrap(), "nothing more was sent");
    drop(raw);
}

/// A peer that leaves after a `recv` has waited on its connection, while the user calls
/// nothing more, is still noticed: the I/O thread takes the connection back.
#[test]
fn a_peer_that_leaves_while_nobody_receives_is_noticed() {
    let ctx = Context::new();
    let (pull, events) = watched_pull(&ctx);
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    common::next_named(&events, &["handshake_succeeded"]);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        push.send("only").unwrap();
        push
    });
    assert_eq!(pull.recv().unwrap().frames()[0], "only");
    drop(sender.join().unwrap());
    let event = common::next_named(&events, &["disconnected"]);
    assert_eq!(event.name(), "disconnected");
}

/// One peer keeps the receiver busy, so that its `recv` never waits, while another sends a
/// single message: the quiet peer's connection, lent to the receiving thread by an earlier
/// wait, must not stay lent and unread for as long as the busy one keeps it busy. Its message
/// comes within the busy peer's run (which lasts about a second), not after it.
#[test]
fn a_quiet_peer_is_heard_while_a_busy_one_keeps_recv_from_waiting() {
    const COUNT: usize = 200_000;
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = pull.last_endpoint();
    let busy = ctx.socket(SocketType::Push).unwrap();
    busy.connect(&endpoint).unwrap();
    let quiet = ctx.socket(SocketType::Push).unwrap();
    quiet.connect(&endpoint).unwrap();
    // Both connections up, and lent to this thread by recvs that waited.
    quiet.send("hello").unwrap();
    busy.send("start").unwrap();
    let body = |pull: &Socket| pull.recv().unwrap().first().unwrap().to_vec();
    let mut first: Vec<Vec<u8>> = (0..2).map(|_| body(&pull)).collect();
    first.sort();
    assert_eq!(first, [b"hello".to_vec(), b"start".to_vec()]);

    let sender = std::thread::spawn(move || {
        for _ in 0..COUNT {
            busy.send("b").unwrap();
        }
        busy
    });
    let speaker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        quiet.send("quiet").unwrap();
        quiet
    });
    let started = Instant::now();
    let mut busy_seen = 0;
    let heard_after = loop {
        let msg = body(&pull);
        if msg == b"quiet" {
            break busy_seen;
        }
        busy_seen += 1;
        assert!(busy_seen <= COUNT, "more busy messages than were sent");
        // A slow receiver: the busy peer stays ahead of it, so it never waits.
        if busy_seen % 200 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    eprintln!(
        "the quiet peer heard after {heard_after} of {COUNT} busy messages, {:?}",
        started.elapsed()
    );
    assert!(
        heard_after < COUNT * 3 / 4,
        "the quiet peer was heard only after {heard_after} of {COUNT} busy messages"
    );
    for _ in heard_after..COUNT {
        pull.recv().unwrap();
    }
    sender.join().unwrap();
    speaker.join().unwrap();
}
