//! The engine task: the thin shell around [`EngineCore`]. It owns the signaling connection, the
//! peer connections and the media pipeline, turns what happens on them into core inputs, and
//! carries out the core's outputs. It decides nothing: every choice is the core's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing::Instrument;
use webrtc::peer_connection::RTCPeerConnectionState;

use super::core::{EngineCore, Input, LinkId, LinkInput, MediaSwitch, Now, Output};
use super::links::Links;
use super::{Command, Event, Observers, SinkFactory};
use crate::call::peer::LinkEvent;
use crate::media::send::MediaSender;
use crate::signaling::{self, SignalEvent, SignalingHandle};

/// How much of our address a new link may show (see [`crate::call::privacy`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkPrivacy {
    /// Never signal host candidates.
    pub(super) hide_host: bool,
    /// Gather relay candidates only.
    pub(super) relay_only: bool,
}

/// What the engine was started with (the parts the task keeps).
pub(super) struct Settings {
    pub(super) server_url: String,
    pub(super) identity: crate::signaling::Identity,
    pub(super) udp_bind: String,
    pub(super) relay_only: bool,
    pub(super) rgba: bool,
    pub(super) sinks: SinkFactory,
    pub(super) observers: Observers,
}

/// The shell's state; see the module docs.
pub(super) struct Shell {
    pub(super) settings: Settings,
    pub(super) media: MediaSender,
    pub(super) links: Links,
    pub(super) link_tx: mpsc::UnboundedSender<(u64, LinkEvent)>,
    core: EngineCore,
    signaling: SignalingHandle,
    events: mpsc::UnboundedSender<Event>,
}

/// Engines started in this process, so that each one's logs carry its own number.
static ENGINES: AtomicUsize = AtomicUsize::new(0);

pub(super) async fn run(
    settings: Settings,
    media: MediaSender,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    live_links: Arc<AtomicUsize>,
) {
    let engine = ENGINES.fetch_add(1, Ordering::Relaxed) + 1;
    let span = tracing::info_span!("engine", n = engine);
    run_inner(settings, media, commands, events, live_links).instrument(span).await;
}

async fn run_inner(
    settings: Settings,
    media: MediaSender,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    live_links: Arc<AtomicUsize>,
) {
    let (signaling, mut signals) = signaling::spawn(settings.server_url.clone(), settings.identity.clone());
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let mut shell = Shell {
        settings,
        media,
        links: Links::new(live_links),
        link_tx,
        core: EngineCore::new(now()),
        signaling,
        events,
    };
    shell.emit(Event::ServerConnecting);
    // What the engine was started with is the user's first choice; SetRelayOnly changes it.
    let relay_only = shell.settings.relay_only;
    shell.feed(Input::Command(Command::SetRelayOnly(relay_only)));
    // Twice a second: the overlay's figures, and how often the encoders hear the estimate.
    let mut stats_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        shell.carry_out().await;
        let deadline = shell.core.poll_timeout();
        tokio::select! {
            cmd = commands.recv() => {
                let cmd = cmd.unwrap_or(Command::Shutdown);
                let last = matches!(cmd, Command::Shutdown | Command::Abort);
                shell.feed(Input::Command(cmd));
                if last {
                    shell.carry_out().await;
                    return;
                }
            }
            Some(signal) = signals.recv() => shell.feed(match signal {
                SignalEvent::Connected { peer_id, online, ice_servers, resume, resumed } => {
                    Input::ServerUp { peer_id, online, ice_servers, resume, resumed }
                }
                SignalEvent::Disconnected { reason, retry_in } => Input::ServerDown { reason, retry_in },
                SignalEvent::Message(msg) => Input::Server(msg),
            }),
            Some((id, event)) = link_rx.recv() => shell.link_event(LinkId(id), event).await,
            () = signaling::sleep_until(deadline.map(Into::into)) => shell.feed(Input::Timeout),
            _ = stats_tick.tick() => shell.emit_stats().await,
        }
    }
}

fn now() -> Now {
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Now { mono: Instant::now(), unix_ms }
}

impl Shell {
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Give the core an input, now.
    pub(super) fn feed(&mut self, input: Input) {
        self.core.handle(now(), input);
    }

    /// Carry out everything the core asked for, including what the results lead to.
    async fn carry_out(&mut self) {
        while let Some(output) = self.core.poll_output() {
            self.execute(output).await;
        }
    }

    async fn execute(&mut self, output: Output) {
        match output {
            Output::Signal(msg) => {
                self.signaling.send(msg);
            }
            Output::Event(event) => self.emit(event),
            Output::Resume(token) => self.signaling.set_resume(token),
            Output::ProbeSignaling => self.signaling.probe(),
            Output::Terms(version) => {
                self.settings.identity.terms = Some(version);
                self.signaling.set_identity(self.settings.identity.clone());
            }
            Output::OpenLink { id, who, offer, ice_servers, hide_host, relay_only } => {
                let privacy = LinkPrivacy { hide_host, relay_only };
                self.open_link(id, who, offer, ice_servers, privacy).await;
            }
            Output::ApplyOffer { id, sdp } => self.apply_offer(id, sdp).await,
            Output::ApplyAnswer { id, sdp } => self.apply_answer(id, sdp).await,
            Output::AddCandidate { id, candidate } => self.add_candidate(id, candidate).await,
            Output::StartSending { id } => self.start_sending(id).await,
            Output::RestartIce { id } => self.restart_ice(id).await,
            Output::CloseLink { id, who } => {
                self.close_link(id);
                self.emit(Event::LinkClosed(who));
            }
            Output::Media(switch) => {
                let control = &self.media.control;
                match switch {
                    MediaSwitch::Muted(on) => control.muted.store(on, Ordering::Relaxed),
                    MediaSwitch::CameraOff(on) => control.camera_off.store(on, Ordering::Relaxed),
                    MediaSwitch::Preview(on) => control.preview.store(on, Ordering::Relaxed),
                    MediaSwitch::Keyframe => self.media.request_keyframe(),
                }
            }
        }
    }

    /// What a peer connection reported: tracks are the shell's to receive; the rest is news for
    /// the core.
    async fn link_event(&mut self, id: LinkId, event: LinkEvent) {
        let input = match event {
            LinkEvent::Track(track) => return self.on_track(id, track).await,
            LinkEvent::Candidate(candidate) => LinkInput::LocalCandidate(candidate),
            LinkEvent::State(RTCPeerConnectionState::Connected) => LinkInput::Connected,
            LinkEvent::State(
                state @ (RTCPeerConnectionState::Disconnected
                | RTCPeerConnectionState::Failed
                | RTCPeerConnectionState::Closed),
            ) => LinkInput::Down(format!("{state:?}")),
            LinkEvent::State(_) | LinkEvent::Ice(_) => return,
        };
        self.feed(Input::Link(id, input));
    }
}
