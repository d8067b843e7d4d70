//! Safety in the engine: report and block (which skip the stranger during a call), the terms
//! the user accepted, and the server refusing to let us search (terms not accepted, or banned).

use strangers_shared::{ClientMsg, ErrorCode, ReportReason};

use super::{EngineCore, Intent, Output};
use crate::call::state::CallState;
use crate::engine::{Event, Who};

impl EngineCore {
    /// Report the current or last stranger. During a call the server skips them for us, so the
    /// call ends here as it would with Next.
    pub(super) fn report(&mut self, reason: ReportReason, text: Option<String>, chat: Vec<String>, call: Option<u64>) {
        let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        self.signal(ClientMsg::Report { reason, text, chat, call });
        self.leave_partner(call);
    }

    /// Block the current or last stranger (skipping them during a call).
    pub(super) fn block(&mut self, call: Option<u64>) {
        self.signal(ClientMsg::Block { call });
        self.leave_partner(call);
    }

    /// End the call here if it is the one reported (the server skips it for us).
    fn leave_partner(&mut self, call: Option<u64>) {
        if let Some(mode) = self.searching_mode()
            && self.state.in_call()
            && (call.is_none() || call == self.call)
        {
            self.close_link(Who::Partner);
            self.set_state(CallState::Searching { mode });
        }
    }

    /// The user accepted the terms: every `hello` says so from now on.
    pub(super) fn accept_terms(&mut self, version: String) {
        self.out.push_back(Output::Terms(version));
    }

    /// The server refused to let us meet anyone: we stop where we are and the UI says why.
    /// Returns whether `code` was such a refusal.
    pub(super) fn refused(&mut self, code: ErrorCode, until_ms: Option<u64>) -> bool {
        let event = match code {
            ErrorCode::Banned => Event::Banned { until_ms: until_ms.unwrap_or(self.now.unix_ms) },
            ErrorCode::TermsRequired => Event::TermsRequired,
            _ => return false,
        };
        self.close_all_links();
        self.leave_room_intent();
        self.intent = Intent::Idle;
        self.set_state(CallState::Idle);
        self.emit(event);
        true
    }
}
