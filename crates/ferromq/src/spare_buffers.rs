//! Buffers for large frames, used again once whoever holds the frame has dropped it.
//!
//! A large frame is read into a buffer of its own and handed to the user as a slice of it,
//! without a copy; a large frame the user copies to send is made the same way (see
//! `crate::copy_block`). A fresh buffer of that size comes from the kernel as fresh pages, paid
//! for in page faults and in clearing them, and the allocator gives large freed blocks back to
//! the kernel soon after; a buffer freed by another thread than the one that allocated it also
//! takes the allocator's lock. So the owner (a connection, a sending thread) keeps a handle on
//! each buffer, and takes the buffer back without allocating once the frame is gone
//! (`BytesMut::try_reclaim` succeeds only when no frame shares the buffer any more).

use std::collections::VecDeque;

use bytes::BytesMut;

/// The most a connection keeps in buffers waiting for their frames to be dropped: enough for
/// the frames of a few full reads that the user holds in the queue meanwhile.
pub(crate) const KEEP_BYTES: usize = 8 * 1024 * 1024;

/// How many of the oldest buffers `take` looks at. Frames are mostly dropped in the order they
/// were made, so when none of these is free the others are not either.
const LOOK_AT: usize = 8;

#[derive(Debug)]
pub(crate) struct SpareBuffers {
    /// Buffers with their sizes, oldest (the likeliest to be free again) first.
    kept: VecDeque<(BytesMut, usize)>,
    bytes: usize,
    /// The most kept at once.
    limit: usize,
}

impl SpareBuffers {
    /// Keeping at most `limit` bytes.
    pub(crate) const fn new(limit: usize) -> SpareBuffers {
        SpareBuffers {
            kept: VecDeque::new(),
            bytes: 0,
            limit,
        }
    }

    /// An empty buffer with room for `size` bytes, and its whole size: a kept one whose frames
    /// are all gone, or a new one.
    pub(crate) fn take(&mut self, size: usize) -> (BytesMut, usize) {
        let free = self
            .kept
            .iter_mut()
            .take(LOOK_AT)
            .position(|(buf, kept)| *kept >= size && buf.try_reclaim(*kept));
        match free.and_then(|i| self.kept.remove(i)) {
            Some((buf, kept)) => {
                self.bytes -= kept;
                (buf, kept)
            }
            None => (BytesMut::with_capacity(size), size),
        }
    }

    /// Keeps a handle on `buf`, from which frames have been split, to take it back later.
    /// `size` is its whole size, as `take` gave it. The oldest handles go when too much is
    /// kept.
    pub(crate) fn keep(&mut self, mut buf: BytesMut, size: usize) {
        // What it still holds was copied on: a buffer taken again starts empty.
        buf.clear();
        if size > self.limit {
            return;
        }
        while self.bytes + size > self.limit {
            let Some((_, oldest)) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= oldest;
        }
        self.kept.push_back((buf, size));
        self.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_only_once_its_frame_is_dropped() {
        let mut spares = SpareBuffers::new(KEEP_BYTES);
        let (mut buf, size) = spares.take(100_000);
        assert_eq!(size, 100_000);
        buf.extend_from_slice(&[7u8; 100_000]);
        let at = buf.as_ptr();
        let frame = buf.split().freeze();
        spares.keep(buf, 100_000);
        // The frame still shares the buffer: taking one makes a new one.
        let (other, _) = spares.take(100_000);
        assert_ne!(other.as_ptr(), at);
        drop(frame);
        let (again, _) = spares.take(100_000);
        assert_eq!(again.as_ptr(), at, "the buffer was not reused");
        assert!(again.is_empty() && again.capacity() >= 100_000);
    }

    #[test]
    fn what_is_kept_stays_under_the_limit() {
        let mut spares = SpareBuffers::new(KEEP_BYTES);
        let size = 256 * 1024;
        let mut frames = Vec::new();
        for _ in 0..2 * KEEP_BYTES / size {
            let (mut buf, _) = spares.take(size);
            buf.extend_from_slice(&[1u8; 16]);
            frames.push(buf.split().freeze());
            spares.keep(buf, size);
        }
        assert_eq!(spares.bytes, KEEP_BYTES);
        assert_eq!(spares.kept.len(), KEEP_BYTES / size);
        // A smaller request may take a larger free buffer; a larger one never a smaller.
        drop(frames);
        let kept = spares.kept.len();
        assert!(spares.take(size + 1).0.capacity() > size);
        assert_eq!(spares.kept.len(), kept, "a smaller buffer was taken");
        let (larger, whole) = spares.take(1024);
        assert!(larger.capacity() >= size && whole == size);
        assert_eq!(spares.kept.len(), kept - 1);
    }
}
