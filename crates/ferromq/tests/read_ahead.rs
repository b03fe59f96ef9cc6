//! A socket reads only so far ahead of its user, whatever its receive high-water mark: a peer
//! that sends faster than the user takes messages is then held back by TCP's flow control,
//! and nothing it sent is lost.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferromq::{Context, SocketType};
use socket2::SockRef;

const FRAME: usize = 128 * 1024;
/// 16 MiB in all: far fewer messages than the default high-water mark of 1000, far more bytes
/// than a socket reads ahead.
const FRAMES: usize = 128;

#[test]
fn a_fast_sender_waits_in_the_kernel_once_a_few_mib_are_read_ahead() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    // Small kernel buffers on both sides, so that what the peer manages to write is mostly
    // what the socket read.
    pull.set_rcvbuf(Some(128 * 1024)).unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let raw = common::raw_push(&pull.last_endpoint());
    SockRef::from(&raw)
        .set_send_buffer_size(128 * 1024)
        .unwrap();

    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            for i in 0..FRAMES {
                (&raw)
                    .write_all(&common::raw_frame(&common::pattern(FRAME, i as u64)))
                    .unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
            raw
        })
    };
    // One recv, which reads on the user's thread; then nobody receives, and the I/O thread
    // reads whatever comes next.
    let first = pull.recv().unwrap();
    assert_eq!(first.frames()[0], common::pattern(FRAME, 0));

    let stalled = loop {
        let before = written.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        let after = written.load(Ordering::SeqCst);
        if after == before || after == FRAMES {
            break after;
        }
    };
    eprintln!(
        "the peer stopped after {} KiB, {stalled} frames",
        stalled * FRAME / 1024
    );
    assert!(
        stalled * FRAME < 8 * 1024 * 1024,
        "the peer wrote {stalled} frames of {FRAME} bytes while nobody received: the socket \
         read ahead without bound"
    );

    for i in 1..FRAMES {
        let msg = pull.recv().unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert!(
            msg.frames()[0] == common::pattern(FRAME, i as u64),
            "message {i} differs from what was sent"
        );
    }
    drop(writer.join().unwrap());
}
