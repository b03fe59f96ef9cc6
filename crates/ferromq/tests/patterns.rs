//! The messaging patterns of RFC 29 (PUB, SUB, XPUB, XSUB), RFC 30 (PUSH, PULL) and RFC 31
//! (PAIR) over every transport, and the errors, options and endpoint rules of the public API.
//!
//! Every blocking call here has a timeout, so a broken socket fails its test instead of
//! hanging it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferromq::{Context, ErrorKind, Message, Socket, SocketType};

/// The longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to listen for a message that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// A transport, and for inproc the order in which the two sides meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// `tcp://127.0.0.1:*`, connected through `last_endpoint`.
    Tcp,
    /// `ipc:///tmp/...`, a unique path.
    IpcPath,
    /// `ipc://@...`, a Linux abstract name.
    IpcAbstract,
    /// `ipc://*`, a path chosen at bind time, connected through `last_endpoint`.
    IpcAny,
    /// `inproc://...`, bound before the peers connect.
    InprocBindFirst,
    /// `inproc://...`, connected before the binder binds.
    InprocConnectFirst,
}

const TRANSPORTS: [Transport; 6] = [
    Transport::Tcp,
    Transport::IpcPath,
    Transport::IpcAbstract,
    Transport::IpcAny,
    Transport::InprocBindFirst,
    Transport::InprocConnectFirst,
];

/// A name no other test in this process uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ferromq-patterns-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Transport {
    /// Binds `binder` and connects each of `connectors` to it, in this transport's order.
    /// Returns the endpoint as `last_endpoint` reports it (what `unbind` takes).
    fn link(self, binder: &Socket, connectors: &[&Socket]) -> String {
        let requested = match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_string(),
            Transport::IpcPath => format!("ipc:///tmp/{}.sock", unique("ipc")),
            Transport::IpcAbstract => format!("ipc://@{}", unique("abstract")),
            Transport::IpcAny => "ipc://*".to_string(),
            Transport::InprocBindFirst | Transport::InprocConnectFirst => {
                format!("inproc://{}", unique("inproc"))
            }
        };
        if self == Transport::InprocConnectFirst {
            for c in connectors {
                c.connect(&requested)
                    .unwrap_or_else(|e| panic!("{self:?}: connect {requested}: {e}"));
            }
            binder
                .bind(&requested)
                .unwrap_or_else(|e| panic!("{self:?}: bind {requested}: {e}"));
            assert_eq!(binder.last_endpoint(), requested, "{self:?}");
            return requested;
        }
        binder
            .bind(&requested)
            .unwrap_or_else(|e| panic!("{self:?}: bind {requested}: {e}"));
        let bound = binder.last_endpoint();
        match self {
            Transport::Tcp => {
                let port = bound
                    .strip_prefix("tcp://127.0.0.1:")
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or_else(|| panic!("last_endpoint after binding {requested}: {bound}"));
                assert_ne!(port, 0, "last_endpoint must name the real port: {bound}");
            }
            Transport::IpcAny => {
                let path = bound
                    .strip_prefix("ipc://")
                    .unwrap_or_else(|| panic!("last_endpoint after binding ipc://*: {bound}"));
                assert!(
                    path.starts_with('/') && std::path::Path::new(path).exists(),
                    "ipc://* must be bound to a real path, last_endpoint is {bound}"
                );
            }
            _ => assert_eq!(bound, requested, "{self:?}: last_endpoint"),
        }
        for c in connectors {
            c.connect(&bound)
                .unwrap_or_else(|e| panic!("{self:?}: connect {bound}: {e}"));
        }
        bound
    }
}

/// Runs a scenario over every transport, saying which one is under way.
fn over_each_transport(scenario: impl Fn(Transport)) {
    for t in TRANSPORTS {
        eprintln!("--- over {t:?}");
        scenario(t);
    }
}

/// A socket whose every blocking call gives up after `WAIT`, and which drops what it still
/// holds when it closes.
fn socket(ctx: &Context, socket_type: SocketType) -> Socket {
    let s = ctx.socket(socket_type).expect("a socket");
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s
}

/// A message's frames as text, for readable comparisons.
fn text(msg: &Message) -> Vec<String> {
    msg.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn strings(frames: &[&str]) -> Vec<String> {
    frames.iter().map(|f| f.to_string()).collect()
}

fn send(s: &Socket, frames: &[&str], what: &str) {
    s.send(Message::from(frames.to_vec()))
        .unwrap_or_else(|e| panic!("{what}: send {frames:?}: {e}"));
}

fn recv(s: &Socket, what: &str) -> Vec<String> {
    match s.recv() {
        Ok(msg) => text(&msg),
        Err(e) => panic!("{what}: nothing received within {WAIT:?}: {e}"),
    }
}

/// Checks that nothing arrives within `QUIET`.
fn expect_nothing(s: &Socket, what: &str) {
    s.set_rcvtimeo(Some(QUIET)).unwrap();
    match s.recv() {
        Ok(msg) => panic!("{what}: received {:?}, expected nothing", text(&msg)),
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{what}: {e}"),
    }
    s.set_rcvtimeo(Some(WAIT)).unwrap();
}

/// Publishes `probe` until `sub` receives it: the subscriptions `sub` made before the one
/// `probe` matches are then in force at the publisher too.
fn await_subscription(publisher: &Socket, sub: &Socket, probe: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    sub.set_rcvtimeo(Some(Duration::from_millis(20))).unwrap();
    loop {
        send(publisher, &[probe], what);
        match sub.recv() {
            Ok(msg) if text(&msg) == [probe] => break,
            Ok(msg) => panic!("{what}: expected {probe:?}, received {:?}", text(&msg)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: the subscription matching {probe:?} did not reach the publisher within {WAIT:?}"
                );
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
    sub.set_rcvtimeo(Some(WAIT)).unwrap();
}

/// Receives until a message whose first frame is `end`, leaving out the single-frame
/// messages in `skip` (leftover probes); returns what came before `end`.
fn collect_until(s: &Socket, end: &str, skip: &[&str], what: &str) -> Vec<Vec<String>> {
    let mut got = Vec::new();
    loop {
        let msg = recv(s, &format!("{what} (waiting for {end:?} after {got:?})"));
        if msg.first().is_some_and(|f| f == end) {
            return got;
        }
        if msg.len() == 1 && skip.contains(&msg[0].as_str()) {
            continue;
        }
        got.push(msg);
    }
}

// ---- PUSH and PULL (RFC 30) ----------------------------------------------------------------

fn sample(i: usize) -> Vec<String> {
    match i % 4 {
        0 => vec![format!("m{i}")],
        1 => vec![format!("m{i}"), String::new(), "x".repeat(i)],
        2 => vec![String::new()],
        _ => vec![format!("m{i}"), "y".repeat(300 + i), format!("m{i}-tail")],
    }
}

fn push_pull_flow(t: Transport, push_binds: bool) {
    let what = format!("{t:?}, PUSH binds: {push_binds}");
    let ctx = Context::new();
    let push = socket(&ctx, SocketType::Push);
    let pull = socket(&ctx, SocketType::Pull);
    if push_binds {
        t.link(&push, &[&pull]);
    } else {
        t.link(&pull, &[&push]);
    }
    let mut sent = Vec::new();
    for i in 0..200 {
        let msg = sample(i);
        let frames: Vec<&str> = msg.iter().map(String::as_str).collect();
        send(&push, &frames, &what);
        sent.push(msg);
    }
    let big = "z".repeat(200_000);
    send(&push, &["big", &big, "end"], &what);
    sent.push(strings(&["big", &big, "end"]));
    for (i, expected) in sent.iter().enumerate() {
        let got = recv(&pull, &format!("{what}, message {i}"));
        assert_eq!(&got, expected, "{what}: message {i} out of order or broken");
    }
    expect_nothing(&pull, &what);
}

#[test]
fn push_to_pull_keeps_order_and_delivers_multipart_whole() {
    over_each_transport(|t| {
        push_pull_flow(t, false);
        push_pull_flow(t, true);
    });
}

/// A small kernel send buffer makes nearly every write block part-way, so the sender's thread
/// and the I/O thread take turns writing one connection, while the receiver's thread and the
/// I/O thread take turns reading it: every message must still arrive whole and in order.
/// (Not a small receive buffer: over loopback, a window below one segment makes the kernel
/// send by zero-window probes, a few per second.)
/// A peer that has been quiet, while others were heard, is heard again as soon as it sends:
/// a fair queue that sets quiet peers aside must take each back when its connection receives.
#[test]
fn a_pull_hears_each_of_its_peers_after_they_were_quiet() {
    over_each_transport(|t| {
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let pushes: Vec<Socket> = (0..3).map(|_| socket(&ctx, SocketType::Push)).collect();
        t.link(&pull, &pushes.iter().collect::<Vec<_>>());
        for round in 0..30 {
            let who = (round * 7) % 3;
            send(
                &pushes[who],
                &[&format!("{round} from {who}")],
                "a quiet peer",
            );
            assert_eq!(recv(&pull, "a quiet peer"), [format!("{round} from {who}")]);
            // Nothing else waits: every pipe is looked at, found empty, and set aside.
            assert_eq!(
                pull.try_recv().map(|m| text(&m)).map_err(|e| e.kind()),
                Err(ErrorKind::WouldBlock)
            );
        }
    });
}

#[test]
fn a_stream_through_a_small_send_buffer_arrives_whole_and_in_order() {
    for t in [Transport::Tcp, Transport::IpcPath] {
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let push = socket(&ctx, SocketType::Push);
        push.set_sndbuf(Some(16 * 1024)).unwrap();
        push.set_sndhwm(100).unwrap();
        t.link(&pull, &[&push]);
        // Empty, packed small frames, and large ones written from their own buffers, mixed in
        // one stream, each after its number.
        let sizes = [0, 1, 31, 33, 8_191, 8_192, 20_000];
        let message = move |i: usize| {
            let body = vec![i as u8; sizes[i % sizes.len()]];
            Message::from(vec![(i as u32).to_be_bytes().to_vec(), body])
        };
        arrive_whole_and_in_order(t, push, &pull, 3_000, message);
    }
}

/// Sends `count` messages made by `message` from a thread of its own, and checks that `pull`
/// receives each of them whole and in order.
fn arrive_whole_and_in_order(
    t: Transport,
    push: Socket,
    pull: &Socket,
    count: usize,
    message: impl Fn(usize) -> Message + Clone + Send + 'static,
) {
    let make = message.clone();
    let sender = std::thread::spawn(move || {
        for i in 0..count {
            push.send(make(i))
                .unwrap_or_else(|e| panic!("{t:?}: send {i}: {e}"));
        }
        push
    });
    for i in 0..count {
        let msg = pull
            .recv()
            .unwrap_or_else(|e| panic!("{t:?}: message {i} of {count}: {e}"));
        assert!(
            msg == message(i),
            "{t:?}: message {i} broken or out of order"
        );
    }
    drop(sender.join().expect("the sender"));
}

/// Frames either side of the size read into a buffer of their own (8 KiB to 256 KiB, see
/// `connection.rs`), mixed with small ones, arrive whole and in order.
#[test]
fn large_frames_of_every_kind_arrive_whole_and_in_order() {
    for t in [Transport::Tcp, Transport::IpcPath] {
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let push = socket(&ctx, SocketType::Push);
        t.link(&pull, &[&push]);
        let sizes = [
            8_191, 8_192, 1, 65_536, 262_143, 262_144, 262_145, 0, 600_000, 2,
        ];
        let body = move |i: usize| vec![(i % 251) as u8; sizes[i % sizes.len()]];
        let message = move |i: usize| Message::from(vec![body(i), body(i + 1)]);
        arrive_whole_and_in_order(t, push, &pull, 200, message);
    }
}

#[test]
fn a_push_that_sends_and_closes_at_once_still_delivers() {
    over_each_transport(|t| {
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        for round in 0..5 {
            let what = format!("{t:?}, round {round}");
            // Like a process that sends and exits: its own context, the default linger
            // (wait until everything is written), dropped right after the last send.
            let sender_ctx = match t {
                Transport::InprocBindFirst | Transport::InprocConnectFirst => ctx.clone(),
                _ => Context::new(),
            };
            let push = sender_ctx.socket(SocketType::Push).unwrap();
            push.set_sndtimeo(Some(WAIT)).unwrap();
            if round == 0 {
                t.link(&pull, &[&push]);
            } else {
                push.connect(&pull.last_endpoint()).unwrap();
            }
            for m in ["a", "b", "c"] {
                send(&push, &[&format!("{m}{round}")], &what);
            }
            drop(push);
            drop(sender_ctx);
            for m in ["a", "b", "c"] {
                assert_eq!(
                    recv(
                        &pull,
                        &format!("{what}: a message of a sender that has gone")
                    ),
                    [format!("{m}{round}")],
                    "{what}"
                );
            }
        }
    });
}

#[test]
fn push_load_balances_round_robin_over_its_pulls() {
    over_each_transport(|t| {
        let ctx = Context::new();
        let push = socket(&ctx, SocketType::Push);
        let pulls: Vec<Socket> = (0..3).map(|_| socket(&ctx, SocketType::Pull)).collect();
        for pull in &pulls {
            t.link(pull, &[&push]);
        }
        for i in 0..30 {
            send(&push, &[&i.to_string()], &format!("{t:?}"));
        }
        let mut all = Vec::new();
        for (k, pull) in pulls.iter().enumerate() {
            let got: Vec<usize> = (0..10)
                .map(|_| {
                    recv(pull, &format!("{t:?}: PULL {k} of 3 should get 10 of 30"))[0]
                        .parse()
                        .unwrap()
                })
                .collect();
            expect_nothing(pull, &format!("{t:?}: PULL {k} got more than its share"));
            for pair in got.windows(2) {
                assert_eq!(
                    pair[1],
                    pair[0] + 3,
                    "{t:?}: PULL {k} got {got:?}: not every third message in turn"
                );
            }
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (0..30).collect::<Vec<_>>(),
            "{t:?}: lost or duplicated"
        );
    });
}

#[test]
fn pull_fair_queues_from_its_pushes() {
    over_each_transport(|t| {
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let pushes: Vec<Socket> = (0..3).map(|_| socket(&ctx, SocketType::Push)).collect();
        let refs: Vec<&Socket> = pushes.iter().collect();
        t.link(&pull, &refs);
        // The first PUSH floods; the two others send a little.
        let counts = [200, 10, 10];
        for (k, push) in pushes.iter().enumerate() {
            for i in 0..counts[k] {
                send(push, &[&format!("{k}-{i}")], &format!("{t:?}"));
            }
        }
        // Let everything reach the PULL's queues before reading.
        std::thread::sleep(Duration::from_millis(500));
        let mut order = Vec::new();
        let mut next = [0usize; 3];
        let total: usize = counts.iter().sum();
        for n in 0..total {
            let got = recv(&pull, &format!("{t:?}: message {n} of {total}"));
            let (k, i) = got[0].split_once('-').expect("k-i");
            let (k, i): (usize, usize) = (k.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[k], "{t:?}: PUSH {k}'s messages out of order");
            next[k] += 1;
            order.push(k);
        }
        let first: Vec<usize> = order[..30].to_vec();
        for k in 0..3 {
            let share = first.iter().filter(|&&x| x == k).count();
            assert_eq!(
                share, 10,
                "{t:?}: of the first 30 messages PUSH {k} got {share}, expected 10 each \
                 (sources in order: {first:?})"
            );
        }
        for window in order[..30].chunks(3) {
            let mut w = window.to_vec();
            w.sort_unstable();
            assert_eq!(w, [0, 1, 2], "{t:?}: not interleaved: {first:?}");
        }
        expect_nothing(&pull, &format!("{t:?}"));
    });
}

// ---- PAIR (RFC 31) -------------------------------------------------------------------------

/// What an inproc peer sent before it closed is still received, even when a send to the
/// gone peer is tried first (which must not throw the pipe and its messages away).
#[test]
fn an_inproc_peer_that_sends_and_closes_is_heard_after_a_failed_send() {
    let ctx = Context::new();
    let a = socket(&ctx, SocketType::Pair);
    a.bind("inproc://said-and-closed").unwrap();
    let b = socket(&ctx, SocketType::Pair);
    b.connect("inproc://said-and-closed").unwrap();
    send(&b, &["bye"], "b");
    drop(b);
    let e = a.try_send("to nobody").expect_err("the peer is gone");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    assert_eq!(recv(&a, "what b said before it closed"), ["bye"]);
}

#[test]
fn pair_talks_both_ways_and_refuses_a_second_peer() {
    over_each_transport(|t| {
        let ctx = Context::new();
        let a = socket(&ctx, SocketType::Pair);
        let b = socket(&ctx, SocketType::Pair);
        let endpoint = t.link(&a, &[&b]);
        for i in 0..5 {
            send(&a, &[&format!("a{i}"), "more"], &format!("{t:?}"));
            send(&b, &[&format!("b{i}")], &format!("{t:?}"));
        }
        for i in 0..5 {
            assert_eq!(
                recv(&b, &format!("{t:?}: b")),
                strings(&[&format!("a{i}"), "more"])
            );
            assert_eq!(recv(&a, &format!("{t:?}: a")), [format!("b{i}")]);
        }

        let c = socket(&ctx, SocketType::Pair);
        c.connect(&endpoint).unwrap();
        // Give the intruder time to be refused, then see that nothing of it gets through.
        std::thread::sleep(Duration::from_millis(200));
        let _ = c.try_send("from-c");
        for i in 0..10 {
            send(&a, &[&format!("to-b-{i}")], &format!("{t:?}"));
        }
        send(&b, &["from-b"], &format!("{t:?}"));
        for i in 0..10 {
            assert_eq!(
                recv(
                    &b,
                    &format!("{t:?}: the first peer must keep getting everything")
                ),
                [format!("to-b-{i}")]
            );
        }
        assert_eq!(
            recv(&a, &format!("{t:?}: a")),
            ["from-b"],
            "{t:?}: a second PAIR peer's message got through"
        );
        expect_nothing(&c, &format!("{t:?}: the second PAIR peer"));
        expect_nothing(&a, &format!("{t:?}: the second PAIR peer's message"));
    });
}

// ---- PUB, SUB, XPUB, XSUB (RFC 29) -----------------------------------------------------------

#[test]
fn sub_receives_only_what_matches_its_prefix() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let sub = socket(&ctx, SocketType::Sub);
        t.link(&publisher, &[&sub]);
        sub.subscribe("a").unwrap();
        await_subscription(&publisher, &sub, "a-probe", &what);
        for frames in [
            &["a1"][..],
            &["b1"],
            &["ab2"],
            &["ba"],
            &[""],
            &["A3"],
            &["a4", "part"],
            &["b5", "a"],
            &["a-end"],
        ] {
            send(&publisher, frames, &what);
        }
        let got = collect_until(&sub, "a-end", &["a-probe"], &what);
        assert_eq!(
            got,
            vec![
                strings(&["a1"]),
                strings(&["ab2"]),
                strings(&["a4", "part"])
            ],
            "{what}"
        );
    });
}

#[test]
fn empty_subscription_receives_everything() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let sub = socket(&ctx, SocketType::Sub);
        t.link(&publisher, &[&sub]);
        sub.subscribe("").unwrap();
        await_subscription(&publisher, &sub, "probe", &what);
        let sent = [
            &["x"][..],
            &[""],
            &["yz", "2"],
            &["\u{1}binary"],
            &["", "", ""],
        ];
        for frames in sent {
            send(&publisher, frames, &what);
        }
        send(&publisher, &["end"], &what);
        let got = collect_until(&sub, "end", &["probe"], &what);
        let expected: Vec<Vec<String>> = sent.iter().map(|f| strings(f)).collect();
        assert_eq!(got, expected, "{what}");
    });
}

#[test]
fn unsubscribe_stops_messages_and_counts_subscriptions() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let sub = socket(&ctx, SocketType::Sub);
        t.link(&publisher, &[&sub]);
        sub.subscribe("a").unwrap();
        sub.subscribe("b").unwrap();
        sub.subscribe("b").unwrap();
        sub.subscribe("z").unwrap();
        await_subscription(&publisher, &sub, "z-probe", &what);
        for m in ["a1", "b1", "c1", "z1"] {
            send(&publisher, &[m], &what);
        }
        assert_eq!(
            collect_until(&sub, "z1", &["z-probe"], &what),
            vec![strings(&["a1"]), strings(&["b1"])],
            "{what}: before unsubscribing"
        );

        sub.unsubscribe("a").unwrap();
        sub.unsubscribe("b").unwrap();
        for m in ["a2", "b2", "z2"] {
            send(&publisher, &[m], &what);
        }
        assert_eq!(
            collect_until(&sub, "z2", &["z-probe"], &what),
            vec![strings(&["b2"])],
            "{what}: after one unsubscribe of \"a\" (subscribed once) and of \"b\" (subscribed twice)"
        );

        sub.unsubscribe("b").unwrap();
        for m in ["a3", "b3", "z3"] {
            send(&publisher, &[m], &what);
        }
        assert_eq!(
            collect_until(&sub, "z3", &["z-probe"], &what),
            Vec::<Vec<String>>::new(),
            "{what}: after the second unsubscribe of \"b\""
        );
    });
}

#[test]
fn pub_without_subscribers_drops_without_blocking() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let lonely = socket(&ctx, SocketType::Pub);
        lonely.bind("tcp://127.0.0.1:*").unwrap();
        let sub = socket(&ctx, SocketType::Sub);
        t.link(&publisher, &[&sub]);
        let started = Instant::now();
        for i in 0..10_000 {
            send(&lonely, &[&format!("m{i}")], &what);
            send(&publisher, &[&format!("m{i}")], &what);
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(3),
            "{what}: 20000 sends to no subscriber took {elapsed:?}"
        );
        expect_nothing(&sub, &format!("{what}: a SUB that subscribed to nothing"));
    });
}

#[test]
fn pub_sends_each_sub_what_it_subscribed_to() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let sub_a = socket(&ctx, SocketType::Sub);
        let sub_b = socket(&ctx, SocketType::Sub);
        t.link(&publisher, &[&sub_a, &sub_b]);
        sub_a.subscribe("a").unwrap();
        sub_b.subscribe("b").unwrap();
        sub_b.subscribe("end").unwrap();
        sub_a.subscribe("end").unwrap();
        await_subscription(&publisher, &sub_a, "a-probe", &what);
        await_subscription(&publisher, &sub_b, "b-probe", &what);
        for m in ["a1", "b1", "c1", "ab", "ba", "a2", "end"] {
            send(&publisher, &[m], &what);
        }
        assert_eq!(
            collect_until(&sub_a, "end", &["a-probe"], &what),
            vec![strings(&["a1"]), strings(&["ab"]), strings(&["a2"])],
            "{what}: SUB a"
        );
        assert_eq!(
            collect_until(&sub_b, "end", &["b-probe"], &what),
            vec![strings(&["b1"]), strings(&["ba"])],
            "{what}: SUB b"
        );
    });
}

#[test]
fn xpub_sees_subscriptions_and_cancels_from_sub_and_xsub() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let xpub = socket(&ctx, SocketType::XPub);
        let sub = socket(&ctx, SocketType::Sub);
        let xsub = socket(&ctx, SocketType::XSub);
        t.link(&xpub, &[&sub, &xsub]);

        sub.subscribe("weather").unwrap();
        assert_eq!(
            recv(&xpub, &format!("{what}: SUB's subscription")),
            ["\u{1}weather"]
        );
        xsub.send(&b"\x01news"[..]).unwrap();
        assert_eq!(
            recv(&xpub, &format!("{what}: XSUB's subscription")),
            ["\u{1}news"]
        );

        // The publisher now knows both subscriptions: each peer gets only its own.
        for m in ["weather-1", "sports-1", "news-1", "weather-2"] {
            send(&xpub, &[m], &what);
        }
        assert_eq!(recv(&sub, &what), ["weather-1"]);
        assert_eq!(recv(&sub, &what), ["weather-2"]);
        assert_eq!(recv(&xsub, &what), ["news-1"]);

        sub.unsubscribe("weather").unwrap();
        assert_eq!(
            recv(&xpub, &format!("{what}: SUB's cancel")),
            ["\u{0}weather"]
        );
        xsub.send(&b"\x00news"[..]).unwrap();
        assert_eq!(
            recv(&xpub, &format!("{what}: XSUB's cancel")),
            ["\u{0}news"]
        );
        expect_nothing(&xpub, &format!("{what}: XPUB after the cancels"));
    });
}

#[test]
fn xsub_subscribes_upstream_and_receives_filtered_data() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        let xsub = socket(&ctx, SocketType::XSub);
        t.link(&publisher, &[&xsub]);
        xsub.send(&b"\x01a"[..]).unwrap();
        xsub.send(&b"\x01z"[..]).unwrap();
        await_subscription(&publisher, &xsub, "z-probe", &what);
        for m in ["a1", "b1", "ab", "ba", "z-end"] {
            send(&publisher, &[m], &what);
        }
        // XSUB does not filter: whatever arrives was filtered by the publisher.
        assert_eq!(
            collect_until(&xsub, "z-end", &["z-probe"], &what),
            vec![strings(&["a1"]), strings(&["ab"])],
            "{what}"
        );

        xsub.send(&b"\x00a"[..]).unwrap();
        xsub.send(&b"\x01y"[..]).unwrap();
        await_subscription(&publisher, &xsub, "y-probe", &what);
        for m in ["a2", "b2", "z-end"] {
            send(&publisher, &[m], &what);
        }
        assert_eq!(
            collect_until(&xsub, "z-end", &["z-probe", "y-probe"], &what),
            Vec::<Vec<String>>::new(),
            "{what}: after cancelling \"a\""
        );
    });
}

#[test]
fn pub_sub_multipart_arrives_whole_or_not_at_all() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let publisher = socket(&ctx, SocketType::Pub);
        publisher.set_sndhwm(10).unwrap();
        let sub = socket(&ctx, SocketType::Sub);
        sub.set_rcvhwm(10).unwrap();
        t.link(&publisher, &[&sub]);
        sub.subscribe("").unwrap();
        await_subscription(&publisher, &sub, "probe", &what);
        let body = "b".repeat(1000);
        for i in 0..3000 {
            let n = i.to_string();
            send(&publisher, &["k", &n, &body, &format!("tail-{n}")], &what);
        }
        sub.set_rcvtimeo(Some(QUIET)).unwrap();
        let mut received = Vec::new();
        loop {
            match sub.recv() {
                Ok(msg) => {
                    let msg = text(&msg);
                    if msg == ["probe"] {
                        continue;
                    }
                    assert_eq!(
                        msg.len(),
                        4,
                        "{what}: a message lost frames: {:?}",
                        &msg[..2]
                    );
                    assert_eq!(msg[0], "k", "{what}");
                    assert_eq!(msg[2], body, "{what}");
                    assert_eq!(
                        msg[3],
                        format!("tail-{}", msg[1]),
                        "{what}: frames mixed up"
                    );
                    received.push(msg[1].parse::<usize>().unwrap());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{what}: {e}"),
            }
        }
        assert!(!received.is_empty(), "{what}: nothing arrived");
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "{what}: messages out of order or repeated"
        );
        sub.set_rcvtimeo(Some(WAIT)).unwrap();
        send(&publisher, &["last", "one"], &what);
        assert_eq!(
            recv(&sub, &format!("{what}: after draining")),
            ["last", "one"]
        );
    });
}

// ---- connecting, reconnecting, unbinding, disconnecting -------------------------------------

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

#[test]
fn connect_before_bind_over_tcp() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let push = socket(&ctx, SocketType::Push);
    push.connect(&endpoint).unwrap();
    send(&push, &["early-1"], "before bind");
    send(&push, &["early-2", "two"], "before bind");
    let sub = socket(&ctx, SocketType::Sub);
    let pub_endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    sub.connect(&pub_endpoint).unwrap();
    sub.subscribe("news").unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let pull = socket(&ctx, SocketType::Pull);
    pull.bind(&endpoint).unwrap();
    assert_eq!(recv(&pull, "queued before bind"), ["early-1"]);
    assert_eq!(recv(&pull, "queued before bind"), ["early-2", "two"]);
    send(&push, &["later"], "after bind");
    assert_eq!(recv(&pull, "after bind"), ["later"]);

    let publisher = socket(&ctx, SocketType::Pub);
    publisher.bind(&pub_endpoint).unwrap();
    await_subscription(
        &publisher,
        &sub,
        "news-probe",
        "SUB connected before PUB bound",
    );
}

/// Binds `endpoint` with a fresh socket of `socket_type`.
fn bind_new(ctx: &Context, socket_type: SocketType, endpoint: &str) -> Socket {
    let s = socket(ctx, socket_type);
    s.bind(endpoint)
        .unwrap_or_else(|e| panic!("bind {endpoint}: {e}"));
    s
}

/// Sends `probe` until `receiver` gets a message, which must be a probe or one of `earlier`.
fn await_flow(sender: &Socket, receiver: &Socket, probe: &str, earlier: &[&str], what: &str) {
    let deadline = Instant::now() + WAIT;
    receiver
        .set_rcvtimeo(Some(Duration::from_millis(50)))
        .unwrap();
    loop {
        send(sender, &[probe], what);
        match receiver.recv() {
            Ok(msg) => {
                let msg = text(&msg);
                assert!(
                    msg.len() == 1 && (msg[0] == probe || earlier.contains(&msg[0].as_str())),
                    "{what}: received {msg:?}"
                );
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => assert!(
                Instant::now() < deadline,
                "{what}: traffic did not resume within {WAIT:?}"
            ),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    receiver.set_rcvtimeo(Some(WAIT)).unwrap();
}

#[test]
fn connecting_side_reconnects_when_the_binder_is_replaced() {
    for t in [Transport::Tcp, Transport::IpcPath, Transport::IpcAbstract] {
        let ctx = Context::new();

        let push = socket(&ctx, SocketType::Push);
        push.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
        let mut pull = socket(&ctx, SocketType::Pull);
        let endpoint = t.link(&pull, &[&push]);
        send(&push, &["one"], &format!("{t:?}"));
        assert_eq!(recv(&pull, &format!("{t:?}")), ["one"]);
        for round in 1..=5 {
            let what = format!("{t:?}, PULL replacement {round}");
            drop(pull);
            // The application keeps sending while the peer is away; this one may be lost.
            send(&push, &["while-away"], &what);
            pull = bind_new(&ctx, SocketType::Pull, &endpoint);
            await_flow(&push, &pull, "probe", &["while-away"], &what);
            send(&push, &["after-1"], &what);
            send(&push, &["after-2", "x"], &what);
            assert_eq!(
                collect_until(&pull, "after-2", &["probe", "while-away"], &what),
                vec![strings(&["after-1"])],
                "{what}"
            );
        }

        let sub = socket(&ctx, SocketType::Sub);
        sub.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
        let mut publisher = socket(&ctx, SocketType::Pub);
        let endpoint = t.link(&publisher, &[&sub]);
        sub.subscribe("t").unwrap();
        await_subscription(&publisher, &sub, "t-probe", &format!("{t:?}"));
        for round in 1..=3 {
            let what = format!("{t:?}, PUB replacement {round}");
            drop(publisher);
            publisher = bind_new(&ctx, SocketType::Pub, &endpoint);
            // The new publisher learns the subscription only if the SUB sends it again.
            await_subscription(&publisher, &sub, "t-probe", &what);
            send(&publisher, &["u-1"], &what);
            send(&publisher, &["t-1"], &what);
            assert_eq!(
                collect_until(&sub, "t-1", &["t-probe"], &what),
                Vec::<Vec<String>>::new(),
                "{what}"
            );
        }
    }
}

#[test]
fn unbind_stops_traffic() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let push = socket(&ctx, SocketType::Push);
        let endpoint = t.link(&pull, &[&push]);
        send(&push, &["before"], &what);
        assert_eq!(recv(&pull, &what), ["before"]);
        pull.unbind(&endpoint)
            .unwrap_or_else(|e| panic!("{what}: unbind {endpoint}: {e}"));
        match push.try_send("after") {
            Ok(()) => {}
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{what}: {e}"),
        }
        expect_nothing(&pull, &format!("{what}: PULL after unbinding {endpoint}"));
        let late = socket(&ctx, SocketType::Push);
        late.connect(&endpoint).unwrap();
        let _ = late.try_send("late");
        expect_nothing(
            &pull,
            &format!("{what}: a PUSH that connected after unbinding {endpoint}"),
        );
        assert!(
            pull.unbind(&endpoint).is_err(),
            "{what}: unbinding twice must fail"
        );
    });
}

#[test]
fn disconnect_stops_traffic() {
    over_each_transport(|t| {
        let what = format!("{t:?}");
        let ctx = Context::new();
        let pull = socket(&ctx, SocketType::Pull);
        let push = socket(&ctx, SocketType::Push);
        let endpoint = t.link(&pull, &[&push]);
        send(&push, &["before"], &what);
        assert_eq!(recv(&pull, &what), ["before"]);
        push.disconnect(&endpoint)
            .unwrap_or_else(|e| panic!("{what}: disconnect {endpoint}: {e}"));
        let e = push
            .try_send("after")
            .expect_err("a PUSH with no peer left cannot send");
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{what}: {e}");
        expect_nothing(&pull, &format!("{what}: PULL after the PUSH disconnected"));
        assert!(
            push.disconnect(&endpoint).is_err(),
            "{what}: disconnecting twice must fail"
        );
    });
}

// ---- errors and options --------------------------------------------------------------------

#[test]
fn operations_a_socket_type_lacks_are_not_supported() {
    let ctx = Context::new();
    for ty in [SocketType::Pull, SocketType::Sub] {
        let s = socket(&ctx, ty);
        s.bind(&format!("inproc://{}", unique("nosend"))).unwrap();
        for e in [s.send("x").unwrap_err(), s.try_send("x").unwrap_err()] {
            assert_eq!(e.kind(), ErrorKind::NotSupported, "send on {ty:?}: {e}");
        }
    }
    for ty in [SocketType::Push, SocketType::Pub] {
        let s = socket(&ctx, ty);
        s.bind(&format!("inproc://{}", unique("norecv"))).unwrap();
        for e in [s.recv().unwrap_err(), s.try_recv().unwrap_err()] {
            assert_eq!(e.kind(), ErrorKind::NotSupported, "recv on {ty:?}: {e}");
        }
    }
}

#[test]
fn try_recv_on_an_empty_socket_would_block() {
    let ctx = Context::new();
    for ty in [
        SocketType::Pull,
        SocketType::Pair,
        SocketType::Sub,
        SocketType::XSub,
        SocketType::XPub,
    ] {
        let s = socket(&ctx, ty);
        let e = s.try_recv().expect_err("nothing to receive");
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{ty:?}: {e}");
        s.bind("tcp://127.0.0.1:*").unwrap();
        let e = s.try_recv().expect_err("nothing to receive");
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{ty:?}: {e}");
    }
}

#[test]
fn recv_gives_up_after_rcvtimeo() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("tcp://127.0.0.1:*").unwrap();
    pull.set_rcvtimeo(Some(Duration::from_millis(250))).unwrap();
    let started = Instant::now();
    let e = pull.recv().expect_err("nothing to receive");
    let elapsed = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    assert!(
        e.to_string().contains("rcvtimeo"),
        "the message should name rcvtimeo: {e}"
    );
    assert!(
        elapsed >= Duration::from_millis(240) && elapsed < Duration::from_secs(2),
        "rcvtimeo of 250 ms, recv returned after {elapsed:?}"
    );
}

#[test]
fn malformed_endpoints_are_refused_by_name() {
    let ctx = Context::new();
    let s = socket(&ctx, SocketType::Pull);
    for endpoint in [
        "tcp://127.0.0.1",
        "127.0.0.1:5555",
        "tcp://127.0.0.1:notaport",
        "tcp://127.0.0.1:70000",
        "tcp://:5555",
        "udp://127.0.0.1:5555",
        "ipc://",
        "inproc://",
        "",
    ] {
        for (op, result) in [("bind", s.bind(endpoint)), ("connect", s.connect(endpoint))] {
            let e = result.expect_err(endpoint);
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidEndpoint,
                "{op} {endpoint:?}: {e}"
            );
            assert!(
                e.to_string().contains(&format!("{endpoint:?}")),
                "{op} {endpoint:?}: the message should quote the endpoint: {e}"
            );
        }
    }
    for endpoint in ["tcp://*:5555", "ipc://*"] {
        let e = s.connect(endpoint).expect_err(endpoint);
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidEndpoint,
            "connect {endpoint}: {e}"
        );
        assert!(e.to_string().contains(endpoint), "{e}");
    }
}

#[test]
fn binding_a_taken_tcp_port_is_address_in_use() {
    let ctx = Context::new();
    let first = socket(&ctx, SocketType::Pull);
    first.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = first.last_endpoint();
    let second = socket(&ctx, SocketType::Pull);
    let e = second.bind(&endpoint).expect_err("the port is taken");
    assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
    let e = second.bind(&endpoint).expect_err("the port is taken");
    assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");

    let push = socket(&ctx, SocketType::Push);
    push.connect(&first.last_endpoint()).unwrap();
    send(&push, &["still"], "first binder");
    assert_eq!(recv(&first, "the first binder keeps its port"), ["still"]);
}

#[test]
fn binding_an_ipc_path_refuses_a_live_socket_and_replaces_a_stale_one() {
    let ctx = Context::new();
    let path = format!("/tmp/{}.sock", unique("live"));
    let endpoint = format!("ipc://{path}");
    let first = bind_new(&ctx, SocketType::Pull, &endpoint);
    let second = socket(&ctx, SocketType::Pull);
    let e = second
        .bind(&endpoint)
        .expect_err("a live socket listens there");
    assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");
    let push = socket(&ctx, SocketType::Push);
    push.connect(&endpoint).unwrap();
    send(&push, &["to-first"], "live");
    assert_eq!(recv(&first, "the live binder keeps its path"), ["to-first"]);
    drop(push);
    drop(first);

    let stale = format!("/tmp/{}.sock", unique("stale"));
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(
        std::path::Path::new(&stale).exists(),
        "the stale socket file is left behind"
    );
    let endpoint = format!("ipc://{stale}");
    let pull = bind_new(&ctx, SocketType::Pull, &endpoint);
    let push = socket(&ctx, SocketType::Push);
    push.connect(&endpoint).unwrap();
    send(&push, &["over-stale"], "stale");
    assert_eq!(recv(&pull, "bound over a stale file"), ["over-stale"]);
    drop(pull);
    let _ = std::fs::remove_file(&stale);
}

#[test]
fn sndhwm_stops_a_push_whose_pull_never_reads() {
    let ctx = Context::new();
    let endpoint = format!("inproc://{}", unique("hwm"));
    let pull = socket(&ctx, SocketType::Pull);
    pull.set_rcvhwm(10).unwrap();
    pull.bind(&endpoint).unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.set_sndhwm(10).unwrap();
    push.connect(&endpoint).unwrap();
    let mut accepted = 0usize;
    let refusal = loop {
        match push.try_send(format!("m{accepted}")) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 10_000, "sndhwm 10 never refused a message");
    };
    assert_eq!(refusal.kind(), ErrorKind::WouldBlock, "{refusal}");
    assert!(
        (10..=20).contains(&accepted),
        "sndhwm 10 and rcvhwm 10 took {accepted} messages before refusing"
    );

    push.set_sndtimeo(Some(Duration::from_millis(250))).unwrap();
    let started = Instant::now();
    let e = push.send("over").expect_err("the pipe is full");
    let elapsed = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    assert!(e.to_string().contains("sndtimeo"), "{e}");
    assert!(
        elapsed >= Duration::from_millis(240) && elapsed < Duration::from_secs(2),
        "sndtimeo of 250 ms, send returned after {elapsed:?}"
    );

    // Once the reader has taken everything and waits for more, the writer may go on.
    let reader = std::thread::spawn(move || {
        let got: Vec<Vec<String>> = (0..=accepted)
            .map(|_| recv(&pull, "the queued messages, then one more"))
            .collect();
        let late = pull.try_recv().err().map(|e| e.kind());
        (got, late)
    });
    push.set_sndtimeo(Some(WAIT)).unwrap();
    send(
        &push,
        &["after-drain"],
        "once the reader has drained the pipe",
    );
    let (got, late) = reader.join().expect("the reader thread");
    let mut expected: Vec<Vec<String>> = (0..accepted).map(|i| vec![format!("m{i}")]).collect();
    expected.push(strings(&["after-drain"]));
    assert_eq!(got, expected, "the refused messages must not arrive");
    assert_eq!(late, Some(ErrorKind::WouldBlock), "nothing after");
}

fn assert_send<T: Send>() {}

/// Compiles only when `T` is not `Sync`: for a `Sync` type both impls apply and the type
/// parameter of `check` cannot be inferred.
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}

#[test]
fn socket_is_send_but_not_sync() {
    assert_send::<Socket>();
    <Socket as AmbiguousIfSync<_>>::check();

    let ctx = Context::new();
    let endpoint = format!("inproc://{}", unique("send"));
    let pull = bind_new(&ctx, SocketType::Pull, &endpoint);
    let push = socket(&ctx, SocketType::Push);
    push.connect(&endpoint).unwrap();
    let sender = std::thread::spawn(move || push.send("from another thread"));
    sender.join().unwrap().unwrap();
    assert_eq!(recv(&pull, "a socket moved"), ["from another thread"]);
}
