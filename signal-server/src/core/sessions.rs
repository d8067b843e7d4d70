//! Sessions that outlive a connection: a client in a random call whose signaling connection
//! breaks keeps its call for the resume window, and a client that presents a resume token (see
//! [`super::resume`]) gets it back: on this process, by taking over the held session; after a
//! restart, by meeting its partner again when both present tokens that name each other. The
//! media never touched the server, so it flows on meanwhile.

use std::collections::VecDeque;

use strangers_shared::{ErrorCode, LeaveReason, Mode, PeerId};

use super::resume::{Claims, Refused, Sid};
use super::{Core, Output, Prefs, State, TextFrame};

/// Most frames kept for a disconnected client; older ones are dropped first (candidates and
/// typing go stale, the latest state matters).
pub(super) const MAX_PENDING: usize = 64;

/// A client whose connection is gone but whose call is kept for it.
#[derive(Debug, Clone)]
pub(super) struct Held {
    /// When the call is given up (the partner is then told `partner_left`).
    pub(super) until: std::time::Duration,
    /// What arrived for it meanwhile, delivered when it resumes.
    pub(super) pending: VecDeque<TextFrame>,
    /// Its partner left meanwhile: it goes back to the queue when it resumes.
    pub(super) requeue: bool,
}

impl Core {
    /// The connection of `peer` is gone. A client in a random call is held for the resume
    /// window; anyone else is forgotten at once.
    pub(super) fn disconnected(&mut self, peer: PeerId) {
        let window = self.cfg.resume.as_ref().map(|r| r.window).filter(|w| !w.is_zero());
        let until = window.map(|w| self.now.mono + w);
        match (self.peers.get_mut(&peer), until) {
            (Some(p), Some(until)) if matches!(p.state, State::Paired { .. }) && p.held.is_none() => {
                p.held = Some(Held { until, pending: VecDeque::new(), requeue: false });
                self.expiries.insert((until, peer));
                self.stats.held += 1;
            }
            _ => self.remove(peer),
        }
    }

    /// Keep a frame for a held peer. Returns false if `to` is not held.
    pub(super) fn keep_for_held(&mut self, to: PeerId, frame: &TextFrame) -> bool {
        let Some(held) = self.peers.get_mut(&to).and_then(|p| p.held.as_mut()) else { return false };
        if held.pending.len() >= MAX_PENDING {
            held.pending.pop_front();
        }
        held.pending.push_back(frame.clone());
        true
    }

    /// Give up held sessions and resumptions whose window has passed.
    pub(super) fn expire_sessions(&mut self) {
        while let Some(&(until, peer)) = self.expiries.first() {
            if until > self.now.mono {
                break;
            }
            self.expiries.pop_first();
            if self.orphan_expired(peer, until) {
                continue;
            }
            let Some(p) = self.peers.get(&peer) else { continue };
            if p.held.as_ref().is_some_and(|h| h.until == until) {
                self.remove(peer);
            } else if let State::Resuming { until: u, mode, .. } = p.state
                && u == until
            {
                self.resume_gave_up(peer, mode);
            }
        }
    }

    /// The partner of a resuming session never came back: this is a partner who left.
    pub(super) fn resume_gave_up(&mut self, peer: PeerId, mode: Mode) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
            p.prefs.get_or_insert(Prefs { mode, interests: Vec::new() });
        }
        self.send(peer, &strangers_shared::ServerMsg::PartnerLeft { reason: LeaveReason::Disconnected });
        self.enqueue(peer);
    }

    /// The resume token for `peer` as things stand: its session, and its call if it is in one.
    pub(super) fn token_for(&self, peer: PeerId) -> Option<String> {
        let cfg = self.cfg.resume.as_ref()?;
        let p = self.peers.get(&peer)?;
        let sid = p.sid?;
        let (call, at) = match &p.state {
            State::Paired { partner } => {
                let mode = p.prefs.as_ref().map_or(Mode::Video, |pr| pr.mode);
                // A partner on another node is known by what its node said at the match.
                let their_sid = if self.is_local(*partner) {
                    self.peers.get(partner).and_then(|q| q.sid)
                } else {
                    p.who.last.as_ref().filter(|m| m.peer() == *partner).and_then(|m| m.sid())
                };
                (their_sid.map(|s| (mode, s)), Some(*partner))
            }
            State::Resuming { partner, mode, at, .. } => (Some((*mode, *partner)), at.map(|n| PeerId(n.get()))),
            _ => (None, None),
        };
        // Peer ids say where to look, which only a cluster needs.
        let at = at.filter(|_| self.clustered() && call.is_some()).map(|partner| (peer, partner));
        let expires = (self.now.unix_ms / 1000).saturating_add(cfg.ttl.as_secs());
        Some(cfg.issue(&Claims { sid, generation: p.generation, expires, call, at }))
    }

    /// `hello` with a resume token. Returns whether a call was resumed (or is being resumed,
    /// waiting for the partner); a refused token gets `error resume_refused` and the
    /// connection goes on as a new one.
    pub(super) fn resume(&mut self, peer: PeerId, token: &str) -> bool {
        let Some(cfg) = self.cfg.resume.as_ref() else {
            self.error(peer, ErrorCode::ResumeRefused, "this server does not resume sessions".into());
            return false;
        };
        let claims = match cfg.verify(token, self.now.unix_ms / 1000) {
            Ok(c) => c,
            Err(e) => return self.refuse(peer, e),
        };
        if self.peers.get(&peer).is_some_and(|p| p.sid == Some(claims.sid)) {
            return false;
        }
        match self.sessions.get(&claims.sid).copied() {
            Some(old) => {
                let generation = self.peers.get(&old).map(|p| p.generation);
                if generation != Some(claims.generation) {
                    return self.refuse(peer, Refused::Replayed);
                }
                self.take_over(peer, old, claims.sid)
            }
            None => self.resume_elsewhere(peer, claims),
        }
    }

    fn refuse(&mut self, peer: PeerId, why: Refused) -> bool {
        self.stats.resume_refused += 1;
        self.error(peer, ErrorCode::ResumeRefused, why.to_string());
        false
    }

    /// Give `peer` (a new connection) the session `sid` that `old` holds on this process.
    fn take_over(&mut self, peer: PeerId, old: PeerId, sid: Sid) -> bool {
        let Some(mut moved) = self.peers.get(&old).cloned() else { return false };
        let generation = moved.generation.wrapping_add(1);
        if matches!(moved.state, State::InRoom { .. } | State::Searching { .. } | State::Resuming { .. }) {
            // Rooms and the queue are rejoined, not resumed: the old connection just ends.
            self.remove(old);
            self.out.push_back(Output::Close { peer: old, code: 4001, reason: "resumed on a newer connection" });
            self.adopt(peer, sid, generation);
            return false;
        }
        let held = moved.held.take();
        // Swapped silently: the partner must not hear that anyone left. A connection still open
        // as far as we know (half-open) is closed; the newest one wins.
        self.peers.remove(&old);
        if held.is_none() {
            self.out.push_back(Output::Close { peer: old, code: 4001, reason: "resumed on a newer connection" });
        }
        self.adopt(peer, sid, generation);
        let Some(p) = self.peers.get_mut(&peer) else { return false };
        p.state = moved.state.clone();
        p.prefs = moved.prefs;
        p.avoid = moved.avoid;
        p.failed_with = moved.failed_with;
        p.audio = moved.audio;
        p.video = moved.video;
        p.who.last = moved.who.last.clone();
        if let State::Paired { partner } = moved.state
            && let Some(q) = self.peers.get_mut(&partner)
        {
            q.state = State::Paired { partner: peer };
            // A report or block from the partner still reaches this session on its new
            // connection.
            if let Some(m) = q.who.last.as_mut().filter(|m| m.peer() == old) {
                m.moved_to(peer);
            }
            // What was in flight on the old connection may be lost (an ICE restart offer, its
            // answer): the partner offers again if it was restarting.
            self.send(partner, &strangers_shared::ServerMsg::PartnerResumed);
        }
        self.stats.resumed += 1;
        let Some(held) = held else { return true };
        // Delivered after the `welcome` (see `hello`).
        if let Some(p) = self.peers.get_mut(&peer) {
            p.held = Some(Held { until: held.until, pending: held.pending, requeue: held.requeue });
        }
        !held.requeue
    }

    /// After the `welcome` of a resumed session: what arrived while it was away, and back to
    /// the queue if its partner left meanwhile (the `partner_left` is among those frames).
    pub(super) fn deliver_held(&mut self, peer: PeerId) {
        let Some(held) = self.peers.get_mut(&peer).and_then(|p| p.held.take()) else { return };
        for frame in held.pending {
            self.out.push_back(Output::Send { to: peer, frame });
        }
        if held.requeue {
            self.enqueue(peer);
        }
    }

    /// The session is not on this process (it was restarted, or another node issued the token).
    fn resume_elsewhere(&mut self, peer: PeerId, claims: Claims) -> bool {
        self.adopt(peer, claims.sid, claims.generation.wrapping_add(1));
        let Some((mode, partner_sid)) = claims.call else { return false };
        let partner = self.sessions.get(&partner_sid).copied();
        let waiting_for_us = partner
            .and_then(|q| self.peers.get(&q))
            .is_some_and(|q| matches!(q.state, State::Resuming { partner, .. } if partner == claims.sid));
        match partner {
            Some(q) if waiting_for_us => {
                let call = self.new_call();
                for (a, b) in [(peer, q), (q, peer)] {
                    let met = self.peers.get(&b).map(|other| Box::new(other.who.as_met(b, call)));
                    if let Some(p) = self.peers.get_mut(&a) {
                        p.state = State::Paired { partner: b };
                        p.prefs.get_or_insert(Prefs { mode, interests: Vec::new() });
                        p.who.last = met;
                    }
                }
                self.stats.resumed += 2;
                true
            }
            // The partner is here but no longer in that call: there is nothing to resume (a
            // node of a cluster asks, as the partner may be in that call with the session's
            // connection on another node).
            Some(_) if !self.clustered() => false,
            _ => {
                let until = self.now.mono + self.cfg.resume.as_ref().map_or_else(Default::default, |r| r.window);
                let at = claims.at.and_then(|(_, partner)| std::num::NonZeroU64::new(partner.0));
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.state = State::Resuming { partner: partner_sid, mode, until, at };
                    p.prefs = Some(Prefs { mode, interests: Vec::new() });
                }
                self.expiries.insert((until, peer));
                // In a cluster the partner may be on any node: it is asked back from here.
                if self.clustered() {
                    self.rejoin(peer, claims.sid, partner_sid, claims.at);
                }
                true
            }
        }
    }

    /// `peer` becomes session `sid` at `generation` (its own new session id is dropped).
    fn adopt(&mut self, peer: PeerId, sid: Sid, generation: u32) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if let Some(own) = p.sid.replace(sid) {
            self.sessions.remove(&own);
        }
        p.generation = generation;
        self.sessions.insert(sid, peer);
    }
}
