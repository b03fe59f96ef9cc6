//! Frames of every size around the points where reading changes (a buffer of a frame's own
//! from 8 KiB, with the next header read beside it; a buffer that grows read by read above
//! 256 KiB) arrive intact from a raw peer, whether its bytes come in one write or in pieces
//! that end anywhere.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use ferromq::{Context, SocketType};

/// The messages, each a list of frame sizes.
const MESSAGES: &[&[usize]] = &[
    &[0],
    &[1],
    &[8191],
    &[8192],
    &[8193],
    &[9],
    &[65536],
    &[65536],
    &[2],
    &[262_144],
    &[262_145],
    &[300_000],
    &[8192, 1],
    &[1, 65536, 0],
    &[300_000, 8192, 8192],
    &[70_000],
];

fn frames(message: usize) -> Vec<Vec<u8>> {
    MESSAGES[message]
        .iter()
        .enumerate()
        .map(|(i, &size)| common::pattern(size, (message * 10 + i) as u64))
        .collect()
}

/// Everything a raw PUSH peer sends for `MESSAGES`, after its handshake.
fn stream() -> Vec<u8> {
    let mut bytes = BytesMut::new();
    for message in 0..MESSAGES.len() {
        let frames = frames(message);
        for (i, frame) in frames.iter().enumerate() {
            ferromq_zmtp::encode_frame(&mut bytes, i + 1 < frames.len(), frame);
        }
    }
    bytes.to_vec()
}

/// Sends the stream in pieces of `piece` bytes, pausing now and then so that reads come back
/// short at places the sizes above do not line up with; then checks every message.
fn arrives_intact(piece: usize) {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(Some(Duration::from_secs(5))).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let raw = common::raw_push(&pull.last_endpoint());
    raw.set_nodelay(true).unwrap();
    let writer = std::thread::spawn(move || {
        for (i, bytes) in stream().chunks(piece).enumerate() {
            (&raw).write_all(bytes).unwrap();
            if i % 8 == 7 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        raw
    });
    for (message, sizes) in MESSAGES.iter().enumerate() {
        let msg = pull
            .recv()
            .unwrap_or_else(|e| panic!("pieces of {piece}: message {message}: {e}"));
        let got: Vec<&[u8]> = msg.frames().iter().map(|f| &f[..]).collect();
        let want = frames(message);
        assert!(
            got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| *g == &w[..]),
            "pieces of {piece}: message {message} ({sizes:?} bytes) came as {:?} bytes or differs",
            got.iter().map(|f| f.len()).collect::<Vec<_>>()
        );
    }
    drop(writer.join().unwrap());
}

#[test]
fn frames_arrive_intact_from_one_write() {
    arrives_intact(usize::MAX);
}

#[test]
fn frames_arrive_intact_from_pieces_that_end_anywhere() {
    for piece in [1000, 4099, 8197, 65_539] {
        arrives_intact(piece);
    }
}

/// A short message right behind a large one, and then nothing while the peer stays connected:
/// the short one's bytes come out of the kernel with the large frame's rest, and must be
/// decoded then, since no further data will announce them. Once read by the I/O thread (nobody
/// in `recv`), once by a `recv` already waiting.
#[test]
fn a_short_message_right_behind_a_large_one_is_not_left_behind() {
    for recv_waits in [false, true] {
        let ctx = Context::new();
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.set_rcvtimeo(Some(Duration::from_secs(3))).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let raw = common::raw_push(&pull.last_endpoint());
        let large = common::pattern(65536, 1);
        let mut bytes = common::raw_frame(&large);
        bytes.extend_from_slice(&common::raw_frame(b"!"));
        let writer = std::thread::spawn(move || {
            if recv_waits {
                std::thread::sleep(Duration::from_millis(200));
            }
            (&raw).write_all(&bytes).unwrap();
            raw
        });
        if !recv_waits {
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(pull.recv().unwrap().frames()[0] == large[..]);
        let started = std::time::Instant::now();
        let last = pull
            .recv()
            .unwrap_or_else(|e| panic!("recv waiting {recv_waits}: the short message: {e}"));
        assert_eq!(last.frames()[0], "!");
        // A recv that gives up at its deadline reads everything first: the short message must
        // come well before that.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "recv waiting {recv_waits}: the short message came only after {:?}",
            started.elapsed()
        );
        drop(writer.join().unwrap());
    }
}
