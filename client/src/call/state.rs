//! The call state machine: Idle → Searching → Matched → Connecting → Connected →
//! PartnerLeft / Failed. The engine moves through it; [`CallState::can_go`] says which moves are
//! legal, and the engine refuses (and logs) any other.

use strangers_shared::{LeaveReason, Mode, Role};

/// Where the user's random call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Not searching, not in a call.
    Idle,
    /// In the queue.
    Searching {
        /// The queue.
        mode: Mode,
    },
    /// The server paired us; WebRTC not started yet.
    Matched {
        /// Whether we make the offer.
        role: Role,
        /// The call's mode.
        mode: Mode,
        /// Interests in common.
        common: Vec<String>,
    },
    /// Offer/answer and ICE under way.
    Connecting,
    /// Media (or, in text mode, chat) is flowing.
    Connected,
    /// The partner left; the server has put us back in the queue.
    PartnerLeft {
        /// Why they left.
        reason: LeaveReason,
    },
    /// The call could not be set up or broke.
    Failed {
        /// What went wrong.
        error: String,
    },
}

impl CallState {
    /// Short name for logs and status lines.
    pub fn name(&self) -> &'static str {
        match self {
            CallState::Idle => "idle",
            CallState::Searching { .. } => "searching",
            CallState::Matched { .. } => "matched",
            CallState::Connecting => "connecting",
            CallState::Connected => "connected",
            CallState::PartnerLeft { .. } => "partner_left",
            CallState::Failed { .. } => "failed",
        }
    }

    /// Whether moving from `self` to `next` is legal.
    pub fn can_go(&self, next: &CallState) -> bool {
        use CallState::*;
        match (self, next) {
            // Stop works from anywhere; searching can (re)start from anywhere (Next, re-queue,
            // reconnect); errors can happen anywhere.
            (_, Idle) | (_, Searching { .. }) | (_, Failed { .. }) => true,
            (Searching { .. }, Matched { .. }) => true,
            (Matched { .. }, Connecting) | (Matched { .. }, Connected) => true,
            (Connecting, Connected) => true,
            (Matched { .. } | Connecting | Connected, PartnerLeft { .. }) => true,
            _ => false,
        }
    }

    /// Whether a call is set up or being set up.
    pub fn in_call(&self) -> bool {
        matches!(self, CallState::Matched { .. } | CallState::Connecting | CallState::Connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_and_the_exits_are_legal() {
        let path = [
            CallState::Idle,
            CallState::Searching { mode: Mode::Video },
            CallState::Matched { role: Role::Offerer, mode: Mode::Video, common: vec![] },
            CallState::Connecting,
            CallState::Connected,
            CallState::PartnerLeft { reason: LeaveReason::Skipped },
            CallState::Searching { mode: Mode::Video },
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_go(&pair[1]), "{:?} -> {:?}", pair[0], pair[1]);
        }
        assert!(CallState::Connected.can_go(&CallState::Idle));
        assert!(CallState::Connecting.can_go(&CallState::Failed { error: "x".into() }));
    }

    #[test]
    fn skipping_steps_is_illegal() {
        assert!(!CallState::Idle.can_go(&CallState::Connected));
        assert!(!CallState::Searching { mode: Mode::Text }.can_go(&CallState::Connecting));
        assert!(!CallState::Idle.can_go(&CallState::PartnerLeft { reason: LeaveReason::Stopped }));
        assert!(!CallState::Connected.can_go(&CallState::Matched {
            role: Role::Answerer,
            mode: Mode::Video,
            common: vec![]
        }));
        assert!(CallState::Connected.in_call() && !CallState::Idle.in_call());
    }
}
