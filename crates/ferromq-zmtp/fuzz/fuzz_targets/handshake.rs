//! A PUSH socket's handshake fed arbitrary bytes in arbitrary pieces must never panic, and
//! must finish or fail the same way however the bytes are cut.
#![no_main]

use bytes::{Bytes, BytesMut};
use ferromq_zmtp::{
    frame_header, Handshake, HandshakeConfig, Metadata, PeerInfo, ProtocolError, SocketType,
    Version,
};
use libfuzzer_sys::fuzz_target;

/// A valid ZMTP 3.1 NULL greeting, so that inputs reach the READY exchange quickly.
fn null_greeting() -> [u8; 64] {
    let mut g = [0; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// What a run came to: its result, what it wrote, and unless it failed, the bytes after the
/// handshake (how much a failed one had taken depends on the cuts).
type Outcome = (
    Result<Option<Peer>, ProtocolError>,
    BytesMut,
    Option<BytesMut>,
);

/// What a NULL handshake learns of the peer, in a form that can be compared.
type Peer = (Version, SocketType, Bytes, Metadata);

fn peer(info: PeerInfo) -> Peer {
    (
        info.version,
        info.socket_type,
        info.routing_id,
        info.properties,
    )
}

/// Runs a handshake over `stream` delivered in pieces of the given sizes (cycled), draining
/// its output between pieces.
fn run(stream: &[u8], sizes: &[u8]) -> Outcome {
    let mut handshake = Handshake::new(HandshakeConfig {
        socket_type: SocketType::Push,
        routing_id: Default::default(),
        properties: Vec::new(),
        security: Default::default(),
    });
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    loop {
        handshake.write_to(&mut output);
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        input.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let result = handshake.read_from(&mut input);
        if !matches!(result, Ok(None)) || rest.is_empty() {
            handshake.write_to(&mut output);
            input.extend_from_slice(rest);
            let rest = result.is_ok().then_some(input);
            return (result.map(|p| p.map(peer)), output, rest);
        }
    }
}

/// Appends a READY command frame whose metadata is `metadata`, valid or not.
fn push_ready(stream: &mut Vec<u8>, metadata: &[u8]) {
    let (header, len) = frame_header(false, true, 6 + metadata.len());
    stream.extend_from_slice(&header[..len]);
    stream.extend_from_slice(b"\x05READY");
    stream.extend_from_slice(metadata);
}

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (prefix, sizes, bytes) = input;
    // Valid prefixes let the fuzzer reach the later steps without having to find them.
    let mut stream = Vec::new();
    if prefix % 4 != 0 {
        stream.extend_from_slice(&null_greeting());
    }
    match prefix % 4 {
        2 => push_ready(&mut stream, &bytes),
        3 => {
            push_ready(&mut stream, b"\x0bSocket-Type\x00\x00\x00\x04PULL");
            stream.extend_from_slice(&bytes);
        }
        _ => stream.extend_from_slice(&bytes),
    }
    let whole = run(&stream, &[]);
    let pieces = run(&stream, &sizes);
    assert_eq!(whole, pieces);
});
