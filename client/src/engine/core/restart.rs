//! Surviving a lost media path: when a connected call's link goes down (a network change, Wi-Fi
//! that dropped, a NAT that forgot its mapping), the pair restarts ICE instead of ending the call.
//! Only the side the server made offerer acts: it sends an ICE-restart offer, and another every
//! [`RETRY_EVERY`] while the path stays down (ICE gives a dead path up within about a second, so
//! each round of checks needs a restart of its own); the answerer takes each on the same link.
//! The call goes on with the same partner, without a new match. A call whose path has not come
//! back [`RESTART_DEADLINE`] after it went down ends as a partner who left, and in random chat
//! the engine searches again.

use std::time::{Duration, Instant};

use strangers_shared::LeaveReason;

use super::{EngineCore, Output};

/// The reason [`EngineCore::path_lost`] is given when the partner's restart offer arrives.
pub(super) const RESTART_OFFER: &str = "the partner restarts ICE";
use crate::call::state::CallState;
use crate::engine::{Event, Who};

/// How long a lost path may take to come back before the call ends.
pub const RESTART_DEADLINE: Duration = Duration::from_secs(20);

/// How long the offerer waits for the answer to a restart offer, and the answerer for the next
/// restart offer, before taking the partner for gone (a frozen or crashed client answers
/// nothing; a live one answers over signaling in a round trip).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(3);

/// How often the offerer restarts ICE while the path stays down: about the time a restart
/// takes to give up on dead paths, so a path that comes back is found within about this long.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// An outage of a connected link's media path.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outage {
    /// When the path went down.
    pub(super) since: Instant,
    /// When the last restart offer went out (offerer) or came in (answerer).
    pub(super) offered: Option<Instant>,
}

impl EngineCore {
    /// The connected partner link's path went down: restart ICE (or, as the answerer, wait for
    /// the restart offer).
    pub(super) fn path_lost(&mut self, state: &str) {
        let now = self.now.mono;
        let Some(slot) = self.links.get_mut(&Who::Partner) else { return };
        let fresh = slot.outage.is_none();
        let outage = slot.outage.get_or_insert(Outage { since: now, offered: None });
        // One restart per signaling round trip: an answer to an older offer would not fit a
        // newer one.
        let answered = outage.offered.is_none() || slot.negotiated;
        let may_offer = slot.offerer && answered && outage.offered.is_none_or(|t| now >= t + RETRY_EVERY);
        if !slot.offerer && state == RESTART_OFFER {
            outage.offered = Some(now);
        }
        if may_offer {
            outage.offered = Some(now);
            // The answer to the restart offer is a new one to wait for.
            slot.negotiated = false;
            let id = slot.id;
            tracing::info!(state, "media path lost; restarting ICE");
            self.out.push_back(Output::RestartIce { id });
        } else if fresh {
            tracing::info!(state, "media path lost; waiting for the partner's ICE restart");
        }
        if fresh {
            self.emit(Event::Reconnecting(Who::Partner));
            // The network change that broke the path may have killed the signaling connection
            // too, silently: the restart needs it, so find out now rather than at the keepalive.
            self.out.push_back(Output::ProbeSignaling);
        }
    }

    /// A signaling connection (ours or the partner's) was replaced during an outage: a restart
    /// offer or answer in flight may be lost. The offerer offers again at once; the answerer
    /// waits for that offer afresh.
    pub(super) fn restart_again(&mut self) {
        let now = self.now.mono;
        let Some(slot) = self.links.get_mut(&Who::Partner) else { return };
        let Some(outage) = &mut slot.outage else { return };
        if slot.offerer {
            outage.offered = None;
            slot.negotiated = true;
            self.path_lost("signaling replaced");
        } else {
            outage.offered = Some(now);
        }
    }

    /// The link connected again after an outage.
    pub(super) fn path_back(&mut self, who: Who) {
        let Some(slot) = self.links.get_mut(&who) else { return };
        if let Some(outage) = slot.outage.take() {
            let after_ms = self.now.mono.saturating_duration_since(outage.since).as_millis();
            tracing::info!(?who, after_ms, "media path back");
            self.emit(Event::Reconnected(who));
        }
    }

    /// When the current outage, if any, next needs the core: another restart offer, or the end
    /// of the call.
    pub(super) fn restart_deadline(&self) -> Option<Instant> {
        let slot = self.links.get(&Who::Partner)?;
        let outage = slot.outage?;
        let retry = outage.offered.filter(|_| slot.offerer && slot.negotiated).map(|t| t + RETRY_EVERY);
        Some(retry.map_or(self.give_up_at(), |r| r.min(self.give_up_at())))
    }

    /// When the current outage ends the call: at the restart deadline, or earlier when the
    /// partner has gone silent (see [`SILENCE_LIMIT`]).
    fn give_up_at(&self) -> Instant {
        let Some((slot, outage)) = self.links.get(&Who::Partner).and_then(|l| Some((l, l.outage?))) else {
            return self.now.mono;
        };
        if self.resuming {
            // Our own signaling is down: the partner's silence proves nothing yet.
            return outage.since + RESTART_DEADLINE;
        }
        let silent = match (slot.offerer, outage.offered) {
            (true, Some(t)) if !slot.negotiated => t + SILENCE_LIMIT,
            (false, None) => outage.since + SILENCE_LIMIT,
            (false, Some(t)) => t + SILENCE_LIMIT,
            (true, _) => outage.since + RESTART_DEADLINE,
        };
        silent.min(outage.since + RESTART_DEADLINE)
    }

    /// Offer again while the path stays down, and end a call whose path did not come back in
    /// time.
    pub(super) fn enforce_restart_deadline(&mut self) {
        if self.links.get(&Who::Partner).and_then(|l| l.outage).is_none() {
            return;
        }
        if self.now.mono < self.give_up_at() {
            if self.restart_deadline().is_some_and(|t| t <= self.now.mono) {
                self.path_lost("still down");
            }
            return;
        }
        tracing::warn!("media path did not come back; ending the call");
        self.close_link(Who::Partner);
        if self.state.in_call() {
            self.set_state(CallState::PartnerLeft { reason: LeaveReason::Disconnected });
            self.search_again(true);
        }
    }
}
