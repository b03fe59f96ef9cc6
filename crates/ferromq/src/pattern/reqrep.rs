//! REQ, REP, DEALER and ROUTER (RFC 28): envelopes of routing ids above an empty delimiter.

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::Frame;
use crate::message::Message;
use crate::options::Options;
use crate::pipe::Pipes;

use super::routing::{hex, RoutingTable};
use super::{FairQueue, LoadBalance, Pattern, Sent};

fn state_error(what: &str) -> Error {
    Error::new(ErrorKind::State, what)
}

/// DEALER: load-balances out, fair-queues in, and leaves envelopes to the user.
#[derive(Debug, Default)]
pub(crate) struct Dealer {
    lb: LoadBalance,
    fq: FairQueue,
    probe_router: bool,
}

impl Pattern for Dealer {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.lb.attach(key);
        self.fq.attach(key);
        true
    }

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        if self.probe_router {
            pipes.force_write(key, Message::from(Bytes::new()));
        }
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.lb.detach(key);
        self.fq.detach(key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        Ok(match self.lb.send(pipes, msg) {
            Ok(_) => Sent::Done,
            Err(msg) => Sent::Blocked(msg),
        })
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        Ok(self.fq.recv(pipes).map(|(_, msg)| msg))
    }

    fn can_send(&self, pipes: &Pipes) -> bool {
        self.lb.can_send(pipes)
    }

    fn configure(&mut self, options: &Options) {
        self.probe_router = options.probe_router;
    }
}

/// REQ: one request, then its reply, in strict turn; the request goes to the next peer in turn
/// and only a reply from that peer is accepted.
#[derive(Debug, Default)]
pub(crate) struct Req {
    dealer: Dealer,
    /// The peer the last request went to, while its reply is awaited.
    waiting: Option<usize>,
    request_id: u32,
    relaxed: bool,
    correlate: bool,
}

impl Req {
    /// The reply's body, if `msg` is a well-formed reply to the current request.
    fn reply_body(&self, msg: Message) -> Option<Message> {
        let envelope = if self.correlate { 2 } else { 1 };
        let (head, body) = msg.split_envelope(envelope);
        if head.len() < envelope || body.is_empty() {
            return None;
        }
        if self.correlate && head[0] != self.request_id.to_be_bytes().as_slice() {
            return None;
        }
        head[envelope - 1].is_empty().then_some(body)
    }
}

impl Pattern for Req {
    fn attach(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        self.dealer.attach(pipes, key)
    }

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        self.dealer.connected(pipes, key)
    }

    fn detach(&mut self, pipes: &mut Pipes, key: usize) {
        self.dealer.detach(pipes, key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        if self.waiting.is_some() && !self.relaxed {
            return Err(state_error(
                "REQ cannot send: the last request has had no reply yet (set req_relaxed to send another)",
            ));
        }
        let mut request = msg;
        request.push_front(Bytes::new());
        let id = self.request_id.wrapping_add(1);
        if self.correlate {
            request.push_front(Bytes::copy_from_slice(&id.to_be_bytes()));
        }
        match self.dealer.lb.send(pipes, request) {
            Ok(key) => {
                self.waiting = Some(key);
                self.request_id = id;
                Ok(Sent::Done)
            }
            Err(request) => {
                let added = if self.correlate { 2 } else { 1 };
                Ok(Sent::Blocked(
                    request.into_frames().into_iter().skip(added).collect(),
                ))
            }
        }
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        let Some(key) = self.waiting else {
            return Err(state_error("REQ cannot receive: send a request first"));
        };
        // Replies from other peers (to requests given up on) are dropped.
        for &other in self.dealer.fq.keys() {
            if other != key {
                while pipes.read(other).is_some() {}
            }
        }
        while let Some(msg) = pipes.read(key) {
            if let Some(body) = self.reply_body(msg) {
                self.waiting = None;
                return Ok(Some(body));
            }
        }
        Ok(None)
    }

    fn can_send(&self, pipes: &Pipes) -> bool {
        (self.waiting.is_none() || self.relaxed) && self.dealer.can_send(pipes)
    }

    fn configure(&mut self, options: &Options) {
        self.dealer.configure(options);
        self.relaxed = options.req_relaxed;
        self.correlate = options.req_correlate;
    }
}

/// REP: takes a request, keeps its envelope, and puts it back on the reply.
#[derive(Debug, Default)]
pub(crate) struct Rep {
    fq: FairQueue,
    /// The peer and envelope (routing ids and delimiter) of the request being answered.
    reply_to: Option<(usize, Vec<Frame>)>,
}

impl Pattern for Rep {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.fq.attach(key);
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.fq.detach(key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        let Some((key, envelope)) = self.reply_to.take() else {
            return Err(state_error("REP cannot send: receive a request first"));
        };
        let reply: Message = envelope.into_iter().chain(msg).collect();
        // A requester that is gone or full loses its reply, as in libzmq.
        let _ = pipes.write(key, reply);
        Ok(Sent::Done)
    }

    fn can_send(&self, _pipes: &Pipes) -> bool {
        self.reply_to.is_some()
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        if self.reply_to.is_some() {
            return Err(state_error(
                "REP cannot receive: reply to the last request first",
            ));
        }
        while let Some((key, msg)) = self.fq.recv(pipes) {
            // A request without a delimiter is malformed and dropped.
            let Some(at) = msg.iter().position(|f| f.is_empty()) else {
                continue;
            };
            let (envelope, body) = msg.split_envelope(at + 1);
            if body.is_empty() {
                continue;
            }
            self.reply_to = Some((key, envelope));
            return Ok(Some(body));
        }
        Ok(None)
    }
}

/// ROUTER: knows each peer by a routing id, prefixes what it receives with the sender's id and
/// sends each message to the peer its first frame names.
#[derive(Debug, Default)]
pub(crate) struct Router {
    fq: FairQueue,
    peers: RoutingTable,
    mandatory: bool,
    handover: bool,
    probe_router: bool,
    /// Messages dropped because no peer had their routing id, or the peer was full.
    dropped: u64,
}

impl Pattern for Router {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.fq.attach(key);
        true
    }

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        if !self.peers.identify(pipes, key, self.handover) {
            return false;
        }
        if self.probe_router {
            pipes.force_write(key, Message::from(Bytes::new()));
        }
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.fq.detach(key);
        self.peers.remove(key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        let mut frames = msg.into_frames();
        if frames.len() < 2 {
            self.dropped += 1;
            return Ok(Sent::Done);
        }
        let body = frames.split_off(1);
        let id = frames.pop().unwrap_or_default();
        let Some(key) = self.peers.key(&id) else {
            if self.mandatory {
                return Err(Error::new(
                    ErrorKind::HostUnreachable,
                    format!("ROUTER has no peer with routing id 0x{}", hex(&id)),
                ));
            }
            self.dropped += 1;
            return Ok(Sent::Done);
        };
        match pipes.write(key, body.into_iter().collect()) {
            Ok(()) => Ok(Sent::Done),
            Err(body) if self.mandatory => {
                let mut msg = body;
                msg.push_front(id);
                Ok(Sent::Blocked(msg))
            }
            Err(_) => {
                self.dropped += 1;
                Ok(Sent::Done)
            }
        }
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        while let Some((key, mut msg)) = self.fq.recv(pipes) {
            if let Some(id) = self.peers.id(key) {
                msg.push_front(id.clone());
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }

    /// Without `router_mandatory` a ROUTER can always send (what cannot be routed is dropped);
    /// with it, only while some peer has room, as libzmq reports it.
    fn can_send(&self, pipes: &Pipes) -> bool {
        !self.mandatory
            || self
                .fq
                .keys()
                .iter()
                .any(|&k| self.peers.id(k).is_some() && pipes.has_room(k))
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }

    fn configure(&mut self, options: &Options) {
        self.mandatory = options.router_mandatory;
        self.handover = options.router_handover;
        self.probe_router = options.probe_router;
    }
}
