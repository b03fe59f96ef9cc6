//! PAIR (RFC 31): exactly one peer; a second one is refused.

use crate::error::Result;
use crate::message::Message;
use crate::pipe::Pipes;

use super::{Pattern, Sent};

#[derive(Debug, Default)]
pub(crate) struct Pair {
    peer: Option<usize>,
}

impl Pattern for Pair {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        if self.peer.is_some() {
            return false;
        }
        self.peer = Some(key);
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        if self.peer == Some(key) {
            self.peer = None;
        }
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        match self.peer {
            Some(key) => Ok(match pipes.write(key, msg) {
                Ok(()) => Sent::Done,
                Err(msg) => Sent::Blocked(msg),
            }),
            None => Ok(Sent::Blocked(msg)),
        }
    }

    fn can_send(&self, pipes: &Pipes) -> bool {
        self.peer.is_some_and(|key| pipes.has_room(key))
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        Ok(self.peer.and_then(|key| pipes.read(key)))
    }
}
