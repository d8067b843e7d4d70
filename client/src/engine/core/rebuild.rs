//! Rebuilding the link to a mesh-room member that failed or disconnected while the member is
//! still in the room. Of each pair only the offerer (see [`crate::engine::offers_to`]) acts: it makes a
//! fresh offer after a short backoff, while the answerer closes its side and waits for that
//! offer, so the two never offer at once. Each outage gets [`MAX_REBUILDS`] attempts; after
//! that, or when an answerer has waited [`ANSWER_WAIT`] without a new offer, the member is given
//! up on and dropped from view.
//!
//! This is only the policy, on the core's clock; the core decides with it and the engine task
//! carries the result out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use strangers_shared::PeerId;

/// New links tried for one member before giving up (a connection that works ends the outage).
pub(super) const MAX_REBUILDS: u32 = 3;

/// How long an answerer waits for the offerer's new offer. The offerer may notice the failure
/// seconds later (ICE timeouts) and each of its attempts may take the whole setup deadline.
pub(super) const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Backoff before the offerer's first new offer; each further attempt waits four times longer.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// What to do about a member whose link was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RebuildStep {
    /// We offer again at this time.
    OfferAt(Instant),
    /// The member offers again; wait for it.
    Wait,
    /// Out of attempts: drop the member from view.
    GiveUp,
}

#[derive(Debug, Default)]
struct Outage {
    failures: u32,
    offer_at: Option<Instant>,
    waiting_since: Option<Instant>,
}

/// Work that fell due; see [`Rebuilds::take_due`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Due {
    /// Members to send a new offer to.
    pub(super) offer: Vec<PeerId>,
    /// Members to give up on.
    pub(super) give_up: Vec<PeerId>,
}

/// Outages in progress and members given up on; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Rebuilds {
    outages: HashMap<PeerId, Outage>,
    abandoned: HashSet<PeerId>,
}

impl Rebuilds {
    /// The link to `member` was lost (failed, disconnected or never connected).
    pub(super) fn lost(&mut self, member: PeerId, we_offer: bool, now: Instant) -> RebuildStep {
        let outage = self.outages.entry(member).or_default();
        outage.failures += 1;
        if outage.failures > MAX_REBUILDS {
            self.give_up(member);
            return RebuildStep::GiveUp;
        }
        if we_offer {
            let at = now + FIRST_BACKOFF * 4u32.pow(outage.failures - 1);
            outage.offer_at = Some(at);
            RebuildStep::OfferAt(at)
        } else {
            outage.waiting_since = Some(now);
            RebuildStep::Wait
        }
    }

    /// The member sent a new offer: the wait is over (its link may still fail: [`Self::lost`]).
    pub(super) fn offer_arrived(&mut self, member: PeerId) {
        if let Some(outage) = self.outages.get_mut(&member) {
            outage.waiting_since = None;
        }
    }

    /// The link to `member` connected: the outage is over.
    pub(super) fn connected(&mut self, member: PeerId) {
        self.outages.remove(&member);
    }

    /// The member left or joined anew: forget its history.
    pub(super) fn forget(&mut self, member: PeerId) {
        self.outages.remove(&member);
        self.abandoned.remove(&member);
    }

    /// We left the room (or lost the server): forget everything.
    pub(super) fn clear(&mut self) {
        self.outages.clear();
        self.abandoned.clear();
    }

    /// Whether `member` was given up on (its offers are ignored until it joins again).
    pub(super) fn abandoned(&self, member: PeerId) -> bool {
        self.abandoned.contains(&member)
    }

    /// When [`Self::take_due`] next has something to do.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.outages.values().flat_map(|o| [o.offer_at, o.waiting_since.map(|t| t + ANSWER_WAIT)]).flatten().min()
    }

    /// Offers that are due and waits that ran out, as of `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> Due {
        let mut due = Due::default();
        for (member, outage) in &mut self.outages {
            if outage.offer_at.is_some_and(|t| t <= now) {
                outage.offer_at = None;
                due.offer.push(*member);
            }
            if outage.waiting_since.is_some_and(|t| t + ANSWER_WAIT <= now) {
                due.give_up.push(*member);
            }
        }
        for member in &due.give_up {
            self.give_up(*member);
        }
        due.offer.sort_unstable();
        due.give_up.sort_unstable();
        due
    }

    fn give_up(&mut self, member: PeerId) {
        self.outages.remove(&member);
        self.abandoned.insert(member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: PeerId = PeerId(7);

    #[test]
    fn the_offerer_retries_with_backoff_then_gives_up() {
        let mut r = Rebuilds::default();
        let t0 = Instant::now();
        assert_eq!(r.lost(M, true, t0), RebuildStep::OfferAt(t0 + FIRST_BACKOFF));
        assert_eq!(r.next_due(), Some(t0 + FIRST_BACKOFF));
        assert_eq!(r.take_due(t0), Due::default(), "not yet");
        assert_eq!(r.take_due(t0 + FIRST_BACKOFF).offer, [M]);
        assert_eq!(r.next_due(), None, "offered; now the new link has to connect or fail");
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(r.lost(M, true, t1), RebuildStep::OfferAt(t1 + FIRST_BACKOFF * 4));
        assert_eq!(r.take_due(t1 + FIRST_BACKOFF * 4).offer, [M]);
        assert_eq!(r.lost(M, true, t1), RebuildStep::OfferAt(t1 + FIRST_BACKOFF * 16));
        assert_eq!(r.lost(M, true, t1), RebuildStep::GiveUp, "bounded");
        assert!(r.abandoned(M));
        assert_eq!(r.next_due(), None);
        r.forget(M);
        assert!(!r.abandoned(M), "a member that joins again starts afresh");
    }

    #[test]
    fn a_connection_ends_the_outage() {
        let mut r = Rebuilds::default();
        let t0 = Instant::now();
        for _ in 0..MAX_REBUILDS {
            assert!(matches!(r.lost(M, true, t0), RebuildStep::OfferAt(_)));
        }
        r.connected(M);
        assert!(matches!(r.lost(M, true, t0), RebuildStep::OfferAt(_)), "a new outage, with fresh attempts");
        r.clear();
        assert_eq!(r.next_due(), None);
    }

    #[test]
    fn the_answerer_waits_for_an_offer_and_gives_up_when_none_comes() {
        let mut r = Rebuilds::default();
        let t0 = Instant::now();
        assert_eq!(r.lost(M, false, t0), RebuildStep::Wait);
        assert_eq!(r.next_due(), Some(t0 + ANSWER_WAIT));
        r.offer_arrived(M);
        assert_eq!(r.next_due(), None, "the offerer is on it");
        assert_eq!(r.lost(M, false, t0), RebuildStep::Wait, "that link failed too");
        assert_eq!(r.take_due(t0 + ANSWER_WAIT - Duration::from_millis(1)), Due::default());
        let due = r.take_due(t0 + ANSWER_WAIT);
        assert_eq!((due.offer.len(), due.give_up), (0, vec![M]));
        assert!(r.abandoned(M));
    }
}
