//! What the UI knows about safety: whether there is a stranger to report or block, whether this
//! call's video was revealed, a ban and the terms the server wants. Folded from engine events.

use std::time::Instant;

use super::Model;
use crate::engine::Event;

/// Safety state for the UI; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SafetyView {
    /// A stranger was met (the current one, or the last one after the call ended): Report and
    /// Block have someone to act on.
    pub met: bool,
    /// This stranger was already reported or blocked.
    pub acted: bool,
    /// The user clicked to see this stranger's video (blur is per call).
    pub revealed: bool,
    /// The server will not let us meet anyone until then (Unix ms).
    pub banned_until: Option<u64>,
    /// The server's number for the current (or last) call; a report or block names it.
    pub call: Option<u64>,
}

impl SafetyView {
    /// A new stranger: they can be reported, and their video starts blurred again.
    pub fn new_stranger(&mut self) {
        (self.met, self.acted, self.revealed) = (true, false, false);
    }

    /// Whether Report and Block make sense now.
    pub fn can_act(&self) -> bool {
        self.met && !self.acted
    }

    /// Whether a ban is in force at `unix_ms`.
    pub fn banned(&self, unix_ms: u64) -> bool {
        self.banned_until.is_some_and(|until| until > unix_ms)
    }
}

/// A Unix time in milliseconds as the local day and time (`Mon 18:05`).
pub fn local_time(unix_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(unix_ms).unwrap_or(i64::MAX))
        .map(|t| t.with_timezone(&chrono::Local).format("%a %H:%M").to_string())
        .unwrap_or_default()
}

impl Model {
    /// Fold a safety event in (the rest of [`Model::apply`]'s events go elsewhere).
    pub(super) fn safety_event(&mut self, event: Event, now: Instant, time: &str) {
        match event {
            Event::Call(call) => self.safety.call = Some(call),
            Event::Reported => {
                self.safety.acted = true;
                self.system("Thanks. The stranger was reported and blocked: you won't meet them again.".into(), time);
            }
            Event::Blocked => {
                self.safety.acted = true;
                self.system("Blocked. You won't meet this stranger again.".into(), time);
            }
            Event::Banned { until_ms } => {
                self.safety.banned_until = Some(until_ms);
                let when = local_time(until_ms);
                self.system(format!("After reports from several people you can't meet strangers until {when}."), time);
            }
            Event::TermsRequired => {
                self.errors.push((
                    now,
                    "This server asks you to accept its terms first; this version of the app has different \
                     ones. Update the app."
                        .into(),
                ));
            }
            _ => {}
        }
    }
}
