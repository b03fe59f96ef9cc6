//! Load-balance: each message to the next peer in turn that has room (PUSH, DEALER, REQ).

use crate::message::Message;
use crate::pipe::Pipes;

use super::rotation::Rotation;

#[derive(Debug, Default)]
pub(crate) struct LoadBalance {
    pipes: Rotation,
}

impl LoadBalance {
    pub(crate) fn attach(&mut self, key: usize) {
        self.pipes.attach(key);
    }

    pub(crate) fn detach(&mut self, key: usize) {
        self.pipes.detach(key);
    }

    /// Whether some pipe has room.
    pub(crate) fn can_send(&self, pipes: &Pipes) -> bool {
        self.pipes.keys().iter().any(|&k| pipes.has_room(k))
    }

    /// Sends to the next pipe with room; gives the message back when none has.
    pub(crate) fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<usize, Message> {
        let mut msg = msg;
        for i in 0..self.pipes.len() {
            let (at, key) = self.pipes.turn(i);
            match pipes.write(key, msg) {
                Ok(()) => {
                    self.pipes.served(at);
                    return Ok(key);
                }
                Err(back) => msg = back,
            }
        }
        Err(msg)
    }
}
