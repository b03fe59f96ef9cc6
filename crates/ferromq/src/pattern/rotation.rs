//! The pipes a strategy takes turns over, and whose turn is next.

/// A list of pipe keys with a cursor: load-balance and fair-queue both start each round at
/// the pipe after the one served last.
#[derive(Debug, Default)]
pub(crate) struct Rotation {
    pipes: Vec<usize>,
    next: usize,
}

impl Rotation {
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

    pub(crate) fn len(&self) -> usize {
        self.pipes.len()
    }

    /// The `i`th pipe of this round (0 to `len() - 1`), with its place in the list.
    pub(crate) fn turn(&self, i: usize) -> (usize, usize) {
        let at = (self.next + i) % self.pipes.len();
        (at, self.pipes[at])
    }

    /// The pipe at `at` was served: the next round starts after it.
    pub(crate) fn served(&mut self, at: usize) {
        self.next = (at + 1) % self.pipes.len().max(1);
    }

    pub(crate) fn keys(&self) -> &[usize] {
        &self.pipes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(r: &Rotation) -> Vec<usize> {
        (0..r.len()).map(|i| r.turn(i).1).collect()
    }

    #[test]
    fn turns_rotate_and_survive_a_detach() {
        let mut r = Rotation::default();
        for k in [10, 20, 30] {
            r.attach(k);
        }
        assert_eq!(round(&r), [10, 20, 30]);
        r.served(0);
        assert_eq!(round(&r), [20, 30, 10]);
        r.detach(10);
        assert_eq!(round(&r), [20, 30]);
        r.served(1);
        r.detach(30);
        assert_eq!(round(&r), [20]);
    }
}
