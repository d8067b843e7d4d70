//! The engine task: one loop over user commands, signaling events, link events and a stats
//! timer. It is the only owner of the call state, so nothing here needs a lock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strangers_shared::{ClientMsg, IceServer, Mode, PeerId, Role, ServerMsg};
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::links::Links;
use super::rebuild::Rebuilds;
use super::{Command, Event, SinkFactory, Who};
use crate::call::peer::{CallError, LinkEvent};
use crate::call::state::CallState;
use crate::media::send::MediaSender;
use crate::signaling::{self, SignalEvent, SignalingHandle};

/// What the engine was started with (the parts the task keeps).
pub(super) struct Settings {
    pub(super) server_url: String,
    pub(super) udp_bind: String,
    pub(super) rgba: bool,
    pub(super) sinks: SinkFactory,
}

/// What the user wants, so it can be resumed after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    Idle,
    Search { mode: Mode, interests: Vec<String> },
    Room { room: String, name: String, capacity: Option<u8> },
}

/// The engine's state; see the module docs.
pub(super) struct Engine {
    pub(super) settings: Settings,
    pub(super) media: MediaSender,
    pub(super) links: Links,
    pub(super) link_tx: mpsc::UnboundedSender<(u64, LinkEvent)>,
    pub(super) ice_servers: Vec<IceServer>,
    signaling: SignalingHandle,
    events: mpsc::UnboundedSender<Event>,
    pub(super) me: Option<PeerId>,
    /// Room members whose links are being rebuilt.
    pub(super) rebuilds: Rebuilds,
    intent: Intent,
    state: CallState,
    muted: bool,
    camera_off: bool,
}

pub(super) async fn run(
    settings: Settings,
    media: MediaSender,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    live_links: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let (signaling, mut signals) = signaling::spawn(settings.server_url.clone());
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let mut engine = Engine {
        settings,
        media,
        links: Links { live: live_links, ..Links::default() },
        link_tx,
        ice_servers: Vec::new(),
        signaling,
        events,
        me: None,
        rebuilds: Rebuilds::default(),
        intent: Intent::Idle,
        state: CallState::Idle,
        muted: false,
        camera_off: false,
    };
    engine.emit(Event::ServerConnecting);
    let mut stats_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None | Some(Command::Shutdown) => break,
                Some(Command::Abort) => {
                    // A crash says goodbye to nobody, but its sockets close with the process.
                    engine.close_all_links();
                    return;
                }
                Some(cmd) => engine.command(cmd).await,
            },
            Some(signal) = signals.recv() => engine.signal_event(signal).await,
            Some((id, event)) = link_rx.recv() => engine.link_event(id, event).await,
            () = super::rebuild::sleep_until(engine.rebuilds.next_due()) => engine.run_rebuilds().await,
            _ = stats_tick.tick() => {
                engine.enforce_setup_deadline();
                engine.emit_stats().await;
            }
        }
    }
    engine.signal(ClientMsg::Stop);
    engine.close_all_links();
}

/// How long a peer connection may take to connect before the call counts as failed.
const SETUP_DEADLINE: Duration = Duration::from_secs(15);

/// Who our own chat line is tagged with: the conversation it belongs to, as for theirs (the
/// partner in a random call; in a room, ourselves as a member). `mine` marks it as ours.
fn own_line(in_room: bool, me: Option<PeerId>) -> Who {
    match me {
        Some(me) if in_room => Who::Member(me),
        _ => Who::Partner,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Engine {
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(super) fn signal(&self, msg: ClientMsg) {
        self.signaling.send(msg);
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

    /// Tell the UI that the room it shows is gone (we left it).
    fn leave_room_intent(&mut self) {
        if matches!(self.intent, Intent::Room { .. }) {
            self.intent = Intent::Idle;
            self.emit(Event::RoomLeft);
        }
    }

    fn media_state(&self) -> ClientMsg {
        ClientMsg::MediaState { audio: !self.muted, video: !self.camera_off }
    }

    /// A call step failed: tell the user, drop the call and look for someone else (or, in a
    /// room, try that member again).
    pub(super) fn fail(&mut self, who: Who, error: &CallError) {
        tracing::warn!(?who, %error, "call failed");
        self.emit(Event::Error(format!("call failed: {error}")));
        self.close_link(who);
        if let Who::Member(member) = who {
            self.member_link_lost(member);
        }
        if who == Who::Partner {
            self.set_state(CallState::Failed { error: error.to_string() });
            if let Intent::Search { mode, .. } = self.intent {
                self.signal(ClientMsg::Next);
                self.set_state(CallState::Searching { mode });
            }
        }
    }

    /// Give up on links that never connected (the partner never answered, or ICE never found a
    /// path): the user hears why and, in random chat, meets someone else.
    fn enforce_setup_deadline(&mut self) {
        for who in self.overdue(SETUP_DEADLINE) {
            self.fail(who, &CallError::SetupTimeout(SETUP_DEADLINE));
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Start { mode, interests } => {
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
                if let Intent::Search { mode, .. } = self.intent {
                    self.signal(ClientMsg::Next);
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
                self.media.control.muted.store(muted, std::sync::atomic::Ordering::Relaxed);
                self.signal(self.media_state());
            }
            Command::SetPreview(on) => self.media.control.preview.store(on, std::sync::atomic::Ordering::Relaxed),
            Command::SetCameraOff(off) => {
                self.camera_off = off;
                self.media.control.camera_off.store(off, std::sync::atomic::Ordering::Relaxed);
                if !off {
                    self.media.request_keyframe();
                }
                self.signal(self.media_state());
            }
            Command::Chat(text) => {
                let text = text.trim().to_string();
                if !text.is_empty() {
                    self.signal(ClientMsg::Chat { text: text.clone() });
                    let from = own_line(matches!(self.intent, Intent::Room { .. }), self.me);
                    self.emit(Event::Chat { from, text, ts: now_ms(), mine: true });
                }
            }
            Command::Typing(active) => self.signal(ClientMsg::Typing { active }),
            Command::JoinRoom { room, name, capacity } => {
                self.signal(ClientMsg::Stop);
                self.close_all_links();
                self.leave_room_intent();
                self.set_state(CallState::Idle);
                self.intent = Intent::Room { room: room.clone(), name: name.clone(), capacity };
                self.join_room();
            }
            Command::Shutdown | Command::Abort => {}
        }
    }

    fn join_room(&self) {
        if let Intent::Room { room, name, capacity } = &self.intent {
            let room = strangers_shared::RoomName(room.clone());
            self.signal(ClientMsg::Join { room, name: Some(name.clone()), capacity: *capacity });
            self.signal(self.media_state());
        }
    }

    async fn signal_event(&mut self, event: SignalEvent) {
        match event {
            SignalEvent::Connected { peer_id, online, ice_servers } => {
                self.me = Some(peer_id);
                self.ice_servers = ice_servers;
                self.emit(Event::ServerOnline { peer_id, online });
                // A new connection is a new identity: old calls are gone on the server.
                self.close_all_links();
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
            SignalEvent::Disconnected { reason, retry_in } => {
                self.emit(Event::ServerLost { reason, retry_in });
                self.close_all_links();
                if let Intent::Search { mode, .. } = self.intent {
                    self.set_state(CallState::Searching { mode });
                }
            }
            SignalEvent::Message(msg) => self.server_message(msg).await,
        }
    }

    async fn server_message(&mut self, msg: ServerMsg) {
        let who = |from: Option<PeerId>| from.map_or(Who::Partner, Who::Member);
        match msg {
            ServerMsg::Waiting { mode, online, searching } => {
                self.emit(Event::Waiting { online, searching });
                if matches!(self.intent, Intent::Search { .. }) && !self.state.in_call() {
                    self.set_state(CallState::Searching { mode });
                }
            }
            ServerMsg::Matched { role, mode, common_interests } => {
                tracing::debug!(?role, ?mode, "matched");
                self.close_link(Who::Partner);
                self.set_state(CallState::Matched { role, mode, common: common_interests });
                self.signal(self.media_state());
                if mode == Mode::Text {
                    self.set_state(CallState::Connected);
                    return;
                }
                self.set_state(CallState::Connecting);
                if let Err(e) = self.open_link(Who::Partner, role == Role::Offerer).await {
                    self.fail(Who::Partner, &e);
                }
            }
            ServerMsg::PartnerLeft { reason } => {
                self.close_link(Who::Partner);
                self.set_state(CallState::PartnerLeft { reason });
            }
            ServerMsg::Offer { from, sdp } => {
                if let Some(member) = from {
                    if self.rebuilds.abandoned(member) {
                        tracing::debug!(%member, "offer from a member given up on; ignored");
                        return;
                    }
                    self.rebuilds.offer_arrived(member);
                }
                if let Err(e) = self.on_offer(who(from), sdp).await {
                    self.fail(who(from), &e);
                }
            }
            ServerMsg::Answer { from, sdp } => {
                if let Err(e) = self.on_answer(who(from), sdp).await {
                    self.fail(who(from), &e);
                }
            }
            ServerMsg::Candidate { from, candidate } => self.on_candidate(who(from), candidate).await,
            ServerMsg::Chat { from, text, ts } => self.emit(Event::Chat { from: who(from), text, ts, mine: false }),
            ServerMsg::Typing { from, active } => self.emit(Event::Typing { from: who(from), active }),
            ServerMsg::MediaState { from, audio, video } => {
                self.emit(Event::MediaState { from: who(from), audio, video });
            }
            ServerMsg::Joined { room, you, members, .. } => {
                self.me = Some(you);
                self.emit(Event::RoomJoined { room: room.0, you, members: members.clone() });
                for m in members {
                    if let Err(e) = self.open_link(Who::Member(m.id), super::offers_to(you, m.id)).await {
                        self.fail(Who::Member(m.id), &e);
                    }
                }
            }
            ServerMsg::PeerJoined { peer, .. } => {
                let id = peer.id;
                self.rebuilds.forget(id);
                self.emit(Event::MemberJoined(peer));
                let offer = self.me.is_some_and(|me| super::offers_to(me, id));
                if offer && let Err(e) = self.open_link(Who::Member(id), true).await {
                    self.fail(Who::Member(id), &e);
                }
            }
            ServerMsg::PeerLeft { peer, .. } => {
                self.rebuilds.forget(peer);
                self.close_link(Who::Member(peer));
                self.emit(Event::MemberLeft(peer));
            }
            ServerMsg::Error { code, message } => {
                self.emit(Event::Error(format!("server: {message} ({})", code.as_str())));
            }
            ServerMsg::Welcome { .. } | ServerMsg::Ready { .. } => {}
        }
    }

    async fn link_event(&mut self, id: u64, event: LinkEvent) {
        let Some(&who) = self.links.ids.get(&id) else { return }; // a closed link's late event
        match event {
            LinkEvent::Candidate(candidate) => {
                let relay = strangers_shared::Relay { to: who.to(), candidate: Some(candidate), ..Default::default() };
                self.signal(ClientMsg::Candidate(relay));
            }
            LinkEvent::State(RTCPeerConnectionState::Connected) => match (self.on_link_connected(who).await, who) {
                (Err(e), _) => self.fail(who, &e),
                (Ok(()), Who::Partner) => self.set_state(CallState::Connected),
                (Ok(()), Who::Member(member)) => self.rebuilds.connected(member),
            },
            LinkEvent::State(
                event_state @ (RTCPeerConnectionState::Disconnected
                | RTCPeerConnectionState::Failed
                | RTCPeerConnectionState::Closed),
            ) => {
                let was_connected = self.links.by_who.get(&who).is_some_and(|l| l.connected);
                if !was_connected {
                    // It never worked: that is a failed call, not a partner who left.
                    self.fail(who, &CallError::NeverConnected(format!("{event_state:?}")));
                    return;
                }
                // The partner vanished without the server noticing (yet): leave and re-queue. A
                // room member is still listed: rebuild its link.
                self.close_link(who);
                if let Who::Member(member) = who {
                    self.member_link_lost(member);
                }
                if who == Who::Partner && self.state.in_call() {
                    self.set_state(CallState::PartnerLeft { reason: strangers_shared::LeaveReason::Disconnected });
                    if let Intent::Search { mode, .. } = self.intent {
                        self.signal(ClientMsg::Next);
                        self.set_state(CallState::Searching { mode });
                    }
                }
            }
            LinkEvent::Track(track) => self.on_track(who, track).await,
            LinkEvent::State(_) | LinkEvent::Ice(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_chat_lines_are_tagged_like_the_conversation() {
        assert_eq!(own_line(false, Some(PeerId(3))), Who::Partner, "a random call is with the partner");
        assert_eq!(own_line(false, None), Who::Partner);
        assert_eq!(own_line(true, Some(PeerId(3))), Who::Member(PeerId(3)), "in a room we are a member too");
    }
}
