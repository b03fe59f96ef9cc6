//! A PLAIN server's handshake fed arbitrary bytes in arbitrary pieces must never panic, must
//! end the same way however the bytes are cut, and must never complete unless the
//! authenticator accepted the client.
#![no_main]

use bytes::BytesMut;
use ferromq_zmtp::{AuthReply, Handshake, HandshakeConfig, ProtocolError, Security, SocketType};
use libfuzzer_sys::fuzz_target;

/// A PLAIN client's ZMTP 3.1 greeting, so that inputs reach HELLO quickly.
fn client_greeting() -> [u8; 64] {
    let mut g = [0; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..17].copy_from_slice(b"PLAIN");
    g
}

/// A HELLO command frame with username "admin" and password "secret".
const HELLO: &[u8] = b"\x04\x13\x05HELLO\x05admin\x06secret";

/// The verdict the authenticator gives, chosen by the input.
fn verdict(choice: u8) -> AuthReply {
    match choice % 4 {
        0 => AuthReply::accept(),
        refused => AuthReply::Refuse {
            status_code: u16::from(refused + 2) * 100,
            text: "refused".into(),
        },
    }
}

/// Whether the handshake completed, its error if it failed, and everything it wrote.
type Outcome = (bool, Option<ProtocolError>, BytesMut);

/// Runs a server over `stream` delivered in pieces of the given sizes (cycled), answering
/// every authentication with the verdict `choice` picks.
fn run(stream: &[u8], sizes: &[u8], choice: u8) -> Outcome {
    let mut handshake = Handshake::new(HandshakeConfig {
        socket_type: SocketType::Pull,
        routing_id: Default::default(),
        properties: Vec::new(),
        security: Security::PlainServer,
    });
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
            // The verdict takes effect at the next read, with or without new bytes.
            Ok(None) if handshake.auth_request().is_some() => handshake.auth_reply(verdict(choice)),
            Ok(None) if rest.is_empty() => return (false, None, output),
            Ok(None) => {}
        }
    }
}

fuzz_target!(|input: (u8, u8, Vec<u8>, Vec<u8>)| {
    let (prefix, choice, sizes, bytes) = input;
    // Valid prefixes let the fuzzer reach the later steps without having to find them.
    let mut stream = Vec::new();
    if prefix % 3 != 0 {
        stream.extend_from_slice(&client_greeting());
    }
    if prefix % 3 == 2 {
        stream.extend_from_slice(HELLO);
    }
    stream.extend_from_slice(&bytes);
    let whole = run(&stream, &[], choice);
    let pieces = run(&stream, &sizes, choice);
    assert_eq!(whole, pieces);
    let (completed, error, output) = whole;
    if let AuthReply::Refuse { status_code, .. } = verdict(choice) {
        assert!(!completed, "a refused client completed the handshake");
        if let Some(ProtocolError::AuthenticationFailed { .. }) = error {
            // ERROR with the bare status code is the last thing sent.
            let code = status_code.to_string();
            let error = [&[0x04, 10, 5][..], b"ERROR", &[3], code.as_bytes()].concat();
            assert!(output.ends_with(&error));
        }
    }
});
