//! Request-reply (RFC 28): REQ, REP, DEALER and ROUTER over tcp, ipc and inproc. Round trips,
//! strict alternation, load-balancing and fair-queuing, routing ids, envelopes through several
//! hops, req_relaxed and req_correlate, router_mandatory, router_handover and probe_router.
//!
//! Every blocking call here has a timeout, so a broken socket fails its test instead of
//! hanging it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod common;

use common::free_tcp_port;
use ferromq::{Context, Error, ErrorKind, Frame, Message, Socket, SocketType};

/// The longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to listen for a message that must not come.
const QUIET: Duration = Duration::from_millis(300);
/// The pause of a polling loop that found nothing to do.
const IDLE: Duration = Duration::from_millis(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// `tcp://127.0.0.1:*`, connected through `last_endpoint`.
    Tcp,
    /// `ipc:///tmp/...`, a unique path.
    Ipc,
    /// `inproc://...`, bound before the peers connect.
    Inproc,
}

const TRANSPORTS: [Transport; 3] = [Transport::Tcp, Transport::Ipc, Transport::Inproc];

/// A name no other test in this process uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ferromq-reqrep-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The context of one scenario over one transport, and the ipc paths it bound.
struct Net {
    transport: Transport,
    ctx: Context,
    paths: RefCell<Vec<PathBuf>>,
}

impl Net {
    fn new(transport: Transport) -> Net {
        Net {
            transport,
            ctx: Context::new(),
            paths: RefCell::new(Vec::new()),
        }
    }

    /// A socket whose every blocking call gives up after `WAIT`, and which drops what it still
    /// holds when it closes.
    fn socket(&self, socket_type: SocketType) -> Socket {
        timed_socket(&self.ctx, socket_type)
    }

    /// Binds `s` to a fresh endpoint of this transport; returns the endpoint to connect to.
    fn bind(&self, s: &Socket) -> String {
        let requested = match self.transport {
            Transport::Tcp => "tcp://127.0.0.1:*".to_string(),
            Transport::Ipc => {
                let path = PathBuf::from(format!("/tmp/{}.sock", unique("ipc")));
                self.paths.borrow_mut().push(path.clone());
                format!("ipc://{}", path.display())
            }
            Transport::Inproc => format!("inproc://{}", unique("inproc")),
        };
        s.bind(&requested)
            .unwrap_or_else(|e| panic!("{:?}: bind {requested}: {e}", self.transport));
        let bound = s.last_endpoint();
        if self.transport == Transport::Tcp {
            assert!(
                !bound.ends_with(":0") && !bound.ends_with(":*"),
                "last_endpoint must name the real port: {bound}"
            );
        } else {
            assert_eq!(bound, requested, "{:?}: last_endpoint", self.transport);
        }
        bound
    }

    fn connect(&self, s: &Socket, endpoint: &str) {
        s.connect(endpoint)
            .unwrap_or_else(|e| panic!("{:?}: connect {endpoint}: {e}", self.transport));
    }

    /// A socket of `socket_type` bound to a fresh endpoint, and that endpoint.
    fn bound(&self, socket_type: SocketType) -> (Socket, String) {
        let s = self.socket(socket_type);
        let endpoint = self.bind(&s);
        (s, endpoint)
    }

    /// A socket of `socket_type` connected to `endpoint`, set up by `setup` before it connects.
    fn connected(
        &self,
        socket_type: SocketType,
        endpoint: &str,
        setup: impl FnOnce(&Socket),
    ) -> Socket {
        let s = self.socket(socket_type);
        setup(&s);
        self.connect(&s, endpoint);
        s
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for path in self.paths.borrow().iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn timed_socket(ctx: &Context, socket_type: SocketType) -> Socket {
    let s = ctx.socket(socket_type).expect("a socket");
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s
}

/// Runs a scenario over every transport, saying which one is under way.
fn over_each_transport(scenario: impl Fn(&Net)) {
    for t in TRANSPORTS {
        eprintln!("--- over {t:?}");
        let net = Net::new(t);
        scenario(&net);
    }
}

fn nothing(_: &Socket) {}

// ---- small helpers ---------------------------------------------------------------------------

/// A message's frames as text, for readable comparisons.
fn text(msg: &Message) -> Vec<String> {
    msg.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn strings<S: AsRef<str>>(frames: &[S]) -> Vec<String> {
    frames.iter().map(|f| f.as_ref().to_string()).collect()
}

fn message<S: AsRef<str>>(frames: &[S]) -> Message {
    frames
        .iter()
        .map(|f| Frame::copy_from_slice(f.as_ref().as_bytes()))
        .collect()
}

fn send<S: AsRef<str>>(s: &Socket, frames: &[S], what: &str) {
    s.send(message(frames))
        .unwrap_or_else(|e| panic!("{what}: send {:?}: {e}", strings(frames)));
}

fn recv_msg(s: &Socket, what: &str) -> Message {
    s.recv()
        .unwrap_or_else(|e| panic!("{what}: nothing received: {e}"))
}

fn recv(s: &Socket, what: &str) -> Vec<String> {
    text(&recv_msg(s, what))
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

/// Checks an error's kind and that its message says each of `says`.
fn expect_error<T: std::fmt::Debug>(
    result: Result<T, Error>,
    kind: ErrorKind,
    says: &[&str],
    what: &str,
) -> Error {
    let e = match result {
        Ok(v) => panic!("{what}: expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), kind, "{what}: wrong kind of error: {e}");
    for part in says {
        assert!(
            e.to_string().contains(part),
            "{what}: the error message {:?} should mention {part:?}",
            e.to_string()
        );
    }
    e
}

/// The next message on any of `sockets`, polled in turn, with the index of the one that had it.
fn recv_any(sockets: &[&Socket], what: &str) -> (usize, Message) {
    let deadline = Instant::now() + WAIT;
    loop {
        for (i, s) in sockets.iter().enumerate() {
            match s.try_recv() {
                Ok(msg) => return (i, msg),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{what}: socket {i}: {e}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: nothing arrived on any of {} sockets within {WAIT:?}",
            sockets.len()
        );
        thread::sleep(IDLE);
    }
}

/// Sends from a ROUTER with router_mandatory until the peer is known (its connection may still
/// be on its way).
fn send_when_routable<S: AsRef<str>>(router: &Socket, frames: &[S], what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        match router.send(message(frames)) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::HostUnreachable && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("{what}: send {:?}: {e}", strings(frames)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- REQ and REP -----------------------------------------------------------------------------

#[test]
fn req_rep_round_trips_carry_multipart_requests_and_replies() {
    over_each_transport(|net| {
        let (rep, endpoint) = net.bound(SocketType::Rep);
        let req = net.connected(SocketType::Req, &endpoint, nothing);
        let requests: [&[&str]; 5] = [
            &["hello"],
            &["three", "part", "request"],
            &["", "empty frames around", ""],
            &[""],
            &["a", "", "", "b"],
        ];
        for (i, request) in requests.iter().enumerate() {
            let what = format!("{:?} round trip {i}", net.transport);
            send(&req, request, &what);
            assert_eq!(
                recv(&rep, &what),
                strings(request),
                "{what}: REP got the request"
            );
            let mut reply: Vec<String> = request.iter().rev().map(|f| format!("re:{f}")).collect();
            reply.push(String::new());
            reply.push(format!("reply {i}"));
            send(&rep, &reply, &what);
            assert_eq!(recv(&req, &what), reply, "{what}: REQ got the reply");
        }
    });
}

#[test]
fn req_and_rep_alternate_strictly() {
    over_each_transport(|net| {
        let (rep, endpoint) = net.bound(SocketType::Rep);
        let req = net.connected(SocketType::Req, &endpoint, nothing);
        let t = net.transport;

        expect_error(
            req.recv(),
            ErrorKind::State,
            &["send a request first"],
            &format!("{t:?}: REQ recv before any send"),
        );
        expect_error(
            rep.send("unasked"),
            ErrorKind::State,
            &["receive a request first"],
            &format!("{t:?}: REP send before any recv"),
        );

        send(&req, &["one"], "first request");
        expect_error(
            req.send("two"),
            ErrorKind::State,
            &["no reply yet", "req_relaxed"],
            &format!("{t:?}: a second REQ send before the reply"),
        );
        assert_eq!(recv(&rep, "first request"), ["one"]);
        expect_error(
            rep.recv(),
            ErrorKind::State,
            &["reply to the last request first"],
            &format!("{t:?}: a second REP recv before replying"),
        );
        send(&rep, &["re:one"], "first reply");
        assert_eq!(recv(&req, "first reply"), ["re:one"]);

        expect_error(
            rep.send("second reply"),
            ErrorKind::State,
            &["receive a request first"],
            &format!("{t:?}: a second REP send for one request"),
        );
        expect_error(
            req.recv(),
            ErrorKind::State,
            &["send a request first"],
            &format!("{t:?}: a second REQ recv for one request"),
        );

        // The refused "two" went nowhere: the next request is the one REP sees.
        send(&req, &["three"], "second request");
        assert_eq!(recv(&rep, "second request"), ["three"]);
        send(&rep, &["re:three"], "second reply");
        assert_eq!(recv(&req, "second reply"), ["re:three"]);
    });
}

#[test]
fn req_load_balances_round_robin_over_three_reps() {
    over_each_transport(|net| {
        let reps: Vec<(Socket, String)> = (0..3).map(|_| net.bound(SocketType::Rep)).collect();
        let req = net.socket(SocketType::Req);
        for (_, endpoint) in &reps {
            net.connect(&req, endpoint);
        }
        let sockets: Vec<&Socket> = reps.iter().map(|(s, _)| s).collect();
        let mut served = Vec::new();
        for k in 0..12 {
            let what = format!("{:?} request {k}", net.transport);
            let body = format!("request {k}");
            send(&req, &[&body, "tail"], &what);
            let (who, got) = recv_any(&sockets, &what);
            assert_eq!(text(&got), [body.as_str(), "tail"], "{what}");
            let reply = format!("REP {who} answers {k}");
            send(sockets[who], &[&reply], &what);
            assert_eq!(recv(&req, &what), [reply], "{what}");
            served.push(who);
        }
        for pair in served.windows(2) {
            assert_eq!(
                pair[1],
                (pair[0] + 1) % 3,
                "{:?}: requests must go to the REPs in turn; served by {served:?}",
                net.transport
            );
        }
    });
}

#[test]
fn rep_fair_queues_requests_from_several_reqs() {
    over_each_transport(|net| {
        let t = net.transport;
        let (rep, endpoint) = net.bound(SocketType::Rep);
        let reqs: Vec<Socket> = (0..3)
            .map(|_| net.connected(SocketType::Req, &endpoint, nothing))
            .collect();
        for round in 0..4 {
            for (i, req) in reqs.iter().enumerate() {
                send(req, &[format!("req {i} round {round}")], "request");
            }
            let mut seen = BTreeSet::new();
            for _ in 0..3 {
                let request = recv(&rep, &format!("{t:?} round {round}"));
                assert_eq!(request.len(), 1, "{t:?}: {request:?}");
                let sender: usize = request[0]
                    .strip_prefix("req ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{t:?}: unexpected request {request:?}"));
                assert!(
                    request[0].ends_with(&format!("round {round}")),
                    "{t:?}: {request:?} in round {round}"
                );
                assert!(seen.insert(sender), "{t:?}: REQ {sender} served twice");
                send(&rep, &[format!("reply to {}", request[0])], "reply");
            }
            for (i, req) in reqs.iter().enumerate() {
                assert_eq!(
                    recv(req, &format!("{t:?} REQ {i} round {round}")),
                    [format!("reply to req {i} round {round}")],
                    "{t:?}: each REQ gets the reply to its own request"
                );
            }
        }

        // Bursts from DEALERs speaking REQ's envelope: REP takes one from each in turn.
        let dealers: Vec<Socket> = (0..3)
            .map(|_| net.connected(SocketType::Dealer, &endpoint, nothing))
            .collect();
        for (i, dealer) in dealers.iter().enumerate() {
            for k in 0..4 {
                send(dealer, &["", &format!("dealer {i} burst {k}")], "burst");
            }
        }
        thread::sleep(Duration::from_millis(500));
        let mut order = Vec::new();
        for _ in 0..12 {
            let request = recv(&rep, &format!("{t:?} bursts"));
            assert_eq!(request.len(), 1, "{t:?}: {request:?}");
            let sender: usize = request[0]["dealer ".len()..][..1].parse().unwrap();
            order.push(sender);
            send(&rep, &[format!("reply to {}", request[0])], "burst reply");
        }
        for window in order.chunks(3) {
            let distinct: BTreeSet<usize> = window.iter().copied().collect();
            assert_eq!(
                distinct.len(),
                3,
                "{t:?}: REP must take requests from its peers in turn, took {order:?}"
            );
        }
        for (i, dealer) in dealers.iter().enumerate() {
            for k in 0..4 {
                assert_eq!(
                    recv(dealer, &format!("{t:?} dealer {i}")),
                    ["", &format!("reply to dealer {i} burst {k}")],
                    "{t:?}: replies come back in order, with the delimiter"
                );
            }
        }
    });
}

// ---- DEALER and ROUTER -----------------------------------------------------------------------

#[test]
fn dealer_routing_id_is_the_first_frame_at_the_router_and_replies_follow_it() {
    over_each_transport(|net| {
        let t = net.transport;
        let (router, endpoint) = net.bound(SocketType::Router);
        let names = ["alpha", "beta", "gamma"];
        let dealers: Vec<Socket> = names
            .iter()
            .map(|name| {
                net.connected(SocketType::Dealer, &endpoint, |s| {
                    s.set_routing_id(*name).unwrap()
                })
            })
            .collect();
        for (name, dealer) in names.iter().zip(&dealers) {
            send(dealer, &[&format!("hello from {name}"), "", "end"], "hello");
        }
        let mut ids = BTreeSet::new();
        for _ in 0..3 {
            let msg = recv(&router, &format!("{t:?} hellos"));
            assert_eq!(msg.len(), 4, "{t:?}: [id, body, \"\", end]: {msg:?}");
            assert_eq!(msg[1], format!("hello from {}", msg[0]), "{t:?}: {msg:?}");
            assert_eq!(msg[2..], ["", "end"], "{t:?}: {msg:?}");
            ids.insert(msg[0].clone());
        }
        assert_eq!(ids, names.iter().map(|n| n.to_string()).collect());

        for name in names.iter().rev() {
            send(&router, &[*name, &format!("for {name}"), ""], "routed");
        }
        for (name, dealer) in names.iter().zip(&dealers) {
            assert_eq!(
                recv(dealer, &format!("{t:?} {name}")),
                [format!("for {name}"), String::new()],
                "{t:?}: the first frame picks the DEALER"
            );
            expect_nothing(dealer, &format!("{t:?}: {name} after its own message"));
        }
    });
}

#[test]
fn generated_router_ids_are_five_bytes_starting_with_zero_and_distinct() {
    over_each_transport(|net| {
        let t = net.transport;
        let (router, endpoint) = net.bound(SocketType::Router);
        let dealers: Vec<Socket> = (0..4)
            .map(|_| net.connected(SocketType::Dealer, &endpoint, nothing))
            .collect();
        for (i, dealer) in dealers.iter().enumerate() {
            send(dealer, &[format!("dealer {i}")], "hello");
        }
        let mut ids: BTreeMap<Frame, String> = BTreeMap::new();
        for _ in 0..4 {
            let msg = recv_msg(&router, &format!("{t:?} hellos"));
            assert_eq!(msg.len(), 2, "{t:?}: {:?}", text(&msg));
            let id = msg.frames()[0].clone();
            assert_eq!(id.len(), 5, "{t:?}: a generated id is 5 bytes: {id:?}");
            assert_eq!(id[0], 0, "{t:?}: a generated id starts with 0: {id:?}");
            let body = String::from_utf8_lossy(&msg.frames()[1]).into_owned();
            assert!(
                ids.insert(id.clone(), body).is_none(),
                "{t:?}: generated id {id:?} given twice"
            );
        }
        for (id, body) in &ids {
            let reply: Message = [id.clone(), Frame::from(format!("you are {body}"))].into();
            router.send(reply).expect("reply by generated id");
        }
        for (i, dealer) in dealers.iter().enumerate() {
            assert_eq!(
                recv(dealer, &format!("{t:?} dealer {i}")),
                [format!("you are dealer {i}")],
                "{t:?}: a generated id routes back to its DEALER"
            );
        }
    });
}

#[test]
fn connect_routing_id_names_the_peer_of_a_routers_connect() {
    over_each_transport(|net| {
        let t = net.transport;
        let first = net.socket(SocketType::Dealer);
        first.set_routing_id("own-name").unwrap();
        let first_endpoint = net.bind(&first);
        let second = net.socket(SocketType::Dealer);
        second.set_routing_id("second").unwrap();
        let second_endpoint = net.bind(&second);

        let router = net.socket(SocketType::Router);
        router.set_router_mandatory(true).unwrap();
        router.set_connect_routing_id("alias").unwrap();
        net.connect(&router, &first_endpoint);
        // connect_routing_id applies to one connect only.
        net.connect(&router, &second_endpoint);

        send_when_routable(&router, &["alias", "to the first"], "via alias");
        assert_eq!(recv(&first, &format!("{t:?} first")), ["to the first"]);
        send_when_routable(&router, &["second", "to the second"], "via own id");
        assert_eq!(recv(&second, &format!("{t:?} second")), ["to the second"]);
        expect_error(
            router.send(message(&["own-name", "lost"])),
            ErrorKind::HostUnreachable,
            &[&hex(b"own-name")],
            &format!("{t:?}: the alias replaces the peer's own routing id"),
        );

        send(&first, &["from the first"], "reply");
        assert_eq!(
            recv(&router, &format!("{t:?} from first")),
            ["alias", "from the first"]
        );
        send(&second, &["from the second"], "reply");
        assert_eq!(
            recv(&router, &format!("{t:?} from second")),
            ["second", "from the second"]
        );
        expect_nothing(&first, &format!("{t:?}: first"));
        expect_nothing(&second, &format!("{t:?}: second"));
    });
}

#[test]
fn router_to_router_with_named_peers() {
    over_each_transport(|net| {
        let t = net.transport;
        let server = net.socket(SocketType::Router);
        server.set_routing_id("server").unwrap();
        server.set_router_mandatory(true).unwrap();
        let endpoint = net.bind(&server);
        let clients: Vec<(String, Socket)> = (1..=2)
            .map(|i| {
                let name = format!("client-{i}");
                let client = net.connected(SocketType::Router, &endpoint, |s| {
                    s.set_routing_id(name.clone()).unwrap();
                    s.set_router_mandatory(true).unwrap();
                    s.set_connect_routing_id("server").unwrap();
                });
                (name, client)
            })
            .collect();
        for (name, client) in &clients {
            send_when_routable(client, &["server", &format!("hello from {name}")], name);
        }
        let mut greeted = BTreeSet::new();
        for _ in 0..2 {
            let msg = recv(&server, &format!("{t:?} hellos"));
            assert_eq!(msg.len(), 2, "{t:?}: {msg:?}");
            assert_eq!(msg[1], format!("hello from {}", msg[0]), "{t:?}: {msg:?}");
            greeted.insert(msg[0].clone());
        }
        assert_eq!(greeted, ["client-1", "client-2"].map(String::from).into());

        for round in 0..3 {
            for (name, _) in &clients {
                send(
                    &server,
                    &[name.as_str(), &format!("to {name} round {round}"), ""],
                    "server to client",
                );
            }
            for (name, client) in &clients {
                assert_eq!(
                    recv(client, &format!("{t:?} {name} round {round}")),
                    ["server", &format!("to {name} round {round}"), ""],
                    "{t:?}: the client knows the server by its connect_routing_id"
                );
                send(
                    client,
                    &["server", &format!("from {name} round {round}")],
                    "client to server",
                );
            }
            let mut from = BTreeSet::new();
            for _ in 0..2 {
                let msg = recv(&server, &format!("{t:?} round {round}"));
                assert_eq!(msg[1], format!("from {} round {round}", msg[0]), "{t:?}");
                from.insert(msg[0].clone());
            }
            assert_eq!(from.len(), 2, "{t:?}: both clients answered");
        }
    });
}

// ---- envelopes through proxies -------------------------------------------------------------

/// Which way a message crossed a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Request,
    Reply,
}

/// A ROUTER/DEALER proxy in its own thread, moving messages both ways and telling what it saw.
struct Proxy {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), String>>>,
}

impl Proxy {
    fn spawn(frontend: Socket, backend: Socket, tap: mpsc::Sender<(Way, Vec<String>)>) -> Proxy {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let mut idle = true;
                for (from, to, way) in [
                    (&frontend, &backend, Way::Request),
                    (&backend, &frontend, Way::Reply),
                ] {
                    match from.try_recv() {
                        Ok(msg) => {
                            idle = false;
                            let _ = tap.send((way, text(&msg)));
                            to.send(msg).map_err(|e| format!("{way:?}: send: {e}"))?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(format!("{way:?}: recv: {e}")),
                    }
                }
                if idle {
                    thread::sleep(IDLE);
                }
            }
            Ok(())
        });
        Proxy {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let result = self.handle.take().expect("joined once").join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the proxy failed: {e}"),
            Err(_) => panic!("the proxy panicked"),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[test]
fn envelopes_survive_two_proxy_hops_and_replies_reach_the_right_req() {
    over_each_transport(|net| {
        let t = net.transport;
        // REQ x3 -> [ROUTER hop 1 DEALER] -> [ROUTER hop 2 DEALER] -> REP x2
        let (front1, front1_endpoint) = net.bound(SocketType::Router);
        let back1 = net.socket(SocketType::Dealer);
        back1.set_routing_id("hop-1").unwrap();
        let back1_endpoint = net.bind(&back1);
        let front2 = net.connected(SocketType::Router, &back1_endpoint, nothing);
        let (back2, back2_endpoint) = net.bound(SocketType::Dealer);
        let reps: Vec<Socket> = (0..2)
            .map(|_| net.connected(SocketType::Rep, &back2_endpoint, nothing))
            .collect();
        let clients = ["client-0", "client-1", "client-2"];
        let reqs: Vec<Socket> = clients
            .iter()
            .map(|name| {
                net.connected(SocketType::Req, &front1_endpoint, |s| {
                    s.set_routing_id(*name).unwrap()
                })
            })
            .collect();

        let (tap1, seen1) = mpsc::channel();
        let (tap2, seen2) = mpsc::channel();
        let hop1 = Proxy::spawn(front1, back1, tap1);
        let hop2 = Proxy::spawn(front2, back2, tap2);

        let rep_refs: Vec<&Socket> = reps.iter().collect();
        let mut served_by = BTreeSet::new();
        for round in 0..4 {
            for (name, req) in clients.iter().zip(&reqs) {
                send(req, &["job", name, &round.to_string(), ""], "request");
            }
            for _ in 0..clients.len() {
                let (who, request) = recv_any(&rep_refs, &format!("{t:?} round {round}"));
                let request = text(&request);
                assert_eq!(
                    request.len(),
                    4,
                    "{t:?}: REP sees only the body: {request:?}"
                );
                assert_eq!(request[0], "job", "{t:?}: {request:?}");
                assert_eq!(request[2], round.to_string(), "{t:?}: {request:?}");
                assert_eq!(request[3], "", "{t:?}: {request:?}");
                send(
                    &reps[who],
                    &[
                        "done",
                        &request[1],
                        &round.to_string(),
                        &format!("by rep {who}"),
                    ],
                    "reply",
                );
                served_by.insert(who);
            }
            for (name, req) in clients.iter().zip(&reqs) {
                let reply = recv(req, &format!("{t:?} {name} round {round}"));
                assert_eq!(reply.len(), 4, "{t:?}: {reply:?}");
                assert_eq!(
                    reply[..3],
                    ["done", name, &round.to_string()],
                    "{t:?}: {name} must get the reply to its own request"
                );
            }
        }
        assert_eq!(
            served_by.len(),
            2,
            "{t:?}: the last DEALER load-balances over both REPs"
        );
        hop1.finish();
        hop2.finish();

        let mut count = 0;
        for (way, msg) in seen1.try_iter() {
            count += 1;
            let name = &msg[0];
            assert!(clients.contains(&name.as_str()), "{t:?} hop 1: {msg:?}");
            assert_eq!(msg[1], "", "{t:?} hop 1: the REQ's delimiter: {msg:?}");
            let head = if way == Way::Request { "job" } else { "done" };
            assert_eq!(msg[2], head, "{t:?} hop 1 {way:?}: {msg:?}");
            assert_eq!(
                &msg[3], name,
                "{t:?} hop 1 {way:?}: envelope and body agree"
            );
        }
        assert_eq!(count, 24, "{t:?}: hop 1 moved 12 requests and 12 replies");
        let mut count = 0;
        for (way, msg) in seen2.try_iter() {
            count += 1;
            assert_eq!(msg[0], "hop-1", "{t:?} hop 2 {way:?}: {msg:?}");
            assert_eq!(msg[2], "", "{t:?} hop 2 {way:?}: {msg:?}");
            assert_eq!(
                msg[1], msg[4],
                "{t:?} hop 2 {way:?}: envelope and body agree"
            );
        }
        assert_eq!(count, 24, "{t:?}: hop 2 moved 12 requests and 12 replies");
    });
}

// ---- req_relaxed and req_correlate -----------------------------------------------------------

#[test]
fn req_relaxed_sends_again_after_a_timeout_and_another_rep_answers() {
    over_each_transport(|net| {
        let t = net.transport;
        let (silent, silent_endpoint) = net.bound(SocketType::Rep);
        let (answering, answering_endpoint) = net.bound(SocketType::Rep);
        let req = net.socket(SocketType::Req);
        req.set_req_relaxed(true).unwrap();
        req.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
        net.connect(&req, &silent_endpoint);
        net.connect(&req, &answering_endpoint);

        send(&req, &["first"], "first request");
        assert_eq!(recv(&silent, &format!("{t:?} silent")), ["first"]);
        let started = Instant::now();
        expect_error(
            req.recv(),
            ErrorKind::WouldBlock,
            &["rcvtimeo", "300 ms"],
            &format!("{t:?}: the silent REP never answers"),
        );
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{t:?}: recv gave up after {:?}, before rcvtimeo",
            started.elapsed()
        );

        send(
            &req,
            &["second"],
            "a second request, allowed by req_relaxed",
        );
        assert_eq!(recv(&answering, &format!("{t:?} answering")), ["second"]);
        send(&answering, &["answer to second"], "answer");
        req.set_rcvtimeo(Some(WAIT)).unwrap();
        assert_eq!(
            recv(&req, &format!("{t:?} reply")),
            ["answer to second"],
            "{t:?}"
        );
    });
}

#[test]
fn without_req_relaxed_a_send_after_a_timeout_is_a_state_error() {
    over_each_transport(|net| {
        let t = net.transport;
        let (silent, silent_endpoint) = net.bound(SocketType::Rep);
        let (answering, answering_endpoint) = net.bound(SocketType::Rep);
        let req = net.socket(SocketType::Req);
        req.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
        net.connect(&req, &silent_endpoint);
        net.connect(&req, &answering_endpoint);

        send(&req, &["first"], "first request");
        assert_eq!(recv(&silent, &format!("{t:?} silent")), ["first"]);
        expect_error(
            req.recv(),
            ErrorKind::WouldBlock,
            &["rcvtimeo"],
            &format!("{t:?}: the silent REP never answers"),
        );
        expect_error(
            req.send("second"),
            ErrorKind::State,
            &["no reply yet", "req_relaxed"],
            &format!("{t:?}: strict REQ after a timeout"),
        );
        expect_nothing(&answering, &format!("{t:?}: the refused request"));
    });
}

/// Binds a new socket to a fixed endpoint, retrying while the port is still in use.
fn bind_fixed(ctx: &Context, socket_type: SocketType, endpoint: &str) -> Socket {
    let deadline = Instant::now() + WAIT;
    let s = timed_socket(ctx, socket_type);
    loop {
        match s.bind(endpoint) {
            Ok(()) => return s,
            Err(e) if e.kind() == ErrorKind::AddressInUse && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("bind {endpoint}: {e}"),
        }
    }
}

#[test]
fn req_relaxed_and_correlate_recover_when_the_server_dies() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let old = bind_fixed(&ctx, SocketType::Rep, &endpoint);
    let req = timed_socket(&ctx, SocketType::Req);
    req.set_req_relaxed(true).unwrap();
    req.set_req_correlate(true).unwrap();
    req.set_rcvtimeo(Some(Duration::from_millis(500))).unwrap();
    req.connect(&endpoint).unwrap();

    send(&req, &["request 1"], "request");
    assert_eq!(recv(&old, "the old server"), ["request 1"]);
    drop(old);
    expect_error(
        req.recv(),
        ErrorKind::WouldBlock,
        &["rcvtimeo"],
        "the old server died without replying",
    );

    let new = bind_fixed(&ctx, SocketType::Rep, &endpoint);
    send(&req, &["request 1, again"], "resend");
    assert_eq!(
        recv(&new, "the new server"),
        ["request 1, again"],
        "the resent request reaches the new server"
    );
    send(&new, &["reply from the new server"], "reply");
    req.set_rcvtimeo(Some(WAIT)).unwrap();
    assert_eq!(recv(&req, "the reply"), ["reply from the new server"]);

    send(&req, &["request 2"], "next request");
    assert_eq!(recv(&new, "the new server"), ["request 2"]);
    send(&new, &["reply 2"], "reply");
    assert_eq!(recv(&req, "the reply"), ["reply 2"]);
}

#[test]
fn without_req_relaxed_req_waits_for_a_dead_server_until_rcvtimeo() {
    let ctx = Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let old = bind_fixed(&ctx, SocketType::Rep, &endpoint);
    let req = timed_socket(&ctx, SocketType::Req);
    req.set_rcvtimeo(Some(Duration::from_millis(500))).unwrap();
    req.connect(&endpoint).unwrap();

    send(&req, &["request 1"], "request");
    assert_eq!(recv(&old, "the old server"), ["request 1"]);
    drop(old);
    let new = bind_fixed(&ctx, SocketType::Rep, &endpoint);
    let started = Instant::now();
    expect_error(
        req.recv(),
        ErrorKind::WouldBlock,
        &["recv timed out after 500 ms", "rcvtimeo"],
        "a strict REQ whose server died",
    );
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "recv gave up after {:?}, before rcvtimeo",
        started.elapsed()
    );
    expect_nothing(&new, "a strict REQ does not resend");
    expect_error(
        req.send("request 2"),
        ErrorKind::State,
        &["req_relaxed"],
        "a strict REQ still awaits its reply",
    );
}

/// A REP in its own thread: answers each request `[seq, payload]` with `[tag, seq, payload]`
/// after `delay`, until told to stop; returns the sequence numbers it answered.
struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Vec<u64>, String>>>,
}

impl Server {
    fn spawn(rep: Socket, tag: &'static str, delay: Duration) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        rep.set_rcvtimeo(Some(Duration::from_millis(20))).unwrap();
        let handle = thread::spawn(move || {
            let mut answered = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let request = match rep.recv() {
                    Ok(msg) => msg,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(format!("{tag}: recv: {e}")),
                };
                let frames = request.frames();
                if frames.len() != 2 {
                    return Err(format!("{tag}: malformed request {:?}", text(&request)));
                }
                let seq: u64 = String::from_utf8_lossy(&frames[0])
                    .parse()
                    .map_err(|e| format!("{tag}: bad sequence number: {e}"))?;
                thread::sleep(delay);
                let reply: Message =
                    [Frame::from(tag), frames[0].clone(), frames[1].clone()].into();
                rep.send(reply).map_err(|e| format!("{tag}: send: {e}"))?;
                answered.push(seq);
            }
            Ok(answered)
        });
        Server {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().expect("joined once").join() {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => panic!("the REP thread failed: {e}"),
            Err(_) => panic!("the REP thread panicked"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn payload(seq: u64) -> String {
    format!("payload {}", seq % 7)
}

#[test]
fn ten_thousand_correlated_round_trips_never_mix_up_replies() {
    over_each_transport(|net| {
        let t = net.transport;
        let (rep, endpoint) = net.bound(SocketType::Rep);
        let server = Server::spawn(rep, "echo", Duration::ZERO);
        let req = net.connected(SocketType::Req, &endpoint, |s| {
            s.set_req_correlate(true).unwrap()
        });
        for seq in 0..10_000u64 {
            send(&req, &[seq.to_string(), payload(seq)], "request");
            let reply = recv(&req, &format!("{t:?} reply {seq}"));
            assert_eq!(
                reply,
                ["echo".to_string(), seq.to_string(), payload(seq)],
                "{t:?}: reply to request {seq}"
            );
        }
        let answered = server.finish();
        assert_eq!(answered.len(), 10_000, "{t:?}");
        assert!(
            answered.iter().copied().eq(0..10_000),
            "{t:?}: REP answered in order"
        );
    });
}

#[test]
fn relaxed_and_correlated_req_never_delivers_a_stale_reply() {
    over_each_transport(|net| {
        let t = net.transport;
        let (fast, fast_endpoint) = net.bound(SocketType::Rep);
        let (slow, slow_endpoint) = net.bound(SocketType::Rep);
        let fast = Server::spawn(fast, "fast", Duration::ZERO);
        let slow = Server::spawn(slow, "slow", Duration::from_millis(120));
        let req = net.socket(SocketType::Req);
        req.set_req_relaxed(true).unwrap();
        req.set_req_correlate(true).unwrap();
        req.set_rcvtimeo(Some(Duration::from_millis(50))).unwrap();
        net.connect(&req, &fast_endpoint);
        net.connect(&req, &slow_endpoint);

        let mut delivered = Vec::new();
        let mut abandoned = BTreeSet::new();
        for seq in 0..16u64 {
            send(&req, &[seq.to_string(), payload(seq)], "request");
            match req.recv() {
                Ok(reply) => {
                    let reply = text(&reply);
                    assert_eq!(
                        reply[1..],
                        [seq.to_string(), payload(seq)],
                        "{t:?}: request {seq} got {reply:?}"
                    );
                    delivered.push((seq, reply[0].clone()));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    abandoned.insert(seq);
                }
                Err(e) => panic!("{t:?}: request {seq}: {e}"),
            }
        }
        // Two last requests, one for each REP, waited for as long as it takes: each gets its
        // own reply though the slow REP's stale replies are queued ahead of it.
        req.set_rcvtimeo(Some(WAIT)).unwrap();
        for seq in 16..18u64 {
            send(&req, &[seq.to_string(), payload(seq)], "final request");
            let reply = recv(&req, &format!("{t:?} final reply {seq}"));
            assert_eq!(
                reply[1..],
                [seq.to_string(), payload(seq)],
                "{t:?}: final request {seq} got {reply:?}"
            );
            delivered.push((seq, reply[0].clone()));
        }
        let fast_answered = fast.finish();
        let slow_answered = slow.finish();

        assert!(
            delivered.iter().any(|(_, tag)| tag == "fast"),
            "{t:?}: the fast REP's replies are delivered: {delivered:?}"
        );
        assert!(
            delivered.iter().any(|(_, tag)| tag == "slow"),
            "{t:?}: the slow REP's reply to the last request is delivered: {delivered:?}"
        );
        let stale: Vec<u64> = fast_answered
            .iter()
            .chain(&slow_answered)
            .copied()
            .filter(|seq| abandoned.contains(seq))
            .collect();
        assert!(
            stale.len() >= 3,
            "{t:?}: the scenario must produce stale replies (abandoned {abandoned:?}, \
             fast answered {fast_answered:?}, slow answered {slow_answered:?})"
        );
        for (seq, tag) in &delivered {
            assert!(
                !abandoned.contains(seq),
                "{t:?}: {seq} both abandoned and delivered"
            );
            let answered = if tag == "fast" {
                &fast_answered
            } else {
                &slow_answered
            };
            assert!(answered.contains(seq), "{t:?}: {tag} never answered {seq}");
        }
    });
}

// ---- ROUTER options --------------------------------------------------------------------------

#[test]
fn router_mandatory_makes_an_unknown_id_host_unreachable_and_otherwise_it_is_dropped() {
    over_each_transport(|net| {
        let t = net.transport;
        let (router, endpoint) = net.bound(SocketType::Router);
        let dealer = net.connected(SocketType::Dealer, &endpoint, |s| {
            s.set_routing_id("known").unwrap()
        });
        send(&dealer, &["hi"], "hello");
        assert_eq!(recv(&router, &format!("{t:?} hello")), ["known", "hi"]);

        router.set_router_mandatory(true).unwrap();
        expect_error(
            router.send(message(&["nobody", "lost"])),
            ErrorKind::HostUnreachable,
            &[&hex(b"nobody")],
            &format!("{t:?}: mandatory send to an unknown id"),
        );
        let binary: Message = [
            Frame::from_static(&[0, 1, 2, 0xfe]),
            Frame::from_static(b"x"),
        ]
        .into();
        expect_error(
            router.send(binary),
            ErrorKind::HostUnreachable,
            &["000102fe"],
            &format!("{t:?}: a binary id is shown in hex"),
        );
        assert_eq!(
            router.dropped_messages(),
            0,
            "{t:?}: a refused message is not a dropped one"
        );
        send(&router, &["known", "still routed"], "known id");
        assert_eq!(recv(&dealer, &format!("{t:?} known")), ["still routed"]);

        router.set_router_mandatory(false).unwrap();
        send(&router, &["nobody", "dropped 1"], "unknown id");
        assert_eq!(router.dropped_messages(), 1, "{t:?}");
        send(&router, &["nobody else", "dropped 2"], "unknown id");
        assert_eq!(router.dropped_messages(), 2, "{t:?}");
        send(&router, &["known", "after the drops"], "known id");
        assert_eq!(
            router.dropped_messages(),
            2,
            "{t:?}: a routed message is not counted"
        );
        assert_eq!(recv(&dealer, &format!("{t:?} known")), ["after the drops"]);
        expect_nothing(&dealer, &format!("{t:?}: dropped messages go nowhere"));
    });
}

#[test]
fn router_mandatory_blocks_on_a_full_peer_then_fails_fast_once_it_is_gone() {
    over_each_transport(|net| {
        let t = net.transport;
        let router = net.socket(SocketType::Router);
        router.set_router_mandatory(true).unwrap();
        router.set_sndhwm(4).unwrap();
        let sndtimeo = Duration::from_millis(300);
        router.set_sndtimeo(Some(sndtimeo)).unwrap();
        let endpoint = net.bind(&router);
        let dealer = net.connected(SocketType::Dealer, &endpoint, |s| {
            s.set_routing_id("sink").unwrap();
            s.set_rcvhwm(4).unwrap();
        });
        send(&dealer, &["ready"], "hello");
        assert_eq!(recv(&router, &format!("{t:?} hello")), ["sink", "ready"]);

        let big = Frame::from(vec![7u8; 64 * 1024]);
        let mut sent = 0;
        let blocked = loop {
            assert!(
                sent < 5_000,
                "{t:?}: {sent} messages of 64 KiB went to a peer that reads nothing"
            );
            let started = Instant::now();
            match router.send([Frame::from_static(b"sink"), big.clone()]) {
                Ok(()) => sent += 1,
                Err(e) => break (e, started.elapsed()),
            }
        };
        let (e, waited) = blocked;
        expect_error(
            Err::<(), _>(e),
            ErrorKind::WouldBlock,
            &["sndtimeo"],
            &format!("{t:?}: the send to a full peer after {sent} messages"),
        );
        assert!(sent >= 4, "{t:?}: only {sent} messages before blocking");
        assert!(
            waited >= sndtimeo - Duration::from_millis(50) && waited < sndtimeo + WAIT / 2,
            "{t:?}: the blocked send returned after {waited:?}, sndtimeo is {sndtimeo:?}"
        );
        assert_eq!(router.dropped_messages(), 0, "{t:?}: mandatory never drops");

        drop(dealer);
        router.set_sndtimeo(Some(WAIT)).unwrap();
        let started = Instant::now();
        let result = router.send(message(&["sink", "after the peer left"]));
        let took = started.elapsed();
        expect_error(
            result,
            ErrorKind::HostUnreachable,
            &[&hex(b"sink")],
            &format!("{t:?}: a send to a peer that went away (after {took:?})"),
        );
        assert!(
            took < Duration::from_secs(2),
            "{t:?}: HostUnreachable took {took:?}"
        );
    });
}

#[test]
fn router_handover_gives_the_id_to_the_newcomer_and_without_it_the_newcomer_is_refused() {
    over_each_transport(|net| {
        let t = net.transport;
        let worker = |endpoint: &str| {
            net.connected(SocketType::Dealer, endpoint, |s| {
                s.set_routing_id("worker").unwrap();
                // A closed connection must not come back and take the id again.
                s.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
            })
        };

        let router = net.socket(SocketType::Router);
        router.set_router_handover(true).unwrap();
        let endpoint = net.bind(&router);
        let old = worker(&endpoint);
        send(&old, &["from the first"], "first");
        assert_eq!(
            recv(&router, &format!("{t:?}")),
            ["worker", "from the first"]
        );
        let new = worker(&endpoint);
        send(&new, &["from the second"], "second");
        assert_eq!(
            recv(&router, &format!("{t:?} handover")),
            ["worker", "from the second"],
            "{t:?}: with handover the second peer is accepted"
        );
        for i in 0..3 {
            send(
                &router,
                &["worker", &format!("to the new one {i}")],
                "routed",
            );
        }
        for i in 0..3 {
            assert_eq!(
                recv(&new, &format!("{t:?} new")),
                [format!("to the new one {i}")]
            );
        }
        expect_nothing(&old, &format!("{t:?}: the replaced peer"));
        drop((router, old, new));

        let router = net.socket(SocketType::Router);
        let endpoint = net.bind(&router);
        let first = worker(&endpoint);
        send(&first, &["from the first"], "first");
        assert_eq!(
            recv(&router, &format!("{t:?}")),
            ["worker", "from the first"]
        );
        let second = worker(&endpoint);
        send(&second, &["from the second"], "second");
        expect_nothing(
            &router,
            &format!("{t:?}: without handover the second peer is refused"),
        );
        for i in 0..3 {
            send(&router, &["worker", &format!("to the first {i}")], "routed");
        }
        for i in 0..3 {
            assert_eq!(
                recv(&first, &format!("{t:?} first")),
                [format!("to the first {i}")]
            );
        }
        expect_nothing(&second, &format!("{t:?}: the refused peer"));
    });
}

#[test]
fn probe_router_makes_the_router_see_the_dealer_at_once() {
    over_each_transport(|net| {
        let t = net.transport;
        let (router, endpoint) = net.bound(SocketType::Router);
        let named = net.connected(SocketType::Dealer, &endpoint, |s| {
            s.set_routing_id("prober").unwrap();
            s.set_probe_router(true).unwrap();
        });
        assert_eq!(
            recv(&router, &format!("{t:?} named probe")),
            ["prober", ""],
            "{t:?}: the probe is the id and an empty frame"
        );
        send(&router, &["prober", "welcome"], "answer to the probe");
        assert_eq!(recv(&named, &format!("{t:?} welcome")), ["welcome"]);

        let anonymous = net.connected(SocketType::Dealer, &endpoint, |s| {
            s.set_probe_router(true).unwrap()
        });
        let probe = recv_msg(&router, &format!("{t:?} anonymous probe"));
        assert_eq!(probe.len(), 2, "{t:?}: {:?}", text(&probe));
        let id = probe.frames()[0].clone();
        assert!(id.len() == 5 && id[0] == 0, "{t:?}: a generated id: {id:?}");
        assert!(probe.frames()[1].is_empty(), "{t:?}: {:?}", text(&probe));
        router
            .send([id, Frame::from_static(b"hello, stranger")])
            .expect("reply to the probe");
        assert_eq!(
            recv(&anonymous, &format!("{t:?} stranger")),
            ["hello, stranger"]
        );

        let _quiet = net.connected(SocketType::Dealer, &endpoint, |s| {
            s.set_routing_id("quiet").unwrap()
        });
        expect_nothing(&router, &format!("{t:?}: a DEALER without probe_router"));
    });
}
