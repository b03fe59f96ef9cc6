//! Copies that a thread makes to send, in memory it uses again, so that making a frame does not
//! take the allocator's lock, nor fresh pages from the kernel.
//!
//! A message sent over inproc is dropped by the receiving thread, and one sent over tcp or ipc
//! by whichever thread wrote it. A sender's `malloc` and that other thread's `free` then take
//! the same allocator arena's lock, and under a steady stream the two contend for it on nearly
//! every message (futex calls, sleeps: about 40 % of the time at 64 bytes); and the allocator
//! gives large freed blocks back to the kernel, so the next ones fault in fresh pages. Instead,
//! a copy of up to `MAX_IN_BLOCK` bytes goes into a block shared out by reference count, which
//! is used again as a whole once every frame in it is gone (the thread keeps up to
//! `KEPT_BLOCKS` of full blocks for that, which frames in flight mostly hold); a copy of up to
//! `MAX_KEPT` bytes goes into a buffer of its own that the thread keeps and takes back once the
//! frame is gone (`SpareBuffers`). The price: a frame kept keeps its block, and a thread that
//! has sent many frames keeps up to `KEPT_BLOCKS` of blocks and `KEPT_BYTES` of buffers for
//! the next ones.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

use crate::spare_buffers::SpareBuffers;

/// The size of a block.
const BLOCK: usize = 64 * 1024;

/// The longest copy made into a block: at most a sixteenth of the block is left unused when a
/// copy does not fit in what remains.
const MAX_IN_BLOCK: usize = BLOCK / 16;

/// The longest copy made into a kept buffer; longer ones get a buffer that is freed with them.
const MAX_KEPT: usize = 256 * 1024;

/// The most a thread keeps in buffers for its large copies: what `sndhwm`'s default of 1,000
/// frames of 16 KiB hold in flight, so that a steady stream of them allocates nothing.
const KEPT_BYTES: usize = 16 * 1024 * 1024;

/// The most a thread keeps in full blocks whose frames may still be in flight.
const KEPT_BLOCKS: usize = 2 * 1024 * 1024;

thread_local! {
    /// The block copies go into now, and the full ones kept to start again once free.
    static BLOCKS: RefCell<(BytesMut, SpareBuffers)> =
        RefCell::new((BytesMut::with_capacity(BLOCK), SpareBuffers::new(KEPT_BLOCKS)));
    static KEPT: RefCell<SpareBuffers> = const { RefCell::new(SpareBuffers::new(KEPT_BYTES)) };
}

/// A copy of `bytes`, made as the module's comment says (or in a buffer of its own while the
/// thread is exiting).
pub(crate) fn copy(bytes: &[u8]) -> Bytes {
    let copied = if bytes.len() <= MAX_IN_BLOCK {
        BLOCKS.try_with(|blocks| {
            let (block, full) = &mut *blocks.borrow_mut();
            if block.capacity() - block.len() < bytes.len() && !block.try_reclaim(BLOCK) {
                let (next, _) = full.take(BLOCK);
                full.keep(std::mem::replace(block, next), BLOCK);
            }
            block.extend_from_slice(bytes);
            block.split().freeze()
        })
    } else if bytes.len() <= MAX_KEPT {
        KEPT.try_with(|kept| {
            let mut kept = kept.borrow_mut();
            let (mut buf, size) = kept.take(bytes.len());
            buf.extend_from_slice(bytes);
            let frame = buf.split().freeze();
            kept.keep(buf, size);
            frame
        })
    } else {
        return Bytes::copy_from_slice(bytes);
    };
    copied.unwrap_or_else(|_| Bytes::copy_from_slice(bytes))
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
        let long = copy(&[1u8; MAX_KEPT + 1]);
        assert_eq!(long.len(), MAX_KEPT + 1);
    }

    #[test]
    fn a_full_block_is_used_again_once_its_frames_are_gone() {
        let frame = vec![3u8; MAX_IN_BLOCK];
        let fill = || -> Vec<Bytes> { (0..BLOCK / MAX_IN_BLOCK).map(|_| copy(&frame)).collect() };
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

    #[test]
    fn a_large_copy_goes_into_a_buffer_used_again_once_its_frame_is_gone() {
        let a = copy(&[5u8; 64 * 1024]);
        let at = a.as_ptr();
        // `a` is still held: the next copy needs another buffer.
        let b = copy(&[6u8; 64 * 1024]);
        assert_ne!(b.as_ptr(), at);
        assert!(a.iter().all(|&x| x == 5) && b.iter().all(|&x| x == 6));
        drop(a);
        let c = copy(&[7u8; 60 * 1024]);
        assert_eq!(c.as_ptr(), at, "the free buffer was not used again");
        assert!(c.iter().all(|&x| x == 7));
    }
}
