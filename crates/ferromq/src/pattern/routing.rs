//! Routing ids: how ROUTER and STREAM name their peers.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use bytes::Bytes;

use crate::pipe::Pipes;

/// The peers of a socket by routing id, and back.
#[derive(Debug)]
pub(crate) struct RoutingTable {
    by_id: HashMap<Bytes, usize>,
    by_key: HashMap<usize, Bytes>,
    next_id: u32,
}

impl Default for RoutingTable {
    fn default() -> RoutingTable {
        RoutingTable {
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            // Generated ids start at a random point, as libzmq's do.
            next_id: RandomState::new().hash_one(std::process::id()) as u32,
        }
    }
}

/// A routing id as text for messages: hex, as ids are often binary.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl RoutingTable {
    /// A fresh id: a zero byte and four more, as libzmq generates them (a zero first byte
    /// marks an id that no peer chose).
    pub(crate) fn generate(&mut self) -> Bytes {
        self.next_id = self.next_id.wrapping_add(1);
        let mut id = vec![0u8];
        id.extend_from_slice(&self.next_id.to_be_bytes());
        Bytes::from(id)
    }

    /// Names a peer: the id given at connect, else its own, else a generated one. When the
    /// id is taken, `handover` gives it to the new peer and closes the old one; otherwise
    /// the new peer is refused (false).
    pub(crate) fn identify(&mut self, pipes: &mut Pipes, key: usize, handover: bool) -> bool {
        self.remove(key);
        let id = match pipes.peer_routing_id(key) {
            Some(id) if !id.is_empty() => id,
            _ => self.generate(),
        };
        if let Some(&holder) = self.by_id.get(&id) {
            if !handover {
                tracing::warn!("refused a peer whose routing id 0x{} is in use", hex(&id));
                return false;
            }
            self.by_key.remove(&holder);
            pipes.close(holder, "another peer took over its routing id");
        }
        self.by_id.insert(id.clone(), key);
        self.by_key.insert(key, id);
        true
    }

    /// Forgets a peer; returns the id it had.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Bytes> {
        let id = self.by_key.remove(&key)?;
        self.by_id.remove(&id);
        Some(id)
    }

    pub(crate) fn key(&self, id: &[u8]) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn id(&self, key: usize) -> Option<&Bytes> {
        self.by_key.get(&key)
    }
}
