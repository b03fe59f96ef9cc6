//! PLAIN (RFC 24), with every command written out byte by byte.

use super::*;
use crate::Credentials;

fn plain_client(
    socket_type: SocketType,
    username: &'static [u8],
    password: &'static [u8],
) -> HandshakeConfig {
    HandshakeConfig {
        security: Security::PlainClient {
            username: Bytes::from_static(username),
            password: Bytes::from_static(password),
        },
        ..config(socket_type)
    }
}

fn plain_server(socket_type: SocketType) -> HandshakeConfig {
    HandshakeConfig {
        security: Security::PlainServer,
        ..config(socket_type)
    }
}

/// A PLAIN greeting for ZMTP 3.1 with the given as-server field.
fn plain_greeting(as_server: bool) -> Vec<u8> {
    let mut g = greeting(3, 1, b"PLAIN");
    g[32] = u8::from(as_server);
    g
}

/// A short command frame: flags, size, then the name and data.
fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x04, (1 + name.len() + data.len()) as u8, name.len() as u8];
    frame.extend_from_slice(name);
    frame.extend_from_slice(data);
    frame
}

/// Metadata bytes, as RFC 23 writes them.
fn metadata(properties: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in properties {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

fn hello(username: &[u8], password: &[u8]) -> Vec<u8> {
    let data = [
        &[username.len() as u8],
        username,
        &[password.len() as u8],
        password,
    ]
    .concat();
    command(b"HELLO", &data)
}

/// HELLO with username "admin" and password "secret", as in RFC 27's PLAIN example.
fn hello_admin() -> Vec<u8> {
    let mut frame = vec![0x04, 19, 5];
    frame.extend_from_slice(b"HELLO");
    frame.push(5);
    frame.extend_from_slice(b"admin");
    frame.push(6);
    frame.extend_from_slice(b"secret");
    assert_eq!(frame, command(b"HELLO", b"\x05admin\x06secret"));
    frame
}

fn welcome() -> Vec<u8> {
    let mut frame = vec![0x04, 8, 7];
    frame.extend_from_slice(b"WELCOME");
    frame
}

fn admin_request() -> AuthRequest {
    AuthRequest {
        mechanism: Mechanism::Plain,
        credentials: Credentials::Plain {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        },
    }
}

#[test]
fn client_sends_hello_then_initiate() {
    let mut client = Handshake::new(plain_client(SocketType::Push, b"admin", b"secret"));
    assert_eq!(written(&mut client), &plain_greeting(false)[..10]);

    // The server's greeting: the rest of ours, then HELLO.
    assert_eq!(feed(&mut client, &plain_greeting(true)), Ok(None));
    let mut expected = plain_greeting(false)[10..].to_vec();
    expected.extend_from_slice(&hello_admin());
    assert_eq!(written(&mut client), expected);

    // WELCOME: INITIATE with our metadata.
    assert_eq!(feed(&mut client, &welcome()), Ok(None));
    let initiate = command(b"INITIATE", &metadata(&[("Socket-Type", b"PUSH")]));
    assert_eq!(
        initiate[..12],
        [&[0x04, 29, 8][..], b"INITIATE", &[11]].concat()
    );
    assert_eq!(written(&mut client), initiate);

    // READY with the server's metadata completes it.
    let ready = command(b"READY", &metadata(&[("Socket-Type", b"PULL")]));
    let info = feed(&mut client, &ready).unwrap().unwrap();
    assert_eq!(info.socket_type, SocketType::Pull);
    assert_eq!(info.user_id, Bytes::new());
    assert_eq!(written(&mut client), b"");
    assert!(client.auth_request().is_none());
}

#[test]
fn server_asks_for_a_verdict_then_welcomes() {
    let mut server = Handshake::new(plain_server(SocketType::Pull));
    assert_eq!(written(&mut server), &plain_greeting(true)[..10]);
    let mut input = BytesMut::from(&plain_greeting(false)[..]);
    input.extend_from_slice(&hello_admin());
    // INITIATE may come before the verdict: it waits in the input.
    let initiate = command(b"INITIATE", &metadata(&[("Socket-Type", b"PUSH")]));
    input.extend_from_slice(&initiate);
    assert_eq!(read(&mut server, &mut input), Ok(None));
    assert_eq!(server.auth_request(), Some(&admin_request()));
    assert_eq!(&input[..], &initiate[..]);
    // Nothing but the greeting goes out until the verdict.
    assert_eq!(written(&mut server), &plain_greeting(true)[10..]);
    assert_eq!(read(&mut server, &mut input), Ok(None));
    assert_eq!(written(&mut server), b"");

    server.auth_reply(AuthReply::Accept {
        user_id: Bytes::from_static(b"joe"),
        properties: Metadata(vec![("X-Role".into(), Bytes::from_static(b"ops"))]),
    });
    assert!(server.auth_request().is_none());
    let info = read(&mut server, &mut input).unwrap().unwrap();
    assert!(input.is_empty());
    assert_eq!(info.socket_type, SocketType::Push);
    assert_eq!(info.user_id, Bytes::from_static(b"joe"));
    assert_eq!(
        info.zap_properties.get("x-role"),
        Some(&Bytes::from_static(b"ops"))
    );
    let mut expected = welcome();
    expected.extend_from_slice(&command(b"READY", &metadata(&[("Socket-Type", b"PULL")])));
    assert_eq!(written(&mut server), expected);
}

#[test]
fn refused_client_gets_the_status_code() {
    let mut server = Handshake::new(plain_server(SocketType::Rep));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&hello_admin());
    assert_eq!(feed(&mut server, &peer), Ok(None));
    written(&mut server);
    server.auth_reply(AuthReply::Refuse {
        status_code: 400,
        text: "wrong password".into(),
    });
    let refused = ProtocolError::AuthenticationFailed {
        status_code: 400,
        text: "wrong password".into(),
    };
    assert_eq!(feed(&mut server, b""), Err(refused.clone()));
    assert_eq!(
        refused.to_string(),
        "authentication failed with status 400: wrong password"
    );
    // ERROR with the bare code, as libzmq sends it.
    assert_eq!(written(&mut server), command(b"ERROR", b"\x03400"));
    // A later verdict changes nothing.
    server.auth_reply(AuthReply::accept());
    assert_eq!(feed(&mut server, b""), Err(refused));
}

#[test]
fn client_reports_an_authentication_failure() {
    for (reason, status_code) in [(&b"400"[..], 400), (b"300", 300), (b"500", 500)] {
        let mut client = Handshake::new(plain_client(SocketType::Req, b"u", b"p"));
        let mut peer = plain_greeting(true);
        peer.extend_from_slice(&command(b"ERROR", &[&[3], reason].concat()));
        assert_eq!(
            feed(&mut client, &peer),
            Err(ProtocolError::AuthenticationFailed {
                status_code,
                text: "refused by the server".into()
            })
        );
    }
    // libzmq 4.3's PLAIN server writes ERROR as 0x5E "RROR" and the reason, without the
    // name's size; its wrong password is an authentication failure all the same.
    let mut client = Handshake::new(plain_client(SocketType::Req, b"u", b"p"));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&[0x04, 9, 0x5E, b'R', b'R', b'O', b'R', 3, b'4', b'0', b'0']);
    assert!(matches!(
        feed(&mut client, &peer),
        Err(ProtocolError::AuthenticationFailed {
            status_code: 400,
            ..
        })
    ));
    // Any other reason is the peer's own words.
    let mut client = Handshake::new(plain_client(SocketType::Req, b"u", b"p"));
    let mut peer = plain_greeting(true);
    peer.extend_from_slice(&welcome());
    peer.extend_from_slice(&command(b"ERROR", b"\x04nope"));
    assert_eq!(
        feed(&mut client, &peer),
        Err(ProtocolError::PeerError("nope".into()))
    );
}

#[test]
fn roles_must_differ() {
    let mut both_servers = Handshake::new(plain_server(SocketType::Pull));
    assert_eq!(
        feed(&mut both_servers, &plain_greeting(true)),
        Err(ProtocolError::RoleMismatch {
            mechanism: "PLAIN".into(),
            role: "server"
        })
    );
    // Nothing goes out past the greeting.
    assert_eq!(written(&mut both_servers), plain_greeting(true));

    // A libzmq server says as-server 0 too, so a client learns it met a client only from
    // the other's HELLO.
    let mut both_clients = Handshake::new(plain_client(SocketType::Push, b"u", b"p"));
    assert_eq!(feed(&mut both_clients, &plain_greeting(false)), Ok(None));
    let err = feed(&mut both_clients, &hello_admin()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "both peers are clients of the PLAIN mechanism; one must be the server"
    );
    // And no ERROR, which a client never sends.
    assert!(written(&mut both_clients).ends_with(&hello(b"u", b"p")));
}

#[test]
fn a_libzmq_server_says_as_server_0() {
    // libzmq 4.3 sends as-server 0 whatever its role; a client must take it as a server.
    let mut client = Handshake::new(plain_client(SocketType::Push, b"admin", b"secret"));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&welcome());
    peer.extend_from_slice(&command(b"READY", &metadata(&[("Socket-Type", b"PULL")])));
    assert!(feed(&mut client, &peer).unwrap().is_some());
}

#[test]
fn mechanisms_must_match() {
    let mut server = Handshake::new(plain_server(SocketType::Pull));
    assert_eq!(
        feed(&mut server, &greeting(3, 1, b"NULL")),
        Err(ProtocolError::MechanismMismatch {
            ours: "PLAIN".into(),
            theirs: "NULL".into()
        })
    );
    let mut null = Handshake::new(config(SocketType::Push));
    assert!(matches!(
        feed(&mut null, &plain_greeting(true)),
        Err(ProtocolError::MechanismMismatch { .. })
    ));
}

#[test]
fn malformed_hello_is_refused() {
    for data in [
        &b""[..],
        b"\x05adm",
        b"\x05admin",
        b"\x05admin\x06secre",
        b"\x05admin\x06secret!",
    ] {
        let mut server = Handshake::new(plain_server(SocketType::Pull));
        let mut peer = plain_greeting(false);
        peer.extend_from_slice(&command(b"HELLO", data));
        assert!(
            matches!(feed(&mut server, &peer), Err(ProtocolError::BadCommand(_))),
            "{data:?}"
        );
        assert!(server.auth_request().is_none());
    }
    // Empty username and password are allowed.
    let mut server = Handshake::new(plain_server(SocketType::Pull));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&command(b"HELLO", b"\x00\x00"));
    assert_eq!(feed(&mut server, &peer), Ok(None));
    assert!(server.auth_request().is_some());
}

#[test]
fn commands_out_of_order_are_refused() {
    // A server must get HELLO first.
    let mut server = Handshake::new(plain_server(SocketType::Pull));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&command(b"INITIATE", b""));
    assert_eq!(
        feed(&mut server, &peer),
        Err(ProtocolError::UnexpectedCommand("INITIATE".into()))
    );
    // A client must get WELCOME before READY.
    let mut client = Handshake::new(plain_client(SocketType::Push, b"u", b"p"));
    let mut peer = plain_greeting(true);
    peer.extend_from_slice(&command(b"READY", &metadata(&[("Socket-Type", b"PULL")])));
    assert_eq!(
        feed(&mut client, &peer),
        Err(ProtocolError::UnexpectedCommand("READY".into()))
    );
    // WELCOME has no body.
    let mut client = Handshake::new(plain_client(SocketType::Push, b"u", b"p"));
    let mut peer = plain_greeting(true);
    peer.extend_from_slice(&command(b"WELCOME", b"x"));
    assert!(matches!(
        feed(&mut client, &peer),
        Err(ProtocolError::BadCommand(_))
    ));
    // Messages are not taken before the handshake is done.
    let mut client = Handshake::new(plain_client(SocketType::Push, b"u", b"p"));
    let mut peer = plain_greeting(true);
    peer.extend_from_slice(&[0x00, 0x01, b'x']);
    assert_eq!(
        feed(&mut client, &peer),
        Err(ProtocolError::UnexpectedCommand("message".into()))
    );
}

#[test]
fn server_checks_the_clients_socket_type() {
    let mut server = Handshake::new(plain_server(SocketType::Pull));
    let mut peer = plain_greeting(false);
    peer.extend_from_slice(&hello_admin());
    feed(&mut server, &peer).unwrap();
    server.auth_reply(AuthReply::accept());
    let initiate = command(b"INITIATE", &metadata(&[("Socket-Type", b"PULL")]));
    assert!(matches!(
        feed(&mut server, &initiate),
        Err(ProtocolError::IncompatibleSocketType { .. })
    ));
    // The server may say why, with ERROR instead of READY.
    let out = written(&mut server);
    assert!(out.ends_with(&[welcome(), invalid_socket_type()].concat()));
}

#[test]
fn a_client_never_sends_error() {
    let mut client = Handshake::new(plain_client(SocketType::Push, b"u", b"p"));
    let mut peer = plain_greeting(true);
    peer.extend_from_slice(&welcome());
    peer.extend_from_slice(&command(b"READY", &metadata(&[("Socket-Type", b"PUSH")])));
    assert!(matches!(
        feed(&mut client, &peer),
        Err(ProtocolError::IncompatibleSocketType { .. })
    ));
    let out = written(&mut client);
    assert!(out.ends_with(&command(
        b"INITIATE",
        &metadata(&[("Socket-Type", b"PUSH")])
    )));
}

#[test]
fn two_handshakes_one_byte_at_a_time() {
    let client = HandshakeConfig {
        routing_id: Bytes::from_static(b"D1"),
        ..plain_client(SocketType::Dealer, b"admin", b"secret")
    };
    let verdict = |request: &AuthRequest| {
        assert_eq!(request, &admin_request());
        AuthReply::Accept {
            user_id: Bytes::from_static(b"admin"),
            properties: Metadata::default(),
        }
    };
    let (client, server) = drive(
        Handshake::new(client),
        Handshake::new(plain_server(SocketType::Router)),
        1,
        &verdict,
    );
    let (client, server) = (client.unwrap().unwrap(), server.unwrap().unwrap());
    assert_eq!(client.socket_type, SocketType::Router);
    assert_eq!(server.socket_type, SocketType::Dealer);
    assert_eq!(server.routing_id, Bytes::from_static(b"D1"));
    assert_eq!(server.user_id, Bytes::from_static(b"admin"));
}

#[test]
fn two_handshakes_refused() {
    let refuse = |_: &AuthRequest| AuthReply::Refuse {
        status_code: 400,
        text: "no".into(),
    };
    for step in [1, 7, 1000] {
        let (client, server) = drive(
            Handshake::new(plain_client(SocketType::Push, b"admin", b"guess")),
            Handshake::new(plain_server(SocketType::Pull)),
            step,
            &refuse,
        );
        assert!(matches!(
            client,
            Some(Err(ProtocolError::AuthenticationFailed {
                status_code: 400,
                ..
            }))
        ));
        assert!(matches!(
            server,
            Some(Err(ProtocolError::AuthenticationFailed {
                status_code: 400,
                ..
            }))
        ));
    }
}

proptest! {
    #[test]
    fn server_takes_arbitrary_bytes_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        chunk in 1usize..100,
        with_hello in any::<bool>(),
    ) {
        let mut server = Handshake::new(plain_server(SocketType::Pull));
        let mut input = BytesMut::from(&plain_greeting(false)[..]);
        if with_hello {
            input.extend_from_slice(&hello_admin());
        }
        for piece in bytes.chunks(chunk) {
            input.extend_from_slice(piece);
            written(&mut server);
            match server.read_from(&mut input) {
                Err(_) => break,
                Ok(Some(_)) => panic!("completed without a verdict"),
                Ok(None) => {
                    if server.auth_request().is_some() {
                        server.auth_reply(AuthReply::accept());
                    }
                }
            }
        }
    }
}
