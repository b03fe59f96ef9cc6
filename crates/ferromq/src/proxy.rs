//! The built-in proxies: libzmq's `zmq_proxy` and `zmq_proxy_steerable`.
//!
//! A side is only read while the other side takes messages (`pollout`), so a slow consumer slows
//! the producer down through the high-water marks instead of piling messages up in the proxy:
//! the proxy itself holds at most one message per direction.

use crate::error::{ErrorKind, Result};
use crate::message::Message;
use crate::poller::Poller;
use crate::socket::{Events, Socket};
use ferromq_zmtp::SocketType;

/// How many messages one direction moves before the other direction and the control socket get
/// a turn, so that neither a busy direction nor a flood starves a PAUSE.
const BURST: usize = 64;

const NOTHING: Events = Events {
    pollin: false,
    pollout: false,
};

const READABLE: Events = Events {
    pollin: true,
    pollout: false,
};

/// Moves messages both ways between `frontend` and `backend`, as `zmq_proxy` does, until the
/// context is shut down or terminated; then it returns the error of kind
/// [`ErrorKind::Terminated`](crate::ErrorKind::Terminated). Any other error of either socket
/// ends it too, and is returned.
///
/// Messages move whole, with all their frames. The usual pairs are ROUTER/DEALER (a shared
/// queue: replies find their way back), XSUB/XPUB (a forwarder: subscriptions flow from the
/// XPUB side up to the XSUB side) and PULL/PUSH (a streamer).
///
/// One side is only read while the other side can take messages: a message it refuses is held
/// (one per direction, at most) and nothing more is read that way until it takes that one. So
/// a consumer that falls behind slows the producer down, through the high-water marks, instead
/// of growing the proxy's memory.
///
/// With a `capture` socket (PUB, PUSH, DEALER or PAIR), every message received on either side
/// is also sent to it, but never waited for: when the capture socket cannot take a message now
/// that copy is dropped, so a slow listener cannot stall the traffic it watches.
///
/// ```
/// use ferromq::{proxy, Context, ErrorKind, SocketType};
///
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://tasks")?;
/// let backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://workers")?;
/// let streamer = std::thread::spawn(move || proxy(&frontend, &backend, None));
///
/// let client = ctx.socket(SocketType::Push)?;
/// client.connect("inproc://tasks")?;
/// let worker = ctx.socket(SocketType::Pull)?;
/// worker.connect("inproc://workers")?;
/// client.send("task 1")?;
/// assert_eq!(worker.recv()?.frames()[0], "task 1");
///
/// ctx.shutdown();
/// let ended = streamer.join().unwrap();
/// assert_eq!(ended.unwrap_err().kind(), ErrorKind::Terminated);
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    run(frontend, backend, capture, None)
}

/// [`proxy`], steered through a `control` socket, as `zmq_proxy_steerable` does. Each message
/// received on `control` is a command (its first frame; other frames are ignored):
///
/// - `PAUSE`: stop moving messages; they wait in the sockets (up to their high-water marks).
/// - `RESUME`: move them again, starting with those that waited.
/// - `TERMINATE`: return `Ok(())`.
/// - `STATISTICS`: reply on `control` with 8 frames, each a `u64` in native byte order, as
///   libzmq does: frontend messages received, bytes received, messages sent, bytes sent, then
///   the same four for the backend.
///
/// Messages are counted as libzmq counts them: each frame of a multipart message is one
/// message (a request through a ROUTER frontend is three: routing id, delimiter, body), and the
/// bytes are those of the frames' payloads. A message counts as received when the proxy reads
/// it and as sent when the other side takes it; the capture copies are not counted.
///
/// A REP control socket answers every other command (unknown ones too) with an empty message,
/// as libzmq's does; other types (PAIR, SUB) get no answer to them. The statistics reply needs
/// a socket that can send (REP, PAIR, ...): it is not waited for, and dropped when the socket
/// cannot take it now; a socket that cannot send at all (SUB) makes the proxy return that
/// error, as libzmq's does.
///
/// Like [`proxy`], it returns the error of kind `Terminated` when the context is shut down.
pub fn proxy_steerable(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: &Socket,
) -> Result<()> {
    run(frontend, backend, capture, Some(control))
}

/// Messages (frames, as libzmq counts them) and bytes that went one way through one socket.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    messages: u64,
    bytes: u64,
}

impl Count {
    fn add(&mut self, msg: &Message) {
        self.messages += msg.len() as u64;
        self.bytes += msg.size() as u64;
    }
}

/// One socket's traffic through the proxy.
#[derive(Debug, Default, Clone, Copy)]
struct SideStats {
    received: Count,
    sent: Count,
}

/// One direction of traffic (frontend to backend, or back).
#[derive(Debug, Default)]
struct Direction {
    /// A message read but not yet taken by the destination: there is at most one.
    pending: Option<Message>,
    /// The destination cannot take a message now: wait for its `pollout`, not for the source.
    blocked: bool,
}

/// Where one call of the proxy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Paused,
    Terminated,
}

fn run(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<()> {
    // A socket may be its own backend (libzmq allows it): then it is watched once.
    let same = std::ptr::eq(frontend, backend);
    let mut poller = Poller::new()?;
    let front_index = poller.add(frontend, NOTHING)?;
    let back_index = if same {
        front_index
    } else {
        poller.add(backend, NOTHING)?
    };
    let control_index = match control {
        Some(socket) => Some(poller.add(socket, READABLE)?),
        None => None,
    };
    let mut state = State::Active;
    let mut front = SideStats::default();
    let mut back = SideStats::default();
    let mut forward = Direction::default();
    let mut backward = Direction::default();
    loop {
        let active = state == State::Active;
        let front_wants = Events {
            pollin: active && !forward.blocked,
            pollout: active && backward.blocked,
        };
        let back_wants = Events {
            pollin: active && !backward.blocked && !same,
            pollout: active && forward.blocked,
        };
        // `modify` also makes the poller look at each socket again: the `events` calls made
        // while moving messages have cleared their readiness fds.
        if same {
            poller.modify(front_index, either(front_wants, back_wants))?;
        } else {
            poller.modify(front_index, front_wants)?;
            poller.modify(back_index, back_wants)?;
        }
        if let Some(index) = control_index {
            poller.modify(index, READABLE)?;
        }
        let mut front_ready = NOTHING;
        let mut back_ready = NOTHING;
        let mut control_ready = false;
        for (index, events) in poller.wait(None)? {
            if Some(index) == control_index {
                control_ready = events.pollin;
            }
            if index == front_index {
                front_ready = events;
            }
            if index == back_index {
                back_ready = events;
            }
        }
        if let (true, Some(control)) = (control_ready, control) {
            state = handle_control(control, state, &front, &back)?;
            if state == State::Terminated {
                return Ok(());
            }
        }
        if state != State::Active {
            continue;
        }
        if front_ready.pollin || back_ready.pollout {
            let (received, sent) = (&mut front.received, &mut back.sent);
            pump(frontend, backend, capture, &mut forward, received, sent)?;
        }
        if !same && (back_ready.pollin || front_ready.pollout) {
            let (received, sent) = (&mut back.received, &mut front.sent);
            pump(backend, frontend, capture, &mut backward, received, sent)?;
        }
    }
}

fn either(a: Events, b: Events) -> Events {
    Events {
        pollin: a.pollin || b.pollin,
        pollout: a.pollout || b.pollout,
    }
}

fn would_block<T>(result: &Result<T>) -> bool {
    matches!(result, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// Moves up to a burst of messages from `from` to `to`. It reads only after `to` has said it
/// can take a message, and keeps the one message `to` refuses (a high-water mark reached within
/// the burst) for when it can; `dir.blocked` is left set while `to` cannot take more.
fn pump(
    from: &Socket,
    to: &Socket,
    capture: Option<&Socket>,
    dir: &mut Direction,
    received: &mut Count,
    sent: &mut Count,
) -> Result<()> {
    dir.blocked = true;
    if let Some(msg) = dir.pending.take() {
        if !send_or_keep(to, msg, dir, sent)? {
            return Ok(());
        }
    }
    // Once a burst, not once a message: asking costs more than the rest of the move.
    if !to.events()?.pollout {
        return Ok(());
    }
    for _ in 0..BURST {
        let result = from.try_recv();
        if would_block(&result) {
            break;
        }
        let msg = result?;
        received.add(&msg);
        if let Some(capture) = capture {
            let copied = capture.try_send(msg.clone());
            if !would_block(&copied) {
                copied?;
            }
        }
        if !send_or_keep(to, msg, dir, sent)? {
            return Ok(());
        }
    }
    dir.blocked = false;
    Ok(())
}

/// Sends `msg` if `to` takes it now (true); otherwise keeps it in `dir` (false).
fn send_or_keep(to: &Socket, msg: Message, dir: &mut Direction, sent: &mut Count) -> Result<bool> {
    // A clone, because a send that would block consumes its message; the frames are shared.
    let result = to.try_send(msg.clone());
    if would_block(&result) {
        dir.pending = Some(msg);
        return Ok(false);
    }
    result?;
    sent.add(&msg);
    Ok(true)
}

/// Reads and carries out every command waiting on the control socket.
fn handle_control(
    control: &Socket,
    mut state: State,
    front: &SideStats,
    back: &SideStats,
) -> Result<State> {
    let is_rep = control.socket_type() == SocketType::Rep;
    loop {
        let result = control.try_recv();
        if would_block(&result) {
            return Ok(state);
        }
        let command = result?;
        let reply = match command.first().map(|f| f.as_ref()) {
            Some(b"STATISTICS") => Some(statistics(front, back)),
            Some(word) => {
                match word {
                    b"PAUSE" => state = State::Paused,
                    b"RESUME" => state = State::Active,
                    b"TERMINATE" => state = State::Terminated,
                    _ => {}
                }
                is_rep.then(|| Message::from(""))
            }
            None => None,
        };
        if let Some(reply) = reply {
            let result = control.try_send(reply);
            if !would_block(&result) {
                result?;
            }
        }
        if state == State::Terminated {
            return Ok(state);
        }
    }
}

/// The STATISTICS reply: libzmq's 8 counters, one native-endian `u64` a frame.
fn statistics(front: &SideStats, back: &SideStats) -> Message {
    let mut reply = Message::new();
    for side in [front, back] {
        for count in [side.received, side.sent] {
            reply.push(count.messages.to_ne_bytes().to_vec());
            reply.push(count.bytes.to_ne_bytes().to_vec());
        }
    }
    reply
}
