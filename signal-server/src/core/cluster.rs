//! Several nodes as one server (with `--redis`): the core's side. The shared queue and the bus
//! between nodes are effects: the core asks for them with [`ClusterOp`]s and hears back through
//! [`Input::Remote`](super::Input::Remote). It never touches the network.
//!
//! - Peer ids carry their node in the top 16 bits, so anyone can tell where a peer lives.
//! - In cluster mode the core never matches on its own: each search becomes a
//!   [`ClusterOp::Search`], which the shared queue answers by claiming the oldest compatible
//!   stranger atomically (on any node) or by keeping the searcher. A claim comes back as
//!   [`Remote::Matched`] for both sides; a side that is no longer searching answers
//!   [`Remote::Refused`], and the other searches again.
//! - Between partners on different nodes, relay, departures and refusals travel as [`Remote`]
//!   messages; a node delivers one only for a pair its own core holds.

use strangers_shared::{LeaveReason, PeerId, Role, ServerMsg};

pub use super::cluster_msgs::{ClusterEvent, ClusterOp, Join, Keys, Rejoin, Remote, Search};
use super::moderation::Met;
use super::safety::StoreOp;
use super::{Core, Output, State, TextFrame};

/// Most refusals kept for matches that have not arrived yet.
const MAX_EARLY_REFUSALS: usize = 4096;

/// Bits of a peer id that hold its node.
pub const NODE_SHIFT: u32 = 48;

/// The node a peer lives on (0 without a cluster).
pub fn node_of(peer: PeerId) -> u16 {
    (peer.0 >> NODE_SHIFT) as u16
}

/// The first peer id of a node's range.
pub fn first_id(node: u16) -> u64 {
    (u64::from(node) << NODE_SHIFT) | 1
}

impl super::Peer {
    /// What other nodes may know of this peer: its keys and its session.
    pub(super) fn keys(&self) -> Keys {
        Keys { sid: self.sid, ..self.who.keys() }
    }
}

impl Core {
    /// Whether the core runs as a node of a cluster.
    pub(super) fn clustered(&self) -> bool {
        self.cfg.node.is_some()
    }

    /// Whether `peer` lives on this node.
    pub(super) fn is_local(&self, peer: PeerId) -> bool {
        self.cfg.node.is_none_or(|n| node_of(peer) == n)
    }

    /// Hand a searcher to the shared queue (cluster mode's `try_match`).
    pub(super) fn cluster_search(&mut self, peer: PeerId) {
        let now = self.now;
        let Some(p) = self.peers.get(&peer) else { return };
        let (State::Searching { since, .. }, Some(prefs)) = (&p.state, &p.prefs) else { return };
        let mut exclude = Vec::new();
        for (who, until) in [p.avoid, p.failed_with].into_iter().flatten() {
            if now.mono < until {
                exclude.push(format!("p:{}", who.0));
            }
        }
        exclude.extend(self.ledger.blocked_by(p.who.ident, now.unix_ms).map(|k| format!("k:{k}")));
        let op = ClusterOp::Search(Search {
            peer,
            mode: prefs.mode,
            tags: prefs.interests.clone(),
            open: self.open_to_anyone(*since, prefs),
            exclude,
            keys: p.keys(),
        });
        self.out.push_back(Output::Cluster(op));
    }

    /// Send a frame from `from` to its partner `to`, wherever it is.
    pub(super) fn send_to_partner(&mut self, from: PeerId, to: PeerId, frame: TextFrame) {
        if self.is_local(to) {
            self.send_frame(to, frame);
        } else {
            self.stats.relayed += 1;
            let frame = frame.as_str().to_owned();
            self.tell(Remote::Relay { to, from, frame });
        }
    }

    /// Tell a partner on another node that `from` left.
    pub(super) fn remote_left(&mut self, from: PeerId, to: PeerId, reason: LeaveReason) {
        self.tell(Remote::Left { to, from, reason });
    }

    /// Send a message between nodes: one for this node is handled at once, any other goes out
    /// through the cluster.
    pub(super) fn tell(&mut self, msg: Remote) {
        if self.cfg.node.is_some_and(|n| msg.node() == n) {
            self.remote(msg);
        } else {
            self.out.push_back(Output::Cluster(ClusterOp::Send(msg)));
        }
    }

    /// A message from another node (or from the shared queue) for one of ours.
    pub(super) fn remote(&mut self, msg: Remote) {
        let to = match &msg {
            Remote::Matched { to, .. }
            | Remote::Refused { to, .. }
            | Remote::Left { to, .. }
            | Remote::Relay { to, .. } => *to,
            _ => return self.room_remote(msg),
        };
        let state = self.peers.get(&to).map(|p| p.state.clone());
        match msg {
            Remote::Matched { from, role, mode, common, keys, .. } => {
                // The other side already refused this match (its refusal overtook the match):
                // it is void, and `to`, whose place the claim took, searches again.
                if self.refused.remove(&(to, from)) {
                    return self.cluster_search(to);
                }
                let searching = matches!(state, Some(State::Searching { .. }))
                    && self.peers.get(&to).and_then(|p| p.prefs.as_ref()).is_some_and(|p| p.mode == mode);
                if !searching {
                    return self.refuse_match(to, from);
                }
                self.dequeue_locally(to);
                let call = self.new_call();
                let met = Met::remote(from, call, keys);
                if let Some(p) = self.peers.get_mut(&to) {
                    p.state = State::Paired { partner: from };
                    p.who.last = Some(Box::new(met));
                    p.avoid = None;
                }
                self.out.push_back(Output::Searching { peer: to, searching: false });
                if role == Role::Offerer {
                    self.stats.matches += 1;
                }
                let token = self.token_for(to);
                let matched =
                    ServerMsg::Matched { role, mode, common_interests: common, resume: token, call: Some(call) };
                self.send(to, &matched);
            }
            Remote::Refused { from, .. } => {
                if state == Some(State::Paired { partner: from }) {
                    if let Some(p) = self.peers.get_mut(&to) {
                        p.state = State::Idle;
                    }
                    self.send(to, &ServerMsg::PartnerLeft { reason: LeaveReason::Disconnected });
                    self.enqueue(to);
                } else if matches!(state, Some(State::Searching { .. })) {
                    // The match it refuses has not reached `to` yet: remember, so that it is
                    // void when it does. Bounded: a match that never comes is forgotten in bulk.
                    if self.refused.len() >= MAX_EARLY_REFUSALS {
                        self.refused.clear();
                    }
                    self.refused.insert((to, from));
                }
            }
            Remote::Left { from, reason, .. } if state == Some(State::Paired { partner: from }) => {
                if let Some(p) = self.peers.get_mut(&to) {
                    p.state = State::Idle;
                }
                self.send(to, &ServerMsg::PartnerLeft { reason });
                self.enqueue(to);
            }
            Remote::Relay { from, frame, .. } if state == Some(State::Paired { partner: from }) => {
                self.send_frame(to, TextFrame::text(frame));
            }
            _ => {}
        }
    }

    /// Something about the cluster itself (see [`ClusterEvent`]).
    pub(super) fn cluster_event(&mut self, event: ClusterEvent) {
        match event {
            ClusterEvent::NodeDown(node) => {
                let orphans: Vec<(PeerId, PeerId)> = self
                    .peers
                    .iter()
                    .filter_map(|(id, p)| match p.state {
                        State::Paired { partner } if node_of(partner) == node && !self.is_local(partner) => {
                            Some((*id, partner))
                        }
                        _ => None,
                    })
                    .collect();
                for (peer, partner) in orphans {
                    if self.orphan(peer, partner) {
                        continue;
                    }
                    self.remote(Remote::Left { to: peer, from: partner, reason: LeaveReason::Disconnected });
                    // Should the node be alive after all, its side ends too: no pair is left
                    // one-sided.
                    let left = Remote::Left { to: partner, from: peer, reason: LeaveReason::Disconnected };
                    self.tell(left);
                }
                self.rooms_node_down(node);
            }
            ClusterEvent::JoinFailed(peer) => self.join_failed(peer),
            ClusterEvent::SearchFailed(peer) => {
                if matches!(self.peers.get(&peer).map(|p| &p.state), Some(State::Searching { .. })) {
                    self.dequeue_quietly(peer);
                    let text = "matching is unavailable for a moment; calls in progress go on. Try again shortly";
                    self.error(peer, strangers_shared::ErrorCode::Unavailable, text.into());
                }
            }
            ClusterEvent::Reset => {
                self.cluster_event(ClusterEvent::Back);
                let (blocks, bans) = self.ledger.kept(self.now.unix_ms);
                let ops = blocks.into_iter().map(StoreOp::Block).chain(bans.into_iter().map(StoreOp::Ban));
                for op in ops {
                    self.out.push_back(Output::Cluster(ClusterOp::Share(op)));
                }
            }
            ClusterEvent::Back => {
                let searching: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| matches!(p.state, State::Searching { .. }))
                    .map(|(id, _)| *id)
                    .collect();
                for peer in searching {
                    self.cluster_search(peer);
                }
                for room in self.rooms.keys() {
                    self.out.push_back(Output::Cluster(ClusterOp::Claim { room: room.clone() }));
                }
            }
        }
    }

    /// Take a searcher out of this node's queue without asking the shared queue to drop it
    /// (it could not be reached).
    fn dequeue_quietly(&mut self, peer: PeerId) {
        self.leave_local_queue(peer);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
        }
        self.out.push_back(Output::Searching { peer, searching: false });
    }

    /// Take a searcher out of this node's own queue and timers only.
    fn leave_local_queue(&mut self, peer: PeerId) {
        let Some((mode, entry)) = self.peers.get(&peer).and_then(|p| self.queue_entry(p)) else { return };
        self.unschedule(peer);
        let q = &mut self.queues[super::mode_index(mode)];
        if q.get(entry.seq) == Some(peer) {
            q.remove(&entry);
        }
    }

    /// `from` was matched with our `to`, who is no longer searching.
    fn refuse_match(&mut self, to: PeerId, from: PeerId) {
        self.tell(Remote::Refused { to: from, from: to });
    }

    /// Take a searcher out of this node's own queue and timers (the shared queue already let it
    /// go).
    fn dequeue_locally(&mut self, peer: PeerId) {
        self.leave_local_queue(peer);
        if let Some(since) = self.peers.get(&peer).and_then(|p| match p.state {
            State::Searching { since, .. } => Some(since),
            _ => None,
        }) {
            self.stats.match_wait.observe(self.now.mono.saturating_sub(since));
        }
    }
}
