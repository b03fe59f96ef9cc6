//! A CURVE server's handshake fed arbitrary bytes in arbitrary pieces must never panic, must
//! end the same way however the bytes are cut, and must never complete: without the client's
//! keys no INITIATE can be forged. After a real handshake, arbitrary frames must never pass
//! the server's codec.
#![no_main]

use std::sync::OnceLock;

use bytes::BytesMut;
use ferromq_zmtp::rand_core::{self, CryptoRng, RngCore};
use ferromq_zmtp::{
    curve_public, AuthReply, CurvePublicKey, CurveSecretKey, FrameDecoder, Handshake,
    HandshakeConfig, ProtocolError, Security, SocketType,
};
use libfuzzer_sys::fuzz_target;

/// A repeatable generator (SplitMix64), so that a run can be replayed exactly.
struct FuzzRng(u64);

impl RngCore for FuzzRng {
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

impl CryptoRng for FuzzRng {}

fn server_secret() -> CurveSecretKey {
    CurveSecretKey::from_bytes([7; 32])
}

fn server() -> Handshake {
    let config = HandshakeConfig {
        socket_type: SocketType::Pull,
        routing_id: Default::default(),
        properties: Vec::new(),
        security: Security::CurveServer {
            secret_key: server_secret(),
        },
    };
    Handshake::with_rng(config, FuzzRng(1))
}

fn client(server_key: CurvePublicKey) -> Handshake {
    let secret = CurveSecretKey::from_bytes([9; 32]);
    let config = HandshakeConfig {
        socket_type: SocketType::Push,
        routing_id: Default::default(),
        properties: Vec::new(),
        security: Security::CurveClient {
            server_key,
            public_key: curve_public(&secret),
            secret_key: secret,
        },
    };
    Handshake::with_rng(config, FuzzRng(2))
}

/// A CURVE greeting for ZMTP 3.1.
fn greeting(as_server: bool) -> [u8; 64] {
    let mut g = [0; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..17].copy_from_slice(b"CURVE");
    g[32] = u8::from(as_server);
    g
}

/// A client's greeting and a valid HELLO for our server, so that inputs reach INITIATE.
fn greeting_and_hello() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut client = client(curve_public(&server_secret()));
        client
            .read_from(&mut BytesMut::from(&greeting(true)[..]))
            .unwrap();
        let mut out = BytesMut::new();
        client.write_to(&mut out);
        out.to_vec()
    })
}

/// Whether the handshake completed, its error if it failed, and everything it wrote.
type Outcome = (bool, Option<ProtocolError>, BytesMut);

/// Runs the server over `stream` delivered in pieces of the given sizes (cycled), accepting
/// any client the handshake asks about.
fn run(stream: &[u8], sizes: &[u8]) -> Outcome {
    let mut handshake = server();
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    loop {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        input.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let result = handshake.read_from(&mut input);
        handshake.write_to(&mut output);
        match result {
            Ok(Some(_)) => return (true, None, output),
            Err(err) => return (false, Some(err), output),
            Ok(None) if handshake.auth_request().is_some() => {
                handshake.auth_reply(AuthReply::accept())
            }
            Ok(None) if rest.is_empty() => return (false, None, output),
            Ok(None) => {}
        }
    }
}

/// Completes a real handshake, then feeds `bytes` to the server as frames: none may open.
fn codec_takes_nothing_forged(bytes: &[u8]) {
    let (mut client, mut server) = (client(curve_public(&server_secret())), server());
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    let mut server_peer = None;
    for _ in 0..10 {
        client.write_to(&mut to_server);
        if server_peer.is_none() {
            server_peer = server.read_from(&mut to_server).unwrap();
            if server.auth_request().is_some() {
                server.auth_reply(AuthReply::accept());
                server_peer = server.read_from(&mut to_server).unwrap();
            }
        }
        server.write_to(&mut to_client);
        client.read_from(&mut to_client).unwrap();
    }
    let mut codec = server_peer
        .expect("the real handshake completes")
        .codec
        .expect("a CURVE codec");
    let mut input = BytesMut::from(bytes);
    let mut decoder = FrameDecoder::new(None);
    while let Ok(Some(frame)) = decoder.decode(&mut input) {
        assert!(codec.decode(frame).is_err(), "a forged MESSAGE opened");
    }
}

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (prefix, sizes, bytes) = input;
    if prefix % 4 == 3 {
        codec_takes_nothing_forged(&bytes);
        return;
    }
    // Valid prefixes let the fuzzer reach the later steps without having to find them.
    let mut stream = Vec::new();
    match prefix % 4 {
        1 => stream.extend_from_slice(&greeting(false)),
        2 => stream.extend_from_slice(greeting_and_hello()),
        _ => {}
    }
    stream.extend_from_slice(&bytes);
    let whole = run(&stream, &[]);
    let pieces = run(&stream, &sizes);
    assert_eq!(whole, pieces);
    assert!(
        !whole.0,
        "a CURVE handshake completed without the client's keys"
    );
});
