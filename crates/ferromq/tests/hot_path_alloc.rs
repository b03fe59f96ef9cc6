//! The hot path allocates nothing per message: small messages pass through a pipe, are packed
//! into a batch, written, read and decoded in buffers that are already there. A counting global
//! allocator counts every allocation in the process, on every thread, while a sender and a
//! receiver move many messages in steady state.
//!
//! Each message is made afresh from a byte slice, as a user makes one, and dropped by the
//! receiver: a frame of up to `Frame::INLINE` bytes is held inside the `Frame`, so neither
//! allocates. Over tcp and ipc a short frame received is copied out of the read buffer, which
//! is then used again; a longer one is a slice of it, and the connection takes the buffer back
//! once those are gone. A frame of up to a few KiB is copied into a block its thread shares
//! out and takes back the same way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferromq::{Context, Frame, SocketType};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u64 = 20_000;
const MEASURED: u64 = 200_000;

/// Moves messages of `size` bytes from PUSH to PULL through `bind` and returns the
/// allocations per message while the last `MEASURED` of them are received.
fn allocations_per_message(bind: &str, size: usize) -> f64 {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(10))).unwrap();
    pull.bind(bind).unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndtimeo(Some(Duration::from_secs(10))).unwrap();
    push.connect(&pull.last_endpoint()).unwrap();
    let body = vec![7u8; size];
    let sender = std::thread::spawn(move || {
        for _ in 0..WARM_UP + MEASURED {
            push.send(Frame::copy_from_slice(&body)).unwrap();
        }
        push
    });
    for _ in 0..WARM_UP {
        pull.recv().unwrap();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..MEASURED {
        let msg = pull.recv().unwrap();
        assert_eq!(msg.size(), size);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    drop(sender.join().unwrap());
    (after - before) as f64 / MEASURED as f64
}

/// One test for every transport and size, one after the other: the counter is global, so
/// two measurements must not overlap. 32-byte messages allocate nothing per message. 1 KiB
/// messages share blocks on the way out and read buffers on the way in, and both come back
/// once their frames are gone: nearly nothing either. Before they came back a 1 KiB message
/// cost 0.0078 allocations over tcp, 0.0096 over ipc and 0.031 over inproc; now tcp and inproc
/// show 0.0000 to 0.0003, ipc up to 0.0042 (what still allocates there is not known).
#[test]
fn inline_messages_allocate_nothing_and_1_kib_ones_share_buffers_that_come_back() {
    let ipc = format!("ipc://@ferromq-hot-path-alloc-{}", std::process::id());
    let inproc = "inproc://hot-path-alloc";
    for (size, endpoint, most) in [
        (32, "tcp://127.0.0.1:*", 0.01),
        (32, &ipc, 0.01),
        (32, inproc, 0.01),
        (1024, "tcp://127.0.0.1:*", 0.005),
        (1024, &ipc, 0.01),
        (1024, inproc, 0.005),
    ] {
        let per_message = allocations_per_message(endpoint, size);
        eprintln!("{endpoint}, {size} B: {per_message:.4} allocations per message");
        assert!(
            per_message < most,
            "{endpoint}, {size} B: {per_message} allocations per message"
        );
    }
}
