//! The engine's decisions, as a sans-IO state machine in the style of the server's core (and of
//! str0m's `Rtc` and quinn-proto).
//!
//! [`EngineCore`] owns the call state, what the user wants (resumed after a reconnect), the room
//! it is in, which links exist and who offers on each, rebuilds of broken room links and every
//! deadline. The engine task feeds it [`Input`]s stamped with a [`Now`] and carries out the
//! [`Output`]s it drains with [`EngineCore::poll_output`]: messages to send, peer connections to
//! open, negotiate and close, events for the UI, media switches. It never awaits, never reads a
//! clock and never touches a socket or a webrtc-rs type, so every behaviour is tested in virtual
//! time against the server's own core (`core/tests/`).

mod io;
mod links;
mod rebuild;
pub mod restart;
mod safety;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use strangers_shared::{ClientMsg, IceServer, Mode, PeerId, RoomName};

use super::{Command, Event, Who};
use crate::call::error::CallError;
use crate::call::privacy::has_udp_turn;
use crate::call::state::CallState;
pub use io::{Input, LinkId, LinkInput, MediaSwitch, Now, Output};
use rebuild::Rebuilds;

/// How long a peer connection may take to connect before the call counts as failed.
pub const SETUP_DEADLINE: Duration = Duration::from_secs(15);

/// What the user wants, so it can be resumed after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    Idle,
    Search { mode: Mode, interests: Vec<String> },
    Room { room: String, name: String, capacity: Option<u8> },
}

/// The room we are in, as far as the server told us.
#[derive(Debug, Clone, Default)]
struct RoomView {
    /// The other members (never more than the room's capacity less one).
    members: BTreeSet<PeerId>,
    /// The room's capacity.
    capacity: u8,
}

/// One peer connection, as the core sees it.
#[derive(Debug, Clone)]
struct LinkSlot {
    id: LinkId,
    /// We make the offer on this link.
    offerer: bool,
    /// ICE and DTLS came up.
    connected: bool,
    /// Offer and answer have been exchanged.
    negotiated: bool,
    /// When it was opened, for the setup deadline.
    opened: Instant,
    /// The media path went down after the link had connected, and ICE is being restarted.
    outage: Option<restart::Outage>,
    /// A TURN relay candidate was gathered on this link.
    relayed: bool,
}

/// The engine's state machine; see the module docs.
#[derive(Debug)]
pub struct EngineCore {
    now: Now,
    /// The server paused our searching (we skipped too fast): search again at this time.
    search_retry: Option<Instant>,
    me: Option<PeerId>,
    ice_servers: Vec<IceServer>,
    intent: Intent,
    state: CallState,
    room: Option<RoomView>,
    links: BTreeMap<Who, LinkSlot>,
    next_link: u64,
    rebuilds: Rebuilds,
    muted: bool,
    camera_off: bool,
    /// The latest resume token the server gave us (in `welcome` or `matched`).
    token: Option<String>,
    /// The number of the current (or last) random call, from `matched`.
    call: Option<u64>,
    /// The signaling connection broke mid-call and the call is kept while we reconnect.
    resuming: bool,
    /// New links relay all media (the user asked to hide their address).
    relay_only: bool,
    out: VecDeque<Output>,
}

impl EngineCore {
    /// A core that is idle and not yet connected, at time `now`.
    pub fn new(now: Now) -> Self {
        Self {
            now,
            search_retry: None,
            me: None,
            ice_servers: Vec::new(),
            intent: Intent::Idle,
            state: CallState::Idle,
            room: None,
            links: BTreeMap::new(),
            next_link: 0,
            rebuilds: Rebuilds::default(),
            muted: false,
            camera_off: false,
            token: None,
            call: None,
            resuming: false,
            relay_only: false,
            out: VecDeque::new(),
        }
    }

    /// Feed one input at time `now`. Outputs queue up for [`EngineCore::poll_output`].
    pub fn handle(&mut self, now: Now, input: Input) {
        self.now = now;
        match input {
            Input::Command(cmd) => self.command(cmd),
            Input::ServerUp { peer_id, online, ice_servers, resume, resumed } => {
                self.token = resume;
                self.server_up(peer_id, online, ice_servers, resumed);
            }
            Input::ServerDown { reason, retry_in } => self.server_down(reason, retry_in),
            Input::Server(msg) => self.server_message(msg),
            Input::Link(id, event) => self.link_input(id, event),
            Input::Timeout => self.timeout(),
        }
    }

    /// The next thing the task must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the core next needs [`Input::Timeout`]: the earliest setup deadline of a link that
    /// has not connected, or a rebuild that falls due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let setup = self.links.values().filter(|l| !l.connected).map(|l| l.opened + SETUP_DEADLINE).min();
        [setup, self.rebuilds.next_due(), self.restart_deadline(), self.search_retry].into_iter().flatten().min()
    }

    /// The random call's state.
    pub fn state(&self) -> &CallState {
        &self.state
    }

    /// Our id on the current server connection.
    pub fn me(&self) -> Option<PeerId> {
        self.me
    }

    /// The links that exist, with who they are with and whether we offer on them.
    pub fn links(&self) -> impl Iterator<Item = (Who, LinkId, bool)> + '_ {
        self.links.iter().map(|(who, l)| (*who, l.id, l.offerer))
    }

    /// The other members of our room (empty outside rooms).
    pub fn members(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.room.iter().flat_map(|r| r.members.iter().copied())
    }

    /// Whether the user wants to be in a call or room at all.
    pub fn is_idle(&self) -> bool {
        self.intent == Intent::Idle
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    fn signal(&mut self, msg: ClientMsg) {
        self.out.push_back(Output::Signal(msg));
    }

    fn media(&mut self, switch: MediaSwitch) {
        self.out.push_back(Output::Media(switch));
    }

    fn set_state(&mut self, next: CallState) {
        if !self.state.can_go(&next) {
            tracing::warn!(from = self.state.name(), to = next.name(), "illegal call state change refused");
            return;
        }
        if self.state != next {
            tracing::debug!(me = ?self.me, from = self.state.name(), to = next.name(), "call state");
            self.state = next.clone();
            self.emit(Event::State(next));
        }
    }

    fn media_state(&self) -> ClientMsg {
        ClientMsg::MediaState { audio: !self.muted, video: !self.camera_off }
    }

    fn searching_mode(&self) -> Option<Mode> {
        match self.intent {
            Intent::Search { mode, .. } => Some(mode),
            _ => None,
        }
    }

    /// Tell the UI that the room it shows is gone (we left it).
    fn leave_room_intent(&mut self) {
        self.room = None;
        if matches!(self.intent, Intent::Room { .. }) {
            self.intent = Intent::Idle;
            self.emit(Event::RoomLeft);
        }
    }

    fn command(&mut self, cmd: Command) {
        let ends_call = matches!(
            cmd,
            Command::Start { .. } | Command::Next | Command::Stop | Command::JoinRoom { .. } | Command::Shutdown
        );
        if self.resuming && ends_call {
            // The call we meant to get back is over: the next connection is a new one.
            self.resuming = false;
            self.out.push_back(Output::Resume(None));
        }
        match cmd {
            Command::Start { mode, interests } => {
                // Every call would fail: say so once instead of skipping stranger after stranger.
                if self.relay_only && mode == Mode::Video && self.me.is_some() && !has_udp_turn(&self.ice_servers) {
                    self.emit(Event::Error(CallError::NoRelay.to_string()));
                    return;
                }
                if matches!(self.intent, Intent::Room { .. }) || self.state.in_call() {
                    self.signal(ClientMsg::Stop);
                    self.close_all_links();
                }
                self.leave_room_intent();
                self.intent = Intent::Search { mode, interests: interests.clone() };
                self.signal(ClientMsg::Find { mode, interests });
                self.set_state(CallState::Searching { mode });
            }
            Command::Next => {
                if let Some(mode) = self.searching_mode() {
                    self.signal(ClientMsg::Next { reason: None });
                    self.close_link(Who::Partner);
                    self.set_state(CallState::Searching { mode });
                }
            }
            Command::Stop => {
                self.signal(ClientMsg::Stop);
                self.close_all_links();
                self.leave_room_intent();
                self.intent = Intent::Idle;
                self.set_state(CallState::Idle);
            }
            Command::SetMuted(muted) => {
                self.muted = muted;
                self.media(MediaSwitch::Muted(muted));
                self.signal(self.media_state());
            }
            Command::SetPreview(on) => self.media(MediaSwitch::Preview(on)),
            Command::SetRelayOnly(on) => self.relay_only = on,
            Command::SetCameraOff(off) => {
                self.camera_off = off;
                self.media(MediaSwitch::CameraOff(off));
                if !off {
                    self.media(MediaSwitch::Keyframe);
                }
                self.signal(self.media_state());
            }
            Command::Chat(text) => {
                let text = text.trim().to_string();
                if !text.is_empty() {
                    self.signal(ClientMsg::Chat { text: text.clone() });
                    let from = self.own_line();
                    self.emit(Event::Chat { from, text, ts: self.now.unix_ms, mine: true });
                }
            }
            Command::Typing(active) => self.signal(ClientMsg::Typing { active }),
            Command::JoinRoom { room, name, capacity } => {
                self.signal(ClientMsg::Stop);
                self.close_all_links();
                self.leave_room_intent();
                self.set_state(CallState::Idle);
                self.intent = Intent::Room { room, name, capacity };
                self.join_room();
            }
            Command::Shutdown => {
                self.signal(ClientMsg::Stop);
                self.close_all_links();
            }
            // A crash says goodbye to nobody, but its sockets close with the process.
            Command::Abort => self.close_all_links(),
            Command::Report { reason, text, chat, call } => self.report(reason, text, chat, call),
            Command::Block { call } => self.block(call),
            Command::AcceptTerms(version) => self.accept_terms(version),
        }
    }

    /// Who our own chat line is tagged with: the conversation it belongs to, as for theirs (the
    /// partner in a random call; in a room, ourselves as a member). `mine` marks it as ours.
    fn own_line(&self) -> Who {
        match self.me {
            Some(me) if matches!(self.intent, Intent::Room { .. }) => Who::Member(me),
            _ => Who::Partner,
        }
    }

    fn join_room(&mut self) {
        if let Intent::Room { room, name, capacity } = &self.intent {
            let join = ClientMsg::Join { room: RoomName(room.clone()), name: Some(name.clone()), capacity: *capacity };
            self.signal(join);
            self.signal(self.media_state());
        }
    }

    fn server_up(&mut self, peer_id: PeerId, online: u64, ice_servers: Vec<IceServer>, resumed: bool) {
        self.me = Some(peer_id);
        self.ice_servers = ice_servers;
        self.emit(Event::ServerOnline { peer_id, online });
        let resuming = std::mem::take(&mut self.resuming);
        if resuming && resumed {
            // The server kept our call; if its media path is down too, what the restart sent
            // while we were away may be lost.
            tracing::info!("signaling resumed; the call goes on");
            self.signal(self.media_state());
            self.restart_again();
            return;
        }
        if resuming {
            // The call is gone on the server (its window ran out, or the token was refused):
            // to us that is a partner who left.
            self.close_link(Who::Partner);
            self.set_state(CallState::PartnerLeft { reason: strangers_shared::LeaveReason::Disconnected });
        }
        // A new connection is a new identity: old calls and rooms are gone on the server.
        self.close_all_links();
        self.room = None;
        self.signal(self.media_state());
        match self.intent.clone() {
            Intent::Search { mode, interests } => {
                self.signal(ClientMsg::Find { mode, interests });
                self.set_state(CallState::Searching { mode });
            }
            Intent::Room { .. } => self.join_room(),
            Intent::Idle => {}
        }
    }

    fn server_down(&mut self, reason: String, retry_in: Duration) {
        self.emit(Event::ServerLost { reason, retry_in });
        // A random call does not need the server while its media flows: keep it, and ask for
        // it back on the next connection. (A call still being set up needs signaling, and a
        // room is rejoined instead.)
        let call_up = self.room.is_none()
            && matches!(self.state, CallState::Connected)
            && (self.links.get(&Who::Partner).is_some_and(|l| l.connected || l.outage.is_some())
                || matches!(self.searching_mode(), Some(Mode::Text)));
        if call_up && self.token.is_some() {
            self.resuming = true;
            self.out.push_back(Output::Resume(self.token.clone()));
            return;
        }
        self.resuming = false;
        self.out.push_back(Output::Resume(None));
        self.close_all_links();
        self.room = None;
        if let Some(mode) = self.searching_mode() {
            self.set_state(CallState::Searching { mode });
        }
    }

    fn timeout(&mut self) {
        let now = self.now.mono;
        let overdue: Vec<Who> = self
            .links
            .iter()
            .filter(|(_, l)| !l.connected && now >= l.opened + SETUP_DEADLINE)
            .map(|(w, _)| *w)
            .collect();
        for who in overdue {
            self.fail(who, &CallError::SetupTimeout(SETUP_DEADLINE));
        }
        self.enforce_restart_deadline();
        self.run_rebuilds();
        if self.search_retry.is_some_and(|at| now >= at) {
            self.search_retry = None;
            if let (Intent::Search { mode, interests }, Some(_)) = (self.intent.clone(), self.searching_mode()) {
                self.signal(ClientMsg::Find { mode, interests });
            }
        }
    }
}
