//! Fair-queue: take messages from each peer in turn (PULL, DEALER, ROUTER, SUB).

use crate::message::Message;
use crate::pipe::Pipes;

use super::rotation::Rotation;

#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    pipes: Rotation,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, key: usize) {
        self.pipes.attach(key);
    }

    pub(crate) fn detach(&mut self, key: usize) {
        self.pipes.detach(key);
    }

    /// The next message, from the next pipe in turn that has one, with that pipe's key.
    pub(crate) fn recv(&mut self, pipes: &mut Pipes) -> Option<(usize, Message)> {
        for i in 0..self.pipes.len() {
            let (at, key) = self.pipes.turn(i);
            if let Some(msg) = pipes.read(key) {
                self.pipes.served(at);
                return Some((key, msg));
            }
        }
        None
    }

    /// The pipes, for patterns that must look at all of them.
    pub(crate) fn keys(&self) -> &[usize] {
        self.pipes.keys()
    }
}
