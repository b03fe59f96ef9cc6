//! Subscriptions: a counted set of prefixes, matched against a message's first frame.

use std::collections::HashMap;

use bytes::Bytes;

/// A prefix trie in which each prefix is counted, as the same topic may be subscribed twice
/// and must be cancelled twice.
#[derive(Debug, Default)]
pub(crate) struct Trie {
    count: usize,
    children: HashMap<u8, Trie>,
}

impl Trie {
    /// Adds a prefix; true when it was not there before.
    pub(crate) fn add(&mut self, prefix: &[u8]) -> bool {
        match prefix.split_first() {
            None => {
                self.count += 1;
                self.count == 1
            }
            Some((first, rest)) => self.children.entry(*first).or_default().add(rest),
        }
    }

    /// Adds a prefix once only, as a set does: true when it was not there before.
    pub(crate) fn insert(&mut self, prefix: &[u8]) -> bool {
        self.count_of(prefix) == 0 && self.add(prefix)
    }

    fn count_of(&self, prefix: &[u8]) -> usize {
        match prefix.split_first() {
            None => self.count,
            Some((first, rest)) => self.children.get(first).map_or(0, |c| c.count_of(rest)),
        }
    }

    /// Removes one count of a prefix; true when its last count went.
    pub(crate) fn remove(&mut self, prefix: &[u8]) -> bool {
        match prefix.split_first() {
            None => {
                if self.count == 0 {
                    return false;
                }
                self.count -= 1;
                self.count == 0
            }
            Some((first, rest)) => {
                let Some(child) = self.children.get_mut(first) else {
                    return false;
                };
                let gone = child.remove(rest);
                if child.count == 0 && child.children.is_empty() {
                    self.children.remove(first);
                }
                gone
            }
        }
    }

    /// Whether some subscribed prefix is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        let mut node = self;
        let mut rest = data;
        loop {
            if node.count > 0 {
                return true;
            }
            let Some((first, tail)) = rest.split_first() else {
                return false;
            };
            match node.children.get(first) {
                Some(child) => {
                    node = child;
                    rest = tail;
                }
                None => return false,
            }
        }
    }

    /// Every prefix with a count, for resending subscriptions to a new peer.
    pub(crate) fn prefixes(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.collect(&mut path, &mut out);
        out
    }

    fn collect(&self, path: &mut Vec<u8>, out: &mut Vec<Bytes>) {
        if self.count > 0 {
            out.push(Bytes::copy_from_slice(path));
        }
        for (byte, child) in &self.children {
            path.push(*byte);
            child.collect(path, out);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_and_counts_hold() {
        let mut t = Trie::default();
        assert!(!t.matches(b"anything"));
        assert!(t.add(b"ab"));
        assert!(!t.add(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(t.matches(b"ab"));
        assert!(!t.matches(b"a"));
        assert!(!t.remove(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(t.remove(b"ab"));
        assert!(!t.matches(b"abc"));
        assert!(t.children.is_empty());
        assert!(!t.remove(b"zz"));
    }

    #[test]
    fn insert_counts_once() {
        let mut t = Trie::default();
        assert!(t.insert(b"a"));
        assert!(!t.insert(b"a"));
        assert!(t.remove(b"a"));
        assert!(!t.matches(b"a"));
    }

    #[test]
    fn empty_prefix_matches_everything() {
        let mut t = Trie::default();
        t.add(b"");
        assert!(t.matches(b""));
        assert!(t.matches(b"x"));
        assert_eq!(t.prefixes(), vec![Bytes::new()]);
    }
}
