//! Named rooms across nodes (with `--redis`). Each room lives on one node, its **home**, which
//! runs it exactly as a single server would: capacity, kinds, membership and every relay are
//! decided there, so `room_full` holds cluster-wide. The registry (`cluster/room.lua`) names
//! each room's home: the node a join for it reached first, or any node once the home stopped
//! beating.
//!
//! - A join goes to the home ([`ClusterOp::Route`] → [`Remote::Join`]). At the home, a member
//!   from another node is a **ghost**: it has no connection there, and what the room sends it
//!   travels back as [`Remote::RoomFrame`].
//! - On the member's own node it is **away**: its messages for the room go to the home as
//!   [`Remote::RoomIn`] (after this node's own rate limit), and its departure as
//!   [`Remote::RoomLeave`]. The home tells it the other members ([`Remote::RoomRoster`]), so
//!   that if the home dies the member hears `peer_left` for each of them.
//! - Anything a home says about someone who is not (or no longer) in that room here is answered
//!   with a leave, so a ghost never outlives its member.

use serde::{Deserialize, Serialize};
use strangers_shared::{ClientMsg, ErrorCode, LeaveReason, PeerId, RoomName, ServerMsg, decode_client, encode};

use super::cluster::{ClusterOp, Remote, node_of};
use super::relay::Kind;
use super::{Core, Output, State, TextFrame};

/// How many times a join is routed again (its home emptied the room as it arrived) before the
/// joiner is told to try again.
const MAX_HOPS: u8 = 3;

/// A join, as the joiner's node hands it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The joiner.
    pub peer: PeerId,
    /// The room.
    pub room: RoomName,
    /// Its display name (mesh rooms), as given.
    pub name: Option<String>,
    /// The capacity it asked for (mesh rooms), as given.
    pub capacity: Option<u8>,
    /// Its media state.
    pub audio: bool,
    /// Its media state.
    pub video: bool,
    /// How many times it was routed again.
    pub hops: u8,
}

/// A member of a room homed here that lives on another node.
#[derive(Debug, Clone)]
pub(super) struct Ghost {
    pub(super) room: RoomName,
    pub(super) audio: bool,
    pub(super) video: bool,
}

/// One of ours in a room homed on another node, or on its way into a room.
#[derive(Debug, Clone)]
pub(super) struct Away {
    join: Join,
    /// The room's home, once it has answered.
    home: Option<u16>,
    /// The other members, as the home last said.
    roster: Vec<PeerId>,
    /// A media state the client sent before the home answered (it is for "any state", so it
    /// is kept, not refused), passed on once the home is known.
    media: Option<(bool, bool)>,
}

impl Core {
    fn node_id(&self) -> u16 {
        self.cfg.node.unwrap_or(0)
    }

    /// Forget `peer`'s away entry. A burst of joins fills the map for a moment (each waits for
    /// the registry): its room is given back once it is mostly empty.
    fn unaway(&mut self, peer: &PeerId) -> Option<Away> {
        let gone = self.away.remove(peer);
        if self.away.capacity() > 256 && self.away.len() * 4 < self.away.capacity() {
            self.away.shrink_to(self.away.len() * 2);
        }
        gone
    }

    /// The room `peer` is in here: as a local member (whatever its home) or as a ghost.
    pub(super) fn room_of(&self, peer: PeerId) -> Option<&RoomName> {
        match self.peers.get(&peer).map(|p| &p.state) {
            Some(State::InRoom { room }) => Some(room),
            _ => self.ghosts.get(&peer).map(|g| &g.room),
        }
    }

    /// Cluster mode's join: the peer counts as in the room from now (it cannot search or join
    /// twice meanwhile), and the join goes to the room's home.
    pub(super) fn route_join(&mut self, join: Join) {
        if let Some(p) = self.peers.get_mut(&join.peer) {
            p.state = State::InRoom { room: join.room.clone() };
        }
        self.away.insert(join.peer, Away { join: join.clone(), home: None, roster: Vec::new(), media: None });
        self.out.push_back(Output::Cluster(ClusterOp::Route(join)));
    }

    /// A relay from one of ours whose room is homed elsewhere goes there. Returns whether it
    /// was taken care of here (forwarded or refused).
    pub(super) fn forward_to_home(&mut self, peer: PeerId, msg: &ClientMsg, frame: &TextFrame) -> bool {
        let media = match msg {
            ClientMsg::MediaState { audio, video } => Some((*audio, *video)),
            ClientMsg::Offer(_)
            | ClientMsg::Answer(_)
            | ClientMsg::Candidate(_)
            | ClientMsg::Chat { .. }
            | ClientMsg::Typing { .. } => None,
            _ => return false,
        };
        let Some(a) = self.away.get_mut(&peer) else { return false };
        match (a.home, media) {
            (Some(home), _) => {
                let (room, frame) = (a.join.room.clone(), frame.as_str().to_owned());
                self.tell(Remote::RoomIn { home, from: peer, room, frame });
            }
            (None, Some((audio, video))) => {
                a.media = Some((audio, video));
                if let Some(p) = self.peers.get_mut(&peer) {
                    (p.audio, p.video) = (audio, video);
                }
            }
            (None, None) => {
                self.error(peer, ErrorCode::NotInRoom, "still joining the room; wait until you are in".into());
            }
        }
        true
    }

    /// One of ours leaves a room homed elsewhere. Returns false when it is in none.
    pub(super) fn leave_away(&mut self, peer: PeerId, reason: LeaveReason) -> bool {
        let Some(a) = self.unaway(&peer) else { return false };
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
        }
        // A join still on its way is answered, when it lands, with a leave (see `heard_from_home`).
        if let Some(home) = a.home {
            self.tell(Remote::RoomLeave { home, from: peer, room: a.join.room, reason });
        }
        true
    }

    /// Whether `to` is ours, in `room`, homed at `home` (learnt from the home's first word).
    /// Anyone else is out of that room as far as the home is concerned: it is told so.
    fn heard_from_home(&mut self, to: PeerId, room: &RoomName, home: u16) -> bool {
        let (known, media) = match self.away.get_mut(&to) {
            Some(a) if a.join.room == *room && a.home.is_none_or(|h| h == home) => {
                a.home = Some(home);
                (true, a.media.take())
            }
            _ => (false, None),
        };
        if let Some((audio, video)) = media {
            let frame = encode(&ClientMsg::MediaState { audio, video });
            self.tell(Remote::RoomIn { home, from: to, room: room.clone(), frame });
        }
        if !known {
            let leave = Remote::RoomLeave { home, from: to, room: room.clone(), reason: LeaveReason::Disconnected };
            self.tell(leave);
        }
        known
    }

    /// A room message between nodes (the pair messages are `cluster.rs`'s).
    pub(super) fn room_remote(&mut self, msg: Remote) {
        match msg {
            Remote::Join { fresh, join, .. } => self.join_at_home(fresh, join),
            Remote::RoomIn { from, room, frame, .. } => self.room_in(from, &room, frame),
            Remote::RoomLeave { from, room, reason, .. } => {
                if self.ghosts.get(&from).is_some_and(|g| g.room == room) {
                    self.leave_room(from, &room, reason);
                }
            }
            Remote::RoomFrame { to, room, home, frame } => {
                if self.heard_from_home(to, &room, home) {
                    self.send_frame(to, TextFrame::text(frame));
                }
            }
            Remote::RoomRoster { to, room, home, roster } => {
                if self.heard_from_home(to, &room, home)
                    && let Some(a) = self.away.get_mut(&to)
                {
                    a.roster = roster;
                }
            }
            Remote::RoomGone { to, room, home, frame } => {
                if self.away.get(&to).is_some_and(|a| a.join.room == room && a.home.is_none_or(|h| h == home)) {
                    self.unaway(&to);
                    if let Some(p) = self.peers.get_mut(&to) {
                        p.state = State::Idle;
                    }
                    if let Some(frame) = frame {
                        self.send_frame(to, TextFrame::text(frame));
                    }
                }
            }
            other => self.resume_remote(other),
        }
    }

    /// A join reached this node as the room's home.
    fn join_at_home(&mut self, fresh: bool, join: Join) {
        if !self.rooms.contains_key(&join.room) && !fresh {
            // This node was the home, but the room emptied as the join travelled: ask again.
            if join.hops >= MAX_HOPS {
                let text = "could not reach the room just now; try again".to_string();
                return self.refuse_member(join.peer, &join.room, ErrorCode::Unavailable, text);
            }
            let join = Join { hops: join.hops + 1, ..join };
            return self.out.push_back(Output::Cluster(ClusterOp::Route(join)));
        }
        if self.is_local(join.peer) {
            // Still waiting for this very join? It may have left or moved on meanwhile.
            let waiting = self.away.get(&join.peer).is_some_and(|a| a.join.room == join.room && a.home.is_none());
            if !waiting {
                return;
            }
            self.unaway(&join.peer);
        } else if let Some(g) = self.ghosts.get(&join.peer) {
            if g.room == join.room {
                // Routed twice (after a node went down): it is in already; say who is here.
                return self.send_rosters(&join.room);
            }
            let old = g.room.clone();
            self.leave_room(join.peer, &old, LeaveReason::Stopped);
        }
        self.admit_member(join);
    }

    /// A member's message that reached its room's home.
    fn room_in(&mut self, from: PeerId, room: &RoomName, frame: String) {
        if self.ghosts.get(&from).is_none_or(|g| g.room != *room) {
            let gone = Remote::RoomGone { to: from, room: room.clone(), home: self.node_id(), frame: None };
            return self.tell(gone);
        }
        // Its node decoded it already; what fails here was not sent by a client.
        let Ok(msg) = decode_client(&frame) else { return };
        let frame = TextFrame::text(frame);
        match msg {
            ClientMsg::Offer(r) => self.relay_signal(from, Kind::Offer, r, frame),
            ClientMsg::Answer(r) => self.relay_signal(from, Kind::Answer, r, frame),
            ClientMsg::Candidate(r) => self.relay_signal(from, Kind::Candidate, r, frame),
            ClientMsg::Chat { text } => self.chat(from, text),
            ClientMsg::Typing { active } => self.typing(from, active),
            ClientMsg::MediaState { audio, video } => self.media_state(from, audio, video),
            _ => {}
        }
    }

    /// Refuse a join: a local joiner is told here, a ghost through its node.
    pub(super) fn refuse_member(&mut self, peer: PeerId, room: &RoomName, code: ErrorCode, text: String) {
        if self.is_local(peer) {
            self.unaway(&peer);
            if let Some(p) = self.peers.get_mut(&peer)
                && p.state == (State::InRoom { room: room.clone() })
            {
                p.state = State::Idle;
            }
            return self.error(peer, code, text);
        }
        self.stats.count_error(code);
        let frame = encode(&ServerMsg::Error { code, message: text, retry_in_ms: None, until_ms: None });
        let gone = Remote::RoomGone { to: peer, room: room.clone(), home: self.node_id(), frame: Some(frame) };
        self.tell(gone);
    }

    /// Tell every ghost member of `room` who else is in it.
    pub(super) fn send_rosters(&mut self, room: &RoomName) {
        let Some(r) = self.rooms.get(room) else { return };
        let ids: Vec<PeerId> = r.members.iter().map(|(id, _)| *id).collect();
        let home = self.node_id();
        let ghosts: Vec<PeerId> = ids.iter().copied().filter(|id| self.ghosts.contains_key(id)).collect();
        for to in ghosts {
            let roster = ids.iter().copied().filter(|id| *id != to).collect();
            self.tell(Remote::RoomRoster { to, room: room.clone(), home, roster });
        }
    }

    /// A frame for a ghost member travels to its node. Returns false for anyone else.
    pub(super) fn send_to_ghost(&mut self, to: PeerId, frame: &TextFrame) -> bool {
        let Some(g) = self.ghosts.get(&to) else { return false };
        let msg =
            Remote::RoomFrame { to, room: g.room.clone(), home: self.node_id(), frame: frame.as_str().to_owned() };
        self.tell(msg);
        true
    }

    /// A node went down: its ghosts leave the rooms here; ours in rooms it was home to are out
    /// (each told `peer_left` for every member it knew of, then why); joins still on their way
    /// are routed again.
    pub(super) fn rooms_node_down(&mut self, node: u16) {
        let ghosts: Vec<(PeerId, RoomName)> =
            self.ghosts.iter().filter(|(id, _)| node_of(**id) == node).map(|(id, g)| (*id, g.room.clone())).collect();
        for (ghost, room) in ghosts {
            self.leave_room(ghost, &room, LeaveReason::Disconnected);
        }
        let lost: Vec<PeerId> = self.away.iter().filter(|(_, a)| a.home == Some(node)).map(|(id, _)| *id).collect();
        for peer in lost {
            let Some(a) = self.unaway(&peer) else { continue };
            if let Some(p) = self.peers.get_mut(&peer) {
                p.state = State::Idle;
            }
            let room = a.join.room;
            for other in a.roster {
                let left = ServerMsg::PeerLeft { room: room.clone(), peer: other, reason: LeaveReason::Disconnected };
                self.send(peer, &left);
            }
            let text = format!("room {:?} closed: its server went away; join it again", room.as_str());
            self.error(peer, ErrorCode::Unavailable, text);
        }
        let pending: Vec<Join> = self.away.values().filter(|a| a.home.is_none()).map(|a| a.join.clone()).collect();
        for join in pending {
            self.out.push_back(Output::Cluster(ClusterOp::Route(join)));
        }
    }

    /// The registry could not be reached for a join.
    pub(super) fn join_failed(&mut self, peer: PeerId) {
        if self.away.get(&peer).is_some_and(|a| a.home.is_none()) {
            self.unaway(&peer);
            if let Some(p) = self.peers.get_mut(&peer) {
                p.state = State::Idle;
            }
            let text = "rooms are unavailable for a moment; try again shortly".to_string();
            self.error(peer, ErrorCode::Unavailable, text);
        }
    }
}
