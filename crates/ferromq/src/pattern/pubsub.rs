//! PUB, XPUB, SUB and XSUB (RFC 29). Publishers filter: a message goes only to the peers
//! whose subscriptions match its first frame, and is dropped for a peer at its high-water mark.

use std::collections::{HashMap, VecDeque};

use crate::connection::subscription;
use crate::error::Result;
use bytes::Bytes;

use crate::message::Message;
use crate::options::Options;
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
#[derive(Debug, Default)]
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
    verbose: bool,
    verboser: bool,
    manual: bool,
    nodrop: bool,
    invert: bool,
    welcome: Option<Bytes>,
    /// The peer whose subscription the user saw last (for `xpub_manual`).
    last_subscriber: Option<usize>,
}

impl Publisher {
    pub(crate) fn new(extended: bool) -> Publisher {
        Publisher {
            extended,
            ..Publisher::default()
        }
    }

    /// Applies a subscription or cancellation from `key`; true when the user should see it.
    fn apply(&mut self, key: usize, subscribe: bool, topic: &[u8]) -> bool {
        let Some(set) = self.subscriptions.get_mut(&key) else {
            return false;
        };
        if subscribe {
            let new_for_peer = set.insert(topic);
            let first = new_for_peer && self.all.add(topic);
            first || self.verbose || self.verboser
        } else {
            let removed = set.remove(topic);
            let last = removed && self.all.remove(topic);
            last || self.verboser
        }
    }

    /// Takes in the subscriptions that peers have sent.
    fn read_subscriptions(&mut self, pipes: &mut Pipes) {
        for i in 0..self.pipes.len() {
            let key = self.pipes[i];
            while let Some(msg) = pipes.read(key) {
                let Some((subscribe, topic)) = parse_subscription(&msg) else {
                    continue;
                };
                let show = if self.manual {
                    self.last_subscriber = Some(key);
                    true
                } else {
                    let topic = topic.to_vec();
                    self.apply(key, subscribe, &topic)
                };
                if show && self.extended {
                    self.for_user.push_back(msg);
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

    fn connected(&mut self, pipes: &mut Pipes, key: usize) -> bool {
        if let Some(welcome) = &self.welcome {
            pipes.force_write(key, Message::from(welcome.clone()));
        }
        true
    }

    fn detach(&mut self, _pipes: &mut Pipes, key: usize) {
        self.pipes.retain(|k| *k != key);
        if self.last_subscriber == Some(key) {
            self.last_subscriber = None;
        }
        if let Some(set) = self.subscriptions.remove(&key) {
            for topic in set.prefixes() {
                if self.all.remove(&topic) && self.extended && !self.manual {
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
            .filter(|k| {
                self.subscriptions
                    .get(k)
                    .is_some_and(|s| s.matches(topic) != self.invert)
            })
            .collect();
        if self.nodrop && !targets.iter().all(|&k| pipes.has_room(k)) {
            return Ok(Sent::Blocked(msg));
        }
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

    /// With `xpub_manual`, the user applies the subscription it last read, for that peer.
    fn subscribe(&mut self, pipes: &mut Pipes, topic: &[u8], subscribe: bool) -> Result<()> {
        if !self.manual {
            return Err(not_supported(
                "PUB and XPUB",
                "subscribe unless xpub_manual is set",
            ));
        }
        self.read_subscriptions(pipes);
        if let Some(key) = self.last_subscriber {
            self.apply(key, subscribe, topic);
        }
        Ok(())
    }

    fn configure(&mut self, options: &Options) {
        self.verbose = options.xpub_verbose;
        self.verboser = options.xpub_verboser;
        self.manual = options.xpub_manual;
        self.nodrop = options.xpub_nodrop;
        self.invert = options.invert_matching;
        self.welcome = options.xpub_welcome_msg.clone();
    }
}

/// SUB and XSUB.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// XSUB: subscriptions are sent as messages, and nothing is filtered on receipt.
    extended: bool,
    subscriptions: Trie,
    fq: FairQueue,
    invert: bool,
}

impl Subscriber {
    pub(crate) fn new(extended: bool) -> Subscriber {
        Subscriber {
            extended,
            subscriptions: Trie::default(),
            fq: FairQueue::default(),
            invert: false,
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
            if self.extended || self.subscriptions.matches(topic) != self.invert {
                return Ok(Some(msg));
            }
        }
        Ok(None)
    }

    fn configure(&mut self, options: &Options) {
        self.invert = options.invert_matching;
    }

    fn can_send(&self, _pipes: &Pipes) -> bool {
        self.extended
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
