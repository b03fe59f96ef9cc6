//! PUSH and PULL (RFC 30).

use crate::error::Result;
use crate::message::Message;
use crate::pipe::Pipes;

use super::{not_supported, FairQueue, LoadBalance, Pattern, Sent};

/// PUSH: load-balances to its peers; never receives.
#[derive(Debug, Default)]
pub(crate) struct Push {
    lb: LoadBalance,
}

impl Pattern for Push {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.lb.attach(key);
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.lb.detach(key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        Ok(match self.lb.send(pipes, msg) {
            Ok(_) => Sent::Done,
            Err(msg) => Sent::Blocked(msg),
        })
    }

    fn recv(&mut self, _pipes: &mut Pipes) -> Result<Option<Message>> {
        Err(not_supported("PUSH", "receive"))
    }

    fn can_send(&self, pipes: &Pipes) -> bool {
        self.lb.can_send(pipes)
    }
}

/// PULL: fair-queues from its peers; never sends.
#[derive(Debug, Default)]
pub(crate) struct Pull {
    fq: FairQueue,
}

impl Pattern for Pull {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.fq.attach(key);
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.fq.detach(key);
    }

    fn send(&mut self, _pipes: &mut Pipes, _msg: Message) -> Result<Sent> {
        Err(not_supported("PULL", "send"))
    }

    fn can_send(&self, _pipes: &Pipes) -> bool {
        false
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        Ok(self.fq.recv(pipes).map(|(_, msg)| msg))
    }
}
