//! Random matchmaking: per-mode FIFO queues, interest preference with a timed fallback, Next,
//! Stop, and re-queueing of abandoned partners.

use std::time::Duration;

use strangers_shared::{ErrorCode, LeaveReason, Mode, NextReason, PeerId, Role, ServerMsg};

use super::queue::Entry;
use super::timers::Timer;
use super::{Core, Output, Peer, Prefs, State, mode_index};

impl Core {
    pub(super) fn find(&mut self, peer: PeerId, mode: Mode, interests: Vec<String>) {
        if !self.may_meet(peer) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else { return };
        // Stop and find again is not a way around a skip cooldown.
        if let Some(left) = p.skips.paused(self.now.mono) {
            return self.slow_down(peer, left);
        }
        match p.state.clone() {
            // A resumer that searches has given up waiting for its partner.
            State::Idle | State::Resuming { .. } => {}
            State::Searching { .. } => self.dequeue(peer),
            State::Paired { .. } => {
                let text = "already in a call; send next to find someone else".to_string();
                return self.error(peer, ErrorCode::WrongState, text);
            }
            State::InRoom { .. } => {
                let text = "in a room; send leave before searching".to_string();
                return self.error(peer, ErrorCode::WrongState, text);
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.prefs = Some(Prefs { mode, interests });
        }
        self.enqueue(peer);
    }

    pub(super) fn next(&mut self, peer: PeerId, reason: Option<NextReason>) {
        if !self.may_meet(peer) {
            // Refused, and not left in a call its client has given up on.
            return self.stop(peer);
        }
        let Some(p) = self.peers.get(&peer) else { return };
        if let Some(left) = p.skips.paused(self.now.mono) {
            return self.slow_down(peer, left);
        }
        match p.state.clone() {
            State::Paired { partner } => {
                // A call that failed to connect is not a person skipping. One skip too many
                // still ends the call (the user asked to leave it), but the skipper is not
                // queued again until the cooldown is over.
                if reason != Some(NextReason::Failed) {
                    let (limit, now) = (self.cfg.skip_limit, self.now.mono);
                    let refused = self.peers.get_mut(&peer).and_then(|p| p.skips.skip(&limit, now).err());
                    if let Some(left) = refused {
                        self.stats.slowdowns += 1;
                        self.unpair(peer, partner, LeaveReason::Skipped);
                        if let Some(p) = self.peers.get_mut(&peer) {
                            p.state = State::Idle;
                        }
                        return self.slow_down(peer, left);
                    }
                }
                self.stats.skips += 1;
                let until = self.now.mono + self.cfg.rematch_cooldown;
                let failed = (reason == Some(NextReason::Failed)).then_some(self.now.mono + self.cfg.failed_cooldown);
                for (a, b) in [(peer, partner), (partner, peer)] {
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.avoid = Some((b, until));
                        if let Some(apart_until) = failed {
                            p.failed_with = Some((b, apart_until));
                        }
                    }
                }
                if failed.is_some() {
                    self.stats.failed_calls += 1;
                }
                // The skipper asked for someone new, so it goes back first and meets whoever is
                // waiting; the skipped partner is told at once and queues right behind it.
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.state = State::Idle;
                }
                self.enqueue(peer);
                self.unpair(peer, partner, LeaveReason::Skipped);
            }
            // Already searching: Next just keeps searching.
            State::Searching { .. } => {}
            State::Idle | State::Resuming { .. } if p.prefs.is_some() => self.enqueue(peer),
            State::Idle | State::Resuming { .. } => {
                self.error(peer, ErrorCode::WrongState, "send find before next".into())
            }
            State::InRoom { .. } => {
                self.error(
                    peer,
                    ErrorCode::WrongState,
                    "next is for random calls; send leave to leave the room".into(),
                );
            }
        }
    }

    pub(super) fn stop(&mut self, peer: PeerId) {
        let Some(p) = self.peers.get(&peer) else { return };
        match p.state.clone() {
            State::Idle | State::Resuming { .. } => {}
            State::Searching { .. } => self.dequeue(peer),
            State::Paired { partner } => self.unpair(peer, partner, LeaveReason::Stopped),
            State::InRoom { room } => self.leave_room(peer, &room, LeaveReason::Stopped),
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
        }
    }

    /// Break a pair: `partner` is told why and goes back to the queue; `peer` becomes idle
    /// unless it is already back in the queue (Next).
    pub(super) fn unpair(&mut self, peer: PeerId, partner: PeerId, reason: LeaveReason) {
        if let Some(p) = self.peers.get_mut(&peer)
            && p.state == (State::Paired { partner })
        {
            p.state = State::Idle;
        }
        if !self.is_local(partner) {
            return self.remote_left(peer, partner, reason);
        }
        if let Some(q) = self.peers.get_mut(&partner) {
            q.state = State::Idle;
            self.send(partner, &ServerMsg::PartnerLeft { reason });
            self.enqueue(partner);
        }
    }

    /// Put an idle peer with preferences at the back of its queue and try to match it.
    pub(super) fn enqueue(&mut self, peer: PeerId) {
        // Every way into the queue (a search, a partner who left, a resumed session, a held one
        // coming back) passes the terms gate and the bans.
        let away = self.peers.get(&peer).is_some_and(|p| p.held.is_some());
        if !away && !self.may_meet(peer) {
            return;
        }
        let seq = self.next_seq;
        let since = self.now.mono;
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if let Some(held) = &mut p.held {
            // Away: it goes back to the queue if and when it resumes.
            held.requeue = true;
            return;
        }
        let Some(prefs) = &p.prefs else { return };
        let mode = prefs.mode;
        let fallback = (!prefs.interests.is_empty()).then_some(since + self.cfg.interest_fallback);
        let entry = Entry { seq, tags: prefs.interests.clone(), open_at: fallback };
        let (avoid, failed) = (p.avoid.map(|(_, t)| t), p.failed_with.map(|(_, t)| t));
        self.next_seq += 1;
        p.state = State::Searching { since, seq, last_waiting: since };
        self.queues[mode_index(mode)].insert(peer, &entry);
        self.out.push_back(Output::Searching { peer, searching: true });
        self.schedule(since + self.cfg.waiting_interval, peer, seq, Timer::Waiting);
        // The moments its chances grow: its interest fallback, the end of a cooldown.
        for at in [fallback, avoid, failed].into_iter().flatten().filter(|t| *t > since) {
            self.schedule(at, peer, seq, Timer::Retry);
        }
        self.send_waiting(peer, mode);
        self.try_match(peer);
    }

    /// Take a searching peer out of its queue (it stays known, idle).
    pub(super) fn dequeue(&mut self, peer: PeerId) {
        if let Some((mode, entry)) = self.peers.get(&peer).and_then(|p| self.queue_entry(p)) {
            self.unqueue(peer, mode, &entry);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
            self.out.push_back(Output::Searching { peer, searching: false });
        }
    }

    /// Where a searching peer sits in its mode's queue.
    pub(super) fn queue_entry(&self, p: &Peer) -> Option<(Mode, Entry)> {
        let (State::Searching { since, seq, .. }, Some(prefs)) = (&p.state, &p.prefs) else { return None };
        let open_at = (!prefs.interests.is_empty()).then_some(*since + self.cfg.interest_fallback);
        Some((prefs.mode, Entry { seq: *seq, tags: prefs.interests.clone(), open_at }))
    }

    /// Take a searcher's entry out of its queue; if that leaves two, see whether they may meet.
    pub(super) fn unqueue(&mut self, peer: PeerId, mode: Mode, entry: &Entry) {
        self.unschedule(peer);
        if self.clustered() {
            self.out.push_back(Output::Cluster(super::cluster::ClusterOp::Unsearch { peer }));
        }
        let q = &mut self.queues[mode_index(mode)];
        if q.get(entry.seq) == Some(peer) {
            q.remove(entry);
            self.retry_if_alone(mode);
        }
    }

    /// Two who parted by Next may meet once their cooldown is over and nobody else waits: when
    /// the queue shrinks to two, see whether they can meet now.
    fn retry_if_alone(&mut self, mode: Mode) {
        // In a cluster the shared queue decides (see `cluster.rs`).
        if self.clustered() {
            return;
        }
        let queue = &self.queues[mode_index(mode)];
        let first = (queue.len() == 2).then(|| queue.values().next().copied()).flatten();
        if let Some(first) = first {
            self.try_match(first);
        }
    }

    pub(super) fn send_waiting(&mut self, peer: PeerId, mode: Mode) {
        let msg = ServerMsg::Waiting { mode, online: self.online_shown(), searching: self.searching_shown(mode) };
        self.send(peer, &msg);
    }

    /// Whether a searcher takes anyone, not only a common interest.
    pub(super) fn open_to_anyone(&self, since: Duration, prefs: &Prefs) -> bool {
        prefs.interests.is_empty() || self.now.mono.saturating_sub(since) >= self.cfg.interest_fallback
    }

    /// Where a searcher stands in its queue: who entered first has waited longer.
    fn queue_place(&self, id: PeerId) -> (Duration, u64) {
        match self.peers.get(&id).map(|p| &p.state) {
            Some(State::Searching { since, seq, .. }) => (*since, *seq),
            _ => (Duration::MAX, u64::MAX),
        }
    }

    /// Whether `a` and `b` must not meet: one blocked the other, their call failed lately, or
    /// they parted by Next, before the rematch cooldown ends and after it as long as anyone else
    /// is waiting in `mode`'s queue.
    fn avoids(&self, a: PeerId, b: PeerId, mode: Mode) -> bool {
        let failed = |x: PeerId, y: PeerId| {
            self.peers.get(&x).and_then(|p| p.failed_with).is_some_and(|(who, until)| who == y && self.now.mono < until)
        };
        if failed(a, b) || failed(b, a) || self.blocked(a, b) {
            return true;
        }
        let skipped = |x: PeerId, y: PeerId| {
            self.peers.get(&x).and_then(|p| p.avoid).filter(|(who, _)| *who == y).map(|(_, until)| until)
        };
        let Some(until) = skipped(a, b).into_iter().chain(skipped(b, a)).max() else { return false };
        self.now.mono < until || self.queues[mode_index(mode)].values().any(|&id| id != a && id != b)
    }

    /// Pair `peer` with the best waiting candidate, if there is one: the oldest searcher with a
    /// common interest, else (when both are open to anyone) the oldest searcher at all.
    /// Costs O(the searcher's tags), whatever the queue's length (see `queue.rs`).
    pub(super) fn try_match(&mut self, peer: PeerId) {
        if self.clustered() {
            return self.cluster_search(peer);
        }
        let Some(mode) = self.peers.get(&peer).and_then(|p| p.prefs.as_ref()).map(|p| p.mode) else { return };
        self.queues[mode_index(mode)].open_due(self.now.mono);
        let Some(me) = self.peers.get(&peer) else { return };
        let (State::Searching { since, .. }, Some(prefs)) = (&me.state, &me.prefs) else { return };
        let queue = &self.queues[mode_index(mode)];
        let skip = |cand: PeerId| cand == peer || self.avoids(peer, cand, mode);
        let chosen = match queue.oldest_sharing(&prefs.interests, skip) {
            Some(cand) => Some(cand),
            None if self.open_to_anyone(*since, prefs) => queue.oldest_open(skip),
            None => None,
        };
        let Some(cand) = chosen else { return };
        let theirs = self.peers.get(&cand).and_then(|c| c.prefs.as_ref());
        let common: Vec<String> =
            prefs.interests.iter().filter(|t| theirs.is_some_and(|c| c.interests.contains(t))).cloned().collect();
        self.pair(cand, peer, common);
    }

    /// Pair two searchers. The one that has waited longer (entered the queue first) makes the
    /// offer, whichever of the two the match was found for: a timer can make the newer searcher
    /// look for the older one.
    fn pair(&mut self, a: PeerId, b: PeerId, common: Vec<String>) {
        let (older, newer) = if self.queue_place(b) < self.queue_place(a) { (b, a) } else { (a, b) };
        self.unschedule(older);
        self.unschedule(newer);
        // Either side's Next-avoidance is spent once it has found someone new.
        for id in [older, newer] {
            let Some(skipped) = self.peers.get_mut(&id).and_then(|p| p.avoid.take()).map(|(who, _)| who) else {
                continue;
            };
            if let Some(q) = self.peers.get_mut(&skipped)
                && q.avoid.is_some_and(|(who, _)| who == id)
            {
                q.avoid = None;
            }
        }
        let mut mode = Mode::Video;
        let call = self.new_call();
        for (id, partner) in [(older, newer), (newer, older)] {
            let Some(p) = self.peers.get(&id) else { continue };
            if let (State::Searching { since, .. }, Some((m, entry))) = (p.state.clone(), self.queue_entry(p)) {
                mode = m;
                self.queues[mode_index(mode)].remove(&entry);
                self.stats.match_wait.observe(self.now.mono.saturating_sub(since));
            }
            let met = self.peers.get(&partner).map(|q| Box::new(q.who.as_met(partner, call)));
            if let Some(p) = self.peers.get_mut(&id) {
                p.state = State::Paired { partner };
                p.who.last = met;
            }
            self.out.push_back(Output::Searching { peer: id, searching: false });
        }
        self.stats.matches += 1;
        let matched = |role, resume| ServerMsg::Matched {
            role,
            mode,
            common_interests: common.clone(),
            resume,
            call: Some(call),
        };
        let (older_token, newer_token) = (self.token_for(older), self.token_for(newer));
        self.send(older, &matched(Role::Offerer, older_token));
        self.send(newer, &matched(Role::Answerer, newer_token));
        self.retry_if_alone(mode);
    }
}
