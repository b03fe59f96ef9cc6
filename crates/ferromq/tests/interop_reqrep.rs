//! Request-reply against libzmq through pyzmq: REQ/REP, REQ/ROUTER, DEALER/REP, DEALER/ROUTER
//! and ROUTER/ROUTER with named peers, each side binding and each side playing each role, over
//! tcp and ipc, with multipart messages and empty frames; and a load-balancing broker written
//! with ferromq whose clients and workers are both ferromq and pyzmq sockets.
//!
//! Needs a Python with pyzmq: `$FERROMQ_PYTHON`, or the workspace's `.venv`. Without one these
//! tests fail, saying so.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{join_peer, Binder, Frames, IpcEndpoint, Peer, Transport};
use ferromq::{Context, ErrorKind, Frame, Message, Socket, SocketType};

/// Generous, for a loaded two-core machine: only a failing test waits this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

const COMBINATIONS: [(Binder, Transport); 4] = [
    (Binder::Ferromq, Transport::Tcp),
    (Binder::Pyzmq, Transport::Tcp),
    (Binder::Ferromq, Transport::Ipc),
    (Binder::Pyzmq, Transport::Ipc),
];

/// A ferromq socket whose every blocking call gives up after [`TIMEOUT`], and which drops what
/// it still holds when closed.
fn ferro_socket(ctx: &Context, socket_type: SocketType) -> Socket {
    let socket = ctx
        .socket(socket_type)
        .unwrap_or_else(|e| panic!("ferromq {}: {e}", socket_type.name()));
    socket.set_rcvtimeo(Some(TIMEOUT)).expect("rcvtimeo");
    socket.set_sndtimeo(Some(TIMEOUT)).expect("sndtimeo");
    socket.set_linger(Some(Duration::ZERO)).expect("linger");
    socket
}

fn frames(parts: &[&[u8]]) -> Frames {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn describe(msg: &[Vec<u8>]) -> String {
    let parts: Vec<String> = msg
        .iter()
        .map(|f| match std::str::from_utf8(f) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("0x{}", common::encode_frame(f)),
        })
        .collect();
    format!("[{}]", parts.join(", "))
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

    /// Sends a message; `Err` with the reason when it is refused.
    fn try_send(&mut self, msg: &[Vec<u8>]) -> Result<(), String> {
        match self {
            End::Ferro { socket, .. } => {
                let m: Message = msg.iter().map(|f| Frame::copy_from_slice(f)).collect();
                socket.send(m).map_err(|e| format!("{:?}: {e}", e.kind()))
            }
            End::Py { peer, .. } => {
                let answer = peer.command(&format!("send {}", common::encode_frames(msg)));
                if answer == "ok" {
                    Ok(())
                } else {
                    Err(answer)
                }
            }
        }
    }

    fn send(&mut self, msg: &[Vec<u8>], what: &str) {
        if let Err(e) = self.try_send(msg) {
            panic!(
                "{} ({what}): send {} failed: {e}",
                self.name(),
                describe(msg)
            );
        }
    }

    /// Sends from a ROUTER with ROUTER_MANDATORY until its peer is known.
    fn send_when_routable(&mut self, msg: &[Vec<u8>], what: &str) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.try_send(msg) {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let unreachable = e.contains("HostUnreachable") || e.contains("unreachable");
                    assert!(unreachable, "{} ({what}): {e}", self.name());
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!(
                    "{} ({what}): the peer was not routable within {TIMEOUT:?}: {e}",
                    self.name()
                ),
            }
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

    /// A message that must arrive.
    fn expect(&mut self, expected: &[Vec<u8>], what: &str) {
        let name = self.name();
        let got = self
            .recv()
            .unwrap_or_else(|| panic!("{name}: {what}: nothing arrived in {TIMEOUT:?}"));
        assert!(
            got == expected,
            "{name}: {what}:\n  expected {}\n  received {}",
            describe(expected),
            describe(&got)
        );
    }

    fn expect_nothing(&mut self, what: &str) {
        self.set_recv_timeout(QUIET);
        let got = self.recv();
        self.set_recv_timeout(TIMEOUT);
        if let Some(msg) = got {
            panic!("{}: {what}: got {}", self.name(), describe(&msg));
        }
    }
}

/// A ferromq socket linked to a pyzmq peer; each is set up by its closure before it binds or
/// connects.
struct Link {
    ferro: End,
    py: End,
    _ipc: Option<IpcEndpoint>,
}

fn link(
    ferro: SocketType,
    ferro_setup: impl FnOnce(&Socket),
    py: SocketType,
    py_setup: impl FnOnce(&mut Peer),
    binder: Binder,
    transport: Transport,
) -> Link {
    let ctx = Context::new();
    let socket = ferro_socket(&ctx, ferro);
    ferro_setup(&socket);
    let mut peer = Peer::pyzmq_socket(&format!("pyzmq {}", py.name()), py.name(), TIMEOUT);
    py_setup(&mut peer);
    let ipc = join_peer(&socket, &mut peer, binder, transport, "interop-reqrep");
    Link {
        ferro: End::Ferro {
            socket,
            kind: ferro,
        },
        py: End::Py { peer, kind: py },
        _ipc: ipc,
    }
}

/// Runs `scenario` with ferromq in each role of the pair `(a, b)`, each side binding, over
/// tcp and ipc. The scenario gets the `a` end first.
#[allow(clippy::type_complexity)]
fn each_combination(
    a: SocketType,
    b: SocketType,
    setup_ferro: &dyn Fn(SocketType, bool) -> Box<dyn FnOnce(&Socket)>,
    setup_py: &dyn Fn(SocketType, bool) -> Box<dyn FnOnce(&mut Peer)>,
    scenario: &dyn Fn(&mut End, &mut End, &str),
) {
    for ferro_plays_a in [true, false] {
        for (binder, transport) in COMBINATIONS {
            let (ferro, py) = if ferro_plays_a { (a, b) } else { (b, a) };
            let ferro_binds = matches!(binder, Binder::Ferromq);
            let what = format!(
                "ferromq {} / pyzmq {}, {binder:?} binds, {transport:?}",
                ferro.name(),
                py.name()
            );
            eprintln!("--- {what}");
            let mut l = link(
                ferro,
                setup_ferro(ferro, ferro_binds),
                py,
                setup_py(py, !ferro_binds),
                binder,
                transport,
            );
            if ferro_plays_a {
                scenario(&mut l.ferro, &mut l.py, &what);
            } else {
                scenario(&mut l.py, &mut l.ferro, &what);
            }
        }
    }
}

fn no_ferro_setup(_: SocketType, _: bool) -> Box<dyn FnOnce(&Socket)> {
    Box::new(|_| {})
}

fn no_py_setup(_: SocketType, _: bool) -> Box<dyn FnOnce(&mut Peer)> {
    Box::new(|_| {})
}

/// The routing id each side gives itself in the tests that name peers.
fn routing_id(socket_type: SocketType) -> Vec<u8> {
    format!("{}-peer", socket_type.name().to_lowercase()).into_bytes()
}

fn named_ferro(socket_type: SocketType, _binds: bool) -> Box<dyn FnOnce(&Socket)> {
    Box::new(move |s| {
        s.set_routing_id(routing_id(socket_type))
            .expect("routing id")
    })
}

fn named_py(socket_type: SocketType, _binds: bool) -> Box<dyn FnOnce(&mut Peer)> {
    Box::new(move |p| p.set_bytes("ROUTING_ID", &routing_id(socket_type)))
}

/// Bodies with several frames and empty frames in every position.
fn bodies() -> Vec<Frames> {
    vec![
        frames(&[b"hello"]),
        frames(&[b"several", b"frames", b"in one"]),
        frames(&[b"", b"empty first and last", b""]),
        frames(&[b""]),
        frames(&[b"a", b"", b"", b"b"]),
        frames(&[&[0u8, 1, 2, 255][..], &vec![b'x'; 3000][..]]),
    ]
}

fn reply_to(body: &[Vec<u8>], i: usize) -> Frames {
    let mut reply: Frames = body.iter().rev().cloned().collect();
    reply.push(Vec::new());
    reply.push(format!("reply {i}").into_bytes());
    reply
}

fn with_prefix(prefix: &[&[u8]], body: &[Vec<u8>]) -> Frames {
    prefix
        .iter()
        .map(|p| p.to_vec())
        .chain(body.iter().cloned())
        .collect()
}

#[test]
fn req_and_rep() {
    each_combination(
        SocketType::Req,
        SocketType::Rep,
        &no_ferro_setup,
        &no_py_setup,
        &|req, rep, what| {
            for (i, body) in bodies().iter().enumerate() {
                req.send(body, what);
                rep.expect(body, &format!("{what}: request {i}"));
                let reply = reply_to(body, i);
                rep.send(&reply, what);
                req.expect(&reply, &format!("{what}: reply {i}"));
            }
        },
    );
}

#[test]
fn req_and_router() {
    each_combination(
        SocketType::Req,
        SocketType::Router,
        &named_ferro,
        &named_py,
        &|req, router, what| {
            let id = routing_id(SocketType::Req);
            for (i, body) in bodies().iter().enumerate() {
                req.send(body, what);
                router.expect(
                    &with_prefix(&[&id, b""], body),
                    &format!("{what}: the REQ's id and delimiter, then request {i}"),
                );
                let reply = reply_to(body, i);
                router.send(&with_prefix(&[&id, b""], &reply), what);
                req.expect(&reply, &format!("{what}: reply {i}"));
            }
        },
    );
}

#[test]
fn dealer_and_rep() {
    each_combination(
        SocketType::Dealer,
        SocketType::Rep,
        &no_ferro_setup,
        &no_py_setup,
        &|dealer, rep, what| {
            let all = bodies();
            // Requests may follow each other without waiting: REP takes them one at a time.
            for body in &all {
                dealer.send(&with_prefix(&[b""], body), what);
            }
            for (i, body) in all.iter().enumerate() {
                rep.expect(body, &format!("{what}: request {i}"));
                rep.send(&reply_to(body, i), what);
            }
            for (i, body) in all.iter().enumerate() {
                dealer.expect(
                    &with_prefix(&[b""], &reply_to(body, i)),
                    &format!("{what}: reply {i}, in order, with its delimiter"),
                );
            }
            dealer.expect_nothing(what);
        },
    );
}

#[test]
fn dealer_and_router() {
    each_combination(
        SocketType::Dealer,
        SocketType::Router,
        &named_ferro,
        &named_py,
        &|dealer, router, what| {
            let id = routing_id(SocketType::Dealer);
            let all = bodies();
            for body in &all {
                dealer.send(body, what);
            }
            for (i, body) in all.iter().enumerate() {
                router.expect(
                    &with_prefix(&[&id], body),
                    &format!("{what}: the DEALER's id, then message {i}"),
                );
            }
            for (i, body) in all.iter().enumerate() {
                router.send(&with_prefix(&[&id], &reply_to(body, i)), what);
            }
            for (i, body) in all.iter().enumerate() {
                dealer.expect(&reply_to(body, i), &format!("{what}: reply {i}"));
            }
            router.send(&with_prefix(&[b"nobody"], &all[0]), what);
            dealer.expect_nothing(&format!("{what}: a message for another id"));
        },
    );
}

/// ROUTER/ROUTER setup: both sides name themselves; the connecting side names the bound side
/// with CONNECT_ROUTING_ID and refuses to drop what it cannot route yet.
fn router_ferro(_: SocketType, binds: bool) -> Box<dyn FnOnce(&Socket)> {
    Box::new(move |s| {
        if binds {
            s.set_routing_id("bound-side").unwrap();
        } else {
            s.set_routing_id("connect-side").unwrap();
            s.set_connect_routing_id("bound-side").unwrap();
            s.set_router_mandatory(true).unwrap();
        }
    })
}

fn router_py(_: SocketType, binds: bool) -> Box<dyn FnOnce(&mut Peer)> {
    Box::new(move |p| {
        if binds {
            p.set_bytes("ROUTING_ID", b"bound-side");
        } else {
            p.set_bytes("ROUTING_ID", b"connect-side");
            p.set_bytes("CONNECT_ROUTING_ID", b"bound-side");
            p.set("ROUTER_MANDATORY", 1);
        }
    })
}

fn router_and_router(ferro_binds: Binder) {
    for (binder, transport) in COMBINATIONS {
        if !matches!(
            (binder, ferro_binds),
            (Binder::Ferromq, Binder::Ferromq) | (Binder::Pyzmq, Binder::Pyzmq)
        ) {
            continue;
        }
        let ferro_is_bound = matches!(binder, Binder::Ferromq);
        let what = format!("ferromq ROUTER / pyzmq ROUTER, {binder:?} binds, {transport:?}");
        eprintln!("--- {what}");
        let mut l = link(
            SocketType::Router,
            router_ferro(SocketType::Router, ferro_is_bound),
            SocketType::Router,
            router_py(SocketType::Router, !ferro_is_bound),
            binder,
            transport,
        );
        let (bound, connecting) = if ferro_is_bound {
            (&mut l.ferro, &mut l.py)
        } else {
            (&mut l.py, &mut l.ferro)
        };
        let all = bodies();
        connecting.send_when_routable(&with_prefix(&[b"bound-side"], &all[0]), &what);
        bound.expect(
            &with_prefix(&[b"connect-side"], &all[0]),
            &format!("{what}: the bound side knows the connecting side by its ROUTING_ID"),
        );
        for (i, body) in all.iter().enumerate().skip(1) {
            connecting.send(&with_prefix(&[b"bound-side"], body), &what);
            bound.expect(
                &with_prefix(&[b"connect-side"], body),
                &format!("{what}: message {i} to the bound side"),
            );
        }
        for (i, body) in all.iter().enumerate() {
            bound.send(&with_prefix(&[b"connect-side"], &reply_to(body, i)), &what);
            connecting.expect(
                &with_prefix(&[b"bound-side"], &reply_to(body, i)),
                &format!("{what}: reply {i}, known by its CONNECT_ROUTING_ID"),
            );
        }
    }
}

#[test]
fn router_and_router_with_named_peers_ferromq_binds() {
    router_and_router(Binder::Ferromq);
}

#[test]
fn router_and_router_with_named_peers_pyzmq_binds() {
    router_and_router(Binder::Pyzmq);
}

// ---- the load-balancing broker -----------------------------------------------------------

const REQUESTS_PER_CLIENT: usize = 10;

/// The broker of the guide's "load-balancing broker": clients' requests go to the worker that
/// has been ready longest. Returns how many replies it routed back.
fn run_broker(
    frontend: Socket,
    backend: Socket,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Vec<u8>>,
) -> Result<usize, String> {
    let mut workers: VecDeque<Frame> = VecDeque::new();
    let mut routed = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut idle = true;
        match backend.try_recv() {
            Ok(msg) => {
                idle = false;
                let f = msg.frames();
                if f.len() < 3 || !f[1].is_empty() {
                    return Err(format!("malformed message from a worker: {f:?}"));
                }
                workers.push_back(f[0].clone());
                if f.len() == 3 && f[2] == "READY" {
                    let _ = ready.send(f[0].to_vec());
                } else {
                    if f.len() < 5 || !f[3].is_empty() {
                        return Err(format!("malformed reply from a worker: {f:?}"));
                    }
                    let mut reply = Message::new();
                    reply.push(f[2].clone());
                    reply.push(Frame::new());
                    for frame in &f[4..] {
                        reply.push(frame.clone());
                    }
                    frontend
                        .send(reply)
                        .map_err(|e| format!("frontend send: {e}"))?;
                    routed += 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("backend recv: {e}")),
        }
        if let Some(worker) = workers.front().cloned() {
            match frontend.try_recv() {
                Ok(msg) => {
                    idle = false;
                    let f = msg.frames();
                    if f.len() < 3 || !f[1].is_empty() {
                        return Err(format!("malformed request from a client: {f:?}"));
                    }
                    workers.pop_front();
                    let mut request = Message::new();
                    request.push(worker);
                    request.push(Frame::new());
                    for frame in f {
                        request.push(frame.clone());
                    }
                    backend
                        .send(request)
                        .map_err(|e| format!("backend send: {e}"))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("frontend recv: {e}")),
            }
        }
        if idle {
            thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(routed)
}

/// A worker's answer: the request's body after the worker's name.
fn work(name: &str, request: &[Vec<u8>]) -> Result<Frames, String> {
    if request.len() < 3 || !request[1].is_empty() {
        return Err(format!("{name}: malformed request {}", describe(request)));
    }
    let mut reply = vec![request[0].clone(), Vec::new(), name.as_bytes().to_vec()];
    reply.extend(request[2..].iter().cloned());
    Ok(reply)
}

/// A client's request `k`: a multipart body with an empty frame in it.
fn client_request(name: &str, k: usize) -> Frames {
    vec![
        format!("{name} request {k}").into_bytes(),
        Vec::new(),
        b"tail".to_vec(),
    ]
}

/// Checks a client's reply; returns the worker that did the work.
fn check_reply(name: &str, k: usize, reply: &[Vec<u8>], workers: &[String]) -> String {
    let worker = String::from_utf8_lossy(&reply[0]).into_owned();
    assert!(
        workers.contains(&worker),
        "{name}: reply {k} names no worker: {}",
        describe(reply)
    );
    assert_eq!(
        &reply[1..],
        &client_request(name, k)[..],
        "{name}: reply {k} is not the answer to its request: {}",
        describe(reply)
    );
    worker
}

fn ferro_worker(socket: Socket, name: String, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    thread::spawn(move || {
        socket
            .set_rcvtimeo(Some(Duration::from_millis(50)))
            .unwrap();
        socket.send("READY").expect("worker READY");
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            match socket.recv() {
                Ok(msg) => {
                    let request: Frames = msg.iter().map(|f| f.to_vec()).collect();
                    let reply = work(&name, &request).unwrap_or_else(|e| panic!("{e}"));
                    let reply: Message = reply.into_iter().collect();
                    socket.send(reply).expect("worker reply");
                    done += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
        done
    })
}

fn py_worker(mut peer: Peer, name: String, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    thread::spawn(move || {
        peer.set("RCVTIMEO", 100);
        peer.send(&[b"READY"]);
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Some(request) = peer.recv() {
                let reply = work(&name, &request).unwrap_or_else(|e| panic!("{e}"));
                peer.send(&reply);
                done += 1;
            }
        }
        peer.quit();
        done
    })
}

#[test]
fn load_balancing_broker_with_ferromq_and_pyzmq_clients_and_workers() {
    let ctx = Context::new();
    let frontend = ferro_socket(&ctx, SocketType::Router);
    frontend.bind("tcp://127.0.0.1:*").expect("frontend bind");
    let frontend_endpoint = frontend.last_endpoint();
    let ipc = IpcEndpoint::new("broker");
    let backend = ferro_socket(&ctx, SocketType::Router);
    backend.bind(&ipc.endpoint()).expect("backend bind");
    let backend_endpoint = backend.last_endpoint();

    let stop_broker = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let broker = {
        let stop = Arc::clone(&stop_broker);
        thread::spawn(move || run_broker(frontend, backend, stop, ready_tx))
    };

    let stop_workers = Arc::new(AtomicBool::new(false));
    let mut worker_names = Vec::new();
    let mut workers = Vec::new();
    for i in 1..=2 {
        let name = format!("ferromq-worker-{i}");
        let socket = ferro_socket(&ctx, SocketType::Req);
        socket.connect(&backend_endpoint).expect("worker connect");
        worker_names.push(name.clone());
        workers.push(ferro_worker(socket, name, Arc::clone(&stop_workers)));
    }
    for i in 1..=2 {
        let name = format!("pyzmq-worker-{i}");
        let mut peer = Peer::pyzmq_socket(&name, "REQ", TIMEOUT);
        if i == 1 {
            peer.set_bytes("ROUTING_ID", name.as_bytes());
        }
        peer.connect(&backend_endpoint);
        worker_names.push(name.clone());
        workers.push(py_worker(peer, name, Arc::clone(&stop_workers)));
    }
    let mut ready_ids = BTreeSet::new();
    while ready_ids.len() < 4 {
        let id = ready_rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("only {} workers READY: {ready_ids:?}", ready_ids.len()));
        assert!(ready_ids.insert(id.clone()), "worker id {id:?} READY twice");
    }
    assert!(
        ready_ids.contains(b"pyzmq-worker-1".as_slice()),
        "the pyzmq worker's ROUTING_ID names it at the broker: {ready_ids:?}"
    );

    let mut clients: Vec<(String, JoinHandle<Vec<String>>)> = Vec::new();
    for i in 1..=2 {
        let name = format!("ferromq-client-{i}");
        let socket = ferro_socket(&ctx, SocketType::Req);
        if i == 1 {
            socket.set_routing_id(name.clone()).unwrap();
        }
        socket.connect(&frontend_endpoint).expect("client connect");
        let (client, known) = (name.clone(), worker_names.clone());
        let handle = thread::spawn(move || {
            (0..REQUESTS_PER_CLIENT)
                .map(|k| {
                    let request: Message = client_request(&client, k).into_iter().collect();
                    socket.send(request).expect("client send");
                    let reply = socket
                        .recv()
                        .unwrap_or_else(|e| panic!("{client}: no reply to request {k}: {e}"));
                    let reply: Frames = reply.iter().map(|f| f.to_vec()).collect();
                    check_reply(&client, k, &reply, &known)
                })
                .collect()
        });
        clients.push((name, handle));
    }
    for i in 1..=2 {
        let name = format!("pyzmq-client-{i}");
        let mut peer = Peer::pyzmq_socket(&name, "REQ", TIMEOUT);
        if i == 1 {
            peer.set_bytes("ROUTING_ID", name.as_bytes());
        }
        peer.connect(&frontend_endpoint);
        let (client, known) = (name.clone(), worker_names.clone());
        let handle = thread::spawn(move || {
            let served = (0..REQUESTS_PER_CLIENT)
                .map(|k| {
                    peer.send(&client_request(&client, k));
                    let reply = peer
                        .recv()
                        .unwrap_or_else(|| panic!("{client}: no reply to request {k}"));
                    check_reply(&client, k, &reply, &known)
                })
                .collect();
            peer.quit();
            served
        });
        clients.push((name, handle));
    }

    let mut work_seen: BTreeMap<String, usize> = BTreeMap::new();
    for (name, handle) in clients {
        let served = handle
            .join()
            .unwrap_or_else(|_| panic!("client {name} failed"));
        assert_eq!(served.len(), REQUESTS_PER_CLIENT, "{name}");
        for worker in served {
            *work_seen.entry(worker).or_default() += 1;
        }
    }
    stop_workers.store(true, Ordering::Relaxed);
    let mut work_done = BTreeMap::new();
    for (name, handle) in worker_names.iter().zip(workers) {
        let done = handle
            .join()
            .unwrap_or_else(|_| panic!("worker {name} failed"));
        work_done.insert(name.clone(), done);
    }
    stop_broker.store(true, Ordering::Relaxed);
    let routed = broker
        .join()
        .expect("the broker thread")
        .unwrap_or_else(|e| panic!("the broker failed: {e}"));

    assert_eq!(
        routed,
        4 * REQUESTS_PER_CLIENT,
        "replies routed by the broker"
    );
    for name in &worker_names {
        let done = work_done[name];
        assert!(done > 0, "{name} did no work: {work_done:?}");
        assert_eq!(
            work_seen.get(name).copied().unwrap_or(0),
            done,
            "{name}: the replies naming it and the work it did: {work_done:?}"
        );
    }
    assert_eq!(
        work_done.values().sum::<usize>(),
        4 * REQUESTS_PER_CLIENT,
        "{work_done:?}"
    );
}
