//! One frame of a message: its bytes, held inside the frame when short, shared when long.
//!
//! Most messages on a busy link are short (a price, an id, an acknowledgement). A frame of up
//! to `Frame::INLINE` bytes is kept inside the `Frame` itself, as libzmq keeps short messages
//! inside its `zmq_msg_t`, so that making one, queuing it and dropping it allocate nothing,
//! and a frame dropped by another thread than the one that made it costs no allocator lock. A
//! longer frame is a `Bytes`: cloning it and passing it on (a PUB to many peers) shares one
//! buffer, and it is written to the network straight from that buffer.
//!
//! A copy of up to 4 KiB goes into a 64 KiB block that the copying thread shares out, and one
//! of up to 256 KiB into a buffer the thread takes back once the frame is gone (see
//! `crate::copy_block`): the sender does not contend for the allocator with the thread that
//! drops its frames. A short frame kept keeps its block, as a frame received keeps the read
//! buffer it was split from; `Bytes::copy_from_slice` makes one that stands alone.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::Bytes;

use crate::copy_block;

/// The bytes of one frame. It derefs to `[u8]`, compares with byte strings and strings, is
/// made from `Bytes`, `Vec<u8>`, `String` and slices, and turns into `Bytes` or `Vec<u8>`.
#[derive(Clone)]
pub struct Frame(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; Frame::INLINE] },
    Shared(Bytes),
}

impl Frame {
    /// The longest frame held inline, without an allocation: what fits beside the length in
    /// the space a `Bytes` takes with its tag.
    pub const INLINE: usize = 38;

    /// An empty frame (the delimiter of an envelope).
    pub const fn new() -> Frame {
        Frame(Repr::Inline {
            len: 0,
            data: [0; Frame::INLINE],
        })
    }

    /// A frame holding a copy of `bytes`: inside the frame when short, in a block shared with
    /// the frames copied before and after it on this thread up to 4 KiB, alone in a buffer
    /// above that (up to 256 KiB, one this thread keeps for later copies, which may be larger
    /// than the frame).
    pub fn copy_from_slice(bytes: &[u8]) -> Frame {
        Frame::inline(bytes).unwrap_or_else(|| Frame(Repr::Shared(copy_block::copy(bytes))))
    }

    /// A frame of static bytes: neither copied nor allocated.
    pub const fn from_static(bytes: &'static [u8]) -> Frame {
        Frame(Repr::Shared(Bytes::from_static(bytes)))
    }

    fn inline(bytes: &[u8]) -> Option<Frame> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|&len| usize::from(len) <= Frame::INLINE)?;
        let mut data = [0; Frame::INLINE];
        data[..bytes.len()].copy_from_slice(bytes);
        Some(Frame(Repr::Inline { len, data }))
    }

    /// The frame as `Bytes`: the same buffer for a long frame, a copy of a short one.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self),
            Repr::Shared(bytes) => bytes.clone(),
        }
    }

    /// The frame as `Bytes`, without a copy for a long frame.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(&self),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The shared buffer of a long frame, to write it without a copy.
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Inline { .. } => None,
            Repr::Shared(bytes) => Some(bytes),
        }
    }
}

impl Default for Frame {
    fn default() -> Frame {
        Frame::new()
    }
}

impl Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Borrow<[u8]> for Frame {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.escape_ascii())
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        **self == **other
    }
}

impl Eq for Frame {}

impl Hash for Frame {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl PartialOrd for Frame {
    fn partial_cmp(&self, other: &Frame) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Frame {
    fn cmp(&self, other: &Frame) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

/// Comparisons with the usual holders of bytes, both ways round: `$o` is the other side,
/// `$bytes` its bytes.
macro_rules! compare {
    ($($other:ty: |$o:ident| $bytes:expr;)*) => {$(
        impl PartialEq<$other> for Frame {
            fn eq(&self, $o: &$other) -> bool {
                **self == *$bytes
            }
        }
        impl PartialEq<Frame> for $other {
            fn eq(&self, frame: &Frame) -> bool {
                let $o = self;
                **frame == *$bytes
            }
        }
    )*};
}

compare! {
    [u8]: |o| o;
    str: |o| o.as_bytes();
    Vec<u8>: |o| o.as_slice();
    String: |o| o.as_bytes();
    Bytes: |o| o.as_ref();
    &[u8]: |o| *o;
    &str: |o| o.as_bytes();
}

impl<const N: usize> PartialEq<[u8; N]> for Frame {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Frame {
    fn eq(&self, other: &&[u8; N]) -> bool {
        **self == other[..]
    }
}

impl From<Bytes> for Frame {
    /// Keeps a long buffer as it is; copies a short one in, so that it is freed at once.
    fn from(bytes: Bytes) -> Frame {
        Frame::inline(&bytes).unwrap_or(Frame(Repr::Shared(bytes)))
    }
}

impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Frame {
        Frame::inline(&bytes).unwrap_or_else(|| Frame(Repr::Shared(Bytes::from(bytes))))
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Frame {
        Frame::from(text.into_bytes())
    }
}

impl From<&[u8]> for Frame {
    fn from(bytes: &[u8]) -> Frame {
        Frame::copy_from_slice(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Frame {
    fn from(bytes: &[u8; N]) -> Frame {
        Frame::copy_from_slice(bytes)
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Frame {
        Frame::copy_from_slice(text.as_bytes())
    }
}

impl From<&String> for Frame {
    fn from(text: &String) -> Frame {
        Frame::copy_from_slice(text.as_bytes())
    }
}

impl From<&Vec<u8>> for Frame {
    fn from(bytes: &Vec<u8>) -> Frame {
        Frame::copy_from_slice(bytes)
    }
}

impl From<&Frame> for Frame {
    fn from(frame: &Frame) -> Frame {
        frame.clone()
    }
}

impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Bytes {
        frame.into_bytes()
    }
}

impl From<Frame> for Vec<u8> {
    fn from(frame: Frame) -> Vec<u8> {
        frame.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_no_larger_than_bytes_and_its_tag() {
        assert!(std::mem::size_of::<Frame>() <= std::mem::size_of::<Bytes>() + 8);
    }

    #[test]
    fn short_frames_are_inline_and_long_ones_shared() {
        for len in [0, 1, Frame::INLINE, Frame::INLINE + 1, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = Frame::from(bytes.clone());
            assert_eq!(frame, bytes);
            assert_eq!(frame.len(), len);
            assert_eq!(
                frame.shared().is_some(),
                len > Frame::INLINE,
                "length {len}"
            );
            assert_eq!(Frame::from(Bytes::from(bytes.clone())), frame);
            assert_eq!(Frame::copy_from_slice(&bytes), frame);
            assert_eq!(frame.to_bytes(), bytes);
            assert_eq!(frame.clone().into_bytes(), bytes);
        }
    }

    #[test]
    fn a_long_frame_shares_its_buffer() {
        let bytes = Bytes::from(vec![7u8; 100]);
        let frame = Frame::from(bytes.clone());
        assert_eq!(frame.as_ptr(), bytes.as_ptr());
        assert_eq!(frame.clone().into_bytes().as_ptr(), bytes.as_ptr());
    }

    #[test]
    fn compares_and_hashes_as_its_bytes() {
        use std::collections::HashSet;
        let frame = Frame::from("topic");
        assert_eq!(frame, "topic");
        assert_eq!("topic", frame);
        assert_eq!(frame, b"topic");
        assert_eq!(frame, Bytes::from_static(b"topic"));
        assert_ne!(frame, "topics");
        let (a, b) = (Frame::from("a"), Frame::from(vec![b'b'; 100]));
        assert!(a < b, "inline and shared compare by their bytes");
        let set: HashSet<Frame> = [Frame::from("x")].into();
        assert!(set.contains(&b"x"[..]));
        assert_eq!(format!("{:?}", Frame::from(&b"a\x00"[..])), "b\"a\\x00\"");
    }
}
