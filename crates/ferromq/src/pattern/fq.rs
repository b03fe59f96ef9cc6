//! Fair-queue: take messages from each peer in turn (PULL, DEALER, ROUTER, SUB).

use crate::message::Message;
use crate::pipe::Pipes;

#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    pipes: Vec<usize>,
    next: usize,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, key: usize) {
        self.pipes.push(key);
    }

    pub(crate) fn detach(&mut self, key: usize) {
        if let Some(i) = self.pipes.iter().position(|k| *k == key) {
            self.pipes.remove(i);
            if self.next > i {
                self.next -= 1;
            }
            if self.next >= self.pipes.len() {
                self.next = 0;
            }
        }
    }

    /// The next message, from the next pipe in turn that has one, with that pipe's key.
    pub(crate) fn recv(&mut self, pipes: &mut Pipes) -> Option<(usize, Message)> {
        let n = self.pipes.len();
        for i in 0..n {
            let at = (self.next + i) % n;
            let key = self.pipes[at];
            if let Some(msg) = pipes.read(key) {
                self.next = (at + 1) % n;
                return Some((key, msg));
            }
        }
        None
    }

    /// The pipes, for patterns that must look at all of them.
    pub(crate) fn keys(&self) -> &[usize] {
        &self.pipes
    }
}
