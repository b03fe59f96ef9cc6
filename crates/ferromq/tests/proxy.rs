//! The built-in proxies (`proxy`, `proxy_steerable`): a forwarder between pyzmq publishers and
//! subscribers, a queue between REQ clients and REP workers, a streamer, the capture socket,
//! backpressure from a slow consumer, and steering (PAUSE, RESUME, STATISTICS, TERMINATE).
//!
//! The forwarder test needs a Python with pyzmq: `$FERROMQ_PYTHON`, or the workspace's `.venv`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::Peer;
use ferromq::{proxy, proxy_steerable, Context, ErrorKind, Message, Socket, SocketType};

/// Generous, for a loaded two-core machine: only a failing test waits this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

/// A ferromq socket whose every blocking call gives up after [`TIMEOUT`], and which drops what
/// it still holds when closed.
fn socket(ctx: &Context, socket_type: SocketType) -> Socket {
    let socket = ctx.socket(socket_type).expect("socket");
    socket.set_rcvtimeo(Some(TIMEOUT)).expect("rcvtimeo");
    socket.set_sndtimeo(Some(TIMEOUT)).expect("sndtimeo");
    socket.set_linger(Some(Duration::ZERO)).expect("linger");
    socket
}

/// A socket bound to a fresh loopback port; returns it with the endpoint.
fn bound_tcp(ctx: &Context, socket_type: SocketType) -> (Socket, String) {
    let s = socket(ctx, socket_type);
    s.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = s.last_endpoint();
    (s, endpoint)
}

/// A proxy running on its own thread. Its result comes back over a channel so that waiting for
/// it is bounded; dropping this shuts the context down, which stops a proxy still running.
struct Running {
    ctx: Context,
    done: Receiver<ferromq::Result<()>>,
    _thread: JoinHandle<()>,
}

impl Running {
    fn spawn(ctx: &Context, run: impl FnOnce() -> ferromq::Result<()> + Send + 'static) -> Running {
        let (tx, done) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = tx.send(run());
        });
        Running {
            ctx: ctx.clone(),
            done,
            _thread: thread,
        }
    }

    /// The proxy's result, which must come within `limit`.
    fn result_within(&self, limit: Duration) -> ferromq::Result<()> {
        match self.done.recv_timeout(limit) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => panic!("the proxy did not return within {limit:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the proxy thread panicked"),
        }
    }

    /// Still running (it has not returned, with or without an error).
    fn assert_running(&self) {
        match self.done.try_recv() {
            Err(mpsc::TryRecvError::Empty) => {}
            Ok(result) => panic!("the proxy returned early: {result:?}"),
            Err(mpsc::TryRecvError::Disconnected) => panic!("the proxy thread panicked"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.ctx.shutdown();
    }
}

fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

/// The frames of a message as strings, for readable comparisons.
fn texts(msg: &Message) -> Vec<String> {
    msg.frames().iter().map(|f| text(f)).collect()
}

/// Sends a command on a REQ control socket and returns the reply.
fn command(steer: &Socket, word: &str) -> Message {
    steer
        .send(word)
        .unwrap_or_else(|e| panic!("send {word}: {e}"));
    steer
        .recv()
        .unwrap_or_else(|e| panic!("reply to {word}: {e}"))
}

/// Asks for the statistics and checks the reply's shape: 8 frames of a native-endian u64.
fn statistics(steer: &Socket) -> [u64; 8] {
    let reply = command(steer, "STATISTICS");
    assert_eq!(reply.len(), 8, "STATISTICS answers 8 frames: {reply:?}");
    let mut values = [0u64; 8];
    for (value, frame) in values.iter_mut().zip(reply.frames()) {
        let bytes: [u8; 8] = frame
            .as_ref()
            .try_into()
            .unwrap_or_else(|_| panic!("a statistics frame is 8 bytes: {frame:?}"));
        *value = u64::from_ne_bytes(bytes);
    }
    values
}

/// The statistics as libzmq names them, for failure messages and comparisons.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Stats {
    front_msgs_in: u64,
    front_bytes_in: u64,
    front_msgs_out: u64,
    front_bytes_out: u64,
    back_msgs_in: u64,
    back_bytes_in: u64,
    back_msgs_out: u64,
    back_bytes_out: u64,
}

impl Stats {
    fn of(steer: &Socket) -> Stats {
        let v = statistics(steer);
        Stats {
            front_msgs_in: v[0],
            front_bytes_in: v[1],
            front_msgs_out: v[2],
            front_bytes_out: v[3],
            back_msgs_in: v[4],
            back_bytes_in: v[5],
            back_msgs_out: v[6],
            back_bytes_out: v[7],
        }
    }
}

/// A REQ socket connected to a REP control socket bound at `endpoint`.
fn steering(ctx: &Context, endpoint: &str) -> Socket {
    let steer = socket(ctx, SocketType::Req);
    steer.connect(endpoint).expect("connect control");
    steer
}

/// Receives exactly `n` messages, then checks that no more come within [`QUIET`].
fn recv_exactly(socket: &Socket, n: usize, what: &str) -> Vec<Message> {
    let got: Vec<Message> = (0..n)
        .map(|i| {
            socket
                .recv()
                .unwrap_or_else(|e| panic!("{what}: message {i} of {n}: {e}"))
        })
        .collect();
    assert_nothing_arrives(socket, what);
    got
}

fn assert_nothing_arrives(socket: &Socket, what: &str) {
    socket.set_rcvtimeo(Some(QUIET)).expect("rcvtimeo");
    match socket.recv() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("{what}: nothing more should arrive, got {other:?}"),
    }
    socket.set_rcvtimeo(Some(TIMEOUT)).expect("rcvtimeo");
}

// ---- forwarder: XSUB/XPUB between pyzmq publishers and subscribers ---------------------------

/// Receives from a pyzmq SUB until its RCVTIMEO runs out; returns (topic, body) pairs.
fn drain(peer: &mut Peer) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Some(frames) = peer.recv() {
        assert_eq!(
            frames.len(),
            2,
            "{}: a topic and a body: {frames:?}",
            peer.name()
        );
        got.push((text(&frames[0]), text(&frames[1])));
    }
    got
}

#[test]
fn forwarder_passes_subscriptions_upstream_and_filters_end_to_end() {
    let ctx = Context::new();
    let (xsub, xsub_ep) = bound_tcp(&ctx, SocketType::XSub);
    let (xpub, xpub_ep) = bound_tcp(&ctx, SocketType::XPub);
    let control = socket(&ctx, SocketType::Rep);
    control.bind("inproc://forwarder-control").unwrap();
    let running = Running::spawn(&ctx, move || proxy_steerable(&xsub, &xpub, None, &control));
    let steer = steering(&ctx, "inproc://forwarder-control");

    let mut publishers: Vec<(Peer, &str)> = ["A", "B"]
        .into_iter()
        .map(|name| {
            let mut p = Peer::pyzmq_socket(&format!("pyzmq PUB {name}"), "PUB", TIMEOUT);
            p.connect(&xsub_ep);
            (p, name)
        })
        .collect();
    let subscriber = |topic: &str| {
        let mut s = Peer::pyzmq_socket(&format!("pyzmq SUB {topic}"), "SUB", QUIET);
        s.connect(&xpub_ep);
        s.subscribe(topic.as_bytes());
        s
    };
    let mut weather = subscriber("weather.");
    let mut sports = subscriber("sports.");

    // A publisher sends nothing until a subscription has come up through the proxy: wait until
    // each subscriber hears from each publisher.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard: [BTreeSet<String>; 2] = Default::default();
    while heard.iter().any(|h| h.len() < 2) {
        assert!(
            Instant::now() < deadline,
            "subscriptions did not reach both publishers; heard {heard:?}"
        );
        for (p, name) in publishers.iter_mut() {
            p.send(&[format!("weather.{name}").as_str(), "warm-up"]);
            p.send(&[format!("sports.{name}").as_str(), "warm-up"]);
        }
        for (i, sub) in [&mut weather, &mut sports].into_iter().enumerate() {
            for (topic, _) in drain(sub) {
                heard[i].insert(topic);
            }
        }
    }
    let before = Stats::of(&steer);
    // Both subscriptions came in on the XPUB and went out on the XSUB, frame for frame.
    assert!(before.back_msgs_in >= 2, "{before:?}");
    assert_eq!(before.front_msgs_out, before.back_msgs_in, "{before:?}");
    assert_eq!(before.front_bytes_out, before.back_bytes_in, "{before:?}");

    const N: usize = 20;
    for i in 0..N {
        for (p, name) in publishers.iter_mut() {
            for topic in ["weather", "sports", "news"] {
                p.send(&[format!("{topic}.{name}"), i.to_string()]);
            }
        }
    }
    for (sub, topic) in [(&mut weather, "weather"), (&mut sports, "sports")] {
        let got = drain(sub);
        assert_eq!(got.len(), 2 * N, "{}: {got:?}", sub.name());
        for name in ["A", "B"] {
            let from: Vec<String> = got
                .iter()
                .filter(|(t, _)| *t == format!("{topic}.{name}"))
                .map(|(_, body)| body.clone())
                .collect();
            let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
            assert_eq!(from, expected, "{}: from publisher {name}", sub.name());
        }
    }

    // Only the subscribed topics reached the proxy: the publishers filtered "news." out.
    let after = Stats::of(&steer);
    let frames = (2 * 2 * N * 2) as u64; // 2 publishers x 2 topics x N messages x 2 frames
    let body_bytes: u64 = (0..N).map(|i| i.to_string().len() as u64).sum();
    let bytes = 2 * (("weather.A".len() + "sports.A".len()) as u64 * N as u64 + 2 * body_bytes);
    assert_eq!(after.front_msgs_in - before.front_msgs_in, frames);
    assert_eq!(after.front_bytes_in - before.front_bytes_in, bytes);
    assert_eq!(after.back_msgs_out - before.back_msgs_out, frames);
    assert_eq!(after.back_bytes_out - before.back_bytes_out, bytes);
    assert_eq!(after.back_msgs_in, before.back_msgs_in);

    assert_eq!(command(&steer, "TERMINATE").len(), 1);
    running
        .result_within(Duration::from_secs(1))
        .expect("TERMINATE returns Ok");
    for (p, _) in publishers {
        p.quit();
    }
    weather.quit();
    sports.quit();
}

// ---- queue: ROUTER/DEALER between REQ clients and REP workers --------------------------------

#[test]
fn queue_routes_each_reply_to_its_client_and_counts_every_frame() {
    let ctx = Context::new();
    let (router, front_ep) = bound_tcp(&ctx, SocketType::Router);
    let (dealer, back_ep) = bound_tcp(&ctx, SocketType::Dealer);
    let control = socket(&ctx, SocketType::Rep);
    control.bind("inproc://queue-control").unwrap();
    let running = Running::spawn(&ctx, move || {
        proxy_steerable(&router, &dealer, None, &control)
    });
    let steer = steering(&ctx, "inproc://queue-control");

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<JoinHandle<usize>> = (0..2)
        .map(|n| {
            let worker = socket(&ctx, SocketType::Rep);
            worker
                .set_rcvtimeo(Some(Duration::from_millis(50)))
                .unwrap();
            worker.connect(&back_ep).unwrap();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) {
                    match worker.recv() {
                        Ok(request) => {
                            let body = text(&request.frames()[0]);
                            worker.send(format!("worker {n}: {body}")).expect("reply");
                            served += 1;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("worker {n}: {e}"),
                    }
                }
                served
            })
        })
        .collect();

    const ROUNDS: usize = 10;
    let mut py_clients: Vec<Peer> = (0..2)
        .map(|n| {
            let mut p = Peer::pyzmq_socket(&format!("pyzmq REQ {n}"), "REQ", TIMEOUT);
            p.connect(&front_ep);
            p
        })
        .collect();
    let ferro_client = socket(&ctx, SocketType::Req);
    ferro_client.connect(&front_ep).unwrap();
    let reply_body = |reply: &str, request: &str| {
        let (worker, body) = reply
            .split_once(": ")
            .unwrap_or_else(|| panic!("a worker's reply: {reply:?}"));
        assert!(worker.starts_with("worker "), "{reply:?}");
        assert_eq!(body, request, "the reply belongs to the request");
    };
    let mut request_bytes = 0;
    let mut reply_bytes = 0;
    for i in 0..ROUNDS {
        for (n, p) in py_clients.iter_mut().enumerate() {
            let request = format!("py {n} request {i}");
            p.send(&[request.as_str()]);
            let reply = p
                .recv()
                .unwrap_or_else(|| panic!("pyzmq REQ {n}: no reply {i}"));
            assert_eq!(reply.len(), 1, "{reply:?}");
            reply_body(&text(&reply[0]), &request);
            request_bytes += request.len();
            reply_bytes += reply[0].len();
        }
        let request = format!("ferromq request {i}");
        ferro_client.send(request.as_str()).unwrap();
        let reply = ferro_client.recv().expect("ferromq REQ reply");
        assert_eq!(reply.len(), 1, "{reply:?}");
        reply_body(&text(&reply.frames()[0]), &request);
        request_bytes += request.len();
        reply_bytes += reply.frames()[0].len();
    }
    stop.store(true, Ordering::SeqCst);
    let served: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let requests = 3 * ROUNDS;
    assert_eq!(served, requests);

    // Each request is [routing id, empty delimiter, body] on both sides of the proxy, and so
    // is each reply: libzmq counts every frame.
    let stats = Stats::of(&steer);
    let frames = 3 * requests as u64;
    assert_eq!(stats.front_msgs_in, frames, "{stats:?}");
    assert_eq!(stats.back_msgs_out, frames, "{stats:?}");
    assert_eq!(stats.back_msgs_in, frames, "{stats:?}");
    assert_eq!(stats.front_msgs_out, frames, "{stats:?}");
    assert_eq!(stats.front_bytes_in, stats.back_bytes_out, "{stats:?}");
    assert_eq!(stats.back_bytes_in, stats.front_bytes_out, "{stats:?}");
    // The routing ids are the same length both ways, so the bodies tell the difference.
    assert_eq!(
        stats.back_bytes_in - stats.front_bytes_in,
        (reply_bytes - request_bytes) as u64,
        "{stats:?}"
    );
    assert!(stats.front_bytes_in > request_bytes as u64, "{stats:?}");

    command(&steer, "TERMINATE");
    running.result_within(Duration::from_secs(1)).unwrap();
    for p in py_clients {
        p.quit();
    }
}

// ---- streamer: PULL/PUSH ---------------------------------------------------------------------

#[test]
fn streamer_moves_whole_messages_to_every_worker() {
    let ctx = Context::new();
    let (pull, front_ep) = bound_tcp(&ctx, SocketType::Pull);
    let (push, back_ep) = bound_tcp(&ctx, SocketType::Push);
    let running = Running::spawn(&ctx, move || proxy(&pull, &push, None));

    let workers: Vec<Socket> = (0..2)
        .map(|_| {
            let w = socket(&ctx, SocketType::Pull);
            w.connect(&back_ep).unwrap();
            w
        })
        .collect();
    let producer = socket(&ctx, SocketType::Push);
    producer.connect(&front_ep).unwrap();
    // Both workers must be connected before the count below is fair: one message each first.
    let deadline = Instant::now() + TIMEOUT;
    let mut warmed = [false, false];
    while !warmed.iter().all(|w| *w) {
        assert!(Instant::now() < deadline, "a worker never got a message");
        producer.send("warm-up").unwrap();
        for (w, socket) in warmed.iter_mut().zip(&workers) {
            socket
                .set_rcvtimeo(Some(Duration::from_millis(20)))
                .unwrap();
            while socket.recv().is_ok() {
                *w = true;
            }
            socket.set_rcvtimeo(Some(TIMEOUT)).unwrap();
        }
    }

    const N: usize = 200;
    for i in 0..N {
        producer
            .send(Message::from(vec![
                format!("task {i}"),
                String::new(),
                "x".repeat(i),
            ]))
            .unwrap();
    }
    let mut seen = BTreeMap::new();
    let mut per_worker = [0usize; 2];
    let deadline = Instant::now() + TIMEOUT;
    while seen.len() < N {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} arrived",
            seen.len()
        );
        for (n, w) in workers.iter().enumerate() {
            w.set_rcvtimeo(Some(Duration::from_millis(10))).unwrap();
            while let Ok(msg) = w.recv() {
                let frames = texts(&msg);
                if frames == ["warm-up"] {
                    continue;
                }
                assert_eq!(frames.len(), 3, "whole messages: {frames:?}");
                let i: usize = frames[0]["task ".len()..].parse().unwrap();
                assert_eq!(frames[2].len(), i, "the frames stay together");
                assert!(seen.insert(i, n).is_none(), "task {i} came twice");
                per_worker[n] += 1;
            }
        }
    }
    assert!(
        per_worker.iter().all(|&n| n >= N / 4),
        "the PUSH backend spreads the work: {per_worker:?}"
    );
    running.assert_running();
    ctx.shutdown();
    let ended = running.result_within(Duration::from_secs(1));
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::Terminated);
}

// ---- capture ---------------------------------------------------------------------------------

#[test]
fn capture_sees_every_message_both_ways() {
    let ctx = Context::new();
    let router = socket(&ctx, SocketType::Router);
    router.bind("inproc://captured-front").unwrap();
    let dealer = socket(&ctx, SocketType::Dealer);
    dealer.bind("inproc://captured-back").unwrap();
    let capture = socket(&ctx, SocketType::Push);
    capture.bind("inproc://capture").unwrap();
    let listener = socket(&ctx, SocketType::Pull);
    listener.connect("inproc://capture").unwrap();
    let running = Running::spawn(&ctx, move || proxy(&router, &dealer, Some(&capture)));

    let client = socket(&ctx, SocketType::Req);
    client.connect("inproc://captured-front").unwrap();
    let worker = socket(&ctx, SocketType::Rep);
    worker.connect("inproc://captured-back").unwrap();
    const ROUNDS: usize = 5;
    for i in 0..ROUNDS {
        client.send(format!("request {i}")).unwrap();
        let request = worker.recv().unwrap();
        assert_eq!(texts(&request), [format!("request {i}")]);
        worker.send(format!("reply {i}")).unwrap();
        assert_eq!(texts(&client.recv().unwrap()), [format!("reply {i}")]);
    }
    let captured = recv_exactly(&listener, 2 * ROUNDS, "capture");
    for i in 0..ROUNDS {
        // The copies carry what the proxy moved: the envelope too.
        for (msg, body) in [
            (&captured[2 * i], format!("request {i}")),
            (&captured[2 * i + 1], format!("reply {i}")),
        ] {
            let frames = texts(msg);
            assert_eq!(frames.len(), 3, "{frames:?}");
            assert_eq!(frames[1], "", "{frames:?}");
            assert_eq!(frames[2], body);
        }
    }
    running.assert_running();
}

#[test]
fn capture_that_cannot_take_a_copy_drops_it_and_traffic_goes_on() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("inproc://uncaptured-front").unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.bind("inproc://uncaptured-back").unwrap();
    // A PUSH with no peer can never take a message.
    let capture = socket(&ctx, SocketType::Push);
    let running = Running::spawn(&ctx, move || proxy(&pull, &push, Some(&capture)));

    let producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://uncaptured-front").unwrap();
    let consumer = socket(&ctx, SocketType::Pull);
    consumer.connect("inproc://uncaptured-back").unwrap();
    for i in 0..100 {
        producer.send(format!("{i}")).unwrap();
    }
    let got = recv_exactly(&consumer, 100, "consumer");
    for (i, msg) in got.iter().enumerate() {
        assert_eq!(texts(msg), [i.to_string()]);
    }
    running.assert_running();
}

// ---- backpressure ----------------------------------------------------------------------------

#[test]
fn a_slow_consumer_stops_the_proxy_reading_and_slows_the_producer() {
    const HWM: usize = 10;
    let ctx = Context::new();
    let with_hwm = |socket_type| {
        let s = socket(&ctx, socket_type);
        s.set_sndhwm(HWM).unwrap();
        s.set_rcvhwm(HWM).unwrap();
        s
    };
    let pull = with_hwm(SocketType::Pull);
    pull.bind("inproc://slow-front").unwrap();
    let push = with_hwm(SocketType::Push);
    push.bind("inproc://slow-back").unwrap();
    let control = socket(&ctx, SocketType::Rep);
    control.bind("inproc://slow-control").unwrap();
    let running = Running::spawn(&ctx, move || proxy_steerable(&pull, &push, None, &control));
    let steer = steering(&ctx, "inproc://slow-control");
    let producer = with_hwm(SocketType::Push);
    producer.connect("inproc://slow-front").unwrap();
    let consumer = with_hwm(SocketType::Pull);
    consumer.connect("inproc://slow-back").unwrap();

    // The consumer reads nothing: the producer fills every queue, then can send no more.
    const PAYLOAD: usize = 1024;
    fn message(i: usize) -> Message {
        Message::from(vec![i.to_string().into_bytes(), vec![7u8; PAYLOAD]])
    }
    let mut accepted = 0;
    let mut last_progress = Instant::now();
    while last_progress.elapsed() < QUIET {
        match producer.try_send(message(accepted)) {
            Ok(()) => {
                accepted += 1;
                last_progress = Instant::now();
                assert!(accepted < 1000, "the producer was never slowed down");
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("producer: {e}"),
        }
    }
    // Two inproc pipes of sndhwm + rcvhwm each, and a message or two taken ahead.
    assert!(
        (2 * HWM..=4 * HWM + 4).contains(&accepted),
        "the producer got {accepted} messages in before it was stopped"
    );
    let stats = Stats::of(&steer);
    // The proxy read only what the backend could take, holding at most the one message (of
    // two frames) the backend refused; the rest waits in the frontend's pipe.
    assert!(
        stats.front_msgs_in - stats.back_msgs_out <= 2,
        "the proxy holds more than one message: {stats:?}"
    );
    let read = (stats.front_msgs_in / 2) as usize;
    assert!(
        read <= 2 * HWM + 2,
        "the proxy read {read} messages, more than the backend could take: {stats:?}"
    );
    // What the proxy did not read waits in the frontend's pipe. How much depends on when the
    // proxy took its batches: an inproc reader gives the writer its credit back when a batch
    // is used up, so the producer can stop with as little as one message unread.
    assert!(
        accepted > read,
        "the proxy kept reading: it read all {accepted}"
    );

    // Once the consumer reads, everything arrives in order, none lost, and the rest flows.
    const TOTAL: usize = 500;
    let sender = std::thread::spawn(move || {
        for i in accepted..TOTAL {
            producer.send(message(i)).expect("producer send");
        }
        producer
    });
    for i in 0..TOTAL {
        let msg = consumer
            .recv()
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(text(&msg.frames()[0]), i.to_string());
        assert_eq!(msg.frames()[1].len(), PAYLOAD);
    }
    let _producer = sender.join().unwrap();
    let stats = Stats::of(&steer);
    assert_eq!(stats.front_msgs_in, 2 * TOTAL as u64, "{stats:?}");
    assert_eq!(stats.back_msgs_out, 2 * TOTAL as u64, "{stats:?}");
    running.assert_running();
}

// ---- steering --------------------------------------------------------------------------------

#[test]
fn steerable_pauses_resumes_counts_and_terminates() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("inproc://steered-front").unwrap();
    let (push, back_ep) = bound_tcp(&ctx, SocketType::Push);
    let control = socket(&ctx, SocketType::Rep);
    control.bind("inproc://steered-control").unwrap();
    let running = Running::spawn(&ctx, move || proxy_steerable(&pull, &push, None, &control));
    let steer = steering(&ctx, "inproc://steered-control");
    let producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://steered-front").unwrap();
    let consumer = socket(&ctx, SocketType::Pull);
    consumer.connect(&back_ep).unwrap();

    let message = |i: usize| Message::from(vec!["task".to_string(), i.to_string()]);
    let bytes = |range: std::ops::Range<usize>| -> u64 {
        range.map(|i| 4 + i.to_string().len() as u64).sum()
    };
    for i in 0..10 {
        producer.send(message(i)).unwrap();
    }
    for i in 0..10 {
        assert_eq!(consumer.recv().unwrap(), message(i));
    }

    let reply = command(&steer, "PAUSE");
    assert_eq!(
        texts(&reply),
        [""],
        "a REP control socket answers with an empty message"
    );
    for i in 10..20 {
        producer.send(message(i)).unwrap();
    }
    assert_nothing_arrives(&consumer, "while paused");
    let paused = Stats::of(&steer);
    assert_eq!(
        paused,
        Stats {
            front_msgs_in: 20,
            front_bytes_in: bytes(0..10),
            front_msgs_out: 0,
            front_bytes_out: 0,
            back_msgs_in: 0,
            back_bytes_in: 0,
            back_msgs_out: 20,
            back_bytes_out: bytes(0..10),
        },
        "per frame, as libzmq counts; nothing moves while paused"
    );

    assert_eq!(texts(&command(&steer, "RESUME")), [""]);
    for i in 10..20 {
        assert_eq!(consumer.recv().unwrap(), message(i), "after RESUME");
    }
    let resumed = Stats::of(&steer);
    assert_eq!(resumed.front_msgs_in, 40, "{resumed:?}");
    assert_eq!(resumed.front_bytes_in, bytes(0..20), "{resumed:?}");
    assert_eq!(resumed.back_msgs_out, 40, "{resumed:?}");
    assert_eq!(resumed.back_bytes_out, bytes(0..20), "{resumed:?}");

    // An unknown command changes nothing, but a REP still answers it.
    assert_eq!(texts(&command(&steer, "HELLO")), [""]);
    producer.send(message(20)).unwrap();
    assert_eq!(consumer.recv().unwrap(), message(20));

    let asked = Instant::now();
    assert_eq!(texts(&command(&steer, "TERMINATE")), [""]);
    running.result_within(Duration::from_secs(1)).unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_pair_control_socket_gets_only_the_statistics() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("inproc://pair-front").unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.bind("inproc://pair-back").unwrap();
    let control = socket(&ctx, SocketType::Pair);
    control.bind("inproc://pair-control").unwrap();
    let running = Running::spawn(&ctx, move || proxy_steerable(&pull, &push, None, &control));
    let steer = socket(&ctx, SocketType::Pair);
    steer.connect("inproc://pair-control").unwrap();
    let producer = socket(&ctx, SocketType::Push);
    producer.connect("inproc://pair-front").unwrap();
    let consumer = socket(&ctx, SocketType::Pull);
    consumer.connect("inproc://pair-back").unwrap();

    steer.send("PAUSE").unwrap();
    producer.send("held").unwrap();
    assert_nothing_arrives(&consumer, "while paused");
    assert_nothing_arrives(&steer, "PAUSE on a PAIR");
    steer.send("STATISTICS").unwrap();
    let stats = steer.recv().expect("STATISTICS answers on a PAIR");
    assert_eq!(stats.len(), 8);
    assert!(stats.frames().iter().all(|f| f.len() == 8));
    assert!(stats.frames().iter().all(|f| f.iter().all(|&b| b == 0)));
    steer.send("RESUME").unwrap();
    assert_eq!(texts(&consumer.recv().unwrap()), ["held"]);
    steer.send("TERMINATE").unwrap();
    running.result_within(Duration::from_secs(1)).unwrap();
    assert_nothing_arrives(&steer, "TERMINATE on a PAIR");
}

// ---- termination -----------------------------------------------------------------------------

#[test]
fn terminating_the_context_ends_the_proxy_with_terminated() {
    let ctx = Context::new();
    let (router, _) = bound_tcp(&ctx, SocketType::Router);
    let (dealer, _) = bound_tcp(&ctx, SocketType::Dealer);
    let running = Running::spawn(&ctx, move || proxy(&router, &dealer, None));
    std::thread::sleep(Duration::from_millis(50));
    running.assert_running();
    let start = Instant::now();
    ctx.terminate();
    let ended = running.result_within(Duration::from_secs(1));
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::Terminated);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_steerable_proxy_also_ends_with_terminated_on_shutdown() {
    let ctx = Context::new();
    let pull = socket(&ctx, SocketType::Pull);
    pull.bind("inproc://shut-front").unwrap();
    let push = socket(&ctx, SocketType::Push);
    push.bind("inproc://shut-back").unwrap();
    let control = socket(&ctx, SocketType::Rep);
    control.bind("inproc://shut-control").unwrap();
    let running = Running::spawn(&ctx, move || proxy_steerable(&pull, &push, None, &control));
    let steer = steering(&ctx, "inproc://shut-control");
    assert_eq!(texts(&command(&steer, "PAUSE")), [""]);
    ctx.shutdown();
    let ended = running.result_within(Duration::from_secs(1));
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::Terminated);
}
