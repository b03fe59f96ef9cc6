use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

mod curve;
mod plain;

/// A repeatable generator (SplitMix64), so that handshakes under test are the same every run.
/// Not secure: for tests only.
struct TestRng(u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

fn config(socket_type: SocketType) -> HandshakeConfig {
    HandshakeConfig {
        socket_type,
        routing_id: Bytes::new(),
        properties: Vec::new(),
        security: Security::Null,
    }
}

/// A greeting written out field by field (RFC 23, "Formal Grammar"), with an empty identity's
/// length plus one in the padding, as this side and libzmq send it.
fn greeting(major: u8, minor: u8, mechanism: &[u8]) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, major, minor];
    let mut name = [0u8; 20];
    name[..mechanism.len()].copy_from_slice(mechanism);
    g.extend_from_slice(&name);
    g.push(0); // as-server
    g.extend_from_slice(&[0; 31]);
    assert_eq!(g.len(), 64);
    g
}

/// A READY command frame written out by hand.
fn ready(properties: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    for (name, value) in properties {
        body.push(name.len() as u8);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&(value.len() as u32).to_be_bytes());
        body.extend_from_slice(value);
    }
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// The ERROR command we send when the peer's socket type is refused.
fn invalid_socket_type() -> Vec<u8> {
    let mut frame = vec![0x04, 26, 5];
    frame.extend_from_slice(b"ERROR");
    frame.push(19);
    frame.extend_from_slice(b"Invalid socket type");
    frame
}

fn written(handshake: &mut Handshake) -> Vec<u8> {
    let mut out = BytesMut::new();
    handshake.write_to(&mut out);
    out.to_vec()
}

/// `PeerInfo` with whether there is a codec instead of the codec, so that it can be compared.
#[derive(Debug, PartialEq)]
struct Peer {
    version: Version,
    framing: Framing,
    socket_type: SocketType,
    routing_id: Bytes,
    properties: Metadata,
    user_id: Bytes,
    zap_properties: Metadata,
    curve_public_key: Option<CurvePublicKey>,
    codec: bool,
}

impl From<PeerInfo> for Peer {
    fn from(info: PeerInfo) -> Peer {
        Peer {
            version: info.version,
            framing: info.framing,
            socket_type: info.socket_type,
            routing_id: info.routing_id,
            properties: info.properties,
            user_id: info.user_id,
            zap_properties: info.zap_properties,
            curve_public_key: info.curve_public_key,
            codec: info.codec.is_some(),
        }
    }
}

/// Reads from `input`, with the peer made comparable.
fn read(handshake: &mut Handshake, input: &mut BytesMut) -> Result<Option<Peer>, ProtocolError> {
    handshake.read_from(input).map(|peer| peer.map(Peer::from))
}

/// Feeds `bytes` at once and returns the result.
fn feed(handshake: &mut Handshake, bytes: &[u8]) -> Result<Option<Peer>, ProtocolError> {
    read(handshake, &mut BytesMut::from(bytes))
}

#[test]
fn sends_the_partial_greeting_first() {
    let mut handshake = Handshake::new(config(SocketType::Push));
    assert_eq!(written(&mut handshake), &greeting(3, 1, b"NULL")[..10]);
    assert_eq!(written(&mut handshake), b"");
    // The major version follows the peer's signature; the rest, its major version.
    let peer = greeting(3, 1, b"NULL");
    assert_eq!(feed(&mut handshake, &peer[..10]), Ok(None));
    assert_eq!(written(&mut handshake), &[3]);
    assert_eq!(feed(&mut handshake, &peer[10..11]), Ok(None));
    assert_eq!(written(&mut handshake), &greeting(3, 1, b"NULL")[11..]);
}

#[test]
fn against_a_libzmq_push_peer() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&ready(&[("Socket-Type", b"PUSH")]));
    peer.extend_from_slice(&[0x00, 0x02, b'h', b'i']);

    let mut handshake = Handshake::new(config(SocketType::Pull));
    let mut input = BytesMut::from(&peer[..]);
    let info = read(&mut handshake, &mut input).unwrap().unwrap();
    assert_eq!(
        info,
        Peer {
            version: Version { major: 3, minor: 1 },
            framing: Framing::Zmtp3,
            socket_type: SocketType::Push,
            routing_id: Bytes::new(),
            properties: Metadata(vec![("Socket-Type".into(), Bytes::from_static(b"PUSH"))]),
            user_id: Bytes::new(),
            zap_properties: Metadata::default(),
            curve_public_key: None,
            codec: false,
        }
    );
    // The message after READY is left for the frame decoder.
    assert_eq!(&input[..], &[0x00, 0x02, b'h', b'i']);

    // Nothing was drained until now: the whole greeting, then READY.
    let mut expected = greeting(3, 1, b"NULL");
    expected.extend_from_slice(&ready(&[("Socket-Type", b"PULL")]));
    assert_eq!(written(&mut handshake), expected);
}

#[test]
fn only_req_dealer_and_router_send_an_identity() {
    for (socket_type, identity) in [
        (SocketType::Req, true),
        (SocketType::Dealer, true),
        (SocketType::Router, true),
        (SocketType::Pub, false),
        (SocketType::Pair, false),
    ] {
        let mut handshake = Handshake::new(HandshakeConfig {
            socket_type,
            routing_id: Bytes::from_static(b"id"),
            properties: vec![("X-App".into(), Bytes::from_static(b"v"))],
            security: Security::Null,
        });
        assert_eq!(feed(&mut handshake, &greeting(3, 1, b"NULL")), Ok(None));
        let mut expected = greeting(3, 1, b"NULL");
        expected[8] = 3; // "id" and one
        let name = socket_type.name().as_bytes();
        expected.extend_from_slice(&if identity {
            ready(&[("Socket-Type", name), ("Identity", b"id"), ("X-App", b"v")])
        } else {
            ready(&[("Socket-Type", name), ("X-App", b"v")])
        });
        assert_eq!(written(&mut handshake), expected);
    }
}

#[test]
fn peer_identity_and_properties() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&ready(&[
        ("Socket-Type", b"DEALER"),
        ("identity", b"client-7"),
        ("X-Colour", b"blue"),
    ]));
    let mut handshake = Handshake::new(config(SocketType::Router));
    let info = feed(&mut handshake, &peer).unwrap().unwrap();
    assert_eq!(info.socket_type, SocketType::Dealer);
    assert_eq!(info.routing_id, Bytes::from_static(b"client-7"));
    assert_eq!(
        info.properties.get("x-colour"),
        Some(&Bytes::from_static(b"blue"))
    );
    assert_eq!(info.properties.0.len(), 3);
}

#[test]
fn a_zmtp_3_0_peer_gives_version_3_0() {
    let mut peer = greeting(3, 0, b"NULL");
    peer.extend_from_slice(&ready(&[("Socket-Type", b"SUB")]));
    let mut handshake = Handshake::new(config(SocketType::Pub));
    let info = feed(&mut handshake, &peer).unwrap().unwrap();
    assert_eq!(info.version, Version { major: 3, minor: 0 });
}

#[test]
fn a_later_peer_gives_our_version() {
    let mut peer = greeting(4, 2, b"NULL");
    peer.extend_from_slice(&ready(&[("Socket-Type", b"PAIR")]));
    let mut handshake = Handshake::new(config(SocketType::Pair));
    let info = feed(&mut handshake, &peer).unwrap().unwrap();
    assert_eq!(info.version, Version { major: 3, minor: 1 });
}

/// How a pair of handshakes ended: each side's result, `None` for a side still waiting when
/// nothing more could happen.
type Outcomes = (
    Option<Result<PeerInfo, ProtocolError>>,
    Option<Result<PeerInfo, ProtocolError>>,
);

/// Drives two handshakes against each other, moving `step` bytes at a time each way, and
/// answers a server's authentication with `verdict`.
fn drive(
    a: Handshake,
    b: Handshake,
    step: usize,
    verdict: &dyn Fn(&AuthRequest) -> AuthReply,
) -> Outcomes {
    let mut sides = [(a, BytesMut::new(), None), (b, BytesMut::new(), None)];
    let mut wires = [BytesMut::new(), BytesMut::new()];
    for _ in 0..100_000 {
        let mut moved = false;
        for from in 0..2 {
            sides[from].0.write_to(&mut wires[from]);
            let n = step.min(wires[from].len());
            moved |= n > 0;
            let bytes = wires[from].split_to(n);
            sides[1 - from].1.extend_from_slice(&bytes);
        }
        for (handshake, input, outcome) in &mut sides {
            if outcome.is_some() {
                continue;
            }
            match handshake.read_from(input) {
                Ok(None) => {
                    if let Some(request) = handshake.auth_request() {
                        let reply = verdict(request);
                        handshake.auth_reply(reply);
                        moved = true;
                    }
                }
                Ok(Some(peer)) => *outcome = Some(Ok(peer)),
                Err(err) => *outcome = Some(Err(err)),
            }
        }
        for (side, wire) in sides.iter_mut().zip(&mut wires) {
            side.0.write_to(wire);
            moved |= !wire.is_empty();
        }
        let [(_, a_in, a_out), (_, b_in, b_out)] = &mut sides;
        if a_out.is_some() && b_out.is_some() || !moved {
            for (input, outcome) in [(a_in, &a_out), (b_in, &b_out)] {
                if matches!(outcome, Some(Ok(_))) {
                    assert!(input.is_empty(), "bytes left after the handshake");
                }
            }
            let [(_, _, a), (_, _, b)] = sides;
            return (a, b);
        }
    }
    panic!("handshake did not settle");
}

fn accept_all(_: &AuthRequest) -> AuthReply {
    AuthReply::accept()
}

/// Drives two handshakes that must both complete.
fn run_pair(a: HandshakeConfig, b: HandshakeConfig, step: usize) -> (PeerInfo, PeerInfo) {
    match drive(Handshake::new(a), Handshake::new(b), step, &accept_all) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b),
        other => panic!("handshake did not complete: {other:?}"),
    }
}

#[test]
fn two_handshakes_one_byte_at_a_time() {
    let dealer = HandshakeConfig {
        socket_type: SocketType::Dealer,
        routing_id: Bytes::from_static(b"D1"),
        properties: vec![("X-Name".into(), Bytes::from_static(b"worker"))],
        security: Security::Null,
    };
    let (dealer_sees, router_sees) = run_pair(dealer, config(SocketType::Router), 1);
    assert_eq!(dealer_sees.socket_type, SocketType::Router);
    assert_eq!(dealer_sees.routing_id, Bytes::new());
    assert_eq!(dealer_sees.version, Version { major: 3, minor: 1 });
    assert_eq!(router_sees.socket_type, SocketType::Dealer);
    assert_eq!(router_sees.routing_id, Bytes::from_static(b"D1"));
    assert_eq!(
        router_sees.properties.get("X-Name"),
        Some(&Bytes::from_static(b"worker"))
    );
}

#[test]
fn incompatible_socket_type_is_answered_with_error() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&ready(&[("Socket-Type", b"PUSH")]));
    let mut handshake = Handshake::new(config(SocketType::Push));
    assert_eq!(
        feed(&mut handshake, &peer),
        Err(ProtocolError::IncompatibleSocketType {
            ours: "PUSH",
            peer: "PUSH".into()
        })
    );
    let mut expected = greeting(3, 1, b"NULL");
    expected.extend_from_slice(&ready(&[("Socket-Type", b"PUSH")]));
    expected.extend_from_slice(&invalid_socket_type());
    assert_eq!(written(&mut handshake), expected);
    // The error sticks.
    assert!(feed(&mut handshake, b"").is_err());
}

#[test]
fn unknown_and_stream_socket_types_are_refused() {
    for name in [&b"STREAM"[..], b"push", b"FOO", b""] {
        let mut peer = greeting(3, 1, b"NULL");
        peer.extend_from_slice(&ready(&[("Socket-Type", name)]));
        let mut handshake = Handshake::new(config(SocketType::Pull));
        assert!(matches!(
            feed(&mut handshake, &peer),
            Err(ProtocolError::IncompatibleSocketType { ours: "PULL", .. })
        ));
        assert!(written(&mut handshake).ends_with(&invalid_socket_type()));
    }
}

#[test]
fn missing_socket_type_is_answered_with_error() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&ready(&[("Identity", b"x")]));
    let mut handshake = Handshake::new(config(SocketType::Router));
    assert_eq!(
        feed(&mut handshake, &peer),
        Err(ProtocolError::MissingSocketType)
    );
    let out = written(&mut handshake);
    let error_at = 64 + ready(&[("Socket-Type", b"ROUTER"), ("Identity", b"")]).len();
    assert_eq!(&out[error_at..error_at + 3], &[0x04, 26, 5]);
    assert_eq!(&out[error_at + 3..error_at + 8], b"ERROR");
}

/// A ZMTP 2.0 peer's signature (libzmq 3.x, JeroMQ 0.3), with an empty identity's length.
const SIGNATURE_2_0: [u8; 10] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F];

#[test]
fn zmtp_2_0_peer_is_answered_in_its_own_protocol() {
    let mut handshake = Handshake::new(HandshakeConfig {
        routing_id: Bytes::from_static(b"me"),
        ..config(SocketType::Router)
    });
    let mut ours = greeting(3, 1, b"NULL")[..11].to_vec();
    ours[8] = 3;
    assert_eq!(feed(&mut handshake, &SIGNATURE_2_0), Ok(None));
    assert_eq!(written(&mut handshake), ours);
    // Revision 1 and DEALER (5): we answer with ROUTER (6) and our identity frame, and never
    // send the rest of a 3.x greeting.
    assert_eq!(feed(&mut handshake, &[0x01, 0x05]), Ok(None));
    assert_eq!(written(&mut handshake), &[6, 0x00, 2, b'm', b'e']);
    // Its identity frame, then its first message, which is left for the frame decoder.
    let mut input = BytesMut::from(&[0x00, 3, b'a', b'b', b'c', 0x00, 2, b'h', b'i'][..]);
    let info = read(&mut handshake, &mut input).unwrap().unwrap();
    assert_eq!(
        info,
        Peer {
            version: Version { major: 2, minor: 0 },
            framing: Framing::Zmtp2,
            socket_type: SocketType::Dealer,
            routing_id: Bytes::from_static(b"abc"),
            properties: Metadata(vec![
                ("Socket-Type".into(), Bytes::from_static(b"DEALER")),
                ("Identity".into(), Bytes::from_static(b"abc")),
            ]),
            user_id: Bytes::new(),
            zap_properties: Metadata::default(),
            curve_public_key: None,
            codec: false,
        }
    );
    assert_eq!(&input[..], &[0x00, 2, b'h', b'i']);
}

#[test]
fn zmtp_2_0_peer_of_an_incompatible_type_is_refused() {
    let mut handshake = Handshake::new(config(SocketType::Push));
    let mut peer = SIGNATURE_2_0.to_vec();
    peer.extend_from_slice(&[0x01, 0x08]); // PUSH
    assert!(matches!(
        feed(&mut handshake, &peer),
        Err(ProtocolError::IncompatibleSocketType { ours: "PUSH", .. })
    ));
}

#[test]
fn older_peers_are_refused_under_plain_and_curve() {
    let plain = HandshakeConfig {
        security: Security::PlainServer,
        ..config(SocketType::Pull)
    };
    let mut peer = SIGNATURE_2_0.to_vec();
    peer.extend_from_slice(&[0x01, 0x08]);
    assert_eq!(
        feed(&mut Handshake::new(plain.clone()), &peer),
        Err(ProtocolError::UnsupportedVersion { major: 2, minor: 0 })
    );
    assert_eq!(
        feed(&mut Handshake::new(plain), &[0x01, 0x00]),
        Err(ProtocolError::UnsupportedVersion { major: 1, minor: 0 })
    );
}

#[test]
fn zmtp_1_0_peer_with_a_signature_gets_zmtp_1_0_framing() {
    // Revision 0: the signature, then ZMTP 1.0 frames; its socket type still comes first.
    let mut handshake = Handshake::new(config(SocketType::Pull));
    let mut peer = SIGNATURE_2_0.to_vec();
    peer.extend_from_slice(&[0x00, 0x08]);
    assert_eq!(feed(&mut handshake, &peer), Ok(None));
    // Our socket type (PULL, 7), then an empty identity frame: length 1 (the flags), flags 0.
    assert_eq!(&written(&mut handshake)[11..], &[7, 0x01, 0x00]);
    let mut input = BytesMut::from(&[0x01, 0x00, 0x03, 0x00, b'h', b'i'][..]);
    let info = read(&mut handshake, &mut input).unwrap().unwrap();
    assert_eq!(info.version, Version { major: 1, minor: 0 });
    assert_eq!(info.framing, Framing::Zmtp1);
    assert_eq!(info.socket_type, SocketType::Push);
    assert_eq!(&input[..], &[0x03, 0x00, b'h', b'i']);
}

#[test]
fn zmtp_1_0_peer_without_a_signature_is_told_at_its_first_byte() {
    // A short identity frame ("ab": length 3 with the flags), then a message "hi".
    let mut handshake = Handshake::new(HandshakeConfig {
        routing_id: Bytes::from_static(b"me"),
        ..config(SocketType::Dealer)
    });
    let _ = written(&mut handshake);
    let mut input = BytesMut::from(&[0x03][..]);
    assert_eq!(read(&mut handshake, &mut input), Ok(None));
    // Our signature was the header of our identity frame: its body follows, and no more.
    assert_eq!(written(&mut handshake), b"me");
    input.extend_from_slice(&[0x00, b'a', b'b', 0x03, 0x00, b'h', b'i']);
    let info = read(&mut handshake, &mut input).unwrap().unwrap();
    assert_eq!(info.version, Version { major: 1, minor: 0 });
    assert_eq!(info.framing, Framing::Zmtp1);
    assert_eq!(info.routing_id, Bytes::from_static(b"ab"));
    // ZMTP 1.0 names no socket type: the peer is taken for one a DEALER may talk to.
    assert!(SocketType::Dealer.is_compatible(info.socket_type));
    assert_eq!(&input[..], &[0x03, 0x00, b'h', b'i']);

    // A long identity frame: 0xFF, an 8-byte length, then flags with the low bit clear.
    let mut handshake = Handshake::new(config(SocketType::Dealer));
    let mut peer = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, b'x'];
    peer.extend_from_slice(&[0x01, 0x00]);
    let mut input = BytesMut::from(&peer[..]);
    let info = read(&mut handshake, &mut input).unwrap().unwrap();
    assert_eq!(info.routing_id, Bytes::from_static(b"x"));
    assert_eq!(&input[..], &[0x01, 0x00]);
}

#[test]
fn truncated_input_waits() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&ready(&[("Socket-Type", b"REP")]));
    for len in 0..peer.len() {
        let mut handshake = Handshake::new(config(SocketType::Req));
        assert_eq!(feed(&mut handshake, &peer[..len]), Ok(None), "{len} bytes");
    }
    // Until the peer's signature is in, only ours is out.
    let mut handshake = Handshake::new(config(SocketType::Req));
    assert_eq!(feed(&mut handshake, &peer[..9]), Ok(None));
    assert_eq!(written(&mut handshake).len(), 10);
}

#[test]
fn other_mechanisms_are_refused() {
    let mut handshake = Handshake::new(config(SocketType::Pair));
    assert_eq!(
        feed(&mut handshake, &greeting(3, 1, b"PLAIN")),
        Err(ProtocolError::MechanismMismatch {
            ours: "NULL".into(),
            theirs: "PLAIN".into()
        })
    );
    // It read our whole greeting, so it gets it all (RFC 23, "Authentication and
    // Confidentiality"), but no READY.
    assert_eq!(written(&mut handshake), greeting(3, 1, b"NULL"));
}

#[test]
fn peer_error_is_reported() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&invalid_socket_type());
    assert_eq!(
        feed(&mut Handshake::new(config(SocketType::Pair)), &peer),
        Err(ProtocolError::PeerError("Invalid socket type".into()))
    );
}

#[test]
fn anything_but_ready_is_unexpected() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&[0x00, 0x01, b'x']);
    assert_eq!(
        feed(&mut Handshake::new(config(SocketType::Pair)), &peer),
        Err(ProtocolError::UnexpectedCommand("message".into()))
    );

    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&[0x04, 0x0A, 9]);
    peer.extend_from_slice(b"SUBSCRIBE");
    assert_eq!(
        feed(&mut Handshake::new(config(SocketType::Pub)), &peer),
        Err(ProtocolError::UnexpectedCommand("SUBSCRIBE".into()))
    );
}

#[test]
fn malformed_ready_is_refused() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&[0x04, 0x0A, 5]);
    peer.extend_from_slice(b"READY");
    peer.extend_from_slice(&[0x01, b'A', 0, 0]);
    assert!(matches!(
        feed(&mut Handshake::new(config(SocketType::Pair)), &peer),
        Err(ProtocolError::BadMetadata(_))
    ));
}

#[test]
fn oversized_handshake_command_is_refused_from_its_header() {
    let mut peer = greeting(3, 1, b"NULL");
    peer.extend_from_slice(&[0x06, 0, 0, 0, 0, 0x01, 0, 0, 0]);
    assert!(matches!(
        feed(&mut Handshake::new(config(SocketType::Pair)), &peer),
        Err(ProtocolError::FrameTooLarge {
            size: 0x0100_0000,
            ..
        })
    ));
}

fn compatible_pair() -> impl Strategy<Value = (SocketType, SocketType)> {
    let all = SocketType::ALL;
    let pairs = all.iter().flat_map(|&a| all.iter().map(move |&b| (a, b)));
    proptest::sample::select(
        pairs
            .filter(|(a, b)| a.is_compatible(*b))
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        chunk in 1usize..100,
        valid_greeting in any::<bool>(),
    ) {
        let mut handshake = Handshake::new(config(SocketType::Push));
        let mut input = BytesMut::new();
        if valid_greeting {
            input.extend_from_slice(&greeting(3, 1, b"NULL"));
        }
        for piece in bytes.chunks(chunk) {
            input.extend_from_slice(piece);
            written(&mut handshake);
            if handshake.read_from(&mut input).is_err() {
                break;
            }
        }
    }

    #[test]
    fn compatible_sockets_complete_in_any_chunking(
        (a, b) in compatible_pair(),
        step in 1usize..200,
    ) {
        let (a_sees, b_sees) = run_pair(config(a), config(b), step);
        prop_assert_eq!(a_sees.socket_type, b);
        prop_assert_eq!(b_sees.socket_type, a);
    }
}
