//! PLAIN (RFC 24) with ZAP (RFC 27): who may connect, and what a refused client costs.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ferromq::{Bytes, Context, Event, Frame, Message, Monitor, Socket, SocketType};

use common::{next_named, pyzmq_python, Peer};

const WAIT: Duration = Duration::from_secs(5);

/// A ZAP handler on `inproc://zeromq.zap.01` that lets in `admin`/`secret` (as user "admin")
/// and refuses everyone else with 400; every request it sees goes to the returned channel.
struct ZapHandler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    requests: mpsc::Receiver<Vec<Frame>>,
}

impl ZapHandler {
    fn start(ctx: &Context) -> ZapHandler {
        let rep = ctx.socket(SocketType::Rep).unwrap();
        rep.set_rcvtimeo(Some(Duration::from_millis(50))).unwrap();
        rep.bind("inproc://zeromq.zap.01").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, requests) = mpsc::channel();
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok(request) = rep.recv() else { continue };
                let f = request.frames().to_vec();
                let ok = f.len() == 8 && f[5] == "PLAIN" && f[6] == "admin" && f[7] == "secret";
                let (code, text, user) = if ok {
                    ("200", "OK", "admin")
                } else {
                    ("400", "no", "")
                };
                rep.send(Message::from(vec![
                    f[0].clone(),
                    f[1].clone(),
                    Frame::from(code),
                    Frame::from(text),
                    Frame::from(user),
                    Frame::new(),
                ]))
                .unwrap();
                let _ = tx.send(f);
            }
        });
        ZapHandler {
            stop,
            thread: Some(thread),
            requests,
        }
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server(ctx: &Context) -> (Socket, Monitor) {
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(WAIT)).unwrap();
    pull.set_plain_server(true).unwrap();
    pull.set_zap_domain(Bytes::from_static(b"test")).unwrap();
    let events = pull.monitor().unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    (pull, events)
}

fn client(ctx: &Context, endpoint: &str, password: &str) -> (Socket, Monitor) {
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_plain_username("admin").unwrap();
    push.set_plain_password(password.to_string()).unwrap();
    push.set_linger(Some(Duration::ZERO)).unwrap();
    let events = push.monitor().unwrap();
    push.connect(endpoint).unwrap();
    (push, events)
}

#[test]
fn the_handler_lets_the_right_password_in_and_says_who_it_is() {
    let ctx = Context::new();
    let zap = ZapHandler::start(&ctx);
    let (pull, _) = server(&ctx);
    let (push, _) = client(&ctx, &pull.last_endpoint(), "secret");
    push.send("authenticated").unwrap();
    let msg = pull.recv().unwrap();
    assert_eq!(msg.frames()[0], "authenticated");
    assert_eq!(msg.property("User-Id"), Some(&b"admin"[..]));
    let request = zap.requests.recv_timeout(WAIT).unwrap();
    // version, request id, domain, address, identity, mechanism, username, password
    assert_eq!(request[0], "1.0");
    assert_eq!(request[2], "test");
    assert_eq!(request[3], "127.0.0.1");
    assert_eq!(request[5], "PLAIN");
}

#[test]
fn a_wrong_password_is_refused_on_both_sides_and_nothing_passes() {
    let ctx = Context::new();
    let _zap = ZapHandler::start(&ctx);
    let (pull, server_events) = server(&ctx);
    let (push, client_events) = client(&ctx, &pull.last_endpoint(), "guess");
    let _ = push.try_send("must not arrive");
    let failed = [
        "handshake_failed_auth",
        "handshake_succeeded",
        "handshake_failed_protocol",
    ];
    assert_eq!(
        next_named(&server_events, &failed),
        Event::HandshakeFailedAuth { status: 400 }
    );
    assert_eq!(
        next_named(&client_events, &failed),
        Event::HandshakeFailedAuth { status: 400 }
    );
    pull.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
    assert!(pull.recv().is_err(), "a refused client's message arrived");
}

#[test]
fn without_a_handler_a_plain_server_lets_no_one_in() {
    // As in libzmq: a password nobody checks is no authentication.
    let ctx = Context::new();
    let (pull, events) = server(&ctx);
    let (push, _) = client(&ctx, &pull.last_endpoint(), "anything");
    let _ = push.try_send("no handler");
    let failed = next_named(
        &events,
        &["handshake_failed_no_detail", "handshake_succeeded"],
    );
    assert_eq!(failed.name(), "handshake_failed_no_detail");
    assert!(
        failed.reason().unwrap().contains("ZAP handler"),
        "{failed:?}"
    );
    pull.set_rcvtimeo(Some(Duration::from_millis(300))).unwrap();
    assert!(
        pull.recv().is_err(),
        "a message passed with nobody to check it"
    );
}

#[test]
fn a_libzmq_plain_server_takes_a_ferromq_client() {
    let script = r#"
import sys, zmq
from zmq.auth.thread import ThreadAuthenticator
ctx = zmq.Context()
auth = ThreadAuthenticator(ctx)
auth.start()
auth.configure_plain(domain="*", passwords={"admin": "secret"})
s = ctx.socket(zmq.PULL)
s.plain_server = True
s.rcvtimeo = 3000
port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
for _ in range(2):
    try:
        print(s.recv().decode(), flush=True)
    except zmq.Again:
        print("timeout", flush=True)
auth.stop()
"#;
    let mut child = Command::new(pyzmq_python())
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let port = lines.next().unwrap().unwrap();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let (good, _) = client(&ctx, &endpoint, "secret");
    good.send("from ferromq").unwrap();
    let (bad, bad_events) = client(&ctx, &endpoint, "wrong");
    let _ = bad.try_send("refused");
    let failed = next_named(
        &bad_events,
        &["handshake_failed_auth", "handshake_succeeded"],
    );
    assert_eq!(failed, Event::HandshakeFailedAuth { status: 400 });
    assert_eq!(lines.next().unwrap().unwrap(), "from ferromq");
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "timeout",
        "the refused client got through"
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_ferromq_plain_server_takes_a_libzmq_client() {
    let ctx = Context::new();
    let _zap = ZapHandler::start(&ctx);
    let (pull, _) = server(&ctx);
    let mut push = Peer::pyzmq_socket("pyzmq PUSH", "PUSH", WAIT);
    push.set_bytes("PLAIN_USERNAME", b"admin");
    push.set_bytes("PLAIN_PASSWORD", b"secret");
    push.connect(&pull.last_endpoint());
    push.send(&[b"from libzmq"]);
    let msg = pull.recv().unwrap();
    assert_eq!(msg.frames()[0], "from libzmq");
    assert_eq!(msg.property("User-Id"), Some(&b"admin"[..]));
}

/// PLAIN with libzmq clients over tcp and ipc for REQ/REP, and PUB/SUB with the subscription
/// crossing an authenticated connection.
#[test]
fn libzmq_clients_for_req_rep_and_pub_sub_over_tcp_and_ipc() {
    let ctx = Context::new();
    let auth = ferromq::Authenticator::start(&ctx).unwrap();
    auth.allow_plain("admin", "secret");
    let ipc = common::IpcEndpoint::new("plain-interop");
    for endpoint in ["tcp://127.0.0.1:*".to_string(), ipc.endpoint()] {
        // ferromq REP server, libzmq REQ client.
        let rep = ctx.socket(SocketType::Rep).unwrap();
        rep.set_rcvtimeo(Some(WAIT)).unwrap();
        rep.set_linger(Some(Duration::ZERO)).unwrap();
        rep.set_plain_server(true).unwrap();
        rep.bind(&endpoint).unwrap();
        let mut req = Peer::pyzmq_socket("pyzmq REQ", "REQ", WAIT);
        req.set_bytes("PLAIN_USERNAME", b"admin");
        req.set_bytes("PLAIN_PASSWORD", b"secret");
        req.connect(&rep.last_endpoint());
        req.send(&[b"question"]);
        let question = rep.recv().unwrap();
        assert_eq!(question.frames()[0], "question");
        assert_eq!(question.property("User-Id"), Some(&b"admin"[..]));
        rep.send("answer").unwrap();
        assert_eq!(req.recv().unwrap(), vec![b"answer".to_vec()]);
    }

    let publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.set_linger(Some(Duration::ZERO)).unwrap();
    publisher.set_plain_server(true).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let mut sub = Peer::pyzmq_socket("pyzmq SUB", "SUB", WAIT);
    sub.set_bytes("PLAIN_USERNAME", b"admin");
    sub.set_bytes("PLAIN_PASSWORD", b"secret");
    sub.subscribe(b"news");
    sub.connect(&publisher.last_endpoint());
    sub.set("RCVTIMEO", 50);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        publisher.send("other").unwrap();
        publisher.send("news flash").unwrap();
        if let Some(frames) = sub.recv() {
            assert_eq!(frames, vec![b"news flash".to_vec()]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no authenticated subscription arrived"
        );
    }
}
