//! Named rooms: simple two-person rooms that speak the plain `ws` room protocol (`join` → `ready`,
//! verbatim relay) and mesh rooms with members, display names and addressed signaling.

use strangers_shared::{ErrorCode, LeaveReason, Member, PeerId, RoomName, ServerMsg, encode};

use super::cluster::ClusterOp;
use super::cluster_rooms::{Ghost, Join};
use super::{Core, Output, State, TextFrame};

/// Which protocol a room speaks; fixed by whoever creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoomKind {
    /// Two members, `ready` when both are in, relays forwarded verbatim.
    Simple,
    /// Up to `capacity` members, `joined`/`peer_joined`/`peer_left`, signaling addressed `to`.
    Mesh,
}

#[derive(Debug, Clone)]
pub(super) struct Room {
    pub(super) kind: RoomKind,
    pub(super) capacity: u8,
    /// Members in join order, with display names.
    pub(super) members: Vec<(PeerId, String)>,
}

impl Room {
    #[cfg(test)]
    pub(super) fn has(&self, peer: PeerId) -> bool {
        self.members.iter().any(|(id, _)| *id == peer)
    }

    pub(super) fn others(&self, peer: PeerId) -> impl Iterator<Item = PeerId> + '_ {
        self.members.iter().map(|(id, _)| *id).filter(move |id| *id != peer)
    }
}

impl Core {
    pub(super) fn join(&mut self, peer: PeerId, room: RoomName, name: Option<String>, capacity: Option<u8>) {
        if !self.may_meet(peer) {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        let refusal = match &p.state {
            State::Idle | State::Resuming { .. } => None,
            State::InRoom { room: r } => Some(format!("already in room {r:?}; send leave first")),
            State::Searching { .. } | State::Paired { .. } => {
                Some("searching or in a call; send stop before joining a room".to_string())
            }
        };
        if let Some(text) = refusal {
            return self.error(peer, ErrorCode::WrongState, text);
        }
        let (audio, video) = (p.audio, p.video);
        let join = Join { peer, room, name, capacity, audio, video, hops: 0 };
        if self.clustered() { self.route_join(join) } else { self.admit_member(join) }
    }

    /// Put a joiner (ours or, at a room's home, a ghost from another node) into its room,
    /// creating the room, or refuse it (`room_full`, `room_kind_mismatch`).
    pub(super) fn admit_member(&mut self, join: Join) {
        let Join { peer, room, name, capacity, audio, video, .. } = join;
        let kind = if name.is_none() && capacity.is_none() { RoomKind::Simple } else { RoomKind::Mesh };
        let name = name.unwrap_or_else(|| format!("Guest {}", peer.0));
        let default_capacity = match kind {
            RoomKind::Simple => 2,
            RoomKind::Mesh => capacity.unwrap_or(self.cfg.room_capacity).min(self.cfg.max_room_capacity),
        };
        let entry = self.rooms.entry(room.clone()).or_insert_with(|| Room {
            kind,
            capacity: default_capacity,
            members: Vec::new(),
        });
        let refusal = if entry.kind != kind {
            let text = match entry.kind {
                RoomKind::Simple => {
                    format!("room {:?} is a simple two-person room; join without a name", room.as_str())
                }
                RoomKind::Mesh => format!("room {:?} is a group room; join with a name", room.as_str()),
            };
            Some((ErrorCode::RoomKindMismatch, text))
        } else if entry.members.len() >= usize::from(entry.capacity) {
            let text = format!("room {:?} is full ({} of {})", room.as_str(), entry.members.len(), entry.capacity);
            Some((ErrorCode::RoomFull, text))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            if entry.members.is_empty() {
                self.rooms.remove(&room);
            }
            return self.refuse_member(peer, &room, code, text);
        }
        entry.members.push((peer, name.clone()));
        let (members, capacity) = (entry.members.clone(), entry.capacity);
        match self.peers.get_mut(&peer) {
            Some(p) => p.state = State::InRoom { room: room.clone() },
            None => {
                self.ghosts.insert(peer, Ghost { room: room.clone(), audio, video });
            }
        }
        match kind {
            RoomKind::Simple => {
                if members.len() == 2 {
                    let frame = TextFrame::text(encode(&ServerMsg::Ready { room: room.clone() }));
                    for (id, _) in members {
                        self.deliver(id, frame.clone());
                    }
                }
            }
            RoomKind::Mesh => {
                let listed: Vec<Member> =
                    members.iter().filter(|(id, _)| *id != peer).map(|(id, n)| self.member(*id, n)).collect();
                let me = self.member(peer, &name);
                self.send(peer, &ServerMsg::Joined { room: room.clone(), you: peer, capacity, members: listed });
                let frame = TextFrame::text(encode(&ServerMsg::PeerJoined { room: room.clone(), peer: me }));
                for (id, _) in members.iter().filter(|(id, _)| *id != peer) {
                    self.deliver(*id, frame.clone());
                }
            }
        }
        self.send_rosters(&room);
    }

    fn member(&self, id: PeerId, name: &str) -> Member {
        let (audio, video) = match self.peers.get(&id) {
            Some(p) => (p.audio, p.video),
            None => self.ghosts.get(&id).map_or((true, true), |g| (g.audio, g.video)),
        };
        Member { id, name: name.to_string(), audio, video }
    }

    pub(super) fn leave(&mut self, peer: PeerId) {
        match self.peers.get(&peer).map(|p| p.state.clone()) {
            Some(State::InRoom { room }) => self.leave_room(peer, &room, LeaveReason::Stopped),
            Some(_) => self.error(peer, ErrorCode::NotInRoom, "not in a room".into()),
            None => {}
        }
    }

    /// Take `peer` out of `room`, telling the others; an empty room is deleted.
    /// A room homed on another node is left through its home (see `cluster_rooms.rs`).
    pub(super) fn leave_room(&mut self, peer: PeerId, room: &RoomName, reason: LeaveReason) {
        if self.leave_away(peer, reason) {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.state = State::Idle;
        }
        self.ghosts.remove(&peer);
        let Some(r) = self.rooms.get_mut(room) else { return };
        r.members.retain(|(id, _)| *id != peer);
        if r.members.is_empty() {
            self.rooms.remove(room);
            if self.clustered() {
                self.out.push_back(Output::Cluster(ClusterOp::Unroute { room: room.clone() }));
            }
            return;
        }
        let others: Vec<PeerId> = r.others(peer).collect();
        let frame = TextFrame::text(encode(&ServerMsg::PeerLeft { room: room.clone(), peer, reason }));
        for id in others {
            self.deliver(id, frame.clone());
        }
        self.send_rosters(room);
    }
}
