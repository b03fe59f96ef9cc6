//! `inproc://`: two sockets joined by a pair of bounded queues, with no I/O thread at all.
//!
//! The reader takes everything queued in one go and hands credit back to the writer in
//! batches, so the lock the two sides share is taken about once per batch, not per message.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::message::Message;
use crate::signal::Signal;

/// What one side of an inproc pipe says about itself (the inproc handshake).
#[derive(Debug, Clone)]
pub(crate) struct InprocPeer {
    pub routing_id: Bytes,
    pub signal: Arc<Signal>,
    pub sndhwm: usize,
    pub rcvhwm: usize,
}

#[derive(Debug)]
struct State {
    /// `queues[side]` holds the messages that `side` will read.
    queues: [VecDeque<Message>; 2],
    /// Messages written for `side` and not yet read by it, in the queue or in its batch.
    unread: [usize; 2],
    peers: [Option<InprocPeer>; 2],
    closed: bool,
}

impl State {
    /// How many unread messages `side` may have: the writer's sndhwm plus the reader's
    /// rcvhwm, as libzmq does; 0 means no limit.
    fn limit(&self, side: usize) -> usize {
        let (Some(writer), reader) = (&self.peers[1 - side], self.peers[side].as_ref()) else {
            return 0;
        };
        match reader {
            None => writer.sndhwm,
            Some(r) if writer.sndhwm == 0 || r.rcvhwm == 0 => 0,
            Some(r) => writer.sndhwm + r.rcvhwm,
        }
    }
}

/// The shared middle of an inproc connection.
#[derive(Debug)]
pub(crate) struct InprocPipe {
    state: Mutex<State>,
}

/// One socket's end of an inproc connection.
#[derive(Debug)]
pub(crate) struct InprocEnd {
    pipe: Arc<InprocPipe>,
    side: usize,
    /// Messages taken from the queue and not yet handed to the user.
    batch: VecDeque<Message>,
    /// Messages handed to the user whose credit the writer has not had back yet.
    read_since_credit: usize,
}

impl InprocEnd {
    /// A new pipe whose side 0 is `me`; side 1 is attached later by the binder.
    pub(crate) fn new_pair(me: InprocPeer) -> (InprocEnd, InprocEnd) {
        let pipe = Arc::new(InprocPipe {
            state: Mutex::new(State {
                queues: [VecDeque::new(), VecDeque::new()],
                unread: [0, 0],
                peers: [Some(me), None],
                closed: false,
            }),
        });
        let end = |side| InprocEnd {
            pipe: Arc::clone(&pipe),
            side,
            batch: VecDeque::new(),
            read_since_credit: 0,
        };
        (end(0), end(1))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.pipe.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes the pipe from the binder's side.
    pub(crate) fn attach(&self, me: InprocPeer) {
        let mut st = self.state();
        st.peers[self.side] = Some(me);
        if let Some(other) = &st.peers[1 - self.side] {
            other.signal.notify();
        }
    }

    /// The routing id the peer gave, once it has attached.
    pub(crate) fn peer_routing_id(&self) -> Option<Bytes> {
        self.state().peers[1 - self.side]
            .as_ref()
            .map(|p| p.routing_id.clone())
    }

    /// Takes new high-water marks for this side, at once, as libzmq does for inproc pipes.
    pub(crate) fn set_hwm(&self, sndhwm: usize, rcvhwm: usize) {
        let mut st = self.state();
        if let Some(me) = st.peers[self.side].as_mut() {
            me.sndhwm = sndhwm;
            me.rcvhwm = rcvhwm;
        }
        if let Some(peer) = &st.peers[1 - self.side] {
            peer.signal.notify();
        }
    }

    /// Whether a message written now would be taken.
    pub(crate) fn has_room(&self) -> bool {
        let peer = 1 - self.side;
        let st = self.state();
        let limit = st.limit(peer);
        !st.closed && (limit == 0 || st.unread[peer] < limit)
    }

    /// Queues a message for the peer; gives it back when the pipe is full or closed. With
    /// `force`, the limit is ignored (subscriptions must never be lost).
    pub(crate) fn write(&self, msg: Message, force: bool) -> Result<(), Message> {
        let peer = 1 - self.side;
        let mut st = self.state();
        let limit = st.limit(peer);
        if st.closed
            || st.peers[self.side].is_none()
            || (!force && limit != 0 && st.unread[peer] >= limit)
        {
            return Err(msg);
        }
        let was_empty = st.queues[peer].is_empty();
        st.queues[peer].push_back(msg);
        st.unread[peer] += 1;
        if was_empty {
            if let Some(reader) = &st.peers[peer] {
                reader.signal.notify();
            }
        }
        Ok(())
    }

    /// Takes the next message the peer sent.
    pub(crate) fn read(&mut self) -> Option<Message> {
        if self.batch.is_empty() {
            self.refill();
        }
        let msg = self.batch.pop_front()?;
        self.read_since_credit += 1;
        // Credit goes back as soon as a batch is used up (a writer waiting at the high-water
        // mark must not wait for the next read), and every 256 messages within a long one.
        if self.batch.is_empty() || self.read_since_credit >= 256 {
            self.refill();
        }
        Some(msg)
    }

    /// Gives the writer its credit back and, when the batch is used up, takes the next one.
    fn refill(&mut self) {
        let pipe = Arc::clone(&self.pipe);
        let mut st = pipe.state.lock().unwrap_or_else(|e| e.into_inner());
        self.give_credit(&mut st);
        if self.batch.is_empty() {
            std::mem::swap(&mut self.batch, &mut st.queues[self.side]);
        }
    }

    /// Tells the writer how many messages were read since last time, waking it if it was full.
    fn give_credit(&mut self, st: &mut State) {
        if self.read_since_credit == 0 {
            return;
        }
        let limit = st.limit(self.side);
        let was_full = limit != 0 && st.unread[self.side] >= limit;
        st.unread[self.side] -= self.read_since_credit;
        self.read_since_credit = 0;
        if was_full {
            if let Some(writer) = &st.peers[1 - self.side] {
                writer.signal.notify();
            }
        }
    }

    /// True when either side has closed the pipe.
    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// True when the peer has closed and nothing is left to read.
    pub(crate) fn is_finished(&self) -> bool {
        let st = self.state();
        st.closed && st.queues[self.side].is_empty() && self.batch.is_empty()
    }

    /// Closes the pipe; what this side has already written stays readable by the peer.
    pub(crate) fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        if let Some(peer) = &st.peers[1 - self.side] {
            peer.signal.notify();
        }
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
        let (a, mut b) = InprocEnd::new_pair(peer(1));
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
        let writer = peer(1);
        let (a, mut b) = InprocEnd::new_pair(writer.clone());
        b.attach(peer(1));
        a.write("1".into(), false).unwrap();
        a.write("2".into(), false).unwrap();
        let seen = writer.signal.epoch();
        b.read();
        b.read();
        assert_ne!(writer.signal.epoch(), seen);
    }

    #[test]
    fn close_lets_the_reader_drain_first() {
        let (a, mut b) = InprocEnd::new_pair(peer(10));
        b.attach(peer(10));
        a.write("last".into(), false).unwrap();
        a.close();
        assert!(!b.is_finished());
        assert_eq!(b.read().unwrap(), Message::from("last"));
        assert!(b.is_finished());
        assert!(b.write("x".into(), false).is_err());
    }
}
