//! `inproc://`: two sockets joined by a pair of lock-free queues, with no I/O thread at all.
//!
//! Each direction is a queue with one writer and one reader (two sockets, each under its own
//! lock), so a message costs the writer one push and the reader one pop, and neither waits for
//! a lock the other holds. The reader hands credit back to the writer in batches. A side that
//! finds nothing to read, or no room to write, raises a flag before it goes to wait, and the
//! other side wakes it only then: a busy pipe costs no wake-ups at all. Each side keeps its own
//! view of the other's position in the ring (`rtrb`), and a reader that is keeping up with a
//! stream waits a moment for a batch rather than take each message as it lands, so the two
//! threads meet on the ring's cache lines once a batch, not once a message.

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use rtrb::{Consumer, Producer, RingBuffer};

use crate::message::Message;
use crate::signal::Signal;

/// Slots of a new ring; a full ring is followed by one twice its size.
const FIRST_RING: usize = 32;
/// The reader hands credit back after at most this many messages (after half the lane's limit
/// when that is fewer) and whenever a read finds nothing: a writer is then held back only while
/// more than half its limit is unread.
const CREDIT_BATCH: usize = 256;
/// A reader that took `STREAM_BATCH` messages without finding the ring empty is streaming: when
/// it does find it empty, it waits for the next batch (`STREAM_BATCH`, or half the limit) for up
/// to `BATCH_WAIT_LOOKS` looks, `BATCH_WAIT_PAUSES` spin-loop pauses apart (about 6 us here).
const STREAM_BATCH: usize = 32;
const BATCH_WAIT_LOOKS: usize = 10;
const BATCH_WAIT_PAUSES: usize = 50;

/// What one side of an inproc pipe says about itself (the inproc handshake).
#[derive(Debug, Clone)]
pub(crate) struct InprocPeer {
    pub routing_id: Bytes,
    pub signal: Arc<Signal>,
    pub sndhwm: usize,
    pub rcvhwm: usize,
}

/// A ring's slot: a message, or, last in a full ring, the ring that follows it.
#[derive(Debug)]
enum Slot {
    Message(Message),
    Next(Consumer<Slot>),
}

/// What the two sides share about one direction; the rings themselves are held by the ends.
#[derive(Debug, Default)]
struct Lane {
    /// Messages read, as the reader last said: the writer's credit.
    read: AtomicUsize,
    /// Unread messages allowed (0: no limit): the writer's sndhwm plus the reader's rcvhwm, as
    /// libzmq counts them.
    limit: AtomicUsize,
    /// The reader found the lane empty and may be waiting: the next write wakes it.
    reader_idle: AtomicBool,
    /// The writer found the lane full and may be waiting: the next credit wakes it.
    writer_full: AtomicBool,
    /// The reader's signal, once it has attached.
    reader: OnceLock<Arc<Signal>>,
}

impl Lane {
    /// Wakes the reader if it said it may be waiting. The writer fences between its push and
    /// this, as the reader does between raising the flag and looking again.
    fn wake_reader(&self) {
        if self.reader_idle.load(Ordering::Relaxed)
            && self.reader_idle.swap(false, Ordering::Relaxed)
        {
            if let Some(signal) = self.reader.get() {
                signal.notify();
            }
        }
    }
}

/// The shared middle of an inproc connection.
#[derive(Debug)]
pub(crate) struct InprocPipe {
    /// `lanes[side]` carries the messages that `side` reads.
    lanes: [Lane; 2],
    peers: Mutex<[Option<InprocPeer>; 2]>,
    closed: AtomicBool,
}

impl InprocPipe {
    fn peers(&self) -> MutexGuard<'_, [Option<InprocPeer>; 2]> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets both lanes' limits from what the peers said.
    fn set_limits(&self, peers: &[Option<InprocPeer>; 2]) {
        for side in 0..2 {
            let limit = match (&peers[1 - side], &peers[side]) {
                (None, _) => 0,
                (Some(writer), None) => writer.sndhwm,
                (Some(w), Some(r)) if w.sndhwm == 0 || r.rcvhwm == 0 => 0,
                (Some(w), Some(r)) => w.sndhwm + r.rcvhwm,
            };
            self.lanes[side].limit.store(limit, Ordering::Relaxed);
        }
    }

    /// Wakes whatever `side` waits for.
    fn notify(&self, side: usize) {
        if let Some(signal) = self.lanes[side].reader.get() {
            signal.notify();
        }
    }
}

/// One socket's end of an inproc connection.
#[derive(Debug)]
pub(crate) struct InprocEnd {
    pipe: Arc<InprocPipe>,
    side: usize,
    /// The ring this side writes into, and how many messages it has written.
    tx: Producer<Slot>,
    written: usize,
    /// The ring this side reads from, how many messages it has read, and how many of those
    /// the writer has been told of.
    rx: Consumer<Slot>,
    read: usize,
    told: usize,
    /// Messages read since the ring was last found empty.
    run: usize,
}

impl InprocEnd {
    /// A new pipe whose side 0 is `me`; side 1 is attached later by the binder.
    pub(crate) fn new_pair(me: InprocPeer) -> (InprocEnd, InprocEnd) {
        let pipe = Arc::new(InprocPipe {
            lanes: [Lane::default(), Lane::default()],
            peers: Mutex::new([None, None]),
            closed: AtomicBool::new(false),
        });
        let _ = pipe.lanes[0].reader.set(Arc::clone(&me.signal));
        {
            let mut peers = pipe.peers();
            peers[0] = Some(me);
            pipe.set_limits(&peers);
        }
        // Ring `side` carries what `side` reads.
        let (to_0, from_0) = RingBuffer::new(FIRST_RING);
        let (to_1, from_1) = RingBuffer::new(FIRST_RING);
        let end = |side, tx, rx| InprocEnd {
            pipe: Arc::clone(&pipe),
            side,
            tx,
            written: 0,
            rx,
            read: 0,
            told: 0,
            run: 0,
        };
        (end(0, to_1, from_0), end(1, to_0, from_1))
    }

    /// Completes the pipe from the binder's side.
    pub(crate) fn attach(&self, me: InprocPeer) {
        let _ = self.pipe.lanes[self.side]
            .reader
            .set(Arc::clone(&me.signal));
        let mut peers = self.pipe.peers();
        peers[self.side] = Some(me);
        self.pipe.set_limits(&peers);
        drop(peers);
        self.pipe.notify(1 - self.side);
    }

    /// The routing id the peer gave, once it has attached.
    pub(crate) fn peer_routing_id(&self) -> Option<Bytes> {
        self.pipe.peers()[1 - self.side]
            .as_ref()
            .map(|p| p.routing_id.clone())
    }

    /// Takes new high-water marks for this side, at once, as libzmq does for inproc pipes.
    pub(crate) fn set_hwm(&self, sndhwm: usize, rcvhwm: usize) {
        let mut peers = self.pipe.peers();
        if let Some(me) = peers[self.side].as_mut() {
            me.sndhwm = sndhwm;
            me.rcvhwm = rcvhwm;
        }
        self.pipe.set_limits(&peers);
        drop(peers);
        // Both sides may have room now: the peer to write to this side, and this side (a
        // sender on another thread, a poller) to write to the peer.
        self.pipe.notify(1 - self.side);
        self.pipe.notify(self.side);
    }

    /// Whether the peer's lane has room under its limit, as far as its last credit says.
    fn under_limit(&self) -> bool {
        let lane = &self.pipe.lanes[1 - self.side];
        let limit = lane.limit.load(Ordering::Relaxed);
        limit == 0 || self.written - lane.read.load(Ordering::Acquire) < limit
    }

    /// Whether a message written now would be taken. When not, the reader's next credit wakes
    /// this side: whoever asks may wait for room (a poller waiting for POLLOUT).
    pub(crate) fn has_room(&self) -> bool {
        !self.pipe.closed.load(Ordering::Acquire) && (self.under_limit() || self.wait_for_room())
    }

    /// Says that this side waits for room, then looks again: credit given meanwhile either
    /// shows here or wakes this side. Returns whether there is room after all.
    fn wait_for_room(&self) -> bool {
        let lane = &self.pipe.lanes[1 - self.side];
        lane.writer_full.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.under_limit()
    }

    /// Queues a message for the peer; gives it back when the pipe is full or closed. With
    /// `force`, the limit is ignored (subscriptions must never be lost).
    pub(crate) fn write(&mut self, msg: Message, force: bool) -> Result<(), Message> {
        let peer = 1 - self.side;
        // This side has not attached yet: there is nobody to wake for room.
        let attached = self.pipe.lanes[self.side].reader.get().is_some();
        if self.pipe.closed.load(Ordering::Acquire) || !attached {
            return Err(msg);
        }
        if !force && !self.under_limit() && !self.wait_for_room() {
            return Err(msg);
        }
        self.push(Slot::Message(msg));
        self.written += 1;
        fence(Ordering::SeqCst);
        self.pipe.lanes[peer].wake_reader();
        Ok(())
    }

    /// Pushes onto the ring, moving on to a ring twice the size when this one is full (its
    /// last slot is kept for the link). The free slots this side knows of are counted without
    /// looking at the reader's position, which it looks up only when they run out.
    fn push(&mut self, slot: Slot) {
        if self.tx.cached_slots() > 1 || self.tx.slots() > 1 {
            let pushed = self.tx.push(slot);
            debug_assert!(pushed.is_ok(), "only this side pushes");
            return;
        }
        let (mut next, next_rx) = RingBuffer::new(self.tx.buffer().capacity() * 2);
        let pushed = next.push(slot);
        debug_assert!(pushed.is_ok(), "a new ring has room");
        let linked = self.tx.push(Slot::Next(next_rx));
        debug_assert!(linked.is_ok(), "the last slot is kept for the link");
        self.tx = next;
    }

    /// The next message on this side's ring, following links to later rings.
    fn pop(&mut self) -> Option<Message> {
        loop {
            match self.rx.pop().ok()? {
                Slot::Message(msg) => return Some(msg),
                Slot::Next(next) => self.rx = next,
            }
        }
    }

    /// Takes the next message the peer sent.
    pub(crate) fn read(&mut self) -> Option<Message> {
        if let Some(msg) = self.pop() {
            return Some(self.took(msg));
        }
        self.give_credit();
        let streaming = self.run >= STREAM_BATCH && !self.pipe.closed.load(Ordering::Acquire);
        self.run = 0;
        if streaming && self.wait_for_batch() {
            return self.pop().map(|msg| self.took(msg));
        }
        // Say so before looking again: a write meanwhile either shows here or wakes us.
        let idle = |end: &InprocEnd, now| {
            end.pipe.lanes[end.side]
                .reader_idle
                .store(now, Ordering::Relaxed)
        };
        idle(self, true);
        fence(Ordering::SeqCst);
        let msg = self.pop()?;
        idle(self, false);
        Some(self.took(msg))
    }

    /// Half this side's limit, at least 1 and at most `most` (`most` when there is no limit).
    fn half_limit(&self, most: usize) -> usize {
        match self.pipe.lanes[self.side].limit.load(Ordering::Relaxed) {
            0 => most,
            limit => (limit / 2).clamp(1, most),
        }
    }

    /// Waits a few microseconds, on this thread, for a batch to come. A reader that takes each
    /// message as it comes keeps the ring empty, so that the two threads pass its lines back
    /// and forth for every message, and the writer must wake it for every one; waiting makes
    /// them meet once a batch. Returns whether anything came.
    fn wait_for_batch(&mut self) -> bool {
        // Half the limit when that is fewer: the writer can always send that much, as all
        // credit was given back before.
        let batch = self.half_limit(STREAM_BATCH);
        for _ in 0..BATCH_WAIT_LOOKS {
            if self.rx.slots() >= batch {
                return true;
            }
            for _ in 0..BATCH_WAIT_PAUSES {
                std::hint::spin_loop();
            }
        }
        !self.rx.is_empty()
    }

    /// Counts a message read, and gives credit back when a batch of them has been read.
    fn took(&mut self, msg: Message) -> Message {
        self.read += 1;
        self.run += 1;
        // Credit goes back in batches of at most half the limit: a writer that finds the lane
        // full then has more than half the limit unread, and is woken before the reader has
        // read all of it.
        if self.read - self.told >= self.half_limit(CREDIT_BATCH) {
            self.give_credit();
        }
        msg
    }

    /// Tells the writer how many messages were read, waking it if it found the lane full.
    fn give_credit(&mut self) {
        if self.told == self.read {
            return;
        }
        self.told = self.read;
        let lane = &self.pipe.lanes[self.side];
        lane.read.store(self.read, Ordering::Release);
        fence(Ordering::SeqCst);
        if lane.writer_full.load(Ordering::Relaxed)
            && lane.writer_full.swap(false, Ordering::Relaxed)
        {
            self.pipe.notify(1 - self.side);
        }
    }

    /// True when the peer has closed and nothing is left to read.
    pub(crate) fn is_finished(&self) -> bool {
        // Everything written before the close is on the ring once the close is seen.
        self.pipe.closed.load(Ordering::Acquire) && self.rx.is_empty()
    }

    /// Closes the pipe; what this side has already written stays readable by the peer.
    pub(crate) fn close(&self) {
        self.pipe.closed.store(true, Ordering::Release);
        self.pipe.notify(1 - self.side);
    }
}

impl Drop for InprocEnd {
    /// An end dropped without a close (its socket went while the pipe was being handed to it)
    /// still tells the peer, which would otherwise write into it until full, then wait.
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(hwm: usize) -> InprocPeer {
        InprocPeer {
            routing_id: Bytes::new(),
            signal: Arc::new(Signal::default()),
            sndhwm: hwm,
            rcvhwm: hwm,
        }
    }

    #[test]
    fn messages_cross_in_order_and_the_limit_holds() {
        let (mut a, mut b) = InprocEnd::new_pair(peer(1));
        b.attach(peer(1));
        assert!(a.write("1".into(), false).is_ok());
        assert!(a.write("2".into(), false).is_ok());
        assert!(
            a.write("3".into(), false).is_err(),
            "sndhwm 1 + rcvhwm 1 = 2 messages"
        );
        assert_eq!(b.read().unwrap(), Message::from("1"));
        assert_eq!(b.read().unwrap(), Message::from("2"));
        assert!(
            a.write("3".into(), false).is_ok(),
            "the credit is back once all was read"
        );
        assert_eq!(b.read().unwrap(), Message::from("3"));
    }

    #[test]
    fn a_full_writer_is_woken_when_credit_comes_back() {
        // Whether it found the pipe full by writing, or by asking (a poller wanting POLLOUT).
        for asked in [false, true] {
            let writer = peer(1);
            let (mut a, mut b) = InprocEnd::new_pair(writer.clone());
            b.attach(peer(1));
            a.write("1".into(), false).unwrap();
            a.write("2".into(), false).unwrap();
            let seen = writer.signal.epoch();
            if asked {
                assert!(!a.has_room());
            } else {
                assert!(a.write("3".into(), false).is_err(), "full");
            }
            b.read();
            b.read();
            assert_ne!(writer.signal.epoch(), seen, "asked: {asked}");
            assert!(a.has_room());
        }
    }

    fn numbered(i: u32) -> Message {
        Message::from(i.to_le_bytes().to_vec())
    }

    #[test]
    fn forced_writes_grow_the_ring_and_arrive_in_order() {
        let (mut a, mut b) = InprocEnd::new_pair(peer(1));
        b.attach(peer(1));
        for i in 0..10_000 {
            a.write(numbered(i), true).unwrap();
        }
        for i in 0..10_000 {
            assert_eq!(b.read(), Some(numbered(i)));
        }
        assert_eq!(b.read(), None);
    }

    #[test]
    fn messages_cross_threads_in_order_and_every_wait_is_woken() {
        let deadline = || Some(std::time::Instant::now() + std::time::Duration::from_secs(10));
        for hwm in [1, 3, 1000] {
            let (writer, reader) = (peer(hwm), peer(hwm));
            let (mut a, mut b) = InprocEnd::new_pair(writer.clone());
            b.attach(reader.clone());
            let count = 100_000;
            let sender = std::thread::spawn(move || {
                for i in 0..count {
                    let mut msg = numbered(i);
                    loop {
                        let seen = writer.signal.epoch();
                        match a.write(msg, false) {
                            Ok(()) => break,
                            Err(back) => msg = back,
                        }
                        assert!(
                            writer.signal.wait(seen, deadline()),
                            "a full writer was not woken"
                        );
                    }
                }
            });
            for i in 0..count {
                loop {
                    let seen = reader.signal.epoch();
                    if let Some(msg) = b.read() {
                        assert_eq!(msg, numbered(i), "high-water mark {hwm}");
                        break;
                    }
                    assert!(
                        reader.signal.wait(seen, deadline()),
                        "an idle reader was not woken"
                    );
                }
            }
            sender.join().unwrap();
        }
    }

    #[test]
    fn a_streaming_reader_takes_a_short_batch_and_is_woken_after_it() {
        let reader = peer(1000);
        let (mut a, mut b) = InprocEnd::new_pair(peer(1000));
        b.attach(reader.clone());
        for i in 0..(STREAM_BATCH as u32 + 1) {
            a.write(numbered(i), false).unwrap();
        }
        for i in 0..(STREAM_BATCH as u32 + 1) {
            assert_eq!(b.read(), Some(numbered(i)));
        }
        // Streaming now: the read waits for a batch that does not come, then gives up.
        assert_eq!(b.read(), None);
        let seen = reader.signal.epoch();
        a.write(numbered(100), false).unwrap();
        assert_ne!(reader.signal.epoch(), seen, "the idle reader was not woken");
        assert_eq!(b.read(), Some(numbered(100)), "fewer than a batch is read");
        assert_eq!(b.read(), None);
    }

    #[test]
    fn close_lets_the_reader_drain_first() {
        let (mut a, mut b) = InprocEnd::new_pair(peer(10));
        b.attach(peer(10));
        a.write("last".into(), false).unwrap();
        a.close();
        assert!(!b.is_finished());
        assert_eq!(b.read().unwrap(), Message::from("last"));
        assert!(b.is_finished());
        assert!(b.write("x".into(), false).is_err());
    }

    #[test]
    fn an_end_dropped_without_a_close_closes_the_pipe() {
        let (a, b) = InprocEnd::new_pair(peer(10));
        b.attach(peer(10));
        drop(b);
        assert!(!a.has_room(), "the peer has gone");
        assert!(a.is_finished());
    }
}
