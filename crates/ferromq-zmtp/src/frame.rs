//! Frames: short and long, message and command, with the MORE flag.

use bytes::{Bytes, BytesMut};

use crate::{Command, ProtocolError};

/// No frame larger than this is accepted, whatever the configured limit: 1 TiB is more than a
/// machine can hold, so a larger length is an attack or a corrupt stream.
pub const MAX_FRAME_SIZE: u64 = 1 << 40;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message frame; `more` says another frame of the same message follows.
    Message { more: bool, body: Bytes },
    Command(Command),
}

/// The header of a frame: flags and length, 2 bytes for short frames, 9 for long ones.
/// Returns the buffer and how many of its bytes are the header.
pub fn frame_header(more: bool, command: bool, len: usize) -> ([u8; 9], usize) {
    todo!()
}

/// Appends a whole message frame (header and body) to `out`.
pub fn encode_frame(out: &mut BytesMut, more: bool, body: &[u8]) {
    todo!()
}

/// Splits frames off the front of a read buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u64,
}

impl FrameDecoder {
    /// `max_frame_size` is the socket's `maxmsgsize`; `None` means only `MAX_FRAME_SIZE` applies.
    pub fn new(max_frame_size: Option<u64>) -> FrameDecoder {
        todo!()
    }

    /// Takes one whole frame off the front of `input`, without copying its body, or returns
    /// `Ok(None)` when `input` does not yet hold a whole frame. A length over the limit is an
    /// error as soon as the header is read, before any body arrives.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        todo!()
    }

    /// How many bytes `input` must hold before the frame at its front can be decoded (at least
    /// `input.len() + 1` when even the header is incomplete), so that reads can be sized.
    pub fn needed(&self, input: &[u8]) -> usize {
        todo!()
    }
}
