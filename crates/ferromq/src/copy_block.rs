//! Copies of short byte strings, made into a block that the copying thread shares out, so that
//! making a frame of a few hundred bytes does not take the allocator's lock.
//!
//! A message sent over inproc is dropped by the receiving thread. The sender's `malloc` and the
//! receiver's `free` then take the same allocator arena's lock, and under a steady stream the
//! two threads contend for it on nearly every message (futex calls, sleeps: about 40 % of the
//! time at 64 bytes). Frames copied into one block share it through its reference count
//! instead, and the block is freed, or used again once every frame in it is gone, as a whole.
//! The price: a frame kept keeps its block.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// The size of a block.
const BLOCK: usize = 64 * 1024;

/// The longest copy made into a block: at most a sixteenth of the block is left unused when a
/// copy does not fit in what remains. Longer copies get a buffer of their own.
const MAX_COPY: usize = BLOCK / 16;

thread_local! {
    static BLOCK_IN_USE: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A copy of `bytes`: in this thread's block when short, in a buffer of its own when not (or
/// when the thread is exiting).
pub(crate) fn copy(bytes: &[u8]) -> Bytes {
    if bytes.len() > MAX_COPY {
        return Bytes::copy_from_slice(bytes);
    }
    BLOCK_IN_USE
        .try_with(|block| {
            let mut block = block.borrow_mut();
            if block.capacity() - block.len() < bytes.len() && !block.try_reclaim(BLOCK) {
                *block = BytesMut::with_capacity(BLOCK);
            }
            block.extend_from_slice(bytes);
            block.split().freeze()
        })
        .unwrap_or_else(|_| Bytes::copy_from_slice(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_share_a_block_and_keep_their_bytes() {
        let a = copy(b"first frame, longer than a frame holds inline");
        let b = copy(&[9u8; 500]);
        assert_eq!(&a[..], b"first frame, longer than a frame holds inline");
        assert_eq!(&b[..], &[9u8; 500][..]);
        assert_eq!(
            b.as_ptr(),
            a.as_ptr().wrapping_add(a.len()),
            "not in one block"
        );
        let long = copy(&[1u8; MAX_COPY + 1]);
        assert_eq!(long.len(), MAX_COPY + 1);
    }

    #[test]
    fn a_full_block_is_used_again_once_its_frames_are_gone() {
        let frame = vec![3u8; MAX_COPY];
        let fill = || -> Vec<Bytes> { (0..BLOCK / MAX_COPY).map(|_| copy(&frame)).collect() };
        let first = fill();
        let start = first[0].as_ptr();
        drop(first);
        // The block is full, but nothing holds its frames any more: it starts again.
        let second = fill();
        assert_eq!(
            second[0].as_ptr(),
            start,
            "the free block was not used again"
        );
        // Now its frames are held: the next copy goes into a new block.
        let other = copy(&frame);
        assert_ne!(other.as_ptr(), start);
        assert!(second.iter().all(|f| f[..] == frame[..]));
    }
}
