//! One mode's waiting searchers, indexed so that finding a partner costs O(the searcher's tags),
//! not O(everyone waiting): a scan of the whole queue cost 268 µs per `find` at 10,000
//! searchers, and one busy evening (or one attacker) could stall the server with it.
//!
//! Every index is a FIFO keyed by the searcher's queue number (`seq`: who entered first has the
//! smaller one), so "the oldest searcher who shares an interest" is the smallest head among the
//! searcher's tags, and "the oldest searcher open to anyone" is the head of `open`. The same
//! shape (one sorted set per mode, per tag, and of the open ones, scored by `seq`) is what a
//! shared store such as Redis holds for several nodes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use strangers_shared::PeerId;

/// The waiting searchers of one mode; see the module docs.
#[derive(Debug, Default)]
pub(super) struct ModeQueue {
    /// Everyone, first come first.
    all: BTreeMap<u64, PeerId>,
    /// Searchers by interest tag.
    by_tag: HashMap<String, BTreeMap<u64, PeerId>>,
    /// Searchers who take anyone: no interests, or their interest fallback has passed.
    open: BTreeMap<u64, PeerId>,
    /// Searchers with interests whose fallback is still ahead, by when it falls due.
    opening: BTreeMap<(Duration, u64), PeerId>,
}

/// Where a searcher sits in the indexes (what it takes to find it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its queue number.
    pub(super) seq: u64,
    /// Its interest tags (normalised, no duplicates).
    pub(super) tags: Vec<String>,
    /// When it starts taking anyone (`None`: at once).
    pub(super) open_at: Option<Duration>,
}

impl ModeQueue {
    /// Searchers waiting.
    pub(super) fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether nobody waits.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Who waits, first come first.
    pub(super) fn values(&self) -> impl Iterator<Item = &PeerId> {
        self.all.values()
    }

    /// Who waits, with their queue numbers, first come first.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &PeerId)> {
        self.all.iter()
    }

    /// Who waits with queue number `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<PeerId> {
        self.all.get(&seq).copied()
    }

    /// Add a searcher at the back.
    pub(super) fn insert(&mut self, peer: PeerId, entry: &Entry) {
        self.all.insert(entry.seq, peer);
        for tag in &entry.tags {
            self.by_tag.entry(tag.clone()).or_default().insert(entry.seq, peer);
        }
        match entry.open_at {
            None => {
                self.open.insert(entry.seq, peer);
            }
            Some(at) => {
                self.opening.insert((at, entry.seq), peer);
            }
        }
    }

    /// Take a searcher out of every index.
    pub(super) fn remove(&mut self, entry: &Entry) {
        self.all.remove(&entry.seq);
        for tag in &entry.tags {
            if let Some(fifo) = self.by_tag.get_mut(tag) {
                fifo.remove(&entry.seq);
                if fifo.is_empty() {
                    self.by_tag.remove(tag);
                }
            }
        }
        self.open.remove(&entry.seq);
        if let Some(at) = entry.open_at {
            self.opening.remove(&(at, entry.seq));
        }
    }

    /// Searchers whose interest fallback has passed by `now` start taking anyone.
    pub(super) fn open_due(&mut self, now: Duration) {
        while let Some(entry) = self.opening.first_entry() {
            let (at, seq) = *entry.key();
            if at > now {
                break;
            }
            let peer = entry.remove();
            self.open.insert(seq, peer);
        }
    }

    /// The oldest searcher who has one of `tags` and is not `skip`ped.
    pub(super) fn oldest_sharing(&self, tags: &[String], skip: impl Fn(PeerId) -> bool) -> Option<PeerId> {
        tags.iter()
            .filter_map(|t| self.by_tag.get(t))
            .filter_map(|fifo| fifo.iter().find(|(_, p)| !skip(**p)))
            .min_by_key(|(seq, _)| **seq)
            .map(|(_, p)| *p)
    }

    /// The oldest searcher open to anyone who is not `skip`ped.
    pub(super) fn oldest_open(&self, skip: impl Fn(PeerId) -> bool) -> Option<PeerId> {
        self.open.values().copied().find(|p| !skip(*p))
    }

    /// Whether every index agrees with `all` (for the property tests).
    #[cfg(test)]
    pub(super) fn consistent(&self) -> bool {
        let tagged = self.by_tag.values().flat_map(|f| f.iter()).all(|(s, p)| self.all.get(s) == Some(p));
        let open = self.open.iter().chain(self.opening.iter().map(|((_, s), p)| (s, p)));
        let opened: Vec<(&u64, &PeerId)> = open.collect();
        tagged && opened.len() == self.all.len() && opened.iter().all(|(s, p)| self.all.get(s) == Some(*p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, tags: &[&str], open_at: Option<u64>) -> Entry {
        Entry { seq, tags: tags.iter().map(|t| t.to_string()).collect(), open_at: open_at.map(Duration::from_secs) }
    }

    #[test]
    fn the_oldest_sharing_an_interest_wins_then_the_oldest_open_one() {
        let mut q = ModeQueue::default();
        q.insert(PeerId(1), &entry(1, &["cats"], Some(5)));
        q.insert(PeerId(2), &entry(2, &[], None));
        q.insert(PeerId(3), &entry(3, &["dogs", "rust"], Some(5)));
        q.insert(PeerId(4), &entry(4, &["rust"], Some(5)));
        let tags = ["rust".to_string(), "cats".to_string()];
        assert_eq!(q.oldest_sharing(&tags, |_| false), Some(PeerId(1)));
        assert_eq!(q.oldest_sharing(&tags, |p| p == PeerId(1)), Some(PeerId(3)), "skipped: the next oldest");
        assert_eq!(q.oldest_sharing(&["golf".to_string()], |_| false), None);
        assert_eq!(q.oldest_open(|_| false), Some(PeerId(2)));
        q.open_due(Duration::from_secs(4));
        assert_eq!(q.oldest_open(|p| p == PeerId(2)), None, "fallbacks not due yet");
        q.open_due(Duration::from_secs(5));
        assert_eq!(q.oldest_open(|p| p == PeerId(2)), Some(PeerId(1)), "fallback passed: open to anyone");
        assert!(q.consistent());
    }

    #[test]
    fn removal_leaves_no_trace_in_any_index() {
        let mut q = ModeQueue::default();
        let a = entry(1, &["x", "y"], Some(9));
        let b = entry(2, &["y"], None);
        q.insert(PeerId(1), &a);
        q.insert(PeerId(2), &b);
        q.remove(&a);
        assert!(q.consistent());
        assert_eq!(q.oldest_sharing(&["x".to_string()], |_| false), None);
        assert_eq!(q.oldest_sharing(&["y".to_string()], |_| false), Some(PeerId(2)));
        q.remove(&b);
        assert!(q.is_empty() && q.by_tag.is_empty() && q.open.is_empty() && q.opening.is_empty());
    }
}
