//! CURVE (RFC 25, RFC 26): whole handshakes, the sizes of the commands, the checks a server
//! and a client make, and the MESSAGE codec's refusal of replayed, reordered and altered boxes.

use super::*;
use crate::{
    curve_public, Credentials, CurveCodec, CurveKeyPair, CurveSecretKey, FrameDecoder, Z85Error,
};

/// A key pair made from one repeated byte.
fn keys(seed: u8) -> CurveKeyPair {
    let secret = CurveSecretKey::from_bytes([seed; 32]);
    CurveKeyPair {
        public: curve_public(&secret),
        secret,
    }
}

fn curve_server(socket_type: SocketType, server: &CurveKeyPair) -> HandshakeConfig {
    HandshakeConfig {
        security: Security::CurveServer {
            secret_key: server.secret.clone(),
        },
        ..config(socket_type)
    }
}

fn curve_client(
    socket_type: SocketType,
    server_key: CurvePublicKey,
    client: &CurveKeyPair,
) -> HandshakeConfig {
    HandshakeConfig {
        security: Security::CurveClient {
            server_key,
            public_key: client.public,
            secret_key: client.secret.clone(),
        },
        ..config(socket_type)
    }
}

/// A PUSH client and a PULL server with the given keys, and repeatable randomness.
fn push_and_pull(server_key: CurvePublicKey, seed: u64) -> (Handshake, Handshake) {
    let client = curve_client(SocketType::Push, server_key, &keys(1));
    let server = curve_server(SocketType::Pull, &keys(2));
    (
        Handshake::with_rng(client, TestRng(seed)),
        Handshake::with_rng(server, TestRng(seed + 1)),
    )
}

/// The two codecs of a completed handshake: the client's, then the server's.
fn codecs(step: usize) -> (CurveCodec, CurveCodec) {
    let (client, server) = push_and_pull(keys(2).public, 7);
    match drive(client, server, step, &accept_all) {
        (Some(Ok(client)), Some(Ok(server))) => (client.codec.unwrap(), server.codec.unwrap()),
        other => panic!("handshake did not complete: {other:?}"),
    }
}

/// Every frame in `bytes`, with command bodies left unparsed.
fn commands(bytes: &[u8]) -> Vec<Command> {
    let mut input = BytesMut::from(bytes);
    let mut decoder = FrameDecoder::new(None);
    let mut out = Vec::new();
    while let Some(frame) = decoder
        .decode_with(&mut input, Command::decode_opaque)
        .unwrap()
    {
        match frame {
            Frame::Command(command) => out.push(command),
            Frame::Message { .. } => panic!("message frame in a handshake"),
        }
    }
    assert!(input.is_empty());
    out
}

/// The name and the length of everything after it, of each command.
fn shapes(commands: &[Command]) -> Vec<(String, usize)> {
    commands
        .iter()
        .map(|command| match command {
            Command::Other { name, data } => {
                (String::from_utf8_lossy(name).into_owned(), data.len())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn libzmq_test_keys() {
    // zmq_curve(7): the public keys of the test secret keys.
    for (secret, public) in [
        (
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
        ),
        (
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        ),
    ] {
        let secret = CurveSecretKey::from_z85(secret).unwrap();
        assert_eq!(curve_public(&secret).to_z85(), public);
        assert_eq!(
            curve_public(&secret),
            CurvePublicKey::from_z85(public).unwrap()
        );
    }
    assert_eq!(
        CurvePublicKey::from_z85("HelloWorld"),
        Err(Z85Error::KeyLength { len: 8 })
    );
    assert!(CurveSecretKey::from_z85("Hello World").is_err());
    // A secret key never shows itself.
    assert_eq!(format!("{:?}", keys(3).secret), "CurveSecretKey(..)");
}

#[test]
fn random_key_pairs_match() {
    let pair = crate::curve_keypair();
    assert_eq!(curve_public(&pair.secret), pair.public);
    assert_ne!(crate::curve_keypair().public, pair.public);
}

#[test]
fn commands_have_their_rfc_26_sizes() {
    let (mut client, mut server) = push_and_pull(keys(2).public, 1);
    let curve_greeting = |as_server: bool| {
        let mut g = greeting(3, 1, b"CURVE");
        g[32] = u8::from(as_server);
        g
    };
    assert_eq!(written(&mut client), &curve_greeting(false)[..10]);
    assert_eq!(written(&mut server), &curve_greeting(true)[..10]);

    assert_eq!(feed(&mut client, &curve_greeting(true)), Ok(None));
    let out = written(&mut client);
    assert_eq!(&out[..54], &curve_greeting(false)[10..]);
    let hello = &out[54..];
    // HELLO: 200 bytes, version 1.0, 72 zeros, C', short nonce 1, then the signature box.
    assert_eq!(
        &hello[..10],
        &[&[0x04, 200, 5][..], b"HELLO", &[1, 0]].concat()
    );
    assert_eq!(&hello[10..82], &[0; 72]);
    assert_eq!(&hello[114..122], &[0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(hello.len(), 202);

    let mut input = BytesMut::from(&curve_greeting(false)[..]);
    input.extend_from_slice(hello);
    assert_eq!(read(&mut server, &mut input), Ok(None));
    let welcome = written(&mut server)[54..].to_vec();
    assert_eq!(shapes(&commands(&welcome)), [("WELCOME".into(), 160)]);

    assert_eq!(feed(&mut client, &welcome), Ok(None));
    let initiate = written(&mut client);
    // Cookie 96, short nonce 8, box of C (32), vouch (96) and 20 bytes of metadata.
    assert_eq!(
        shapes(&commands(&initiate)),
        [("INITIATE".into(), 96 + 8 + 16 + 32 + 96 + 20)]
    );
    assert_eq!(initiate[0], 0x06, "a long command frame");
    let Command::Other { data, .. } = &commands(&initiate)[0] else {
        unreachable!()
    };
    assert_eq!(&data[96..104], &[0, 0, 0, 0, 0, 0, 0, 2]);

    assert_eq!(feed(&mut server, &initiate), Ok(None));
    assert_eq!(
        server.auth_request(),
        Some(&AuthRequest {
            mechanism: Mechanism::Curve,
            credentials: Credentials::Curve {
                public_key: keys(1).public
            },
        })
    );
    server.auth_reply(AuthReply::accept());
    let server_sees = feed(&mut server, b"").unwrap().unwrap();
    assert_eq!(server_sees.socket_type, SocketType::Push);
    assert_eq!(server_sees.curve_public_key, Some(keys(1).public));
    assert!(server_sees.codec);
    let ready = written(&mut server);
    // Short nonce 8, then a box of the 20 bytes of metadata.
    assert_eq!(shapes(&commands(&ready)), [("READY".into(), 8 + 16 + 20)]);
    assert_eq!(&ready[8..16], &[0, 0, 0, 0, 0, 0, 0, 1]);

    let client_sees = feed(&mut client, &ready).unwrap().unwrap();
    assert_eq!(client_sees.socket_type, SocketType::Pull);
    assert_eq!(client_sees.curve_public_key, Some(keys(2).public));
    assert_eq!(client_sees.user_id, Bytes::new());
    assert!(client_sees.codec);
}

#[test]
fn the_same_randomness_gives_the_same_bytes() {
    let run = || {
        let (mut client, mut server) = push_and_pull(keys(2).public, 9);
        let mut input = BytesMut::from(&greeting(3, 1, b"CURVE")[..]);
        read(&mut server, &mut input).unwrap();
        let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
        client.write_to(&mut to_server);
        server.write_to(&mut to_client);
        (to_server, to_client)
    };
    assert_eq!(run(), run());
}

#[test]
fn two_handshakes_one_byte_at_a_time() {
    for step in [1, 3, 64, 1000] {
        let (client, server) = push_and_pull(keys(2).public, step as u64);
        let verdict = |request: &AuthRequest| {
            assert_eq!(
                request.credentials,
                Credentials::Curve {
                    public_key: keys(1).public
                }
            );
            AuthReply::Accept {
                user_id: Bytes::from_static(b"pusher"),
                properties: Metadata::default(),
            }
        };
        let (Some(Ok(client)), Some(Ok(server))) = drive(client, server, step, &verdict) else {
            panic!("handshake did not complete");
        };
        assert_eq!(client.socket_type, SocketType::Pull);
        assert_eq!(server.socket_type, SocketType::Push);
        assert_eq!(server.user_id, Bytes::from_static(b"pusher"));
        assert_eq!(server.curve_public_key, Some(keys(1).public));
        assert_eq!(client.curve_public_key, Some(keys(2).public));
    }
}

#[test]
fn metadata_and_identity_cross_encrypted() {
    let client = HandshakeConfig {
        routing_id: Bytes::from_static(b"worker-1"),
        properties: vec![("X-Colour".into(), Bytes::from_static(b"blue"))],
        ..curve_client(SocketType::Dealer, keys(2).public, &keys(1))
    };
    let server = curve_server(SocketType::Router, &keys(2));
    let (Some(Ok(_)), Some(Ok(server))) = drive(
        Handshake::with_rng(client, TestRng(1)),
        Handshake::with_rng(server, TestRng(2)),
        5,
        &accept_all,
    ) else {
        panic!("handshake did not complete");
    };
    assert_eq!(server.routing_id, Bytes::from_static(b"worker-1"));
    assert_eq!(
        server.properties.get("X-Colour"),
        Some(&Bytes::from_static(b"blue"))
    );
}

#[test]
fn refused_client_gets_the_status_code() {
    let (client, server) = push_and_pull(keys(2).public, 3);
    let refuse = |_: &AuthRequest| AuthReply::Refuse {
        status_code: 400,
        text: "unknown key".into(),
    };
    let (client, server) = drive(client, server, 10, &refuse);
    assert!(matches!(
        client,
        Some(Err(ProtocolError::AuthenticationFailed {
            status_code: 400,
            ..
        }))
    ));
    assert_eq!(
        server.map(|r| r.map(Peer::from)),
        Some(Err(ProtocolError::AuthenticationFailed {
            status_code: 400,
            text: "unknown key".into()
        }))
    );
}

#[test]
fn wrong_server_key_fails_at_hello() {
    // The client expects another server: its HELLO cannot be opened.
    let (client, server) = push_and_pull(keys(9).public, 5);
    let (client, server) = drive(client, server, 1, &accept_all);
    assert!(client.is_none(), "the client hears nothing back");
    assert_eq!(
        server.map(|r| r.map(Peer::from)),
        Some(Err(ProtocolError::DecryptionFailed("HELLO box")))
    );
}

#[test]
fn roles_and_mechanisms_must_match() {
    let mut server = Handshake::new(curve_server(SocketType::Pull, &keys(2)));
    let mut peer = greeting(3, 1, b"CURVE");
    peer[32] = 1;
    assert_eq!(
        feed(&mut server, &peer),
        Err(ProtocolError::RoleMismatch {
            mechanism: "CURVE".into(),
            role: "server"
        })
    );
    let mut client = Handshake::new(curve_client(SocketType::Push, keys(2).public, &keys(1)));
    assert!(matches!(
        feed(&mut client, &greeting(3, 1, b"PLAIN")),
        Err(ProtocolError::MechanismMismatch { .. })
    ));
    // Two clients each get the other's HELLO.
    let both_clients = drive(
        Handshake::new(curve_client(SocketType::Push, keys(2).public, &keys(1))),
        Handshake::new(curve_client(SocketType::Pull, keys(2).public, &keys(3))),
        7,
        &accept_all,
    );
    let client_error = || {
        Some(Err(ProtocolError::RoleMismatch {
            mechanism: "CURVE".into(),
            role: "client",
        }))
    };
    assert_eq!(
        (
            both_clients.0.map(|r| r.map(Peer::from)),
            both_clients.1.map(|r| r.map(Peer::from))
        ),
        (client_error(), client_error())
    );
}

/// The server after a valid greeting, and the client's HELLO.
fn server_and_hello() -> (Handshake, Vec<u8>) {
    let (mut client, server) = push_and_pull(keys(2).public, 11);
    let mut peer = greeting(3, 1, b"CURVE");
    peer[32] = 1;
    feed(&mut client, &peer).unwrap();
    let hello = written(&mut client)[64..].to_vec();
    let mut input = greeting(3, 1, b"CURVE");
    input.extend_from_slice(&hello);
    (server, input)
}

#[test]
fn malformed_hello_is_refused() {
    let (mut server, input) = server_and_hello();
    assert_eq!(feed(&mut server, &input), Ok(None));
    for (at, what) in [
        (64 + 3 + 5, "HELLO is not for CurveZMQ 1.0"),
        (64 + 3 + 5 + 2 + 40, "HELLO padding is not all zeros"),
    ] {
        let (mut server, mut input) = server_and_hello();
        input[at] ^= 1;
        assert_eq!(
            feed(&mut server, &input),
            Err(ProtocolError::BadCommand(what))
        );
    }
    // An altered key, nonce or box does not open.
    for at in [64 + 82, 64 + 115, 64 + 150] {
        let (mut server, mut input) = server_and_hello();
        input[at] ^= 1;
        assert_eq!(
            feed(&mut server, &input),
            Err(ProtocolError::DecryptionFailed("HELLO box"))
        );
    }
    // HELLO must be 200 bytes.
    let mut server = Handshake::new(curve_server(SocketType::Pull, &keys(2)));
    let mut input = greeting(3, 1, b"CURVE");
    input.extend_from_slice(&[0x04, 7, 5]);
    input.extend_from_slice(b"HELLO\x01\x00");
    assert_eq!(
        feed(&mut server, &input),
        Err(ProtocolError::BadCommand("HELLO is not 200 bytes"))
    );
    // No ERROR goes back for any of these.
    assert_eq!(written(&mut server), greeting_as(&keys(2)));
}

/// A CURVE server's whole greeting.
fn greeting_as(_: &CurveKeyPair) -> Vec<u8> {
    let mut g = greeting(3, 1, b"CURVE");
    g[32] = 1;
    g
}

#[test]
fn altered_initiate_is_refused() {
    // Cookie, short nonce, and box, each altered in turn.
    for (at, error) in [
        (20, ProtocolError::DecryptionFailed("cookie")),
        (9 + 96 + 7, ProtocolError::DecryptionFailed("INITIATE box")),
        (
            9 + 96 + 8 + 40,
            ProtocolError::DecryptionFailed("INITIATE box"),
        ),
    ] {
        let (mut client, mut server) = push_and_pull(keys(2).public, 13);
        let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
        // Three rounds: signatures, the rest of the greetings, then HELLO and WELCOME.
        for _ in 0..3 {
            client.write_to(&mut to_server);
            read(&mut server, &mut to_server).unwrap();
            server.write_to(&mut to_client);
            read(&mut client, &mut to_client).unwrap();
        }
        let mut initiate = written(&mut client);
        // Past the 9-byte long header to the body.
        initiate[9 + at] ^= 0x80;
        assert_eq!(feed(&mut server, &initiate), Err(error));
        assert!(server.auth_request().is_none());
    }
}

#[test]
fn messages_cross_both_ways() {
    let (mut client, mut server) = codecs(1);
    let mut wire = BytesMut::new();
    client.encode_message(&mut wire, true, b"hello").unwrap();
    client.encode_message(&mut wire, false, b"").unwrap();
    client
        .encode_command(&mut wire, &Command::Subscribe(Bytes::from_static(b"topic")))
        .unwrap();
    let mut decoder = FrameDecoder::new(None);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut wire).unwrap() {
        // As libzmq sends it: a message frame, its flags inside the box.
        assert!(
            matches!(&frame, Frame::Message { more: false, body } if body.starts_with(b"\x07MESSAGE"))
        );
        frames.push(server.decode(frame).unwrap());
    }
    assert_eq!(
        frames,
        [
            Frame::Message {
                more: true,
                body: Bytes::from_static(b"hello")
            },
            Frame::Message {
                more: false,
                body: Bytes::new()
            },
            Frame::Command(Command::Subscribe(Bytes::from_static(b"topic"))),
        ]
    );

    let big = vec![0xA5; 70_000];
    server.encode_message(&mut wire, false, &big).unwrap();
    let frame = decoder.decode(&mut wire).unwrap().unwrap();
    assert_eq!(
        client.decode(frame).unwrap(),
        Frame::Message {
            more: false,
            body: big.into()
        }
    );
}

/// One MESSAGE frame from `codec`, as the peer's frame decoder yields it.
fn boxed(codec: &mut CurveCodec, body: &[u8]) -> Frame {
    let mut wire = BytesMut::new();
    codec.encode_message(&mut wire, false, body).unwrap();
    FrameDecoder::new(None).decode(&mut wire).unwrap().unwrap()
}

#[test]
fn replayed_message_is_refused() {
    let (mut client, mut server) = codecs(50);
    let first = boxed(&mut client, b"one");
    assert!(server.decode(first.clone()).is_ok());
    assert!(matches!(
        server.decode(first),
        Err(ProtocolError::BadNonce { nonce, last }) if nonce == last
    ));
}

#[test]
fn reordered_messages_are_refused() {
    let (mut client, mut server) = codecs(50);
    let first = boxed(&mut client, b"one");
    let second = boxed(&mut client, b"two");
    assert!(server.decode(second).is_ok());
    let err = server.decode(first).unwrap_err();
    assert!(matches!(err, ProtocolError::BadNonce { nonce, last } if nonce + 1 == last));
    assert!(err.to_string().contains("replayed or reordered"));
}

#[test]
fn altered_message_is_refused() {
    let (mut client, mut server) = codecs(50);
    let Frame::Message { body, .. } = boxed(&mut client, b"payload") else {
        unreachable!()
    };
    // A byte of the short nonce (making it larger), of the tag and of the ciphertext.
    for at in [14, 20, body.len() - 1] {
        let mut altered = body.to_vec();
        altered[at] ^= 1;
        let frame = Frame::Message {
            more: false,
            body: altered.into(),
        };
        assert_eq!(
            server.decode(frame),
            Err(ProtocolError::DecryptionFailed("MESSAGE box"))
        );
    }
    // A failed box moves nothing on: the genuine one still opens.
    assert!(server.decode(Frame::Message { more: false, body }).is_ok());
}

#[test]
fn a_box_for_the_other_direction_is_refused() {
    // The client's own MESSAGE, reflected back at it, has the client's nonce prefix.
    let (mut client, _) = codecs(50);
    let own = boxed(&mut client, b"echo");
    assert_eq!(
        client.decode(own),
        Err(ProtocolError::DecryptionFailed("MESSAGE box"))
    );
}

#[test]
fn anything_but_a_message_box_is_refused() {
    let (_, mut server) = codecs(50);
    for frame in [
        Frame::Message {
            more: false,
            body: Bytes::from_static(b"clear"),
        },
        Frame::Command(Command::Ping {
            ttl: 0,
            context: Bytes::new(),
        }),
        Frame::Command(Command::Other {
            name: Bytes::from_static(b"MESSAGE"),
            data: Bytes::from_static(&[0; 24]),
        }),
        Frame::Message {
            more: false,
            body: Bytes::from_static(b"\x07MESSAGE"),
        },
    ] {
        assert!(server.decode(frame).is_err());
    }
}

proptest! {
    // Each case runs X25519 several times, which is slow in a debug build; the fuzz target
    // `curve_server` goes much further.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn server_takes_arbitrary_bytes_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..200,
        with_hello in any::<bool>(),
    ) {
        let (mut server, mut input) = server_and_hello();
        if !with_hello {
            input.truncate(64);
        }
        let mut input = BytesMut::from(&input[..]);
        for piece in bytes.chunks(chunk) {
            input.extend_from_slice(piece);
            written(&mut server);
            match server.read_from(&mut input) {
                Err(_) => break,
                Ok(Some(_)) => panic!("completed without a valid INITIATE"),
                Ok(None) => prop_assert!(server.auth_request().is_none()),
            }
        }
    }
}

#[test]
fn codec_refuses_arbitrary_frames_without_panicking() {
    use rand_core::RngCore;
    let (_, mut server) = codecs(1000);
    let mut rng = TestRng(5);
    for len in 0..300 {
        let mut data = vec![0; len];
        rng.fill_bytes(&mut data);
        let frame = Frame::Command(Command::Other {
            name: Bytes::from_static(b"MESSAGE"),
            data: data.clone().into(),
        });
        assert!(server.decode(frame).is_err());
        let body = [&b"\x07MESSAGE"[..], &data].concat();
        let frame = Frame::Message {
            more: false,
            body: body.into(),
        };
        assert!(server.decode(frame).is_err());
    }
}
