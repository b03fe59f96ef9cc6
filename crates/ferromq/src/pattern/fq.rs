//! Fair-queue: take messages from each peer in turn (PULL, DEALER, ROUTER, SUB).

use std::collections::HashSet;

use crate::message::Message;
use crate::pipe::Pipes;

use super::rotation::Rotation;

#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    /// Every pipe, in the order attached.
    all: Vec<usize>,
    /// The pipes that may have a message, in turn.
    turns: Rotation,
    /// Stream pipes found with nothing queued: out of the turns until their connection
    /// receives (`Pipes::take_arrived`), so that a socket with many quiet peers does not look
    /// at each of them for every message.
    quiet: HashSet<usize>,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, key: usize) {
        self.all.push(key);
        self.turns.attach(key);
    }

    pub(crate) fn detach(&mut self, key: usize) {
        self.all.retain(|&k| k != key);
        if !self.quiet.remove(&key) {
            self.turns.detach(key);
        }
    }

    /// The next message, from the next pipe in turn that has one, with that pipe's key.
    pub(crate) fn recv(&mut self, pipes: &mut Pipes) -> Option<(usize, Message)> {
        pipes.take_arrived(|key| {
            if self.quiet.remove(&key) {
                self.turns.attach(key);
            }
        });
        let mut i = 0;
        while i < self.turns.len() {
            let (at, key) = self.turns.turn(i);
            if let Some(msg) = pipes.read(key) {
                self.turns.served(at);
                return Some((key, msg));
            }
            if pipes.is_quiet(key) {
                // The pipe after it takes its place in the round.
                self.turns.detach(key);
                self.quiet.insert(key);
            } else {
                i += 1;
            }
        }
        None
    }

    /// The pipes, for patterns that must look at all of them.
    pub(crate) fn keys(&self) -> &[usize] {
        &self.all
    }
}
