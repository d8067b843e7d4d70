//! Links in the core: opening and closing them, what their events mean, failures, and the
//! rebuild of a broken room link.

use strangers_shared::{ClientMsg, LeaveReason, NextReason, PeerId, Relay};

use super::rebuild::RebuildStep;
use super::{EngineCore, LinkId, LinkInput, LinkSlot, MediaSwitch, Output};
use crate::call::error::CallError;
use crate::call::privacy::{candidate_type, has_udp_turn};
use crate::call::state::CallState;
use crate::engine::{Event, Who, offers_to};

impl Who {
    /// The `to` of relayed signaling (random partners need none).
    pub(crate) fn to(self) -> Option<PeerId> {
        match self {
            Who::Partner => None,
            Who::Member(id) => Some(id),
        }
    }
}

impl EngineCore {
    /// Open a fresh link to `who`, replacing any old one; if `offer`, the task makes an offer.
    pub(super) fn open_link(&mut self, who: Who, offer: bool) {
        self.close_link(who);
        self.next_link += 1;
        let id = LinkId(self.next_link);
        let slot = LinkSlot {
            id,
            offerer: offer,
            connected: false,
            negotiated: false,
            opened: self.now.mono,
            outage: None,
            relayed: false,
        };
        self.links.insert(who, slot);
        tracing::debug!(?who, link = id.0, offer, "link opened");
        // A stranger does not learn which network we are on; room members (people who share a
        // room name) may be on ours, and a host path is what they need then.
        let hide_host = who == Who::Partner && !self.ice_servers.is_empty();
        let (ice_servers, relay_only) = (self.ice_servers.clone(), self.relay_only);
        self.out.push_back(Output::OpenLink { id, who, offer, ice_servers, hide_host, relay_only });
    }

    /// Forget the link to `who` and have the task tear it down.
    pub(super) fn close_link(&mut self, who: Who) {
        if let Some(slot) = self.links.remove(&who) {
            self.out.push_back(Output::CloseLink { id: slot.id, who });
        }
    }

    /// Close every link (and stop rebuilding any).
    pub(super) fn close_all_links(&mut self) {
        self.rebuilds.clear();
        let all: Vec<Who> = self.links.keys().copied().collect();
        for who in all {
            self.close_link(who);
        }
    }

    fn who_of(&self, id: LinkId) -> Option<Who> {
        self.links.iter().find(|(_, l)| l.id == id).map(|(w, _)| *w)
    }

    pub(super) fn link_input(&mut self, id: LinkId, event: LinkInput) {
        // A closed link's late event means nothing any more.
        let Some(who) = self.who_of(id) else { return };
        match event {
            LinkInput::LocalDescription(sdp) => {
                let Some(slot) = self.links.get_mut(&who) else { return };
                let relay = Relay { to: who.to(), sdp: Some(sdp), ..Relay::default() };
                if slot.offerer {
                    self.signal(ClientMsg::Offer(relay));
                } else {
                    slot.negotiated = true;
                    self.signal(ClientMsg::Answer(relay));
                }
            }
            LinkInput::LocalCandidate(candidate) => {
                let line = candidate.get("candidate").and_then(|c| c.as_str()).unwrap_or_default();
                if candidate_type(line) == Some("relay")
                    && let Some(slot) = self.links.get_mut(&who)
                {
                    slot.relayed = true;
                }
                let relay = Relay { to: who.to(), candidate: Some(candidate), ..Relay::default() };
                self.signal(ClientMsg::Candidate(relay));
            }
            LinkInput::Connected => {
                let Some(slot) = self.links.get_mut(&who) else { return };
                if slot.connected {
                    return self.path_back(who);
                }
                slot.connected = true;
                self.out.push_back(Output::StartSending { id });
                // The new partner needs a keyframe to start decoding. The encoder also notices new
                // listeners, but not when an old link closed in the same frame (Next).
                self.media(MediaSwitch::Keyframe);
                match who {
                    Who::Partner => self.set_state(CallState::Connected),
                    Who::Member(member) => self.rebuilds.connected(member),
                }
            }
            LinkInput::Down(state) => {
                let was_connected = self.links.get(&who).is_some_and(|l| l.connected);
                if !was_connected {
                    // It never worked: that is a failed call, not a partner who left.
                    return self.fail(who, &CallError::NeverConnected(state));
                }
                // A random call's path went down: restart ICE with the same partner (a partner
                // who really left is announced by the server, or the restart runs out of time).
                // A closed connection is not coming back.
                if who == Who::Partner && state != "Closed" && self.state.in_call() {
                    return self.path_lost(&state);
                }
                // A room member is still listed: rebuild its link.
                self.close_link(who);
                match who {
                    Who::Member(member) => self.member_link_lost(member),
                    Who::Partner if self.state.in_call() => {
                        self.set_state(CallState::PartnerLeft { reason: LeaveReason::Disconnected });
                        self.search_again(false);
                    }
                    Who::Partner => {}
                }
            }
            LinkInput::Failed(error) => self.fail(who, &error),
        }
    }

    /// In random chat, skip to someone else after a call that broke. `failed`: it could not be
    /// set up, or its partner stopped responding, so the server keeps the two apart for minutes.
    pub(super) fn search_again(&mut self, failed: bool) {
        if let Some(mode) = self.searching_mode() {
            self.signal(ClientMsg::Next { reason: failed.then_some(NextReason::Failed) });
            self.set_state(CallState::Searching { mode });
        }
    }

    /// A call step failed: tell the user, drop the link and look for someone else (or, in a
    /// room, try that member again).
    pub(super) fn fail(&mut self, who: Who, error: &CallError) {
        // A call that found no path while the relay gave us nothing: that is the reason to give.
        let no_path = matches!(error, CallError::SetupTimeout(_) | CallError::NeverConnected(_));
        let relay_missing = has_udp_turn(&self.ice_servers) && self.links.get(&who).is_some_and(|l| !l.relayed);
        let error = if no_path && relay_missing { &CallError::RelayUnavailable } else { error };
        tracing::warn!(?who, %error, "call failed");
        self.emit(Event::Error(format!("call failed: {error}")));
        self.close_link(who);
        match who {
            Who::Member(member) => self.member_link_lost(member),
            Who::Partner => {
                self.set_state(CallState::Failed { error: error.to_string() });
                self.search_again(true);
            }
        }
    }

    /// The link to a room member broke while the member is still listed: rebuild it (see
    /// [`super::rebuild`]), or drop the member from view once out of attempts.
    fn member_link_lost(&mut self, member: PeerId) {
        let we_offer = self.me.is_some_and(|me| offers_to(me, member));
        match self.rebuilds.lost(member, we_offer, self.now.mono) {
            RebuildStep::OfferAt(at) => {
                let in_ms = at.saturating_duration_since(self.now.mono).as_millis();
                tracing::info!(%member, in_ms, "offering again");
            }
            RebuildStep::Wait => tracing::info!(%member, "link lost; waiting for the member's new offer"),
            RebuildStep::GiveUp => self.give_up_member(member),
        }
    }

    fn give_up_member(&mut self, member: PeerId) {
        tracing::warn!(%member, "could not rebuild the link; dropping the member from view");
        self.close_link(Who::Member(member));
        if let Some(room) = &mut self.room {
            room.members.remove(&member);
        }
        self.emit(Event::Error(format!("lost the connection to member {member}")));
        self.emit(Event::MemberLeft(member));
    }

    /// Carry out rebuilds that fell due: new offers, and members given up on.
    pub(super) fn run_rebuilds(&mut self) {
        let due = self.rebuilds.take_due(self.now.mono);
        for member in due.give_up {
            self.give_up_member(member);
        }
        for member in due.offer {
            if self.is_member(member) {
                self.open_link(Who::Member(member), true);
            }
        }
    }

    /// Whether `id` is another member of our room.
    pub(super) fn is_member(&self, id: PeerId) -> bool {
        self.room.as_ref().is_some_and(|r| r.members.contains(&id))
    }
}
