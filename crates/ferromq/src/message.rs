//! Messages: one or more frames, delivered whole or not at all.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::frame::Frame;

/// What the peer a message came from said about itself in its handshake, and where it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PeerMetadata {
    pub properties: Vec<(String, Bytes)>,
    /// The peer's IP address, without the port (libzmq's `Peer-Address`).
    pub peer_address: String,
}

/// A multipart message. Each frame is a `Frame`: a short one is held inline, a long one is a
/// shared buffer, so messages are cheap to clone and to pass on (a PUB sending to many peers
/// shares one buffer). Two messages are equal when their frames
/// are; where they came from does not count.
#[derive(Debug, Clone, Default)]
pub struct Message {
    frames: SmallVec<[Frame; 2]>,
    metadata: Option<Arc<PeerMetadata>>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Message {}

impl Hash for Message {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.frames.hash(state);
    }
}

impl Message {
    /// A message with no frames; push frames onto it before sending.
    pub fn new() -> Message {
        Message::default()
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Frame>) {
        self.frames.push(frame.into());
    }

    /// Puts a frame in front of the others (an envelope).
    pub fn push_front(&mut self, frame: impl Into<Frame>) {
        self.frames.insert(0, frame.into());
    }

    /// The frames, in order.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The first frame, if any: the topic of a PUB message.
    pub fn first(&self) -> Option<&Frame> {
        self.frames.first()
    }

    /// How many frames there are.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True for a message of no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The total size of all frames in bytes.
    pub fn size(&self) -> usize {
        self.frames.iter().map(|f| f.len()).sum()
    }

    /// Takes the frames out.
    pub fn into_frames(self) -> Vec<Frame> {
        self.frames.into_vec()
    }

    /// A property of the peer this message came from, as libzmq's `zmq_msg_gets` gives it:
    /// `Socket-Type`, `Routing-Id` (its `Identity`), `Peer-Address` (its IP address), any
    /// other property it sent in its handshake, such as application `X-` properties, and, from
    /// an authenticated client, the `User-Id` and metadata the ZAP handler gave. Names
    /// compare without regard to case. `None` for a message made here, or from an inproc peer.
    pub fn property(&self, name: &str) -> Option<&[u8]> {
        let meta = self.metadata.as_deref()?;
        if name.eq_ignore_ascii_case("Peer-Address") {
            return Some(meta.peer_address.as_bytes());
        }
        let name = if name.eq_ignore_ascii_case("Routing-Id") {
            "Identity"
        } else {
            name
        };
        meta.properties
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    pub(crate) fn set_metadata(&mut self, metadata: Arc<PeerMetadata>) {
        self.metadata = Some(metadata);
    }

    /// Splits off the first `n` frames (an envelope); what is left keeps the sender's metadata.
    pub(crate) fn split_envelope(self, n: usize) -> (Vec<Frame>, Message) {
        let mut frames = self.frames.into_vec();
        let body = frames.split_off(n.min(frames.len()));
        (
            frames,
            Message {
                frames: body.into_iter().collect(),
                metadata: self.metadata,
            },
        )
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl IntoIterator for Message {
    type Item = Frame;
    type IntoIter = smallvec::IntoIter<[Frame; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

/// Something that can be one frame of a message: anything a `Frame` can be made from.
pub trait IntoFrame {
    /// The frame.
    fn into_frame(self) -> Frame;
}

impl<T: Into<Frame>> IntoFrame for T {
    fn into_frame(self) -> Frame {
        self.into()
    }
}

fn single(frame: Frame) -> Message {
    let mut frames = SmallVec::new();
    frames.push(frame);
    Message {
        frames,
        metadata: None,
    }
}

impl From<Frame> for Message {
    fn from(frame: Frame) -> Message {
        single(frame)
    }
}
impl From<Bytes> for Message {
    fn from(frame: Bytes) -> Message {
        single(frame.into())
    }
}
impl From<Vec<u8>> for Message {
    fn from(frame: Vec<u8>) -> Message {
        single(frame.into())
    }
}
impl From<String> for Message {
    fn from(frame: String) -> Message {
        single(frame.into())
    }
}
impl From<&str> for Message {
    fn from(frame: &str) -> Message {
        single(frame.into())
    }
}
impl From<&[u8]> for Message {
    fn from(frame: &[u8]) -> Message {
        single(frame.into())
    }
}
impl<const N: usize> From<&[u8; N]> for Message {
    fn from(frame: &[u8; N]) -> Message {
        single(frame.into())
    }
}
impl<T: IntoFrame> From<Vec<T>> for Message {
    fn from(frames: Vec<T>) -> Message {
        frames.into_iter().collect()
    }
}
impl<T: IntoFrame, const N: usize> From<[T; N]> for Message {
    fn from(frames: [T; N]) -> Message {
        frames.into_iter().collect()
    }
}
impl<T: IntoFrame + Clone> From<&[T]> for Message {
    fn from(frames: &[T]) -> Message {
        frames.iter().cloned().collect()
    }
}
impl<T: IntoFrame> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Message {
        Message {
            frames: iter.into_iter().map(IntoFrame::into_frame).collect(),
            metadata: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_every_frame_source() {
        assert_eq!(Message::from("ab").frames(), &[Bytes::from_static(b"ab")]);
        assert_eq!(Message::from(vec![1u8, 2]).size(), 2);
        assert_eq!(Message::from(Bytes::from_static(b"x")).len(), 1);
        let m = Message::from(vec!["a", "", "c"]);
        assert_eq!(m.len(), 3);
        assert_eq!(m.frames()[1].len(), 0);
        let m = Message::from([b"k".as_slice(), b"v".as_slice()]);
        assert_eq!(
            m.into_frames(),
            vec![Bytes::from_static(b"k"), Bytes::from_static(b"v")]
        );
    }

    #[test]
    fn envelope_goes_in_front() {
        let mut m = Message::from("body");
        m.push_front("");
        m.push_front("id");
        assert_eq!(m.first().unwrap(), &Bytes::from_static(b"id"));
        assert_eq!(m.len(), 3);
    }
}
