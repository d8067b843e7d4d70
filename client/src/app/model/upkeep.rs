//! The app's standing decisions, made from the [`Model`], the user's own switches and the clock:
//! whether the camera captures (the preview), whether self-view pictures wake the UI, when the
//! typing indicator is refreshed or withdrawn, when an armed Esc lapses, when a connected call is
//! logged and when the window must repaint by itself. Pure (no egui, no engine, no clock of its
//! own): each function takes `now` and returns the [`Effect`]s for the shell (`app/mod.rs`) to
//! carry out, and remembers what it last asked for so that only changes are acted on.

use std::time::{Duration, Instant};

use super::{Effect, Model, Server};
use crate::call::state::CallState;

/// How long the first Esc press waits for the second.
pub const CONFIRM_WINDOW: Duration = Duration::from_secs(3);
/// While typing goes on, the stranger's indicator is refreshed this often.
pub const TYPING_REFRESH: Duration = Duration::from_secs(3);
/// A typing indicator with no keystroke for this long is withdrawn.
pub const TYPING_STALE: Duration = Duration::from_secs(5);

/// The user's own switches that the decisions depend on, as they are this frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Local {
    /// The camera is turned off.
    pub camera_off: bool,
    /// Text chats only: nobody sees our picture.
    pub text_mode: bool,
    /// The device settings are open (they show the preview whatever the call does).
    pub devices_open: bool,
}

/// What one Esc press (with no window open) comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Nobody to skip (idle, searching or in a room): nothing happens, nothing is asked.
    Ignored,
    /// The first press: the next one within [`CONFIRM_WINDOW`] skips.
    Armed,
    /// Skip the stranger.
    Skip,
}

/// What the app last told the engine and the user; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Upkeep {
    /// The preview state last sent to the engine (`None` before the first frame).
    pub preview: Option<bool>,
    /// Whether self-view pictures wake the UI, as last set.
    pub self_view_wakes: Option<bool>,
    /// When "typing" was last sent, while the stranger's indicator is on.
    pub typing_sent: Option<Instant>,
    /// First Esc press (and which stranger it was for), waiting for the confirming second one.
    pub next_armed: Option<(Instant, u64)>,
    /// Connected calls logged so far (each is logged once).
    pub logged_calls: u64,
}

impl Upkeep {
    /// The frame's decisions, in the order the shell carries them out: log a call that just
    /// connected, start or stop capture, let the self-view wake the UI or not, withdraw a stale
    /// typing indicator. An armed Esc that lapsed, or whose stranger is gone, is dropped.
    pub fn tick(&mut self, model: &Model, local: Local, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if model.calls > self.logged_calls && model.call == CallState::Connected {
            self.logged_calls = model.calls;
            effects.push(Effect::CallConnected { calls: model.calls });
        }
        // An armed Esc belongs to the stranger it was pressed for, and only for a while.
        if self.next_armed.is_some_and(|(at, matches)| {
            !model.in_call() || matches != model.matches || now.saturating_duration_since(at) > CONFIRM_WINDOW
        }) {
            self.next_armed = None;
        }
        // Capture only when someone will see it: in a search, call or room, or while the user
        // looks at the device settings. An idle window then costs (almost) nothing.
        // With the camera off nobody sees the picture, so capture idles then too.
        let preview = (model.busy() && !local.text_mode && !local.camera_off) || local.devices_open;
        if self.preview != Some(preview) {
            self.preview = Some(preview);
            effects.push(Effect::Preview(preview));
        }
        // While remote video plays, its frames drive the repaints (30 a second) and the
        // self-view is drawn with them; letting the self-view wake the UI too would double the
        // repaints, and with software rendering each one costs milliseconds.
        let wakes = !local.camera_off && !remote_plays(model);
        if self.self_view_wakes != Some(wakes) {
            self.self_view_wakes = Some(wakes);
            effects.push(Effect::SelfViewWakes(wakes));
        }
        if self.typing_sent.is_some_and(|at| now.saturating_duration_since(at) > TYPING_STALE) {
            effects.extend(self.typing(false, now));
        }
        effects
    }

    /// The user is typing (`active`) or has stopped or sent the message: tell the stranger on
    /// a change, and while typing goes on, every [`TYPING_REFRESH`].
    pub fn typing(&mut self, active: bool, now: Instant) -> Option<Effect> {
        match (active, self.typing_sent) {
            (true, Some(at)) if now.saturating_duration_since(at) < TYPING_REFRESH => None,
            (true, _) => {
                self.typing_sent = Some(now);
                Some(Effect::Typing(true))
            }
            (false, Some(_)) => {
                self.typing_sent = None;
                Some(Effect::Typing(false))
            }
            (false, None) => None,
        }
    }

    /// Esc was pressed with no window open. Unless confirmation is off, the first press in a
    /// call only arms, and the second (for the same stranger, within [`CONFIRM_WINDOW`]) skips.
    pub fn escape(&mut self, model: &Model, confirm_next: bool, now: Instant) -> Escape {
        if self.next_armed.is_some_and(|(at, _)| now.saturating_duration_since(at) > CONFIRM_WINDOW) {
            self.next_armed = None;
        }
        if !model.in_call() {
            Escape::Ignored
        } else if self.next_armed.take().is_some() || !confirm_next {
            Escape::Skip
        } else {
            self.next_armed = Some((now, model.matches));
            Escape::Armed
        }
    }

    /// Whether "press Esc again" is waiting.
    pub fn armed(&self) -> bool {
        self.next_armed.is_some()
    }

    /// Forget an armed Esc (the user started, skipped or stopped another way).
    pub fn disarm(&mut self) {
        self.next_armed = None;
    }

    /// How soon the window must repaint with no event to wake it, if at all: the search clock
    /// and spinner tick, the reconnect countdown and the Esc prompt run slowly while shown, and
    /// an error banner needs one repaint when it is due to go. An idle app asks for none.
    pub fn repaint_in(&self, model: &Model, now: Instant) -> Option<Duration> {
        let searching =
            matches!(model.call, CallState::Searching { .. } | CallState::Matched { .. } | CallState::Connecting);
        let lost = matches!(model.server, Server::Lost { .. } | Server::Connecting);
        let ticking =
            (searching || lost || self.armed()).then(|| Duration::from_millis(if searching { 100 } else { 500 }));
        let banner = model.next_error_expiry(now).map(|due| due + Duration::from_millis(20));
        ticking.into_iter().chain(banner).min()
    }
}

/// Whether the stranger's or a room member's video is playing (its frames repaint the window).
fn remote_plays(model: &Model) -> bool {
    model.call == CallState::Connected && model.remote.is_some() && model.partner_media.1
        || model.room.as_ref().is_some_and(|(_, tiles)| tiles.iter().any(|t| t.video && t.slot.is_some()))
}
