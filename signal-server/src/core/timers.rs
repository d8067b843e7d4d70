//! The searchers' timers, kept in one ordered set so that a tick touches only what falls due
//! and the next deadline is its first entry: each searcher's periodic `waiting` update, and the
//! moments its chances grow (its interest fallback, the end of a rematch or failed-call
//! cooldown). Visiting every searcher on every tick cost O(queue) per tick, and with searchers
//! arriving at different times ticks come often. An entry carries the searcher's queue number,
//! so one for a searcher that has since left (or re-entered) the queue is recognised and dropped.

use std::time::Duration;

use strangers_shared::PeerId;

use super::{Core, State};

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// Send the searcher a `waiting` update.
    Waiting,
    /// Look for a partner again (a fallback passed or a cooldown ended).
    Retry,
}

impl Core {
    /// Run `timer` for the searcher `peer` (queue number `seq`) at `at`.
    pub(super) fn schedule(&mut self, at: Duration, peer: PeerId, seq: u64, timer: Timer) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.timer_keys.push((at, timer));
            self.timers.insert((at, peer, seq, timer));
        }
    }

    /// Drop the timers of `peer`, which is leaving the queue.
    pub(super) fn unschedule(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let State::Searching { seq, .. } = p.state else { return };
        let keys = std::mem::take(&mut p.timer_keys);
        self.drop_timers(peer, seq, &keys);
    }

    /// Drop the timers `keys` of the searcher `peer` with queue number `seq` (also for a peer
    /// already forgotten).
    pub(super) fn drop_timers(&mut self, peer: PeerId, seq: u64, keys: &[(Duration, Timer)]) {
        for &(at, timer) in keys {
            self.timers.remove(&(at, peer, seq, timer));
        }
    }

    /// Run what fell due: retries first (a searcher matched now needs no update), then updates.
    pub(super) fn tick_matching(&mut self) {
        let now = self.now.mono;
        let (mut retry, mut update) = (Vec::new(), Vec::new());
        while let Some(&(at, peer, seq, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(p) = self.peers.get_mut(&peer) else { continue };
            if matches!(p.state, State::Searching { seq: s, .. } if s == seq) {
                p.timer_keys.retain(|k| *k != (at, timer));
                match timer {
                    Timer::Retry => retry.push(peer),
                    Timer::Waiting => update.push((peer, seq)),
                }
            }
        }
        for peer in retry {
            self.try_match(peer);
        }
        for (peer, seq) in update {
            let Some(p) = self.peers.get_mut(&peer) else { continue };
            let Some(mode) = p.prefs.as_ref().map(|pr| pr.mode) else { continue };
            if let State::Searching { last_waiting, seq: s, .. } = &mut p.state
                && *s == seq
            {
                *last_waiting = now;
                self.send_waiting(peer, mode);
                self.schedule(now + self.cfg.waiting_interval, peer, seq, Timer::Waiting);
            }
        }
    }

    /// The earliest timer ahead: a searcher's, or a held session's end.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        let searchers = self.timers.first().map(|t| t.0);
        let sessions = self.expiries.first().map(|e| e.0);
        searchers.into_iter().chain(sessions).chain(self.sweep_at).min()
    }
}
