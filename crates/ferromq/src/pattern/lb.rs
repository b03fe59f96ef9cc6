//! Load-balance: each message to the next peer in turn that has room (PUSH, DEALER, REQ).

use crate::message::Message;
use crate::pipe::Pipes;

#[derive(Debug, Default)]
pub(crate) struct LoadBalance {
    pipes: Vec<usize>,
    next: usize,
}

impl LoadBalance {
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

    /// Whether some pipe has room.
    pub(crate) fn can_send(&self, pipes: &Pipes) -> bool {
        self.pipes.iter().any(|&k| pipes.has_room(k))
    }

    /// Sends to the next pipe with room; gives the message back when none has.
    pub(crate) fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<usize, Message> {
        let n = self.pipes.len();
        let mut msg = msg;
        for i in 0..n {
            let at = (self.next + i) % n;
            let key = self.pipes[at];
            match pipes.write(key, msg) {
                Ok(()) => {
                    self.next = (at + 1) % n;
                    return Ok(key);
                }
                Err(back) => msg = back,
            }
        }
        Err(msg)
    }
}
