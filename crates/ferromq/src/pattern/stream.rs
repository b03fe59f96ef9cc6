//! STREAM: raw TCP, no ZMTP. Each message is a peer's routing id and some bytes; an empty
//! message marks a connection that opened or closed, and sending one closes that connection.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::pipe::Pipes;

use super::routing::{hex, RoutingTable};
use super::{FairQueue, Pattern, Sent};

#[derive(Debug, Default)]
pub(crate) struct Stream {
    fq: FairQueue,
    peers: RoutingTable,
    /// Connections that opened or closed, for the user to read as `[id, ""]`.
    events: VecDeque<Message>,
}

impl Pattern for Stream {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.fq.attach(key);
        true
    }

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        if !self.peers.identify(pipes, key, false) {
            return false;
        }
        if let Some(id) = self.peers.id(key) {
            self.events
                .push_back(Message::from([id.clone(), Bytes::new()]));
        }
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.fq.detach(key);
        if let Some(id) = self.peers.remove(key) {
            self.events.push_back(Message::from([id, Bytes::new()]));
        }
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        let frames = msg.frames();
        if frames.len() != 2 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a STREAM message is a routing id and a body, not {} frames",
                    frames.len()
                ),
            ));
        }
        let Some(key) = self.peers.key(&frames[0]) else {
            return Err(Error::new(
                ErrorKind::HostUnreachable,
                format!(
                    "STREAM has no connection with routing id 0x{}",
                    hex(&frames[0])
                ),
            ));
        };
        if frames[1].is_empty() {
            pipes.close_when_flushed(key);
            return Ok(Sent::Done);
        }
        Ok(match pipes.write_raw(key, frames[1].to_bytes()) {
            Ok(()) => Sent::Done,
            Err(_) => Sent::Blocked(msg),
        })
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        while let Some((key, mut msg)) = self.fq.recv(pipes) {
            if let Some(id) = self.peers.id(key) {
                msg.push_front(id.clone());
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }
}
