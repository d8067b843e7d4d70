//! The engine: everything behind the buttons. It owns the signaling client, the peer
//! connections and the media pipelines, runs on a tokio runtime off the UI thread, takes
//! [`Command`]s and reports [`Event`]s. The desktop app and the harness are both faces on it.

pub mod core;
mod links;
mod stats;
mod task;

use std::sync::Arc;
use std::time::Duration;

use strangers_shared::{Member, Mode, PeerId, ReportReason};
use tokio::sync::mpsc;

pub use stats::{CallStats, CandidateKind};

use crate::call::state::CallState;
use crate::media::audio_source::{AudioSink, AudioSource};
use crate::media::probe::PictureProbe;
use crate::media::receive::RxStats;
use crate::media::send::{MediaSender, SendConfig, SendStats};
use crate::media::video_source::VideoSource;
use crate::slot::FrameSlot;

/// What the user asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Look for a stranger.
    Start {
        /// Video or text.
        mode: Mode,
        /// Interest tags.
        interests: Vec<String>,
    },
    /// Skip the current stranger.
    Next,
    /// Stop searching or leave the call or room.
    Stop,
    /// Microphone off (`true`) or on.
    SetMuted(bool),
    /// Camera off (`true`) or on.
    SetCameraOff(bool),
    /// Keep capturing for the self-view while not in a call (`true`, the default), or let the
    /// capture threads idle until a call needs them.
    SetPreview(bool),
    /// Relay all media through the TURN server (`true`), so that no stranger learns our
    /// address; from the next link on.
    SetRelayOnly(bool),
    /// Send a chat line.
    Chat(String),
    /// Typing indicator.
    Typing(bool),
    /// Join a named room: capacity 2 for a private call, more for a group.
    JoinRoom {
        /// The room's name.
        room: String,
        /// Display name.
        name: String,
        /// Capacity when creating it.
        capacity: Option<u8>,
    },
    /// Report the current (or last) stranger: also blocks them and, during a call, skips them.
    Report {
        /// Why.
        reason: ReportReason,
        /// The user's words, if any.
        text: Option<String>,
        /// The last chat lines, if the user chose to attach them.
        chat: Vec<String>,
        /// The call this is about (from [`Event::Call`]); the server refuses it if we have met
        /// someone else since.
        call: Option<u64>,
    },
    /// Block the current (or last) stranger, skipping them during a call.
    Block {
        /// The call this is about (from [`Event::Call`]).
        call: Option<u64>,
    },
    /// The user accepted this version of the terms (and confirmed being 18 or older).
    AcceptTerms(String),
    /// Shut the engine down cleanly (stop, close calls).
    Shutdown,
    /// Vanish without a goodbye, as a crashed client would (for tests).
    Abort,
}

/// Who a link or a message is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Who {
    /// The random partner.
    Partner,
    /// A member of our room.
    Member(PeerId),
}

/// What the engine reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// Connecting to the signal server.
    ServerConnecting,
    /// Connected to the signal server.
    ServerOnline {
        /// Our id.
        peer_id: PeerId,
        /// Connections online.
        online: u64,
    },
    /// The server is unreachable; retrying.
    ServerLost {
        /// Why.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// The random call's state changed.
    State(CallState),
    /// Queue status while searching.
    Waiting {
        /// Connections online.
        online: u64,
        /// Searchers in our mode.
        searching: u64,
    },
    /// A chat line (ours are echoed with `mine`).
    Chat {
        /// Who wrote it; for our own lines (`mine`), the conversation it went to: `Partner` in a
        /// random call, our own member id in a room.
        from: Who,
        /// The text.
        text: String,
        /// Server time (Unix ms) for theirs, local time for ours.
        ts: u64,
        /// Whether we wrote it.
        mine: bool,
    },
    /// Someone's typing indicator.
    Typing {
        /// Who.
        from: Who,
        /// Typing or not.
        active: bool,
    },
    /// Someone's microphone/camera state.
    MediaState {
        /// Who.
        from: Who,
        /// Microphone on.
        audio: bool,
        /// Camera on.
        video: bool,
    },
    /// We joined a room.
    RoomJoined {
        /// The room.
        room: String,
        /// Our id.
        you: PeerId,
        /// The others.
        members: Vec<Member>,
    },
    /// We left our room (Stop, Start or another room).
    RoomLeft,
    /// A member joined our room.
    MemberJoined(Member),
    /// A member left our room, or its link could not be rebuilt and we gave up on it (then an
    /// [`Event::Error`] comes first).
    MemberLeft(PeerId),
    /// A remote video stream started.
    RemoteVideo {
        /// Whose.
        from: Who,
        /// Its pictures.
        slot: FrameSlot,
        /// Its counters.
        stats: Arc<RxStats>,
    },
    /// A remote audio stream started.
    RemoteAudio {
        /// Whose.
        from: Who,
        /// Its counters.
        stats: Arc<RxStats>,
    },
    /// Statistics of a connected link, about once a second.
    Stats(Who, CallStats),
    /// A link's peer connection was torn down.
    LinkClosed(Who),
    /// The media path of a connected call went down; it is being re-established (ICE restart)
    /// with the same partner. Video and sound pause meanwhile.
    Reconnecting(Who),
    /// The media path came back after [`Event::Reconnecting`].
    Reconnected(Who),
    /// Something failed; shown to the user.
    Error(String),
    /// The number the server gave the call about to start (comes just before
    /// `State(Matched)`); a report or block names it.
    Call(u64),
    /// The server took our report (the stranger is blocked too).
    Reported,
    /// The server took our block.
    Blocked,
    /// The server will not let us meet strangers until `until_ms` (Unix ms) after reports from
    /// several people; we are idle.
    Banned {
        /// When the ban ends.
        until_ms: u64,
    },
    /// The server requires accepting its terms first; we are idle.
    TermsRequired,
}

/// Makes an audio sink for each remote audio stream.
pub type SinkFactory = Arc<dyn Fn(Who) -> Box<dyn AudioSink> + Send + Sync>;

/// Makes a probe for each remote video stream (see [`start_observed`]).
pub type ProbeFactory = Arc<dyn Fn(Who) -> Arc<dyn PictureProbe> + Send + Sync>;

/// Sees the text of every remote session description and ICE candidate a link takes.
pub type SignalObserver = Arc<dyn Fn(Who, &str) + Send + Sync>;

/// What a test or benchmark watches without being part of every call (see [`start_observed`]).
#[derive(Clone, Default)]
pub struct Observers {
    /// A probe on every decoded remote picture (the harness reads its test card's stamps).
    pub pictures: Option<ProbeFactory>,
    /// What the partner told us about its network (the harness checks that relay-only clients
    /// reveal no address).
    pub remote_signals: Option<SignalObserver>,
}

/// How to run the engine.
pub struct EngineConfig {
    /// Signal server URL (`ws://…/`).
    pub server_url: String,
    /// The install id and accepted terms every `hello` carries.
    pub identity: crate::signaling::Identity,
    /// Local UDP bind address for WebRTC (`0.0.0.0:0`: every interface, any port).
    pub udp_bind: String,
    /// Send all media through a TURN relay, so strangers never learn our IP addresses.
    pub relay_only: bool,
    /// Camera (or test card).
    pub video: Option<Box<dyn VideoSource>>,
    /// Microphone (or test tone).
    pub audio: Option<Box<dyn AudioSource>>,
    /// Encoder settings.
    pub send: SendConfig,
    /// Convert remote video to RGBA for display.
    pub rgba: bool,
    /// Where remote audio goes.
    pub sinks: SinkFactory,
}

/// The running engine. Dropping it shuts the engine down.
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
    /// Events, in order.
    pub events: mpsc::UnboundedReceiver<Event>,
    /// The self-view (when `send.self_view` is on).
    pub local_view: FrameSlot,
    /// Send-side counters.
    pub send_stats: Arc<SendStats>,
    /// Peer connections alive: created and not yet completely closed. After a call ends it
    /// falls back, which is how tests see that teardown really happened.
    pub live_links: Arc<std::sync::atomic::AtomicUsize>,
}

impl EngineHandle {
    /// Send a command; false if the engine has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).is_ok()
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

/// Start an engine on the current tokio runtime.
pub fn start(cfg: EngineConfig) -> std::io::Result<EngineHandle> {
    start_observed(cfg, Observers::default())
}

/// [`start`], with observers: how the harness reads the test card's stamps and what the partner
/// signalled, without the app's calls paying for it.
pub fn start_observed(cfg: EngineConfig, observers: Observers) -> std::io::Result<EngineHandle> {
    let media = MediaSender::start(cfg.video, cfg.audio, cfg.send)?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let live_links = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handle = EngineHandle {
        commands: cmd_tx,
        events: event_rx,
        local_view: media.local_view.clone(),
        send_stats: media.stats.clone(),
        live_links: live_links.clone(),
    };
    let settings = task::Settings {
        server_url: cfg.server_url,
        identity: cfg.identity,
        udp_bind: cfg.udp_bind,
        relay_only: cfg.relay_only,
        rgba: cfg.rgba,
        sinks: cfg.sinks,
        observers,
    };
    tokio::spawn(task::run(settings, media, cmd_rx, event_tx, live_links));
    Ok(handle)
}

/// Whether we are the offerer towards a room member (the lower id offers, so there is no glare).
pub fn offers_to(me: PeerId, them: PeerId) -> bool {
    me < them
}
