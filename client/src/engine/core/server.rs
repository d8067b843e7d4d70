//! What the core makes of the server's messages. Everything here is untrusted in the sense that
//! matters: a relayed offer, answer or candidate carries what the partner wrote, so the core
//! checks who it can be from before it acts. Outside a room there is only the partner (`from` is
//! refused); in a room, only a listed member, and never more members than the room holds.

use std::time::Duration;

use strangers_shared::{Member, Mode, PeerId, Role, ServerMsg};

use super::{EngineCore, Intent, Output, RoomView};
use crate::call::state::CallState;
use crate::engine::{Event, Who, offers_to};

impl EngineCore {
    /// Who a relayed message is from, if it may be from anyone at all: the partner when we are
    /// not in a room and the message names nobody; a listed member when we are in one.
    fn sender(&self, from: Option<PeerId>) -> Option<Who> {
        match (from, &self.room) {
            (None, None) => Some(Who::Partner),
            (Some(id), Some(room)) if room.members.contains(&id) => Some(Who::Member(id)),
            _ => {
                tracing::debug!(?from, in_room = self.room.is_some(), "message from nobody we know; ignored");
                None
            }
        }
    }

    pub(super) fn server_message(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Waiting { mode, online, searching } => {
                self.emit(Event::Waiting { online, searching });
                if self.searching_mode().is_some() && !self.state.in_call() {
                    self.set_state(CallState::Searching { mode });
                }
            }
            ServerMsg::Matched { role, mode, common_interests, resume, call } => {
                if resume.is_some() {
                    self.token = resume;
                }
                if self.searching_mode().is_some() {
                    self.call = call;
                    if let Some(call) = call {
                        self.emit(Event::Call(call));
                    }
                }
                self.matched(role, mode, common_interests);
            }
            ServerMsg::PartnerLeft { reason } => {
                if self.room.is_none() {
                    self.close_link(Who::Partner);
                    self.set_state(CallState::PartnerLeft { reason });
                }
            }
            ServerMsg::Offer { from, sdp } => {
                if let Some(who) = self.sender(from) {
                    self.offer(who, sdp);
                }
            }
            ServerMsg::Answer { from, sdp } => {
                let Some(who) = self.sender(from) else { return };
                match self.links.get_mut(&who) {
                    Some(slot) if slot.offerer && !slot.negotiated => {
                        slot.negotiated = true;
                        let id = slot.id;
                        self.out.push_back(Output::ApplyAnswer { id, sdp });
                    }
                    _ => tracing::debug!(?who, "answer we did not ask for; ignored"),
                }
            }
            ServerMsg::Candidate { from, candidate } => {
                let Some(who) = self.sender(from) else { return };
                if let Some(slot) = self.links.get(&who) {
                    self.out.push_back(Output::AddCandidate { id: slot.id, candidate });
                }
            }
            ServerMsg::Chat { from, text, ts } => {
                if let Some(who) = self.sender(from) {
                    self.emit(Event::Chat { from: who, text, ts, mine: false });
                }
            }
            ServerMsg::Typing { from, active } => {
                if let Some(who) = self.sender(from) {
                    self.emit(Event::Typing { from: who, active });
                }
            }
            ServerMsg::MediaState { from, audio, video } => {
                if let Some(who) = self.sender(from) {
                    self.emit(Event::MediaState { from: who, audio, video });
                }
            }
            ServerMsg::Joined { room, you, capacity, members } => self.joined(room.0, you, capacity, members),
            ServerMsg::PeerJoined { peer, .. } => self.peer_joined(peer),
            ServerMsg::PeerLeft { peer, .. } => {
                let Some(room) = &mut self.room else { return };
                if room.members.remove(&peer) {
                    self.rebuilds.forget(peer);
                    self.close_link(Who::Member(peer));
                    self.emit(Event::MemberLeft(peer));
                }
            }
            ServerMsg::Error { code, message, retry_in_ms, until_ms } => {
                if self.refused(code, until_ms) {
                    return;
                }
                self.emit(Event::Error(format!("server: {message} ({})", code.as_str())));
                // Paused for skipping too fast: look again when the pause is over, if the user
                // still wants to.
                if code == strangers_shared::ErrorCode::SlowDown
                    && let Some(ms) = retry_in_ms
                {
                    self.search_retry = Some(self.now.mono + Duration::from_millis(ms.min(600_000)));
                }
            }
            ServerMsg::PartnerResumed => self.restart_again(),
            ServerMsg::Reported => self.emit(Event::Reported),
            ServerMsg::Blocked => self.emit(Event::Blocked),
            ServerMsg::Welcome { .. } | ServerMsg::Ready { .. } => {}
        }
    }

    fn matched(&mut self, role: Role, mode: Mode, common: Vec<String>) {
        if self.searching_mode().is_none() {
            tracing::debug!("matched while not searching; ignored");
            return;
        }
        tracing::debug!(?role, ?mode, "matched");
        self.close_link(Who::Partner);
        self.set_state(CallState::Matched { role, mode, common });
        self.signal(self.media_state());
        if mode == Mode::Text {
            self.set_state(CallState::Connected);
            return;
        }
        self.set_state(CallState::Connecting);
        self.open_link(Who::Partner, role == Role::Offerer);
    }

    /// An offer from the partner or a member. Only the answering side of a pair takes offers
    /// (the server picks the partner's roles, ids pick the members'), so there is never glare.
    fn offer(&mut self, who: Who, sdp: String) {
        match who {
            Who::Partner => match self.links.get(&who) {
                // An offer on a call that is up is the partner restarting ICE: its path broke,
                // even if ours has not noticed yet.
                Some(slot) if !slot.offerer && slot.connected => self.path_lost(super::restart::RESTART_OFFER),
                Some(slot) if !slot.offerer => {}
                Some(_) => return tracing::debug!("offer from the partner we offer to; ignored"),
                None => return tracing::debug!("offer with no call; ignored"),
            },
            Who::Member(member) => {
                if self.me.is_some_and(|me| offers_to(me, member)) {
                    return tracing::debug!(%member, "offer from a member we offer to; ignored");
                }
                if self.rebuilds.abandoned(member) {
                    return tracing::debug!(%member, "offer from a member given up on; ignored");
                }
                self.rebuilds.offer_arrived(member);
                // A member's first offer, or a new one after its link broke (it may notice before
                // we do): a fresh link either way.
                if self.links.get(&who).is_none_or(|l| l.negotiated) {
                    self.open_link(who, false);
                }
            }
        }
        if let Some(slot) = self.links.get(&who) {
            self.out.push_back(Output::ApplyOffer { id: slot.id, sdp });
        }
    }

    fn joined(&mut self, room: String, you: PeerId, capacity: u8, members: Vec<Member>) {
        if !matches!(self.intent, Intent::Room { .. }) {
            tracing::debug!("joined a room we did not ask for; ignored");
            return;
        }
        self.me = Some(you);
        self.close_all_links();
        let seats = usize::from(capacity.saturating_sub(1));
        let members: Vec<Member> = members.into_iter().filter(|m| m.id != you).take(seats).collect();
        self.room = Some(RoomView { members: members.iter().map(|m| m.id).collect(), capacity });
        self.emit(Event::RoomJoined { room, you, members: members.clone() });
        for m in members {
            self.open_link(Who::Member(m.id), offers_to(you, m.id));
        }
    }

    fn peer_joined(&mut self, peer: Member) {
        let Some(me) = self.me else { return };
        let Some(room) = &mut self.room else { return };
        let id = peer.id;
        if id == me || room.members.contains(&id) {
            return;
        }
        if room.members.len() + 1 >= usize::from(room.capacity) {
            return tracing::warn!(%id, capacity = room.capacity, "more members than the room holds; ignored");
        }
        room.members.insert(id);
        self.rebuilds.forget(id);
        self.emit(Event::MemberJoined(peer));
        if offers_to(me, id) {
            self.open_link(Who::Member(id), true);
        }
    }
}
