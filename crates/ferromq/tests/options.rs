//! Socket options that change behaviour, each against the behaviour it changes.

use std::time::{Duration, Instant};

use ferromq::{Context, ErrorKind, Message, Socket, SocketType};

const WAIT: Duration = Duration::from_secs(5);

fn socket(ctx: &Context, kind: SocketType) -> Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s
}

fn text(msg: &Message) -> String {
    String::from_utf8_lossy(&msg.frames()[0]).into_owned()
}

/// Subscription messages an XPUB receives within `window`.
fn subscriptions(xpub: &Socket, window: Duration) -> Vec<Vec<u8>> {
    xpub.set_rcvtimeo(Some(window)).unwrap();
    let mut seen = Vec::new();
    while let Ok(msg) = xpub.recv() {
        seen.push(msg.frames()[0].to_vec());
    }
    seen
}

fn xpub_with_two_subs(configure: impl Fn(&Socket)) -> (Context, Socket, Socket, Socket) {
    let ctx = Context::new();
    let xpub = socket(&ctx, SocketType::XPub);
    configure(&xpub);
    xpub.bind("inproc://x").unwrap();
    let a = socket(&ctx, SocketType::Sub);
    let b = socket(&ctx, SocketType::Sub);
    for s in [&a, &b] {
        s.connect("inproc://x").unwrap();
        s.subscribe("t").unwrap();
    }
    (ctx, xpub, a, b)
}

#[test]
fn xpub_verbose_passes_duplicate_subscriptions() {
    let (_ctx, quiet, _a, _b) = xpub_with_two_subs(|_| {});
    assert_eq!(
        subscriptions(&quiet, Duration::from_millis(200)),
        vec![b"\x01t".to_vec()]
    );
    let (_ctx, verbose, _a, _b) = xpub_with_two_subs(|x| x.set_xpub_verbose(true).unwrap());
    assert_eq!(
        subscriptions(&verbose, Duration::from_millis(200)),
        vec![b"\x01t".to_vec(); 2]
    );
}

#[test]
fn xpub_verboser_passes_every_cancellation() {
    for (verboser, cancels) in [(false, 1), (true, 2)] {
        let (_ctx, xpub, a, b) = xpub_with_two_subs(|x| {
            x.set_xpub_verbose(true).unwrap();
            x.set_xpub_verboser(verboser).unwrap();
        });
        subscriptions(&xpub, Duration::from_millis(200));
        a.unsubscribe("t").unwrap();
        b.unsubscribe("t").unwrap();
        // The cancels are read when the XPUB next looks at its peers.
        let seen = subscriptions(&xpub, Duration::from_millis(200));
        assert_eq!(
            seen,
            vec![b"\x00t".to_vec(); cancels],
            "verboser {verboser}"
        );
    }
}

#[test]
fn xpub_manual_applies_only_what_the_user_subscribes() {
    let ctx = Context::new();
    let xpub = socket(&ctx, SocketType::XPub);
    xpub.set_xpub_manual(true).unwrap();
    xpub.bind("inproc://manual").unwrap();
    let sub = socket(&ctx, SocketType::Sub);
    sub.connect("inproc://manual").unwrap();
    sub.subscribe("news").unwrap();
    assert_eq!(xpub.recv().unwrap().frames()[0], b"\x01news"[..]);
    xpub.send("news 1").unwrap();
    sub.set_rcvtimeo(Some(Duration::from_millis(200))).unwrap();
    assert!(
        sub.recv().is_err(),
        "delivered before the user applied the subscription"
    );
    xpub.subscribe("news").unwrap();
    xpub.send("news 2").unwrap();
    assert_eq!(text(&sub.recv().unwrap()), "news 2");
}

#[test]
fn xpub_welcome_msg_greets_every_subscriber() {
    let ctx = Context::new();
    let xpub = socket(&ctx, SocketType::XPub);
    xpub.set_xpub_welcome_msg(Some("welcome".into())).unwrap();
    xpub.bind("tcp://127.0.0.1:*").unwrap();
    for _ in 0..2 {
        let sub = socket(&ctx, SocketType::Sub);
        sub.subscribe("welcome").unwrap();
        sub.connect(&xpub.last_endpoint()).unwrap();
        assert_eq!(text(&sub.recv().unwrap()), "welcome");
    }
}

#[test]
fn xpub_nodrop_refuses_instead_of_dropping() {
    let ctx = Context::new();
    for nodrop in [false, true] {
        let publisher = socket(&ctx, SocketType::Pub);
        publisher.set_sndhwm(5).unwrap();
        publisher.set_xpub_nodrop(nodrop).unwrap();
        let endpoint = format!("inproc://nodrop-{nodrop}");
        publisher.bind(&endpoint).unwrap();
        let sub = socket(&ctx, SocketType::Sub);
        sub.set_rcvhwm(5).unwrap();
        sub.subscribe("").unwrap();
        sub.connect(&endpoint).unwrap();
        // Wait for the subscription: it is read when the publisher sends.
        let start = Instant::now();
        while sub.try_recv().is_err() {
            publisher.send("probe").unwrap();
            assert!(start.elapsed() < WAIT);
        }
        let mut refused = 0;
        for _ in 0..100 {
            match publisher.try_send("m") {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WouldBlock);
                    refused += 1;
                }
            }
        }
        if nodrop {
            assert!(refused > 0, "nodrop never refused");
            assert_eq!(publisher.dropped_messages(), 0);
        } else {
            assert_eq!(refused, 0, "PUB refused without nodrop");
            assert!(publisher.dropped_messages() > 0, "no drop counted");
        }
    }
}

#[test]
fn invert_matching_delivers_what_does_not_match() {
    let ctx = Context::new();
    let publisher = socket(&ctx, SocketType::Pub);
    publisher.set_invert_matching(true).unwrap();
    publisher.bind("inproc://invert").unwrap();
    let sub = socket(&ctx, SocketType::Sub);
    sub.set_invert_matching(true).unwrap();
    sub.subscribe("a").unwrap();
    sub.connect("inproc://invert").unwrap();
    let start = Instant::now();
    loop {
        publisher.send("a-probe").unwrap();
        publisher.send("b-probe").unwrap();
        if let Ok(msg) = sub.try_recv() {
            assert_eq!(text(&msg), "b-probe");
            break;
        }
        assert!(start.elapsed() < WAIT);
    }
    publisher.send("a1").unwrap();
    publisher.send("b1").unwrap();
    sub.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
    let mut seen = Vec::new();
    while let Ok(msg) = sub.recv() {
        seen.push(text(&msg));
    }
    assert!(seen.contains(&"b1".to_string()), "{seen:?}");
    assert!(seen.iter().all(|m| m.starts_with('b')), "{seen:?}");
}

#[test]
fn conflate_keeps_only_the_newest_message() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.set_conflate(true).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.connect(&pull.last_endpoint()).unwrap();
    for i in 0..100 {
        push.send(format!("state {i}")).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(text(&pull.recv().unwrap()), "state 99");
    assert_eq!(pull.try_recv().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn immediate_sends_only_to_connected_peers() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    for immediate in [false, true] {
        let push = socket(&ctx, SocketType::Push);
        push.set_immediate(immediate).unwrap();
        // One peer that is there, one that never will be.
        push.connect(&pull.last_endpoint()).unwrap();
        push.connect("tcp://127.0.0.1:1").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..10 {
            push.send(format!("{i}")).unwrap();
        }
        pull.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
        let mut got = 0;
        while pull.recv().is_ok() {
            got += 1;
        }
        let expected = if immediate { 10 } else { 5 };
        assert_eq!(got, expected, "immediate {immediate}");
    }
}

#[test]
fn tcp_settings_are_taken_and_read_back() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    let push = socket(&ctx, SocketType::Push);
    for s in [&pull, &push] {
        s.set_sndbuf(Some(256 * 1024)).unwrap();
        s.set_rcvbuf(Some(256 * 1024)).unwrap();
        s.set_tcp_keepalive(Some(true)).unwrap();
        s.set_tcp_keepalive_idle(Some(Duration::from_secs(30)))
            .unwrap();
        s.set_tcp_keepalive_cnt(Some(3)).unwrap();
        s.set_tcp_keepalive_intvl(Some(Duration::from_secs(5)))
            .unwrap();
        s.set_tos(Some(0x28)).unwrap();
    }
    assert_eq!(push.sndbuf(), Some(256 * 1024));
    assert_eq!(push.tcp_keepalive_cnt(), Some(3));
    assert_eq!(push.tos(), Some(0x28));
    pull.bind("tcp://127.0.0.1:*").unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    push.send("with settings").unwrap();
    assert_eq!(text(&pull.recv().unwrap()), "with settings");
}

#[test]
fn ipv6_decides_what_star_binds() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.set_ipv6(true).unwrap();
    assert!(pull.ipv6());
    pull.bind("tcp://*:*").unwrap();
    let port = pull.last_endpoint().rsplit(':').next().unwrap().to_string();
    let push = socket(&ctx, SocketType::Push);
    push.connect(&format!("tcp://[::1]:{port}")).unwrap();
    push.send("over IPv6").unwrap();
    assert_eq!(text(&pull.recv().unwrap()), "over IPv6");
    let v4_only = socket(&ctx, SocketType::Pull);
    v4_only.bind("tcp://*:*").unwrap();
    assert!(
        v4_only.last_endpoint().starts_with("tcp://0.0.0.0:"),
        "{}",
        v4_only.last_endpoint()
    );
}

#[test]
fn changing_the_high_water_mark_at_run_time_takes_effect() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.set_rcvhwm(1).unwrap();
    pull.bind("inproc://hwm").unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.set_sndhwm(1).unwrap();
    push.connect("inproc://hwm").unwrap();
    let count = |push: &Socket| (0..100).take_while(|_| push.try_send("m").is_ok()).count();
    assert_eq!(count(&push), 2, "sndhwm 1 + rcvhwm 1");
    push.set_sndhwm(10).unwrap();
    assert_eq!(count(&push), 9, "room for 11 with sndhwm raised to 10");
}

/// A PUSH with 10,000 messages queued for a peer that is not there yet, closed with linger 5 s:
/// every message reaches the PULL that binds 1 s later. With linger 0, close returns at once.
#[test]
fn linger_delivers_what_was_queued_and_zero_linger_does_not_wait() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(0).unwrap();
    push.set_linger(Some(Duration::from_secs(5))).unwrap();
    push.connect(&endpoint).unwrap();
    for i in 0..10_000 {
        push.send(format!("{i}")).unwrap();
    }
    let receiver = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        pull.bind(&endpoint).unwrap();
        (0..10_000)
            .map(|_| text(&pull.recv().unwrap()))
            .collect::<Vec<_>>()
    });
    drop(push);
    drop(ctx);
    let received = receiver.join().unwrap();
    let expected: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    assert_eq!(received, expected);

    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(Some(Duration::ZERO)).unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap();
    push.send("never delivered").unwrap();
    let start = Instant::now();
    drop(push);
    drop(ctx);
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}
