//! The built-in ZAP handler: addresses, PLAIN passwords and CURVE keys.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use ferromq::{
    curve_keypair, Authenticator, Context, Event, Monitor, ReconnectStop, Socket, SocketType,
};

use common::Peer;

const WAIT: Duration = Duration::from_secs(5);

fn pull(ctx: &Context, configure: impl FnOnce(&Socket)) -> (Socket, Monitor) {
    let s = ctx.socket(SocketType::Pull).unwrap();
    s.set_rcvtimeo(Some(WAIT)).unwrap();
    configure(&s);
    let events = s.monitor().unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    (s, events)
}

/// A client that gives up once refused, so that each step's monitor events are its own.
fn push(ctx: &Context, endpoint: &str, configure: impl FnOnce(&Socket)) -> Socket {
    let s = ctx.socket(SocketType::Push).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    s.set_reconnect_stop(ReconnectStop {
        handshake_failed: true,
        ..Default::default()
    })
    .unwrap();
    configure(&s);
    s.connect(endpoint).unwrap();
    s
}

/// Sends `text` and says whether it arrived; a refused client's message must not.
fn gets_through(server: &Socket, events: &Monitor, client: &Socket, text: &str) -> bool {
    let _ = client.try_send(text);
    loop {
        let event = events
            .recv_timeout(Some(WAIT))
            .expect("no monitor event")
            .event;
        match event {
            Event::HandshakeSucceeded => {
                let msg = server.recv().expect("accepted, but nothing arrived");
                assert_eq!(msg.frames()[0], text);
                return true;
            }
            Event::HandshakeFailedAuth { status: 400 } => {
                server
                    .set_rcvtimeo(Some(Duration::from_millis(200)))
                    .unwrap();
                assert!(server.recv().is_err(), "a refused client's message arrived");
                server.set_rcvtimeo(Some(WAIT)).unwrap();
                return false;
            }
            _ => {}
        }
    }
}

#[test]
fn plain_passwords_and_addresses() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    auth.allow_plain("admin", "secret");
    let (server, events) = pull(&ctx, |s| s.set_plain_server(true).unwrap());
    let endpoint = server.last_endpoint();
    let client = |password: &str| {
        push(&ctx, &endpoint, |s| {
            s.set_plain_username("admin").unwrap();
            s.set_plain_password(password.to_string()).unwrap();
        })
    };
    let good = client("secret");
    assert!(gets_through(&server, &events, &good, "right password"));
    assert!(!gets_through(
        &server,
        &events,
        &client("wrong"),
        "wrong password"
    ));

    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    auth.deny(localhost);
    assert!(!gets_through(
        &server,
        &events,
        &client("secret"),
        "denied address"
    ));

    let other = Context::new();
    let auth = Authenticator::start(&other).unwrap();
    auth.allow_plain("admin", "secret");
    auth.allow("10.9.8.7".parse().unwrap());
    let (server, events) = pull(&other, |s| s.set_plain_server(true).unwrap());
    let outsider = push(&other, &server.last_endpoint(), |s| {
        s.set_plain_username("admin").unwrap();
        s.set_plain_password("secret").unwrap();
    });
    assert!(!gets_through(
        &server,
        &events,
        &outsider,
        "not on the allowed list"
    ));
}

#[test]
fn curve_keys_one_by_one_from_a_directory_and_any() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    let server_keys = curve_keypair();
    let (server, events) = pull(&ctx, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(server_keys.secret.to_z85()).unwrap();
    });
    let endpoint = server.last_endpoint();
    let server_public = server_keys.public.to_z85();
    let client = |keys: &ferromq::CurveKeyPair| {
        push(&ctx, &endpoint, |s| {
            s.set_curve_serverkey(&server_public).unwrap();
            s.set_curve_secretkey(keys.secret.to_z85()).unwrap();
        })
    };

    let known = curve_keypair();
    auth.allow_curve(known.public.to_z85()).unwrap();
    assert!(gets_through(
        &server,
        &events,
        &client(&known),
        "a known key"
    ));
    let msg_from_known = curve_keypair();
    assert!(!gets_through(
        &server,
        &events,
        &client(&msg_from_known),
        "an unknown key"
    ));

    let dir = std::env::temp_dir().join(format!("ferromq-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let filed = curve_keypair();
    std::fs::write(
        dir.join("client.key"),
        format!(
            "metadata\ncurve\n    public-key = \"{}\"\n",
            filed.public.to_z85()
        ),
    )
    .unwrap();
    assert_eq!(auth.allow_curve_dir(&dir).unwrap(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(gets_through(
        &server,
        &events,
        &client(&filed),
        "a key from the directory"
    ));

    auth.allow_any_curve();
    assert!(gets_through(
        &server,
        &events,
        &client(&curve_keypair()),
        "any key"
    ));
}

#[test]
fn a_libzmq_curve_client_is_let_in_by_its_key() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    let server_keys = curve_keypair();
    let client_keys = curve_keypair();
    auth.allow_curve(client_keys.public.to_z85()).unwrap();
    let (server, _) = pull(&ctx, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(server_keys.secret.to_z85()).unwrap();
    });
    let mut client = Peer::pyzmq_socket("pyzmq PUSH", "PUSH", WAIT);
    client.set_bytes("CURVE_SERVERKEY", server_keys.public.to_z85().as_bytes());
    client.set_bytes("CURVE_PUBLICKEY", client_keys.public.to_z85().as_bytes());
    client.set_bytes("CURVE_SECRETKEY", client_keys.secret.to_z85().as_bytes());
    client.connect(&server.last_endpoint());
    client.send(&[b"let in by key"]);
    let msg = server.recv().unwrap();
    assert_eq!(msg.frames()[0], "let in by key");
    assert_eq!(
        msg.property("User-Id"),
        Some(client_keys.public.to_z85().as_bytes())
    );
}
