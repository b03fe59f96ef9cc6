//! Socket patterns, composed from a few strategies: load-balance, fair-queue, distribute.

mod fq;
mod lb;
mod pair;
mod pipeline;
mod pubsub;
mod reqrep;
mod rotation;
mod routing;
mod stream;
pub(crate) mod trie;

use std::fmt;

use ferromq_zmtp::SocketType;

use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::options::Options;
use crate::pipe::Pipes;

pub(crate) use fq::FairQueue;
pub(crate) use lb::LoadBalance;

/// The outcome of a send that did not fail.
#[derive(Debug)]
pub(crate) enum Sent {
    Done,
    /// No peer can take the message now; it is given back so the caller may wait and retry.
    Blocked(Message),
}

/// What a socket type does with its pipes.
pub(crate) trait Pattern: Send + fmt::Debug {
    /// A pipe is ready for use; false refuses it (a PAIR that has its peer already).
    fn attach(&mut self, pipes: &mut Pipes, key: usize) -> bool;
    /// The pipe's connection finished a handshake (again, after a reconnect); false refuses
    /// the peer (a ROUTER whose routing id is taken).
    fn connected(&mut self, _pipes: &mut Pipes, _key: usize) -> bool {
        true
    }
    /// The pipe is gone.
    fn detach(&mut self, pipes: &mut Pipes, key: usize);
    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent>;
    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>>;
    /// Whether a send would be taken now (libzmq's `ZMQ_POLLOUT`); sockets that route, publish
    /// or drop always can.
    fn can_send(&self, _pipes: &Pipes) -> bool {
        true
    }
    /// How many messages were dropped for want of a route or of room.
    fn dropped(&self) -> u64 {
        0
    }
    /// Takes in the options that change the pattern's behaviour.
    fn configure(&mut self, _options: &Options) {}
    /// SUB's `subscribe` and `unsubscribe`.
    fn subscribe(&mut self, _pipes: &mut Pipes, _topic: &[u8], _subscribe: bool) -> Result<()> {
        Err(Error::new(
            ErrorKind::NotSupported,
            "only SUB sockets subscribe",
        ))
    }
}

/// The pattern for a socket type, or an error for a type this version does not provide.
pub(crate) fn for_type(socket_type: SocketType) -> Result<Box<dyn Pattern>> {
    Ok(match socket_type {
        SocketType::Pair => Box::<pair::Pair>::default(),
        SocketType::Push => Box::<pipeline::Push>::default(),
        SocketType::Pull => Box::<pipeline::Pull>::default(),
        SocketType::Pub => Box::new(pubsub::Publisher::new(false)),
        SocketType::XPub => Box::new(pubsub::Publisher::new(true)),
        SocketType::Sub => Box::new(pubsub::Subscriber::new(false)),
        SocketType::XSub => Box::new(pubsub::Subscriber::new(true)),
        SocketType::Req => Box::<reqrep::Req>::default(),
        SocketType::Rep => Box::<reqrep::Rep>::default(),
        SocketType::Dealer => Box::<reqrep::Dealer>::default(),
        SocketType::Router => Box::<reqrep::Router>::default(),
        SocketType::Stream => Box::<stream::Stream>::default(),
        other => {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets are not available in this version", other.name()),
            ))
        }
    })
}

/// The error for an operation a socket type does not have.
pub(crate) fn not_supported(socket_type: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::NotSupported,
        format!("{socket_type} sockets cannot {what}"),
    )
}
