//! CURVE (RFC 25, 26) between ferromq sockets and with libzmq, in both directions.

mod common;

use std::time::Duration;

use ferromq::{curve_keypair, Bytes, Context, Event, Frame, Message, Monitor, Socket, SocketType};

use common::{next_named, IpcEndpoint, Peer};

const WAIT: Duration = Duration::from_secs(5);

/// A key pair as Z85 text: (public, secret).
fn keys() -> (String, String) {
    let pair = curve_keypair();
    (pair.public.to_z85(), pair.secret.to_z85())
}

fn curve_server(ctx: &Context, kind: SocketType, secret: &str, endpoint: &str) -> Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s.set_curve_server(true).unwrap();
    s.set_curve_secretkey(secret).unwrap();
    s.bind(endpoint).unwrap();
    s
}

fn curve_client(
    ctx: &Context,
    kind: SocketType,
    server_public: &str,
    endpoint: &str,
) -> (Socket, Monitor) {
    let (public, secret) = keys();
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    s.set_sndtimeo(Some(WAIT)).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s.set_curve_serverkey(server_public).unwrap();
    s.set_curve_publickey(&public).unwrap();
    s.set_curve_secretkey(&secret).unwrap();
    let events = s.monitor().unwrap();
    s.connect(endpoint).unwrap();
    (s, events)
}

#[test]
fn ferromq_to_ferromq_over_tcp_ipc_and_with_multipart() {
    let ctx = Context::new();
    let (server_public, server_secret) = keys();
    let ipc = IpcEndpoint::new("curve");
    for endpoint in ["tcp://127.0.0.1:*".to_string(), ipc.endpoint()] {
        let pull = curve_server(&ctx, SocketType::Pull, &server_secret, &endpoint);
        let (push, _) = curve_client(
            &ctx,
            SocketType::Push,
            &server_public,
            &pull.last_endpoint(),
        );
        let big = Bytes::from(vec![9u8; 100_000]);
        push.send(Message::from(vec![
            Bytes::from("head"),
            Bytes::new(),
            big.clone(),
        ]))
        .unwrap();
        let got = pull.recv().unwrap();
        assert_eq!(
            got.frames(),
            &[Bytes::from("head"), Bytes::new(), big][..],
            "{endpoint}"
        );
    }
}

#[test]
fn a_wrong_server_key_never_lets_a_message_through() {
    let ctx = Context::new();
    let (_, server_secret) = keys();
    let (wrong_public, _) = keys();
    let pull = curve_server(&ctx, SocketType::Pull, &server_secret, "tcp://127.0.0.1:*");
    let server_events = pull.monitor().unwrap();
    let (push, _) = curve_client(&ctx, SocketType::Push, &wrong_public, &pull.last_endpoint());
    let _ = push.try_send("must not arrive");
    // The client's HELLO does not open: a cryptographic protocol failure, as libzmq reports it.
    let failed = next_named(
        &server_events,
        &["handshake_failed_protocol", "handshake_succeeded"],
    );
    assert!(
        matches!(
            failed,
            Event::HandshakeFailedProtocol {
                code: 0x1100_0001,
                ..
            }
        ),
        "{failed:?}"
    );
    pull.set_rcvtimeo(Some(Duration::from_millis(500))).unwrap();
    assert!(
        pull.recv().is_err(),
        "a message passed with the wrong server key"
    );
}

#[test]
fn an_unknown_client_key_is_refused_by_the_zap_handler() {
    let ctx = Context::new();
    let (server_public, server_secret) = keys();
    // A handler that knows no key: every client is refused with 400.
    let handler = ctx.socket(SocketType::Rep).unwrap();
    handler.set_rcvtimeo(Some(WAIT)).unwrap();
    handler.bind("inproc://zeromq.zap.01").unwrap();
    let pull = curve_server(&ctx, SocketType::Pull, &server_secret, "tcp://127.0.0.1:*");
    let server_events = pull.monitor().unwrap();
    let (push, client_events) = curve_client(
        &ctx,
        SocketType::Push,
        &server_public,
        &pull.last_endpoint(),
    );
    let _ = push.try_send("must not arrive");
    let request = handler.recv().unwrap();
    let f = request.frames();
    assert_eq!(f[5], "CURVE");
    assert_eq!(f[6].len(), 32, "the client's public key");
    handler
        .send(vec![
            f[0].clone(),
            f[1].clone(),
            Frame::from("400"),
            Frame::from("unknown"),
            Frame::new(),
            Frame::new(),
        ])
        .unwrap();
    let failed = ["handshake_failed_auth", "handshake_succeeded"];
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

/// A pyzmq socket of `kind` with CURVE keys set as `role` ("server" with its secret key, or
/// "client" with the server's public key and a fresh key pair).
fn pyzmq_curve(kind: &str, role: &str, server_public: &str, server_secret: &str) -> Peer {
    let mut peer = Peer::pyzmq_socket(&format!("pyzmq {kind} ({role})"), kind, WAIT);
    if role == "server" {
        peer.set("CURVE_SERVER", 1);
        peer.set_bytes("CURVE_SECRETKEY", server_secret.as_bytes());
    } else {
        let (public, secret) = keys();
        peer.set_bytes("CURVE_SERVERKEY", server_public.as_bytes());
        peer.set_bytes("CURVE_PUBLICKEY", public.as_bytes());
        peer.set_bytes("CURVE_SECRETKEY", secret.as_bytes());
    }
    peer
}

#[test]
fn with_libzmq_both_ways_for_push_pull_req_rep_and_pub_sub() {
    let ctx = Context::new();
    let (server_public, server_secret) = keys();
    let ipc = IpcEndpoint::new("curve-interop");
    for endpoint in ["tcp://127.0.0.1:*".to_string(), ipc.endpoint()] {
        // ferromq server, libzmq client.
        let pull = curve_server(&ctx, SocketType::Pull, &server_secret, &endpoint);
        let mut push = pyzmq_curve("PUSH", "client", &server_public, &server_secret);
        push.connect(&pull.last_endpoint());
        push.send(&[b"from libzmq".as_slice(), b"".as_slice()]);
        assert_eq!(
            pull.recv().unwrap().frames(),
            &[Bytes::from("from libzmq"), Bytes::new()][..]
        );
        drop(pull);

        // libzmq server, ferromq client.
        let mut rep = pyzmq_curve("REP", "server", &server_public, &server_secret);
        let bound = rep.bind(&endpoint.replace("curve-interop", "curve-interop-rep"));
        let (req, _) = curve_client(&ctx, SocketType::Req, &server_public, &bound);
        req.send("question").unwrap();
        assert_eq!(rep.recv().unwrap(), vec![b"question".to_vec()]);
        rep.send(&[b"answer"]);
        assert_eq!(req.recv().unwrap().frames()[0], "answer");
    }

    // ferromq PUB server, libzmq SUB client: the subscription crosses sealed too.
    let publisher = curve_server(&ctx, SocketType::Pub, &server_secret, "tcp://127.0.0.1:*");
    let mut sub = pyzmq_curve("SUB", "client", &server_public, &server_secret);
    sub.subscribe(b"news");
    sub.connect(&publisher.last_endpoint());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        publisher.send("other").unwrap();
        publisher.send("news flash").unwrap();
        sub.set("RCVTIMEO", 50);
        if let Some(frames) = sub.recv() {
            assert_eq!(frames, vec![b"news flash".to_vec()]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sealed subscription arrived"
        );
    }
}

/// One sealed message from each sending pattern to its receiver, with the CURVE server on the
/// binding, receiving side: ferromq serving a libzmq client and the reverse, over tcp and ipc.
/// PUSH and REQ send once (nothing is lost before the connection); PUB repeats until the
/// subscriber has joined.
#[test]
fn a_matrix_with_libzmq_patterns_directions_and_transports() {
    let ctx = Context::new();
    let (server_public, server_secret) = keys();
    let pairs = [
        (SocketType::Push, SocketType::Pull),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Pub, SocketType::Sub),
    ];
    for transport in ["tcp", "ipc"] {
        for (sender, receiver) in pairs {
            for ferromq_serves in [true, false] {
                let ipc = IpcEndpoint::new("curve-matrix");
                let endpoint = match transport {
                    "tcp" => "tcp://127.0.0.1:*".to_string(),
                    _ => ipc.endpoint(),
                };
                let case = format!(
                    "{} to {} over {transport}, ferromq serving: {ferromq_serves}",
                    sender.name(),
                    receiver.name()
                );
                let repeat = sender == SocketType::Pub;
                let deadline = std::time::Instant::now() + WAIT;
                let patience = if repeat {
                    Duration::from_millis(100)
                } else {
                    WAIT
                };
                if ferromq_serves {
                    let server = curve_server(&ctx, receiver, &server_secret, &endpoint);
                    if receiver == SocketType::Sub {
                        server.subscribe("").unwrap();
                    }
                    server.set_rcvtimeo(Some(patience)).unwrap();
                    let mut client =
                        pyzmq_curve(sender.name(), "client", &server_public, &server_secret);
                    client.connect(&server.last_endpoint());
                    loop {
                        client.send(&[b"sealed"]);
                        if let Ok(msg) = server.recv() {
                            assert_eq!(msg.frames()[0], "sealed", "{case}");
                            break;
                        }
                        assert!(
                            repeat && std::time::Instant::now() < deadline,
                            "{case}: nothing arrived"
                        );
                    }
                } else {
                    let mut server =
                        pyzmq_curve(receiver.name(), "server", &server_public, &server_secret);
                    if receiver == SocketType::Sub {
                        server.subscribe(b"");
                    }
                    server.set("RCVTIMEO", patience.as_millis() as i64);
                    let bound = server.bind(&endpoint);
                    let (client, _) = curve_client(&ctx, sender, &server_public, &bound);
                    loop {
                        client.send("sealed").unwrap();
                        if let Some(frames) = server.recv() {
                            assert_eq!(frames, vec![b"sealed".to_vec()], "{case}");
                            break;
                        }
                        assert!(
                            repeat && std::time::Instant::now() < deadline,
                            "{case}: nothing arrived"
                        );
                    }
                }
            }
        }
    }
}
