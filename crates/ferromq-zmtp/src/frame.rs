//! Frames: short and long, message and command, with the MORE flag.

use bytes::{Buf, Bytes, BytesMut};

use crate::{Command, ProtocolError};

/// No frame larger than this is accepted, whatever the configured limit: 1 TiB is more than a
/// machine can hold, so a larger length is an attack or a corrupt stream.
pub const MAX_FRAME_SIZE: u64 = 1 << 40;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message frame; `more` says another frame of the same message follows.
    Message {
        more: bool,
        body: Bytes,
    },
    Command(Command),
}

/// Where a whole frame lies at the front of a buffer, and what it is (`FrameDecoder::peek`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Bytes of header before the body.
    pub header_len: usize,
    pub body_len: usize,
    pub more: bool,
    pub command: bool,
}

/// Flag bits of a frame's first byte (RFC 23, "Framing").
const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;
const RESERVED: u8 = !(MORE | LONG | COMMAND);

const SHORT_HEADER_LEN: usize = 2;
const LONG_HEADER_LEN: usize = 9;

/// How frames are laid out on a connection: ZMTP 3.x (RFC 23), or that of an older peer, found
/// in the handshake (RFC 23, "Backwards Interoperability").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// ZMTP 1.0 (RFC 13): a length that counts the flags byte (one byte, or 0xFF and eight),
    /// then the flags, then the body.
    Zmtp1,
    /// ZMTP 2.0 (RFC 15): as 3.x, without commands.
    Zmtp2,
    Zmtp3,
}

/// The header of a message frame in the given framing: the buffer, and how many of its bytes
/// are the header.
pub fn message_header(framing: Framing, more: bool, len: usize) -> ([u8; 10], usize) {
    let mut header = [0; 10];
    if framing != Framing::Zmtp1 {
        let (v3, n) = frame_header(more, false, len);
        // All nine bytes: a copy of fixed length, where one of `n` would be a call to memcpy
        // on every message.
        header[..LONG_HEADER_LEN].copy_from_slice(&v3);
        return (header, n);
    }
    let counted = len as u64 + 1;
    let n = match u8::try_from(counted) {
        Ok(short) if short != 0xFF => {
            header[0] = short;
            1
        }
        _ => {
            header[0] = 0xFF;
            header[1..9].copy_from_slice(&counted.to_be_bytes());
            9
        }
    };
    header[n] = if more { MORE } else { 0 };
    (header, n + 1)
}

/// The header of a frame: flags and length, 2 bytes for short frames, 9 for long ones.
/// Returns the buffer and how many of its bytes are the header.
pub fn frame_header(more: bool, command: bool, len: usize) -> ([u8; 9], usize) {
    let mut header = [0; LONG_HEADER_LEN];
    header[0] = if more { MORE } else { 0 } | if command { COMMAND } else { 0 };
    match u8::try_from(len) {
        Ok(short) => {
            header[1] = short;
            (header, SHORT_HEADER_LEN)
        }
        Err(_) => {
            header[0] |= LONG;
            header[1..].copy_from_slice(&(len as u64).to_be_bytes());
            (header, LONG_HEADER_LEN)
        }
    }
}

/// Appends a whole message frame (header and body) to `out`.
pub fn encode_frame(out: &mut BytesMut, more: bool, body: &[u8]) {
    let (header, header_len) = frame_header(more, false, body.len());
    out.reserve(header_len + body.len());
    out.extend_from_slice(&header[..header_len]);
    out.extend_from_slice(body);
}

/// Splits frames off the front of a read buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u64,
    framing: Framing,
}

/// A frame header read off the front of a buffer.
struct Header {
    flags: u8,
    len: usize,
    size: u64,
}

/// Reads the header at the front of `input`, or `None` when it is not all there yet. Only the
/// flags are checked; the size is left to the caller.
fn parse_header(input: &[u8], framing: Framing) -> Result<Option<Header>, ProtocolError> {
    let Some(&flags) = input.first() else {
        return Ok(None);
    };
    match framing {
        Framing::Zmtp1 => return parse_header_v1(input),
        Framing::Zmtp2 if flags & COMMAND != 0 => {
            return Err(ProtocolError::BadFrame("reserved flag bits set"));
        }
        _ => {}
    }
    if flags & RESERVED != 0 {
        return Err(ProtocolError::BadFrame("reserved flag bits set"));
    }
    if flags & COMMAND != 0 && flags & MORE != 0 {
        return Err(ProtocolError::BadFrame("command frame with MORE set"));
    }
    let len = if flags & LONG != 0 {
        LONG_HEADER_LEN
    } else {
        SHORT_HEADER_LEN
    };
    let Some(size) = input.get(1..len) else {
        return Ok(None);
    };
    // A short size is one byte; a long one is eight in network order. Be liberal: a long
    // frame may carry a size under 256.
    let size = size.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    Ok(Some(Header { flags, len, size }))
}

/// A ZMTP 1.0 header: the length (which counts the flags byte), then the flags, which are
/// MORE or nothing (RFC 13). Holding to that tells garbage from an old peer within two bytes.
fn parse_header_v1(input: &[u8]) -> Result<Option<Header>, ProtocolError> {
    let (counted, at) = match input[0] {
        0xFF => match input.get(1..9) {
            Some(long) => (long.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)), 9),
            None => return Ok(None),
        },
        short => (u64::from(short), 1),
    };
    if counted == 0 {
        return Err(ProtocolError::BadFrame(
            "ZMTP 1.0 frame without its flags byte",
        ));
    }
    let Some(&flags) = input.get(at) else {
        return Ok(None);
    };
    if flags & !MORE != 0 {
        return Err(ProtocolError::BadFrame("reserved flag bits set"));
    }
    Ok(Some(Header {
        flags,
        len: at + 1,
        size: counted - 1,
    }))
}

/// The shortest header that starts with `first` in the given framing.
fn min_header_len(first: Option<&u8>, framing: Framing) -> usize {
    match (framing, first) {
        (Framing::Zmtp1, Some(0xFF)) => 10,
        (Framing::Zmtp1, _) => 2,
        (_, Some(flags)) if flags & LONG != 0 => LONG_HEADER_LEN,
        _ => SHORT_HEADER_LEN,
    }
}

impl FrameDecoder {
    /// `max_frame_size` is the socket's `maxmsgsize`; `None` means only `MAX_FRAME_SIZE` applies.
    pub fn new(max_frame_size: Option<u64>) -> FrameDecoder {
        FrameDecoder {
            max_frame_size: max_frame_size.map_or(MAX_FRAME_SIZE, |max| max.min(MAX_FRAME_SIZE)),
            framing: Framing::Zmtp3,
        }
    }

    /// Decodes an older peer's framing from now on.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Takes one whole frame off the front of `input`, without copying its body, or returns
    /// `Ok(None)` when `input` does not yet hold a whole frame. A length over the limit is an
    /// error as soon as the header is read, before any body arrives.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        self.decode_with(input, Command::decode)
    }

    /// As `decode`, with command bodies parsed by `command`.
    pub(crate) fn decode_with(
        &mut self,
        input: &mut BytesMut,
        command: fn(Bytes) -> Result<Command, ProtocolError>,
    ) -> Result<Option<Frame>, ProtocolError> {
        let Some(head) = self.peek(input)? else {
            return Ok(None);
        };
        take_with(input, head, command).map(Some)
    }

    /// Takes the frame that `peek` found at the front of `input` off it, without copying its
    /// body: `decode` in two steps, for a caller that takes some frames its own way.
    pub fn take(&self, input: &mut BytesMut, head: FrameHead) -> Result<Frame, ProtocolError> {
        take_with(input, head, Command::decode)
    }

    /// Where the frame at the front of `input` lies, once it is whole (`Ok(None)` before),
    /// with the checks `decode` makes; nothing is taken off. A caller that copies a short body
    /// out and advances past it spares the shared buffer a `Bytes` makes.
    pub fn peek(&self, input: &[u8]) -> Result<Option<FrameHead>, ProtocolError> {
        let Some(header) = parse_header(input, self.framing)? else {
            return Ok(None);
        };
        let too_large = || ProtocolError::FrameTooLarge {
            size: header.size,
            limit: self.max_frame_size,
        };
        if header.size > self.max_frame_size {
            return Err(too_large());
        }
        // Only a 32-bit target can fail this, with a size it could not hold anyway.
        let size = usize::try_from(header.size).map_err(|_| too_large())?;
        if input.len() - header.len < size {
            return Ok(None);
        }
        Ok(Some(FrameHead {
            header_len: header.len,
            body_len: size,
            more: header.flags & MORE != 0,
            command: header.flags & COMMAND != 0,
        }))
    }

    /// How many bytes `input` must hold before the frame at its front can be decoded (at least
    /// `input.len() + 1` when even the header is incomplete), so that reads can be sized.
    pub fn needed(&self, input: &[u8]) -> usize {
        match parse_header(input, self.framing) {
            Ok(Some(header)) => {
                let size = usize::try_from(header.size).unwrap_or(usize::MAX);
                header.len.saturating_add(size)
            }
            // The header is incomplete, or `decode` will refuse it at once.
            Ok(None) | Err(_) => min_header_len(input.first(), self.framing).max(input.len() + 1),
        }
    }
}

/// Takes the frame `head` describes off the front of `input`, commands parsed by `command`.
fn take_with(
    input: &mut BytesMut,
    head: FrameHead,
    command: fn(Bytes) -> Result<Command, ProtocolError>,
) -> Result<Frame, ProtocolError> {
    input.advance(head.header_len);
    let body = input.split_to(head.body_len).freeze();
    Ok(if head.command {
        Frame::Command(command(body)?)
    } else {
        Frame::Message {
            more: head.more,
            body,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn peek_finds_a_whole_frame_without_taking_it_and_holds_to_the_limit() {
        let decoder = FrameDecoder::new(Some(4));
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, b"abc");
        assert_eq!(decoder.peek(&buf[..4]).unwrap(), None);
        let head = FrameHead {
            header_len: 2,
            body_len: 3,
            more: true,
            command: false,
        };
        assert_eq!(decoder.peek(&buf).unwrap(), Some(head));
        assert_eq!(buf.len(), 5, "nothing was taken");
        let mut over = BytesMut::new();
        encode_frame(&mut over, false, b"abcde");
        assert!(matches!(
            decoder.peek(&over),
            Err(ProtocolError::FrameTooLarge { size: 5, limit: 4 })
        ));
    }

    fn decode_all(
        decoder: &mut FrameDecoder,
        bytes: &[u8],
    ) -> Result<Option<Frame>, ProtocolError> {
        decoder.decode(&mut BytesMut::from(bytes))
    }

    fn message(more: bool, body: &'static [u8]) -> Frame {
        Frame::Message {
            more,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn zmtp_1_0_frames_count_their_flags_byte() {
        // RFC 13: the length includes the flags; 0xFF announces an 8-byte length.
        assert_eq!(
            message_header(Framing::Zmtp1, true, 2),
            ([0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        let (header, n) = message_header(Framing::Zmtp1, false, 254);
        assert_eq!(&header[..n], &[0xFF, 0, 0, 0, 0, 0, 0, 0, 255, 0x00]);
        let mut decoder = FrameDecoder::new(None);
        decoder.set_framing(Framing::Zmtp1);
        assert_eq!(
            decode_all(&mut decoder, &[0x03, 0x01, b'h', b'i']),
            Ok(Some(message(true, b"hi")))
        );
        // A length of 0 leaves no room for the flags.
        assert!(decode_all(&mut decoder, &[0x00, 0x00]).is_err());
        // A maxmsgsize applies as in 3.x, before the body arrives.
        let mut small = FrameDecoder::new(Some(10));
        small.set_framing(Framing::Zmtp1);
        assert!(decode_all(&mut small, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 100, 0x00]).is_err());
    }

    #[test]
    fn zmtp_2_0_has_no_commands() {
        let mut decoder = FrameDecoder::new(None);
        decoder.set_framing(Framing::Zmtp2);
        assert!(decode_all(&mut decoder, &[0x04, 0x01, 0x00]).is_err());
        assert_eq!(
            decode_all(&mut decoder, &[0x00, 0x01, b'x']),
            Ok(Some(message(false, b"x")))
        );
    }

    #[test]
    fn short_frame() {
        let wire = [0x00, 0x05, b'h', b'e', b'l', b'l', b'o'];
        let mut out = BytesMut::new();
        encode_frame(&mut out, false, b"hello");
        assert_eq!(&out[..], &wire);
        let mut decoder = FrameDecoder::new(None);
        assert_eq!(
            decode_all(&mut decoder, &wire),
            Ok(Some(message(false, b"hello")))
        );
    }

    #[test]
    fn more_flag() {
        let wire = [0x01, 0x03, b'a', b'b', b'c', 0x00, 0x00];
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, b"abc");
        encode_frame(&mut out, false, b"");
        assert_eq!(&out[..], &wire);
        let mut decoder = FrameDecoder::new(None);
        let mut input = BytesMut::from(&wire[..]);
        assert_eq!(decoder.decode(&mut input), Ok(Some(message(true, b"abc"))));
        assert_eq!(decoder.decode(&mut input), Ok(Some(message(false, b""))));
        assert_eq!(decoder.decode(&mut input), Ok(None));
    }

    #[test]
    fn long_frame() {
        let body = [0x5A; 300];
        let mut wire = vec![0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x2C];
        wire.extend_from_slice(&body);
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, &body);
        assert_eq!(&out[..], &wire[..]);
        let frame = decode_all(&mut FrameDecoder::new(None), &wire).unwrap();
        assert_eq!(
            frame,
            Some(Frame::Message {
                more: true,
                body: Bytes::copy_from_slice(&body)
            })
        );
    }

    #[test]
    fn long_frame_with_a_short_size_is_accepted() {
        let wire = [0x02, 0, 0, 0, 0, 0, 0, 0, 0x02, b'h', b'i'];
        let frame = decode_all(&mut FrameDecoder::new(None), &wire);
        assert_eq!(frame, Ok(Some(message(false, b"hi"))));
    }

    #[test]
    fn headers() {
        assert_eq!(frame_header(false, false, 0), ([0; 9], 2));
        assert_eq!(
            frame_header(true, false, 255),
            ([0x01, 0xFF, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        assert_eq!(
            frame_header(false, true, 7),
            ([0x04, 0x07, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        assert_eq!(
            frame_header(false, true, 256),
            ([0x06, 0, 0, 0, 0, 0, 0, 0x01, 0x00], 9)
        );
        assert_eq!(
            frame_header(true, false, 0x0102_0304),
            ([0x03, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04], 9)
        );
    }

    #[test]
    fn body_is_not_copied() {
        let mut input = BytesMut::from(&[0x00, 0x03, b'a', b'b', b'c', 0x00][..]);
        let start = input.as_ptr() as usize;
        let Ok(Some(Frame::Message { body, .. })) = FrameDecoder::new(None).decode(&mut input)
        else {
            panic!("no frame");
        };
        assert_eq!(body.as_ptr() as usize, start + 2);
        assert_eq!(&input[..], &[0x00]);
    }

    #[test]
    fn command_frame() {
        let wire = [
            0x04, 0x0A, 0x06, b'C', b'A', b'N', b'C', b'E', b'L', b'a', b'b', b'c',
        ];
        let frame = decode_all(&mut FrameDecoder::new(None), &wire);
        assert_eq!(
            frame,
            Ok(Some(Frame::Command(Command::Cancel(Bytes::from_static(
                b"abc"
            )))))
        );
    }

    #[test]
    fn truncated_input_waits() {
        let wire = [0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        let mut decoder = FrameDecoder::new(None);
        for len in 0..wire.len() {
            let mut input = BytesMut::from(&wire[..len]);
            assert_eq!(decoder.decode(&mut input), Ok(None));
            assert_eq!(input.len(), len, "input must stay untouched");
            let needed = decoder.needed(&input);
            assert!(needed > len, "needed {needed} for {len} bytes");
        }
        assert_eq!(decoder.needed(&wire), 9 + 256);
        assert_eq!(decoder.needed(&[0x00, 0x10, 1, 2]), 18);
        assert_eq!(decoder.needed(&[]), 2);
        assert_eq!(decoder.needed(&[0x02, 0]), 9);
        assert_eq!(
            decoder.decode(&mut BytesMut::from(&[0x00, 0x03, 1, 2][..])),
            Ok(None)
        );
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header() {
        // 2^44 bytes, far past MAX_FRAME_SIZE, and no body at all.
        let wire = [0x02, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            decode_all(&mut FrameDecoder::new(None), &wire),
            Err(ProtocolError::FrameTooLarge {
                size: 1 << 44,
                limit: MAX_FRAME_SIZE
            })
        );
        // The configured limit applies too, and cannot raise MAX_FRAME_SIZE.
        assert_eq!(
            decode_all(&mut FrameDecoder::new(Some(10)), &[0x00, 11]),
            Err(ProtocolError::FrameTooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(
            decode_all(&mut FrameDecoder::new(Some(u64::MAX)), &wire),
            Err(ProtocolError::FrameTooLarge {
                size: 1 << 44,
                limit: MAX_FRAME_SIZE
            })
        );
        let largest = [0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(
            decode_all(&mut FrameDecoder::new(None), &largest),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn reserved_flag_bits_are_refused() {
        for bit in 3..8 {
            let wire = [1u8 << bit, 0x00];
            assert!(matches!(
                decode_all(&mut FrameDecoder::new(None), &wire),
                Err(ProtocolError::BadFrame(_))
            ));
            // Refused from the flags alone.
            assert!(decode_all(&mut FrameDecoder::new(None), &wire[..1]).is_err());
        }
    }

    #[test]
    fn command_with_more_is_refused() {
        let wire = [0x05, 0x05, 0x04, b'P', b'O', b'N', b'G'];
        assert!(matches!(
            decode_all(&mut FrameDecoder::new(None), &wire),
            Err(ProtocolError::BadFrame(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            limit in proptest::option::of(0u64..1000),
        ) {
            let mut decoder = FrameDecoder::new(limit);
            let mut input = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decoder.decode(&mut input) {}
            decoder.needed(&input);
        }

        #[test]
        fn frames_round_trip_in_any_chunking_and_framing(
            frames in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..600)),
                0..8,
            ),
            chunk in 1usize..700,
            framing in prop_oneof![
                Just(Framing::Zmtp3),
                Just(Framing::Zmtp2),
                Just(Framing::Zmtp1),
            ],
        ) {
            let mut wire = BytesMut::new();
            for (more, body) in &frames {
                let (header, n) = message_header(framing, *more, body.len());
                wire.extend_from_slice(&header[..n]);
                wire.extend_from_slice(body);
            }
            let mut decoder = FrameDecoder::new(None);
            decoder.set_framing(framing);
            let mut input = BytesMut::new();
            let mut decoded = Vec::new();
            for piece in wire.chunks(chunk) {
                input.extend_from_slice(piece);
                prop_assert!(decoder.needed(&input) > 0);
                while let Some(frame) = decoder.decode(&mut input).unwrap() {
                    decoded.push(frame);
                }
            }
            let expected: Vec<Frame> = frames
                .into_iter()
                .map(|(more, body)| Frame::Message { more, body: body.into() })
                .collect();
            prop_assert_eq!(decoded, expected);
            prop_assert!(input.is_empty());
        }
    }
}
