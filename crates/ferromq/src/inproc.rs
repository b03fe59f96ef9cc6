//! `inproc://`: two sockets joined by a pair of bounded queues, with no I/O thread at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::message::Message;
use crate::signal::Signal;

/// What one side of an inproc pipe says about itself (the inproc handshake).
#[derive(Debug, Clone)]
pub(crate) struct InprocPeer {
    pub signal: Arc<Signal>,
    pub sndhwm: usize,
    pub rcvhwm: usize,
}

#[derive(Debug)]
struct State {
    /// `queues[side]` holds the messages that `side` will read.
    queues: [VecDeque<Message>; 2],
    peers: [Option<InprocPeer>; 2],
    closed: bool,
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
}

/// Room in one direction: the writer's sndhwm plus the reader's rcvhwm, as libzmq does; 0 on
/// either side means no limit.
fn limit(writer: &InprocPeer, reader: Option<&InprocPeer>) -> usize {
    match reader {
        None => writer.sndhwm,
        Some(r) if writer.sndhwm == 0 || r.rcvhwm == 0 => 0,
        Some(r) => writer.sndhwm + r.rcvhwm,
    }
}

impl InprocEnd {
    /// A new pipe whose side 0 is `me`; side 1 is attached later by the binder.
    pub(crate) fn new_pair(me: InprocPeer) -> (InprocEnd, InprocEnd) {
        let pipe = Arc::new(InprocPipe {
            state: Mutex::new(State {
                queues: [VecDeque::new(), VecDeque::new()],
                peers: [Some(me), None],
                closed: false,
            }),
        });
        (
            InprocEnd {
                pipe: Arc::clone(&pipe),
                side: 0,
            },
            InprocEnd { pipe, side: 1 },
        )
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

    pub(crate) fn can_write(&self) -> bool {
        let st = self.state();
        let Some(me) = &st.peers[self.side] else {
            return false;
        };
        let limit = limit(me, st.peers[1 - self.side].as_ref());
        !st.closed && (limit == 0 || st.queues[1 - self.side].len() < limit)
    }

    /// Queues a message for the peer; gives it back when the pipe is full or closed. With
    /// `force`, the limit is ignored (subscriptions must never be lost).
    pub(crate) fn write(&self, msg: Message, force: bool) -> Result<(), Message> {
        let mut st = self.state();
        let Some(me) = &st.peers[self.side] else {
            return Err(msg);
        };
        let limit = limit(me, st.peers[1 - self.side].as_ref());
        let queue_len = st.queues[1 - self.side].len();
        if st.closed || (!force && limit != 0 && queue_len >= limit) {
            return Err(msg);
        }
        st.queues[1 - self.side].push_back(msg);
        if queue_len == 0 {
            if let Some(peer) = &st.peers[1 - self.side] {
                peer.signal.notify();
            }
        }
        Ok(())
    }

    /// Takes the next message the peer sent.
    pub(crate) fn read(&self) -> Option<Message> {
        let mut st = self.state();
        let msg = st.queues[self.side].pop_front()?;
        if let Some(peer) = &st.peers[1 - self.side] {
            let me = st.peers[self.side].as_ref();
            let limit = me.map_or(0, |me| limit(peer, Some(me)));
            if limit != 0 && st.queues[self.side].len() + 1 == limit {
                peer.signal.notify();
            }
        }
        Some(msg)
    }

    /// True when the peer has closed and nothing is left to read.
    pub(crate) fn is_finished(&self) -> bool {
        let st = self.state();
        st.closed && st.queues[self.side].is_empty()
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
            signal: Arc::new(Signal::default()),
            sndhwm: hwm,
            rcvhwm: hwm,
        }
    }

    #[test]
    fn messages_cross_in_order_and_the_limit_holds() {
        let (a, b) = InprocEnd::new_pair(peer(1));
        b.attach(peer(1));
        assert!(a.write("1".into(), false).is_ok());
        assert!(a.write("2".into(), false).is_ok());
        assert!(
            a.write("3".into(), false).is_err(),
            "sndhwm 1 + rcvhwm 1 = 2 messages"
        );
        assert_eq!(b.read().unwrap(), Message::from("1"));
        assert!(a.can_write());
        assert_eq!(b.read().unwrap(), Message::from("2"));
        assert!(b.read().is_none());
    }

    #[test]
    fn close_lets_the_reader_drain_first() {
        let (a, b) = InprocEnd::new_pair(peer(10));
        b.attach(peer(10));
        a.write("last".into(), false).unwrap();
        a.close();
        assert!(!b.is_finished());
        assert_eq!(b.read().unwrap(), Message::from("last"));
        assert!(b.is_finished());
        assert!(b.write("x".into(), false).is_err());
    }
}
