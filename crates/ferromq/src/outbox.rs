//! What a stream connection has to write, shared by the socket that queues it (under the
//! socket's lock) and the thread that writes it (without that lock). A sender that keeps its
//! socket busy and the I/O thread writing for it then never wait for each other: the writer
//! takes the whole queue, writes it, and comes back for what was queued meanwhile until
//! nothing is left, so one wake-up of the I/O thread serves a whole stream of messages.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::connection::OutQueue;
use crate::signal::Signal;
use crate::transport::Stream;

#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The socket's signal: a writer that makes room wakes a sender waiting for it.
    signal: Arc<Signal>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub queue: OutQueue,
    /// An empty queue kept for the next writer, so that taking the queue allocates nothing.
    spare: OutQueue,
    /// The connection's stream; none between connections.
    stream: Option<Arc<Stream>>,
    /// Counts connections, so that a writer coming back from one that has gone leaves the
    /// next one's queue alone.
    generation: u64,
    writer: Writer,
    /// Messages the writer has taken and not finished: still under the high-water mark.
    in_flight: usize,
    /// A sender found the pipe full: the writer wakes it when it makes room.
    room_wanted: bool,
    /// The socket wants to hear when everything is written (a STREAM peer to close, a
    /// conflated message to send).
    tell_drained: bool,
}

impl State {
    /// Whether fewer than `limit` messages are queued or being written besides `others`
    /// (0: no limit); when not, the next write that makes room wakes the socket.
    pub(crate) fn has_room(&mut self, others: usize, limit: usize) -> bool {
        let room = limit == 0 || others + self.queue.messages() + self.in_flight < limit;
        if !room {
            self.room_wanted = true;
        }
        room
    }

    /// Nobody writes the queue: something queued now needs a writer started.
    pub(crate) fn needs_writer(&self) -> bool {
        self.writer == Writer::Idle
    }
}

/// Who writes the queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// Nobody: the next message queued needs a writer.
    #[default]
    Idle,
    /// A writer has been asked for or is writing.
    Busy,
    /// The stream was full: the socket resumes writing when it has room.
    Blocked,
}

/// How a writer finished.
#[derive(Debug)]
pub(crate) enum Written {
    /// Everything queued is written; `tell`: the socket asked to hear of it.
    Drained {
        tell: bool,
    },
    /// The writer stays: it wrote one batch and more was queued meanwhile, or (`wrote` false)
    /// it found nothing to write and was asked to stay a while for more.
    More {
        wrote: bool,
    },
    /// The stream is full: the rest waits for room.
    Blocked,
    Failed(io::Error),
    /// The connection went while the writer was out.
    Stale,
}

impl Written {
    /// Whether the socket must hear of it: anything but a plain drain.
    pub(crate) fn concerns_socket(&self) -> bool {
        !matches!(
            self,
            Written::Drained { tell: false } | Written::More { .. } | Written::Stale
        )
    }
}

impl Outbox {
    pub(crate) fn new(signal: Arc<Signal>) -> Arc<Outbox> {
        Arc::new(Outbox {
            state: Mutex::new(State::default()),
            signal,
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts writing to a new connection's stream.
    pub(crate) fn attach(&self, stream: Arc<Stream>) {
        let mut st = self.state();
        st.stream = Some(stream);
    }

    /// Forgets the connection: what was not written is dropped, and a writer still out will
    /// find its work stale.
    pub(crate) fn detach(&self) {
        let mut st = self.state();
        st.queue.clear();
        st.stream = None;
        st.generation += 1;
        st.writer = Writer::Idle;
        st.in_flight = 0;
        st.tell_drained = false;
    }

    /// Has the next writer that drains the queue say so (see `Written::Drained`).
    pub(crate) fn tell_drained(&self) {
        self.state().tell_drained = true;
    }

    /// See `State::has_room`.
    pub(crate) fn has_room(&self, others: usize, limit: usize) -> bool {
        self.state().has_room(others, limit)
    }

    /// Nothing is queued and no writer is out.
    pub(crate) fn is_idle(&self) -> bool {
        let st = self.state();
        st.writer == Writer::Idle && st.queue.is_empty()
    }

    /// Bytes and messages queued and not yet taken by a writer.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let st = self.state();
        (st.queue.len(), st.queue.messages())
    }

    /// Makes the caller the writer when there is something to write and a stream to write it
    /// to, and nobody writes it already. `resume`: also when the last writer found the stream
    /// full (the caller knows, or guesses, that it has room again).
    pub(crate) fn claim(&self, resume: bool) -> bool {
        let mut st = self.state();
        let free = match st.writer {
            Writer::Idle => true,
            Writer::Blocked => resume,
            Writer::Busy => false,
        };
        if free && !st.queue.is_empty() && st.stream.is_some() {
            st.writer = Writer::Busy;
            return true;
        }
        false
    }

    /// Writes, as the writer `claim` made the caller, until the queue is empty or the stream
    /// is full, or after one batch when `once` (an event loop that has other work between
    /// batches, which also gives the batches time to grow). With `stay`, a writer that finds
    /// the queue empty stays the writer, so that a sender that goes on does not have to ask
    /// for a new one. The socket's lock must not be held: others queue meanwhile.
    pub(crate) fn write_out(&self, once: bool, stay: bool) -> Written {
        let mut st = self.state();
        let mut wrote = false;
        loop {
            if st.queue.is_empty() {
                if stay {
                    return Written::More { wrote };
                }
                st.writer = Writer::Idle;
                let tell = std::mem::take(&mut st.tell_drained);
                return Written::Drained { tell };
            }
            if once && wrote {
                return Written::More { wrote };
            }
            wrote = true;
            let Some(stream) = st.stream.clone() else {
                st.writer = Writer::Idle;
                return Written::Stale;
            };
            let generation = st.generation;
            let spare = std::mem::take(&mut st.spare);
            let mut queue = std::mem::replace(&mut st.queue, spare);
            st.in_flight = queue.messages();
            drop(st);
            let result = queue.write_to(&stream);
            st = self.state();
            if st.generation != generation {
                return Written::Stale;
            }
            st.in_flight = 0;
            if st.room_wanted {
                st.room_wanted = false;
                self.signal.notify();
            }
            if let Err(e) = result {
                st.writer = Writer::Idle;
                return Written::Failed(e);
            }
            if !queue.is_empty() {
                // What the kernel did not take goes before what was queued meanwhile.
                queue.append(&mut st.queue);
                std::mem::swap(&mut queue, &mut st.queue);
                st.spare = queue;
                st.writer = Writer::Blocked;
                return Written::Blocked;
            }
            st.spare = queue;
        }
    }

    /// Claims and writes on this thread, for what must go before anything else happens (a
    /// handshake's last words before closing). `None` when another writer is out.
    pub(crate) fn write_now(&self) -> Option<Written> {
        self.claim(true).then(|| self.write_out(false, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::OutBuffer;
    use crate::message::Message;
    use std::io::Read;

    /// An outbox writing into one end of a socket pair, and the other end to read from.
    fn outbox() -> (OutBuffer, std::os::unix::net::UnixStream, Arc<Signal>) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let signal = Arc::new(Signal::default());
        let out = OutBuffer::new(Arc::clone(&signal));
        let stream = Stream::Ipc(mio::net::UnixStream::from_std(ours));
        out.outbox.attach(Arc::new(stream));
        (out, theirs, signal)
    }

    fn body(i: usize) -> Message {
        Message::from(vec![(i % 251) as u8; 1000])
    }

    #[test]
    fn a_full_stream_blocks_the_writer_until_it_is_resumed() {
        let (mut out, mut theirs, _) = outbox();
        let mut queued = 0;
        // Far more than a socket pair's buffer holds.
        while queued < 2000 {
            out.push_message(&body(queued));
            queued += 1;
        }
        assert!(out.outbox.claim(false));
        assert!(matches!(
            out.outbox.write_out(false, false),
            Written::Blocked
        ));
        // Queued meanwhile: a producer does not restart a blocked writer, a readiness event does.
        out.push_message(&body(queued));
        queued += 1;
        assert!(!out.outbox.claim(false));
        // Read everything while resuming the writer, and check every byte arrives in order.
        let mut expected = bytes::BytesMut::new();
        for i in 0..queued {
            ferromq_zmtp::encode_frame(&mut expected, false, &body(i).frames()[0]);
        }
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while got.len() < expected.len() {
            if out.outbox.claim(true) {
                let _ = out.outbox.write_out(false, false);
            }
            let n = theirs.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes arrived out of order");
        assert!(out.outbox.is_idle());
    }

    #[test]
    fn a_writer_that_makes_room_wakes_the_sender() {
        let (mut out, _theirs, signal) = outbox();
        for i in 0..3 {
            // No writer has been started yet: each push says one is needed.
            assert_eq!(out.push_message_within(&body(i), 0, 3), Some(true));
        }
        assert_eq!(out.push_message_within(&body(3), 0, 3), None);
        let epoch = signal.epoch();
        assert!(out.outbox.claim(false));
        assert!(matches!(
            out.outbox.write_out(true, false),
            Written::Drained { tell: false }
        ));
        assert!(signal.epoch() > epoch, "the full sender was not woken");
        assert_eq!(out.push_message_within(&body(3), 0, 3), Some(true));
    }

    #[test]
    fn a_writer_claimed_before_the_connection_went_writes_nothing() {
        let (mut out, theirs, _) = outbox();
        out.push_message(&body(0));
        assert!(out.outbox.claim(false));
        out.clear();
        assert!(!out.outbox.write_out(false, false).concerns_socket());
        // The outbox held the last handle on the stream: the peer sees it close, with no byte.
        assert_eq!((&theirs).read(&mut [0u8; 16]).unwrap(), 0);
        // The next connection starts with an empty outbox and no writer.
        assert!(out.outbox.is_idle());
        assert!(!out.outbox.claim(true));
    }

    #[test]
    fn a_pipe_dropped_while_its_writer_is_out_lets_the_stream_close() {
        let (mut out, theirs, _) = outbox();
        out.push_message(&body(0));
        assert!(out.outbox.claim(false));
        let writer = Arc::clone(&out.outbox);
        drop(out);
        assert!(!writer.write_out(true, false).concerns_socket());
        assert_eq!((&theirs).read(&mut [0u8; 16]).unwrap(), 0);
    }
}
