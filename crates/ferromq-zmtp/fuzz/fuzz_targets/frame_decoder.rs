//! Frames decoded from a stream cut at arbitrary points must be the frames decoded from it
//! whole, and `needed` must never ask for less than a frame takes, in every framing.
#![no_main]

use bytes::BytesMut;
use ferromq_zmtp::{Frame, FrameDecoder, Framing, ProtocolError};
use libfuzzer_sys::fuzz_target;

/// Decodes `stream` delivered in pieces of the given sizes (cycled), until the decoder waits
/// for more at the end or fails.
fn decode(
    limit: Option<u64>,
    framing: Framing,
    stream: &[u8],
    sizes: &[u8],
) -> (Vec<Frame>, Option<ProtocolError>) {
    let mut decoder = FrameDecoder::new(limit);
    decoder.set_framing(framing);
    let mut input = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    loop {
        match decoder.decode(&mut input) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(decoder.needed(&input) > input.len());
                if rest.is_empty() {
                    return (frames, None);
                }
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                input.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            Err(err) => return (frames, Some(err)),
        }
    }
}

fuzz_target!(|input: (Option<u16>, u8, Vec<u8>, Vec<u8>)| {
    let (limit, framing, sizes, stream) = input;
    let limit = limit.map(u64::from);
    let framing = match framing % 3 {
        0 => Framing::Zmtp3,
        1 => Framing::Zmtp2,
        _ => Framing::Zmtp1,
    };
    let whole = decode(limit, framing, &stream, &[]);
    let pieces = decode(limit, framing, &stream, &sizes);
    assert_eq!(whole, pieces);
});
