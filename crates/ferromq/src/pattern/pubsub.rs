//! PUB, XPUB, SUB and XSUB (RFC 29). Publishers filter: a message goes only to the peers
//! whose subscriptions match its first frame, and is dropped for a peer at its high-water mark.

use std::collections::{HashMap, VecDeque};

use crate::connection::subscription;
use crate::error::Result;
use crate::message::Message;
use crate::pipe::Pipes;

use super::trie::Trie;
use super::{not_supported, FairQueue, Pattern, Sent};

/// Reads a subscription message: `Some((true, topic))` for 0x01, `Some((false, topic))` for 0x00.
fn parse_subscription(msg: &Message) -> Option<(bool, &[u8])> {
    if msg.len() != 1 {
        return None;
    }
    match msg.first()?.split_first()? {
        (1, topic) => Some((true, topic)),
        (0, topic) => Some((false, topic)),
        _ => None,
    }
}

/// PUB and XPUB.
#[derive(Debug)]
pub(crate) struct Publisher {
    /// XPUB: subscriptions are also handed to the user.
    extended: bool,
    /// Each peer's subscriptions, as a set.
    subscriptions: HashMap<usize, Trie>,
    /// How many peers hold each subscription (XPUB reports only the first and the last).
    all: Trie,
    /// Subscription messages for an XPUB user to read.
    for_user: VecDeque<Message>,
    pipes: Vec<usize>,
    /// Messages not sent to a subscriber because it was at its high-water mark.
    dropped: u64,
}

impl Publisher {
    pub(crate) fn new(extended: bool) -> Publisher {
        Publisher {
            extended,
            subscriptions: HashMap::new(),
            all: Trie::default(),
            for_user: VecDeque::new(),
            pipes: Vec::new(),
            dropped: 0,
        }
    }

    /// Applies the subscriptions that peers have sent.
    fn read_subscriptions(&mut self, pipes: &mut Pipes) {
        for &key in &self.pipes {
            while let Some(msg) = pipes.read(key) {
                let Some((subscribe, topic)) = parse_subscription(&msg) else {
                    continue;
                };
                let Some(set) = self.subscriptions.get_mut(&key) else {
                    continue;
                };
                if subscribe {
                    if set.insert(topic) && self.all.add(topic) && self.extended {
                        self.for_user.push_back(msg.clone());
                    }
                } else if set.remove(topic) && self.all.remove(topic) && self.extended {
                    self.for_user.push_back(msg.clone());
                }
            }
        }
    }
}

impl Pattern for Publisher {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.pipes.push(key);
        self.subscriptions.insert(key, Trie::default());
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.pipes.retain(|k| *k != key);
        if let Some(set) = self.subscriptions.remove(&key) {
            for topic in set.prefixes() {
                if self.all.remove(&topic) && self.extended {
                    self.for_user.push_back(subscription(false, &topic));
                }
            }
        }
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        self.read_subscriptions(pipes);
        let topic = msg.first().map(|f| &f[..]).unwrap_or(&[]);
        let targets: Vec<usize> = self
            .pipes
            .iter()
            .copied()
            .filter(|k| self.subscriptions.get(k).is_some_and(|s| s.matches(topic)))
            .collect();
        if let Some((&last, rest)) = targets.split_last() {
            for &key in rest {
                if pipes.write(key, msg.clone()).is_err() {
                    self.dropped += 1;
                }
            }
            if pipes.write(last, msg).is_err() {
                self.dropped += 1;
            }
        }
        Ok(Sent::Done)
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        if !self.extended {
            return Err(not_supported("PUB", "receive"));
        }
        self.read_subscriptions(pipes);
        Ok(self.for_user.pop_front())
    }
}

/// SUB and XSUB.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// XSUB: subscriptions are sent as messages, and nothing is filtered on receipt.
    extended: bool,
    subscriptions: Trie,
    fq: FairQueue,
}

impl Subscriber {
    pub(crate) fn new(extended: bool) -> Subscriber {
        Subscriber {
            extended,
            subscriptions: Trie::default(),
            fq: FairQueue::default(),
        }
    }

    fn tell_peers(&self, pipes: &mut Pipes, subscribe: bool, topic: &[u8]) {
        for &key in self.fq.keys() {
            pipes.write_subscription(key, subscribe, topic);
        }
    }

    /// Applies a subscription and passes it upstream (a cancel only when its last count goes).
    fn update(&mut self, pipes: &mut Pipes, topic: &[u8], subscribe: bool) {
        if subscribe {
            self.subscriptions.add(topic);
            self.tell_peers(pipes, true, topic);
        } else if self.subscriptions.remove(topic) {
            self.tell_peers(pipes, false, topic);
        }
    }
}

impl Pattern for Subscriber {
    fn attach(&mut self, _pipes: &mut Pipes, key: usize) -> bool {
        self.fq.attach(key);
        true
    }

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        for topic in self.subscriptions.prefixes() {
            pipes.write_subscription(key, true, &topic);
        }
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.fq.detach(key);
    }

    fn send(&mut self, pipes: &mut Pipes, msg: Message) -> Result<Sent> {
        if !self.extended {
            return Err(not_supported("SUB", "send (use subscribe)"));
        }
        if let Some((subscribe, topic)) = parse_subscription(&msg) {
            let topic = topic.to_vec();
            self.update(pipes, &topic, subscribe);
        } else {
            for &key in self.fq.keys() {
                let _ = pipes.write(key, msg.clone());
            }
        }
        Ok(Sent::Done)
    }

    fn recv(&mut self, pipes: &mut Pipes) -> Result<Option<Message>> {
        while let Some((_, msg)) = self.fq.recv(pipes) {
            let topic = msg.first().map(|f| &f[..]).unwrap_or(&[]);
            if self.extended || self.subscriptions.matches(topic) {
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }

    fn subscribe(&mut self, pipes: &mut Pipes, topic: &[u8], subscribe: bool) -> Result<()> {
        if self.extended {
            return Err(not_supported(
                "XSUB",
                "subscribe (send a subscription message)",
            ));
        }
        self.update(pipes, topic, subscribe);
        Ok(())
    }
}
