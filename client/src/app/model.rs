//! What the UI shows, folded from engine [`Event`]s, and ([`upkeep`]) what the app decides each
//! frame from it. Pure (no egui, no IO), so every status line, chat rule and decision is
//! unit-tested without a window.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strangers_shared::{LeaveReason, Member, PeerId};

use crate::call::state::CallState;
use crate::engine::{CallStats, Event, Who};
use crate::slot::FrameSlot;

mod safety;
pub mod upkeep;
pub use safety::{SafetyView, local_time};
pub use upkeep::{Escape, Local, Upkeep};

/// Who wrote a chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// The user.
    Me,
    /// The stranger (or a room member, by name).
    Them(String),
    /// The app itself: connects, disconnects.
    System,
}

/// One line of the chat panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub text: String,
    /// Local wall time, `HH:MM`.
    pub time: String,
}

/// The server connection as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// First connection under way.
    Connecting,
    /// Connected.
    Online {
        /// Connections online.
        online: u64,
    },
    /// Unreachable; the engine retries.
    Lost {
        /// Why.
        reason: String,
        /// When the next attempt starts.
        retry_at: Instant,
    },
}

/// A room member's tile.
#[derive(Debug, Clone)]
pub struct Tile {
    /// Their id.
    pub id: PeerId,
    /// Their display name.
    pub name: String,
    /// Microphone on.
    pub audio: bool,
    /// Camera on.
    pub video: bool,
    /// Their pictures, once their video arrives.
    pub slot: Option<FrameSlot>,
}

/// Something the app should do once, beyond drawing. The model and [`Upkeep`] decide; the
/// shell carries these out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A stranger was found: play the match sound (if the user wants it).
    MatchSound,
    /// A call reached Connected: log it (the smoke test looks for the line).
    CallConnected {
        /// Calls connected so far, this one included.
        calls: u64,
    },
    /// Capture for the self-view and the call, or stop capturing.
    Preview(bool),
    /// Let new self-view pictures wake the UI, or not.
    SelfViewWakes(bool),
    /// Show the stranger our typing indicator, or take it down.
    Typing(bool),
}

/// Everything the UI draws; see the module docs.
#[derive(Debug)]
pub struct Model {
    /// The server connection.
    pub server: Server,
    /// The random call.
    pub call: CallState,
    /// When the current search started.
    pub searching_since: Option<Instant>,
    /// (online, searching in our mode) while searching.
    pub waiting: Option<(u64, u64)>,
    /// Interests shared with the current stranger.
    pub common: Vec<String>,
    /// Why the last stranger left, until the next one connects.
    pub left: Option<LeaveReason>,
    /// The chat panel.
    pub chat: Vec<ChatLine>,
    /// The stranger is typing.
    pub typing: bool,
    /// The stranger's (microphone, camera).
    pub partner_media: (bool, bool),
    /// The stranger's pictures.
    pub remote: Option<FrameSlot>,
    /// The room we are in, and its members.
    pub room: Option<(String, Vec<Tile>)>,
    /// Latest statistics per link.
    pub stats: HashMap<Who, CallStats>,
    /// Recent errors, newest last (shown as a banner until dismissed or stale).
    pub errors: Vec<(Instant, String)>,
    /// Calls that reached Connected.
    pub calls: u64,
    /// Strangers matched so far (tells one stranger from the next).
    pub matches: u64,
    /// Report, block, blur and bans.
    pub safety: SafetyView,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            server: Server::Connecting,
            call: CallState::Idle,
            searching_since: None,
            waiting: None,
            common: Vec::new(),
            left: None,
            chat: Vec::new(),
            typing: false,
            partner_media: (true, true),
            remote: None,
            room: None,
            stats: HashMap::new(),
            errors: Vec::new(),
            calls: 0,
            matches: 0,
            safety: SafetyView::default(),
        }
    }
}

/// Errors older than this leave the banner.
pub const ERROR_SHOWN_FOR: Duration = Duration::from_secs(8);

impl Model {
    /// Fold one event in; `time` is the local `HH:MM` for chat lines.
    pub fn apply(&mut self, event: Event, now: Instant, time: &str) -> Option<Effect> {
        match event {
            Event::ServerConnecting => {
                if !matches!(self.server, Server::Lost { .. }) {
                    self.server = Server::Connecting;
                }
            }
            Event::ServerOnline { online, .. } => self.server = Server::Online { online },
            Event::ServerLost { reason, retry_in } => self.server = Server::Lost { reason, retry_at: now + retry_in },
            Event::Waiting { online, searching } => {
                self.waiting = Some((online, searching));
                if let Server::Online { online: o } = &mut self.server {
                    *o = online;
                }
            }
            Event::State(state) => return self.enter(state, now, time),
            Event::Chat { from, text, mine, .. } => {
                let author = if mine { Author::Me } else { Author::Them(self.name_of(from)) };
                if !mine {
                    self.typing = false;
                }
                self.chat.push(ChatLine { author, text, time: time.to_string() });
            }
            Event::Typing { from: Who::Partner, active } => self.typing = active,
            Event::Typing { .. } => {}
            Event::MediaState { from: Who::Partner, audio, video } => self.partner_media = (audio, video),
            Event::MediaState { from: Who::Member(id), audio, video } => {
                if let Some(tile) = self.tile(id) {
                    (tile.audio, tile.video) = (audio, video);
                }
            }
            Event::RoomJoined { room, members, .. } => {
                self.system(format!("You joined room \u{201c}{room}\u{201d}."), time);
                self.room = Some((room, members.into_iter().map(tile).collect()));
            }
            Event::RoomLeft => {
                if let Some((room, _)) = self.room.take() {
                    self.system(format!("You left room \u{201c}{room}\u{201d}."), time);
                }
            }
            Event::MemberJoined(member) => {
                self.system(format!("{} joined.", member.name), time);
                if let Some((_, tiles)) = &mut self.room {
                    tiles.push(tile(member));
                }
            }
            Event::MemberLeft(id) => {
                if let Some((_, tiles)) = &mut self.room
                    && let Some(i) = tiles.iter().position(|t| t.id == id)
                {
                    let gone = tiles.remove(i);
                    self.system(format!("{} left.", gone.name), time);
                }
            }
            Event::RemoteVideo { from: Who::Partner, slot, .. } => self.remote = Some(slot),
            Event::RemoteVideo { from: Who::Member(id), slot, .. } => {
                if let Some(tile) = self.tile(id) {
                    tile.slot = Some(slot);
                }
            }
            Event::RemoteAudio { .. } => {}
            Event::Stats(who, stats) => {
                self.stats.insert(who, stats);
            }
            Event::LinkClosed(who) => {
                self.stats.remove(&who);
                match who {
                    Who::Partner => self.remote = None,
                    Who::Member(id) => {
                        if let Some(tile) = self.tile(id) {
                            tile.slot = None;
                        }
                    }
                }
            }
            Event::Error(message) => {
                self.expire_errors(now);
                self.errors.push((now, message));
            }
            Event::Reconnecting(Who::Partner) => {
                self.system("Connection interrupted \u{2014} reconnecting\u{2026}".into(), time);
            }
            Event::Reconnected(Who::Partner) => self.system("Reconnected.".into(), time),
            Event::Reconnecting(Who::Member(_)) | Event::Reconnected(Who::Member(_)) => {}
            Event::Call(_) | Event::Reported | Event::Blocked | Event::Banned { .. } | Event::TermsRequired => {
                self.safety_event(event, now, time);
            }
        }
        None
    }

    /// Drop errors that have been shown long enough (called every frame).
    pub fn expire_errors(&mut self, now: Instant) {
        self.errors.retain(|(at, _)| now.saturating_duration_since(*at) < ERROR_SHOWN_FOR);
    }

    /// How long until the next shown error expires, if one is shown: the UI needs one repaint
    /// then to take the banner down, and none before.
    pub fn next_error_expiry(&self, now: Instant) -> Option<Duration> {
        self.errors.iter().map(|(at, _)| (*at + ERROR_SHOWN_FOR).saturating_duration_since(now)).min()
    }

    fn enter(&mut self, state: CallState, now: Instant, time: &str) -> Option<Effect> {
        let mut effect = None;
        // Straight from a call to searching or idle, with no partner_left: we ended it (Next,
        // Stop, joining a room) or the server connection dropped under it.
        if self.in_call() && matches!(state, CallState::Idle | CallState::Searching { .. }) {
            self.typing = false;
            self.remote = None;
            let line = if matches!(self.server, Server::Lost { .. }) {
                "The connection to the server dropped; the chat ended."
            } else {
                "You left the chat."
            };
            self.system(line.into(), time);
        }
        match &state {
            CallState::Idle => {
                self.searching_since = None;
                self.room = None;
                self.left = None;
                self.typing = false;
            }
            CallState::Searching { .. } => {
                if !matches!(self.call, CallState::Searching { .. }) {
                    self.searching_since = Some(now);
                }
            }
            CallState::Matched { common, .. } => {
                // A new stranger: the old conversation is over.
                self.chat.clear();
                self.common = common.clone();
                self.partner_media = (true, true);
                self.typing = false;
                self.searching_since = None;
                self.matches += 1;
                self.safety.new_stranger();
                effect = Some(Effect::MatchSound);
            }
            CallState::Connecting => {}
            CallState::Connected => {
                self.calls += 1;
                self.left = None;
                let line = if self.common.is_empty() {
                    "You're now chatting with a random stranger. Say hi!".to_string()
                } else {
                    format!("You're now chatting with a stranger. You both like {}.", self.common.join(", "))
                };
                self.system(line, time);
            }
            CallState::PartnerLeft { reason } => {
                self.left = Some(*reason);
                self.typing = false;
                self.remote = None;
                self.system(format!("{} Finding someone new…", left_text(*reason)), time);
            }
            CallState::Failed { error } => self.system(format!("The call failed: {error}"), time),
        }
        self.call = state;
        effect
    }

    fn system(&mut self, text: String, time: &str) {
        self.chat.push(ChatLine { author: Author::System, text, time: time.to_string() });
    }

    fn tile(&mut self, id: PeerId) -> Option<&mut Tile> {
        self.room.as_mut()?.1.iter_mut().find(|t| t.id == id)
    }

    fn name_of(&self, who: Who) -> String {
        match who {
            Who::Partner => "Stranger".into(),
            Who::Member(id) => self
                .room
                .as_ref()
                .and_then(|(_, tiles)| tiles.iter().find(|t| t.id == id))
                .map_or_else(|| "Someone".into(), |t| t.name.clone()),
        }
    }

    /// Whether a stranger is on the line (chat and Next make sense).
    pub fn in_call(&self) -> bool {
        matches!(self.call, CallState::Matched { .. } | CallState::Connecting | CallState::Connected)
    }

    /// Whether we are searching, calling or in a room (Stop makes sense).
    pub fn busy(&self) -> bool {
        self.room.is_some() || !matches!(self.call, CallState::Idle | CallState::Failed { .. })
    }

    /// The status line.
    pub fn status(&self, now: Instant) -> String {
        match &self.server {
            Server::Connecting => return "Connecting to the server…".into(),
            Server::Lost { reason, retry_at } => {
                let secs = retry_at.saturating_duration_since(now).as_secs();
                return format!("Server unreachable ({reason}). Reconnecting in {secs} s…");
            }
            Server::Online { .. } => {}
        }
        if let Some((room, tiles)) = &self.room {
            return match tiles.len() {
                0 => format!("Room \u{201c}{room}\u{201d}: waiting for others to join…"),
                n => format!("Room \u{201c}{room}\u{201d}: you and {n} other{}", if n == 1 { "" } else { "s" }),
            };
        }
        match &self.call {
            CallState::Idle => "Press Start to meet a stranger.".into(),
            CallState::Searching { .. } => {
                let waited = self.searching_since.map_or(0, |t| now.saturating_duration_since(t).as_secs());
                let lead = match self.left {
                    Some(reason) => format!("{} Finding someone new…", left_text(reason)),
                    None => "Looking for a stranger…".into(),
                };
                match self.waiting {
                    Some((online, searching)) => {
                        format!("{lead} {online} online, {searching} searching · {}:{:02}", waited / 60, waited % 60)
                    }
                    None => format!("{lead} {}:{:02}", waited / 60, waited % 60),
                }
            }
            CallState::Matched { .. } | CallState::Connecting => "Stranger found. Connecting…".into(),
            CallState::Connected if self.common.is_empty() => "Connected to a random stranger.".into(),
            CallState::Connected => format!("Connected. You both like {}.", self.common.join(", ")),
            CallState::PartnerLeft { reason } => format!("{} Finding someone new…", left_text(*reason)),
            CallState::Failed { error } => format!("The call failed: {error}. Press Start to try again."),
        }
    }
}

fn tile(m: Member) -> Tile {
    Tile { id: m.id, name: m.name, audio: m.audio, video: m.video, slot: None }
}

fn left_text(reason: LeaveReason) -> &'static str {
    match reason {
        LeaveReason::Skipped => "Stranger skipped you.",
        LeaveReason::Stopped => "Stranger left.",
        LeaveReason::Disconnected => "Stranger disconnected.",
    }
}

#[cfg(test)]
mod tests;
