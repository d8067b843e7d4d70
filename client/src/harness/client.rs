//! A headless client for tests and benchmarks: a real engine with synthetic camera and
//! microphone, whose events are folded into a [`View`] that scenarios can wait on.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strangers_shared::{LeaveReason, Mode, PeerId};
use tokio::sync::Notify;

use super::analyser::{ToneAnalyser, ToneCheck, ToneRegistry};
use super::echo_room::{EchoRoom, EchoTap};
use super::error::HarnessError;
use super::stamps::StampProbe;
use crate::call::state::CallState;
use crate::engine::{self, CallStats, Command, EngineConfig, EngineHandle, Event, Observers, Who};
use crate::media::audio_source::{AudioSource, SyntheticTone};
use crate::media::echo::{CleanMic, FarEnd, Stages};
use crate::media::probe::PictureProbe;
use crate::media::receive::RxStats;
use crate::media::send::{SendConfig, SendStats};
use crate::media::video_source::SyntheticVideo;

/// What a client says when a call connects, followed by its name (used to learn who is paired
/// with whom).
pub const GREETING: &str = "hello from ";

/// How to build a headless client.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Name in reports.
    pub name: String,
    /// Signal server URL.
    pub server_url: String,
    /// Picture size and rate of the test card.
    pub width: usize,
    /// Picture height.
    pub height: usize,
    /// Frames per second.
    pub fps: f64,
    /// A fixed H.264 bitrate; `None` follows the congestion controller's estimate (as the app
    /// does).
    pub bitrate_bps: Option<u32>,
    /// This client's tone.
    pub tone_hz: f64,
}

/// How a client reaches the network, and the room it sits in.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Local UDP address for WebRTC; `0.0.0.0:0` (every interface) like the app.
    pub udp_bind: String,
    /// Send all media through the TURN relay and reveal no address to the partner.
    pub relay_only: bool,
    /// Clean the microphone against what is played (echo cancellation), as the app does.
    pub echo_cancellation: bool,
    /// What is played comes back into the microphone this much later, at -6 dB (see
    /// [`super::echo_room`]); `None`: as with headphones.
    pub echo_path: Option<Duration>,
    /// The terms version to say the user accepted (for servers started with `--require-terms`).
    pub terms: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { udp_bind: "0.0.0.0:0".into(), relay_only: false, echo_cancellation: true, echo_path: None, terms: None }
    }
}

/// A remote stream the client received, with when it started.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Whose it is.
    pub from: Who,
    /// Its counters.
    pub stats: Arc<RxStats>,
}

/// Everything a client has seen, folded from its events.
#[derive(Debug, Default)]
pub struct View {
    /// Our id on the current server connection.
    pub peer_id: Option<PeerId>,
    /// Connected to the server.
    pub online: bool,
    /// Times the server connection was lost.
    pub server_lost: usize,
    /// The call state.
    pub call: Option<CallState>,
    /// When the last `matched` arrived.
    pub matched_at: Option<Instant>,
    /// When the partner link last connected.
    pub connected_at: Option<Instant>,
    /// Calls that reached Connected.
    pub calls: usize,
    /// Chat lines received (not ours), in order.
    pub chats: Vec<String>,
    /// The current partner's name, from its `hello from NAME` greeting.
    pub partner_name: Option<String>,
    /// The partner's typing indicator.
    pub typing: Option<bool>,
    /// Media state per sender.
    pub media: HashMap<Who, (bool, bool)>,
    /// Partner-left reasons, in order.
    pub partner_left: Vec<LeaveReason>,
    /// Remote video streams, newest last.
    pub videos: Vec<Stream>,
    /// Remote audio streams, newest last.
    pub audios: Vec<Stream>,
    /// ICE candidate types (`host`, `srflx`, `prflx`, `relay`) the partners revealed to us, in
    /// their descriptions and trickled candidates.
    pub remote_candidate_types: std::collections::BTreeSet<String>,
    /// Tone checks of remote audio streams and whose they are, newest last.
    pub tones: Vec<(Who, Arc<ToneCheck>)>,
    /// Stamp readers on remote video streams and whose they are, newest last.
    pub stamps: Vec<(Who, Arc<StampProbe>)>,
    /// The room we joined.
    pub room: Option<String>,
    /// Room members we know.
    pub members: Vec<PeerId>,
    /// Links torn down.
    pub links_closed: usize,
    /// Latest statistics per link.
    pub stats: HashMap<Who, CallStats>,
    /// Errors reported.
    pub errors: Vec<String>,
    /// Media-path outages of a call (ICE restarts begun).
    pub outages: usize,
    /// Outages the call recovered from.
    pub recoveries: usize,
    /// When the last outage ended (Unix ms, to compare with when a test restored the path).
    pub recovered_unix_ms: Option<u64>,
}

impl View {
    /// The newest video stream from `who`.
    pub fn video_from(&self, who: Who) -> Option<&Arc<RxStats>> {
        self.videos.iter().rev().find(|s| s.from == who).map(|s| &s.stats)
    }

    /// The newest audio stream from `who`.
    pub fn audio_from(&self, who: Who) -> Option<&Arc<RxStats>> {
        self.audios.iter().rev().find(|s| s.from == who).map(|s| &s.stats)
    }

    /// The stamp reader on the newest video stream from `who`.
    pub fn stamps_from(&self, who: Who) -> Option<&Arc<StampProbe>> {
        self.stamps.iter().rev().find(|(from, _)| *from == who).map(|(_, p)| p)
    }

    /// The tone check of the newest audio stream from `who`.
    pub fn tone_from(&self, who: Who) -> Option<&Arc<ToneCheck>> {
        self.tones.iter().rev().find(|(from, _)| *from == who).map(|(_, t)| t)
    }
}

/// A running headless client.
pub struct HarnessClient {
    /// Its spec.
    pub spec: ClientSpec,
    engine: EngineHandle,
    view: Arc<Mutex<View>>,
    changed: Arc<Notify>,
}

impl HarnessClient {
    /// Start a client whose received audio is checked against `registry`.
    pub fn start(spec: ClientSpec, registry: Arc<ToneRegistry>) -> std::io::Result<Self> {
        Self::start_with_grain(spec, registry, 0)
    }

    /// [`HarnessClient::start`] with a grainy test card (see [`SyntheticVideo::with_grain`]), so
    /// the encoder works at a camera's bitrate.
    pub fn start_with_grain(spec: ClientSpec, registry: Arc<ToneRegistry>, grain: u8) -> std::io::Result<Self> {
        Self::start_with(spec, registry, grain, ClientOptions::default())
    }

    /// [`HarnessClient::start_with_grain`] on the network as `net` says.
    pub fn start_with(
        spec: ClientSpec,
        registry: Arc<ToneRegistry>,
        grain: u8,
        net: ClientOptions,
    ) -> std::io::Result<Self> {
        let tone = SyntheticTone::new(spec.tone_hz, super::analyser::MARKER_HZ, Duration::from_millis(500));
        registry.add(spec.tone_hz, tone.markers());
        let view = Arc::new(Mutex::new(View::default()));
        // The canceller runs where there is an echo to cancel (a room with speakers); without
        // one the client is as the app with headphones, where the setting is off.
        let far = (net.echo_cancellation && net.echo_path.is_some()).then(FarEnd::default);
        let room = net.echo_path.map(|_| FarEnd::default());
        let sinks = {
            let (view, registry, far, room) = (view.clone(), registry.clone(), far.clone(), room.clone());
            let own_hz = spec.tone_hz;
            Arc::new(move |who: Who| -> Box<dyn crate::media::audio_source::AudioSink> {
                let (analyser, check) = ToneAnalyser::new(registry.clone(), Some(own_hz));
                if let Ok(mut v) = view.lock() {
                    v.tones.push((who, check));
                }
                Box::new(EchoTap { inner: Box::new(analyser), far: far.clone(), room: room.clone() })
            })
        };
        let mut mic: Box<dyn AudioSource> = Box::new(tone);
        if let (Some(room), Some(delay)) = (room, net.echo_path) {
            mic = Box::new(EchoRoom::new(mic, room, delay));
        }
        if let Some(far) = far {
            // The canceller alone, not the app's noise suppression and gain control: those take
            // the steady test tone for noise (measured: the tone in half the frames, against
            // 50-90% with the canceller alone). The tones are a worst case for AEC3 in any case
            // (narrowband, and both ends talk all the time); client/tests/echo.rs measures the
            // full chain on speech-like audio.
            let stages = Stages { echo: true, noise: false, gain: false };
            mic = Box::new(CleanMic::new(mic, far, stages, Arc::new(AtomicBool::new(true))));
        }
        let pictures = {
            let view = view.clone();
            Arc::new(move |who: Who| -> Arc<dyn PictureProbe> {
                let probe = Arc::new(StampProbe::default());
                if let Ok(mut v) = view.lock() {
                    v.stamps.push((who, probe.clone()));
                }
                probe
            })
        };
        let remote_signals = {
            let view = view.clone();
            Arc::new(move |_: Who, text: &str| {
                if let Ok(mut v) = view.lock() {
                    v.remote_candidate_types.extend(candidate_types(text));
                }
            })
        };
        let observers = Observers { pictures: Some(pictures), remote_signals: Some(remote_signals) };
        let cfg = EngineConfig {
            server_url: spec.server_url.clone(),
            identity: crate::signaling::Identity {
                install: Some(crate::signaling::Identity::new_install_id()),
                terms: net.terms.clone(),
            },
            udp_bind: net.udp_bind,
            relay_only: net.relay_only,
            video: Some(Box::new(SyntheticVideo::new(spec.width, spec.height, spec.fps, &spec.name).with_grain(grain))),
            audio: Some(mic),
            send: SendConfig {
                adaptive: spec.bitrate_bps.is_none(),
                video_bitrate_bps: spec.bitrate_bps.unwrap_or(800_000),
                video_fps: spec.fps as f32,
                ..SendConfig::default()
            },
            rgba: false,
            sinks,
        };
        let mut engine = engine::start_observed(cfg, observers)?;
        let changed = Arc::new(Notify::new());
        let mut events = std::mem::replace(&mut engine.events, tokio::sync::mpsc::unbounded_channel().1);
        {
            let (view, changed) = (view.clone(), changed.clone());
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    if let Ok(mut v) = view.lock() {
                        fold(&mut v, event);
                    }
                    changed.notify_waiters();
                }
            });
        }
        Ok(Self { spec, engine, view, changed })
    }

    /// Send a command to the engine.
    pub fn send(&self, cmd: Command) {
        self.engine.send(cmd);
    }

    /// Start searching in video mode.
    pub fn start_video(&self) {
        self.send(Command::Start { mode: Mode::Video, interests: Vec::new() });
    }

    /// Read the view.
    pub fn view<T>(&self, f: impl FnOnce(&View) -> T) -> T {
        let v = self.view.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&v)
    }

    /// The send-side counters.
    pub fn send_stats(&self) -> Arc<SendStats> {
        self.engine.send_stats.clone()
    }

    /// Peer connections this client has alive (created and not yet completely closed).
    pub fn live_links(&self) -> usize {
        self.engine.live_links.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wait until `pred` holds, or fail after `timeout` with `what`.
    pub async fn wait(&self, timeout: Duration, what: &str, pred: impl Fn(&View) -> bool) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.view(&pred) {
                return Ok(());
            }
            // Counters change without events; look again at least every 50 ms.
            let tick = tokio::time::Instant::now() + Duration::from_millis(50);
            if tokio::time::timeout_at(deadline.min(tick), notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Err(HarnessError::Timeout {
                    client: self.spec.name.clone(),
                    what: what.to_string(),
                    after: timeout,
                });
            }
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The candidate types named in an SDP's `a=candidate` lines or in one trickled candidate
/// (`candidate:… typ host …`).
fn candidate_types(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("candidate:"))
        .filter_map(crate::call::privacy::candidate_type)
        .map(str::to_owned)
        .collect()
}

fn fold(v: &mut View, event: Event) {
    match event {
        Event::ServerConnecting | Event::Call(_) | Event::Reported | Event::Blocked | Event::TermsRequired => {}
        Event::Banned { until_ms } => v.errors.push(format!("banned until {until_ms}")),
        Event::Reconnecting(_) => v.outages += 1,
        Event::Reconnected(_) => {
            v.recoveries += 1;
            v.recovered_unix_ms = Some(unix_ms());
        }
        Event::RoomLeft => {
            v.room = None;
            v.members.clear();
        }
        Event::ServerOnline { peer_id, .. } => {
            v.peer_id = Some(peer_id);
            v.online = true;
        }
        Event::ServerLost { .. } => {
            v.online = false;
            v.server_lost += 1;
        }
        Event::State(state) => {
            match &state {
                CallState::Matched { .. } => {
                    v.matched_at = Some(Instant::now());
                    v.partner_name = None;
                }
                CallState::Connected => {
                    v.connected_at = Some(Instant::now());
                    v.calls += 1;
                }
                CallState::PartnerLeft { reason } => v.partner_left.push(*reason),
                _ => {}
            }
            v.call = Some(state);
        }
        Event::Waiting { .. } => {}
        Event::Chat { text, mine: false, .. } => {
            if let Some(name) = text.strip_prefix(GREETING) {
                v.partner_name = Some(name.to_string());
            }
            v.chats.push(text);
        }
        Event::Chat { .. } => {}
        Event::Typing { active, .. } => v.typing = Some(active),
        Event::MediaState { from, audio, video } => {
            v.media.insert(from, (audio, video));
        }
        Event::RoomJoined { room, members, .. } => {
            v.room = Some(room);
            v.members = members.iter().map(|m| m.id).collect();
        }
        Event::MemberJoined(m) => v.members.push(m.id),
        Event::MemberLeft(id) => v.members.retain(|m| *m != id),
        Event::RemoteVideo { from, stats, .. } => v.videos.push(Stream { from, stats }),
        Event::RemoteAudio { from, stats } => v.audios.push(Stream { from, stats }),
        Event::Stats(who, stats) => {
            v.stats.insert(who, stats);
        }
        Event::LinkClosed(_) => v.links_closed += 1,
        Event::Error(e) => v.errors.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::candidate_types;

    #[test]
    fn candidate_types_are_read_from_descriptions_and_trickled_candidates() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 10.1.0.2 5000 typ host\r\n\
                   a=candidate:2 1 udp 1694498815 203.0.113.11 6000 typ srflx raddr 10.1.0.2 rport 5000\r\n";
        assert_eq!(candidate_types(sdp), ["host", "srflx"]);
        assert_eq!(candidate_types("candidate:3 1 udp 16777215 203.0.113.1 49152 typ relay raddr 0.0.0.0"), ["relay"]);
        assert!(candidate_types("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n").is_empty());
    }
}
