//! The messages read from one peer that the socket has not taken yet, counted in messages for
//! the receive high-water mark and in bytes for the read-ahead limit.

use std::collections::VecDeque;

use crate::message::Message;
use crate::spare_buffers;

/// The queued bytes at which a connection stops reading ahead of the user, whatever `rcvhwm`
/// allows: beyond it the data waits in the kernel and TCP's flow control slows the peer. Half
/// of what a connection keeps in spare buffers, so that large frames read ahead go into buffers
/// used before, not into fresh pages the kernel must fault in and clear. Not a hard bound: the
/// read that crosses it (up to 256 KiB) and a multipart message not yet complete come on top.
pub(crate) const READ_AHEAD: usize = spare_buffers::KEEP_BYTES / 2;

#[derive(Debug, Default)]
pub(crate) struct InQueue {
    messages: VecDeque<Message>,
    bytes: usize,
}

impl InQueue {
    pub(crate) fn push_back(&mut self, msg: Message) {
        self.bytes += msg.size();
        self.messages.push_back(msg);
    }

    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        let msg = self.messages.pop_front()?;
        self.bytes -= msg.size();
        Some(msg)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether reading must pause: `rcvhwm` messages (0: no limit) or `READ_AHEAD` bytes are
    /// queued.
    pub(crate) fn is_full(&self, rcvhwm: usize) -> bool {
        (rcvhwm != 0 && self.messages.len() >= rcvhwm) || self.bytes >= READ_AHEAD
    }

    /// Whether paused reading may go on: at half of both limits, so that a paused connection
    /// is read in batches rather than a message at a time.
    pub(crate) fn has_room_again(&self, rcvhwm: usize) -> bool {
        (rcvhwm == 0 || self.messages.len() <= rcvhwm / 2) && self.bytes <= READ_AHEAD / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(size: usize) -> Message {
        let mut msg = Message::new();
        msg.push(Bytes::from(vec![0u8; size]));
        msg
    }

    #[test]
    fn full_at_the_high_water_mark_or_the_read_ahead_limit() {
        let mut inq = InQueue::default();
        for _ in 0..9 {
            inq.push_back(message(10));
        }
        assert!(!inq.is_full(10));
        inq.push_back(message(10));
        assert!(inq.is_full(10));
        assert!(
            !inq.is_full(0),
            "no high-water mark, and far below the byte limit"
        );

        let mut inq = InQueue::default();
        let size = READ_AHEAD / 8;
        for _ in 0..7 {
            inq.push_back(message(size));
        }
        assert!(!inq.is_full(0));
        inq.push_back(message(size));
        assert!(inq.is_full(0) && inq.is_full(1000));
    }

    #[test]
    fn room_again_at_half_of_both_limits() {
        let mut inq = InQueue::default();
        let size = READ_AHEAD / 8;
        for _ in 0..8 {
            inq.push_back(message(size));
        }
        for _ in 0..3 {
            inq.pop_front();
            assert!(!inq.has_room_again(1000));
        }
        inq.pop_front();
        assert!(inq.has_room_again(1000) && inq.has_room_again(0));
        assert!(!inq.has_room_again(6), "4 messages are more than half of 6");
        while inq.pop_front().is_some() {}
        assert_eq!(inq.bytes, 0);
    }
}
