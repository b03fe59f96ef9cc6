//! Socket monitoring: what happens to a socket's connections, as typed events, and in
//! libzmq's message formats on an inproc PAIR socket for code written against libzmq.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::signal::Signal;
use crate::socket::Socket;

/// Events kept for a monitor that is not read; later ones are dropped (and counted).
const QUEUE_LIMIT: usize = 10_000;

/// Something that happened to one of a socket's endpoints or connections. The names and
/// numbers are libzmq's (`ZMQ_EVENT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection to the peer is up (before the handshake).
    Connected,
    /// A connect is under way.
    ConnectDelayed,
    /// A connect failed; the next try comes after `interval`.
    ConnectRetried { interval: Duration },
    /// The socket listens on the endpoint.
    Listening,
    /// The socket could not bind.
    BindFailed { reason: String },
    /// A peer's connection was accepted.
    Accepted,
    /// Accepting a connection failed.
    AcceptFailed { reason: String },
    /// A listener was closed.
    Closed,
    /// The connection to a peer ended.
    Disconnected { reason: String },
    /// This monitor will report no more.
    MonitorStopped,
    /// The handshake failed for a reason other than the protocol (a timeout).
    HandshakeFailedNoDetail { reason: String },
    /// The handshake finished; messages can flow.
    HandshakeSucceeded,
    /// The peer broke the protocol in the handshake; `code` is libzmq's
    /// `ZMQ_PROTOCOL_ERROR_*` value.
    HandshakeFailedProtocol { reason: String, code: u32 },
    /// The peer was refused by authentication; `status` is the ZAP status code.
    HandshakeFailedAuth { status: u16 },
}

/// libzmq's protocol error codes that the handshake can report.
pub(crate) mod protocol_error {
    pub const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    pub const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    pub const ZMTP_INVALID_SEQUENCE: u32 = 0x1000_0002;
    pub const ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
    pub const ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    pub const ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    pub const ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
}

impl Event {
    /// The event's name in libzmq's words, lower case: `listening`, `accepted`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Event::Connected => "connected",
            Event::ConnectDelayed => "connect_delayed",
            Event::ConnectRetried { .. } => "connect_retried",
            Event::Listening => "listening",
            Event::BindFailed { .. } => "bind_failed",
            Event::Accepted => "accepted",
            Event::AcceptFailed { .. } => "accept_failed",
            Event::Closed => "closed",
            Event::Disconnected { .. } => "disconnected",
            Event::MonitorStopped => "monitor_stopped",
            Event::HandshakeFailedNoDetail { .. } => "handshake_failed_no_detail",
            Event::HandshakeSucceeded => "handshake_succeeded",
            Event::HandshakeFailedProtocol { .. } => "handshake_failed_protocol",
            Event::HandshakeFailedAuth { .. } => "handshake_failed_auth",
        }
    }

    /// libzmq's `ZMQ_EVENT_*` number.
    pub fn number(&self) -> u16 {
        match self {
            Event::Connected => 0x0001,
            Event::ConnectDelayed => 0x0002,
            Event::ConnectRetried { .. } => 0x0004,
            Event::Listening => 0x0008,
            Event::BindFailed { .. } => 0x0010,
            Event::Accepted => 0x0020,
            Event::AcceptFailed { .. } => 0x0040,
            Event::Closed => 0x0080,
            Event::Disconnected { .. } => 0x0200,
            Event::MonitorStopped => 0x0400,
            Event::HandshakeFailedNoDetail { .. } => 0x0800,
            Event::HandshakeSucceeded => 0x1000,
            Event::HandshakeFailedProtocol { .. } => 0x2000,
            Event::HandshakeFailedAuth { .. } => 0x4000,
        }
    }

    /// The event's value in libzmq's messages: the retry interval in ms, the protocol error
    /// code, the ZAP status; 0 where libzmq sends a file descriptor or an errno.
    pub fn value(&self) -> u32 {
        match self {
            Event::ConnectRetried { interval } => interval.as_millis().min(u32::MAX as u128) as u32,
            Event::HandshakeFailedProtocol { code, .. } => *code,
            Event::HandshakeFailedAuth { status } => u32::from(*status),
            _ => 0,
        }
    }

    /// What went wrong, for the events that have a reason.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Event::BindFailed { reason }
            | Event::AcceptFailed { reason }
            | Event::Disconnected { reason }
            | Event::HandshakeFailedNoDetail { reason }
            | Event::HandshakeFailedProtocol { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// One event, with the endpoint it concerns and the peer's address where there is a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    pub event: Event,
    /// The endpoint given to `bind` or `connect` (with the real port for `*`).
    pub endpoint: String,
    /// The peer's address (`tcp://127.0.0.1:40000`), empty where there is none.
    pub peer_address: String,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<MonitorEvent>,
    stopped: bool,
    dropped: u64,
}

/// The queue between a socket and its [`Monitor`].
#[derive(Debug, Default)]
pub(crate) struct MonitorQueue {
    queue: Mutex<Queue>,
    signal: Signal,
}

impl MonitorQueue {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The events of one socket, in order (see [`crate::Socket::monitor`]). Also an iterator
/// that ends after `MonitorStopped`.
#[derive(Debug)]
pub struct Monitor {
    queue: Arc<MonitorQueue>,
}

impl Monitor {
    /// The next event, waiting up to `timeout` (`None`: for ever). After `MonitorStopped`,
    /// an error of kind `Terminated`.
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<MonitorEvent> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let seen = self.queue.signal.epoch();
            {
                let mut q = self.queue.lock();
                if let Some(event) = q.events.pop_front() {
                    return Ok(event);
                }
                if q.stopped {
                    return Err(Error::new(ErrorKind::Terminated, "the monitor has stopped"));
                }
            }
            if !self.queue.signal.wait(seen, deadline) {
                return Err(Error::new(
                    ErrorKind::WouldBlock,
                    "no monitor event within the timeout",
                ));
            }
        }
    }

    /// The next event, waiting for ever.
    pub fn recv(&self) -> Result<MonitorEvent> {
        self.recv_timeout(None)
    }

    /// Events dropped because this monitor was not read fast enough.
    pub fn dropped(&self) -> u64 {
        self.queue.lock().dropped
    }
}

impl Iterator for Monitor {
    type Item = MonitorEvent;

    fn next(&mut self) -> Option<MonitorEvent> {
        self.recv().ok()
    }
}

/// Where one monitor's events go.
#[derive(Debug)]
enum Sink {
    Queue(Arc<MonitorQueue>),
    /// An inproc PAIR socket, in libzmq's format of this version (1 or 2).
    Pair {
        socket: Socket,
        version: u8,
    },
}

/// The monitors attached to one socket.
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    sinks: Vec<(Sink, u64)>,
}

impl Monitors {
    /// A new typed monitor for all events.
    pub(crate) fn add_queue(&mut self) -> Monitor {
        let queue = Arc::new(MonitorQueue::default());
        self.sinks.push((Sink::Queue(Arc::clone(&queue)), u64::MAX));
        Monitor { queue }
    }

    /// A PAIR socket that receives the events in `mask`, in libzmq's format `version`.
    pub(crate) fn add_pair(&mut self, socket: Socket, mask: u64, version: u8) {
        self.sinks.push((Sink::Pair { socket, version }, mask));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Reports an event to every monitor that wants it.
    pub(crate) fn emit(&mut self, event: Event, endpoint: &str, peer_address: &str) {
        for (sink, mask) in &self.sinks {
            if mask & u64::from(event.number()) == 0 {
                continue;
            }
            match sink {
                Sink::Queue(queue) => {
                    let mut q = queue.lock();
                    if q.events.len() >= QUEUE_LIMIT {
                        q.dropped += 1;
                        continue;
                    }
                    q.events.push_back(MonitorEvent {
                        event: event.clone(),
                        endpoint: endpoint.to_string(),
                        peer_address: peer_address.to_string(),
                    });
                    drop(q);
                    queue.signal.notify();
                }
                Sink::Pair { socket, version } => {
                    let _ = socket.try_send(wire_message(&event, endpoint, peer_address, *version));
                }
            }
        }
    }

    /// Sends `MonitorStopped` to every monitor and detaches them.
    pub(crate) fn stop(&mut self, endpoint: &str) {
        self.emit(Event::MonitorStopped, endpoint, "");
        for (sink, _) in self.sinks.drain(..) {
            if let Sink::Queue(queue) = sink {
                queue.lock().stopped = true;
                queue.signal.notify();
            }
        }
    }
}

/// An event as libzmq sends it to a monitor socket, in native byte order as libzmq does.
/// Version 1: the event number (16 bits) and value (32 bits), then the endpoint. Version 2:
/// the event number (64 bits), the count of values, each value (64 bits), the local
/// endpoint, the remote one.
fn wire_message(event: &Event, endpoint: &str, peer_address: &str, version: u8) -> Message {
    let local = Bytes::copy_from_slice(endpoint.as_bytes());
    if version == 1 {
        let mut head = Vec::with_capacity(6);
        head.extend_from_slice(&event.number().to_ne_bytes());
        head.extend_from_slice(&event.value().to_ne_bytes());
        return Message::from(vec![Bytes::from(head), local]);
    }
    Message::from(vec![
        Bytes::copy_from_slice(&u64::from(event.number()).to_ne_bytes()),
        Bytes::copy_from_slice(&1u64.to_ne_bytes()),
        Bytes::copy_from_slice(&u64::from(event.value()).to_ne_bytes()),
        local,
        Bytes::copy_from_slice(peer_address.as_bytes()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_formats_match_libzmq() {
        let event = Event::ConnectRetried {
            interval: Duration::from_millis(200),
        };
        let v1 = wire_message(&event, "tcp://127.0.0.1:5555", "", 1);
        assert_eq!(
            v1.frames()[0].as_ref(),
            &[&4u16.to_ne_bytes()[..], &200u32.to_ne_bytes()[..]].concat()[..]
        );
        assert_eq!(v1.frames()[1], "tcp://127.0.0.1:5555");
        let v2 = wire_message(&event, "tcp://127.0.0.1:5555", "tcp://127.0.0.1:4000", 2);
        assert_eq!(v2.len(), 5);
        assert_eq!(v2.frames()[0].as_ref(), 4u64.to_ne_bytes());
        assert_eq!(v2.frames()[1].as_ref(), 1u64.to_ne_bytes());
        assert_eq!(v2.frames()[2].as_ref(), 200u64.to_ne_bytes());
        assert_eq!(v2.frames()[4], "tcp://127.0.0.1:4000");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let mut monitors = Monitors::default();
        let monitor = monitors.add_queue();
        for _ in 0..QUEUE_LIMIT + 5 {
            monitors.emit(Event::Accepted, "e", "p");
        }
        assert_eq!(monitor.dropped(), 5);
        monitors.stop("e");
        let events: Vec<_> = monitor.collect();
        assert_eq!(events.len(), QUEUE_LIMIT);
    }
}
