//! Resuming a call on another node (with `--redis` and resumption on). A client whose node died,
//! or whose new connection landed on another node, presents its token there. Tokens from a
//! node of a cluster also carry the peer ids of the session and its partner when they were
//! issued (their nodes are in the top bits), so the new node knows whom to ask:
//!
//! 1. The new node records where the session is now and reads where the partner's session is
//!    (a resumed partner is found there, else at the peer id the token names):
//!    [`ClusterOp::Resume`].
//! 2. The partner's node checks that the partner is still in that very call (paired with the
//!    session's old connection, or itself resuming and waiting for this session): then the
//!    partner goes on with the new connection and hears `partner_resumed`
//!    ([`Remote::Resume`] → [`Remote::Resumed`]); otherwise [`Remote::ResumeFailed`], and the
//!    resumer hears `partner_left`. The old connection, wherever it is, ends quietly
//!    ([`Remote::Superseded`]).
//! 3. A node that dies leaves its clients' partners in their calls for the resume window (their
//!    media never touched it); `partner_left` comes when the window passes without a resume.
//!
//! A replayed token fails at step 2: after the first resume the partner is paired with the new
//! connection, not the one the token names.

use std::time::Duration;

use strangers_shared::{LeaveReason, PeerId, ServerMsg};

use super::cluster::{ClusterOp, Keys, Rejoin, Remote};
use super::moderation::Met;
use super::resume::Sid;
use super::{Core, Output, State};

impl Core {
    /// A session resumed here (now `peer`, resuming): ask its partner back (step 1).
    pub(super) fn rejoin(&mut self, peer: PeerId, sid: Sid, partner_sid: Sid, at: Option<(PeerId, PeerId)>) {
        let Some(p) = self.peers.get(&peer) else { return };
        let keys = p.keys();
        let (old, partner) = at.map_or((None, None), |(old, partner)| (Some(old), Some(partner)));
        let rejoin = Rejoin { peer, sid, partner_sid, old, partner, keys };
        self.out.push_back(Output::Cluster(ClusterOp::Resume(rejoin)));
    }

    /// The resume messages between nodes.
    pub(super) fn resume_remote(&mut self, msg: Remote) {
        match msg {
            Remote::Resume { to, from, old, keys } => self.resume_asked(to, from, old, keys),
            Remote::Resumed { to, from, keys } => {
                let waiting = matches!(
                    self.peers.get(&to).map(|p| &p.state),
                    Some(State::Resuming { partner, .. }) if Some(*partner) == keys.sid
                );
                if !waiting {
                    // It gave up or left meanwhile: the partner must not wait for it.
                    let left = Remote::Left { to: from, from: to, reason: LeaveReason::Disconnected };
                    return self.tell(left);
                }
                let call = self.new_call();
                if let Some(p) = self.peers.get_mut(&to) {
                    p.state = State::Paired { partner: from };
                    p.who.last = Some(Box::new(Met::remote(from, call, keys)));
                }
                self.stats.resumed += 1;
            }
            Remote::ResumeFailed { to, from } => {
                if let Some(State::Resuming { mode, .. }) = self.peers.get(&to).map(|p| p.state.clone()) {
                    tracing::debug!(%to, %from, "the partner was no longer in the call");
                    self.resume_gave_up(to, mode);
                }
            }
            Remote::Superseded { to, sid } if self.peers.get(&to).is_some_and(|p| p.sid == Some(sid)) => {
                // Quietly: its partner goes on with the new connection.
                if let Some(p) = self.peers.get_mut(&to) {
                    p.state = State::Idle;
                }
                self.remove(to);
                self.out.push_back(Output::Close { peer: to, code: 4001, reason: "resumed on a newer connection" });
            }
            _ => {}
        }
    }

    /// Step 2, at the partner's node: `from` (session `keys.sid`, once `old`) asks `to` back.
    fn resume_asked(&mut self, to: PeerId, from: PeerId, old: Option<PeerId>, keys: Keys) {
        let state = self.peers.get(&to).map(|p| p.state.clone());
        let in_call = match state {
            Some(State::Paired { partner }) => Some(partner) == old,
            Some(State::Resuming { partner, .. }) => Some(partner) == keys.sid,
            _ => false,
        };
        if !in_call {
            return self.tell(Remote::ResumeFailed { to: from, from: to });
        }
        let was_paired = matches!(state, Some(State::Paired { .. }));
        let call = match self.peers.get(&to).and_then(|p| p.who.last.as_ref()) {
            Some(m) if was_paired => m.call,
            _ => self.new_call(),
        };
        self.orphans.remove(&to);
        let Some(p) = self.peers.get_mut(&to) else { return };
        p.state = State::Paired { partner: from };
        p.who.last = Some(Box::new(Met::remote(from, call, keys)));
        let mine = p.keys();
        self.stats.resumed += 1;
        if was_paired {
            // What was in flight may be lost: the partner offers again if it was restarting.
            self.send(to, &ServerMsg::PartnerResumed);
        }
        self.tell(Remote::Resumed { to: from, from: to, keys: mine });
        if let (Some(old), Some(sid)) = (old.filter(|o| *o != from), keys.sid) {
            self.tell(Remote::Superseded { to: old, sid });
        }
    }

    /// Partners of a dead node's clients keep their calls for the resume window (with
    /// resumption on). Returns false when resumption is off (they are told at once).
    pub(super) fn orphan(&mut self, peer: PeerId, partner: PeerId) -> bool {
        let Some(window) = self.cfg.resume.as_ref().map(|r| r.window).filter(|w| !w.is_zero()) else {
            return false;
        };
        let until = self.now.mono + window;
        self.orphans.insert(peer, (until, partner));
        self.expiries.insert((until, peer));
        true
    }

    /// A partner held after its node died did not resume in time. Returns whether `until`
    /// was this orphan's.
    pub(super) fn orphan_expired(&mut self, peer: PeerId, until: Duration) -> bool {
        let Some(&(u, partner)) = self.orphans.get(&peer) else { return false };
        if u != until {
            return false;
        }
        self.orphans.remove(&peer);
        if matches!(self.peers.get(&peer).map(|p| &p.state), Some(State::Paired { partner: q }) if *q == partner) {
            self.remote(Remote::Left { to: peer, from: partner, reason: LeaveReason::Disconnected });
        }
        true
    }
}
