//! One WebRTC peer connection to one partner (webrtc-rs 0.21): H.264 and Opus tracks, trickle
//! ICE with remote candidates buffered until the remote description is set, sending from the
//! shared encoders, and a full teardown on close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::Slot;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCIceTransportPolicy;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};
use strangers_shared::IceServer;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateInit,
    RTCIceConnectionState, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

pub use super::error::CallError;
use super::keyframe::{KeyframeRequests, ReportedLoss, is_keyframe_request};
use super::link_io::{LinkIo, LinkRuntime};
use super::{privacy, setup};
use crate::media::send::{EncodedSample, SendControl};

pub(super) fn rtc_err(e: impl std::fmt::Display) -> CallError {
    CallError::WebRtc(e.to_string())
}

/// Settings for a peer connection.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// STUN/TURN servers from the signal server's welcome.
    pub ice_servers: Vec<IceServer>,
    /// Local UDP address to bind (`0.0.0.0:0` for real calls, `127.0.0.1:0` for loopback tests).
    pub udp_bind: String,
    /// Send and receive video.
    pub video: bool,
    /// Send and receive audio.
    pub audio: bool,
    /// Gather only TURN relay candidates, so the partner never learns our addresses.
    pub relay_only: bool,
    /// Never signal host candidates (see [`super::privacy`]); related addresses are zeroed
    /// always.
    pub hide_host: bool,
}

impl LinkConfig {
    /// Video and audio on 127.0.0.1 with no STUN or TURN server: a link for tests on one
    /// machine.
    pub fn loopback() -> Self {
        Self {
            ice_servers: Vec::new(),
            udp_bind: "127.0.0.1:0".into(),
            video: true,
            audio: true,
            relay_only: false,
            hide_host: false,
        }
    }
}

/// What a link reports to the engine (tagged with the link's id).
#[derive(Clone)]
pub enum LinkEvent {
    /// A local ICE candidate to trickle to the partner (browser `RTCIceCandidateInit` JSON).
    Candidate(serde_json::Value),
    /// The peer connection state changed.
    State(RTCPeerConnectionState),
    /// The ICE connection state changed.
    Ice(RTCIceConnectionState),
    /// The partner's media arrived.
    Track(Arc<dyn TrackRemote>),
}

/// How far local ICE gathering has got.
#[derive(Debug, Clone, Copy, Default)]
struct Gathering {
    /// Local candidates found so far (host ones come first, all at once).
    candidates: usize,
    /// Every gatherer (host, STUN, TURN) has finished.
    complete: bool,
}

struct Handler {
    id: u64,
    tx: mpsc::UnboundedSender<(u64, LinkEvent)>,
    gathering: Arc<tokio::sync::watch::Sender<Gathering>>,
    hide_host: bool,
    /// The connection's sockets, told when ICE has a path and when the connection settles.
    io: Arc<LinkIo>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = event.candidate.to_json().map(|mut init| {
            let empty = init.candidate.is_empty();
            let shown = if empty { Some(String::new()) } else { privacy::shown(&init.candidate, self.hide_host) };
            shown.map(|line| {
                init.candidate = line;
                (empty, serde_json::to_value(init))
            })
        });
        match init {
            // Kept to ourselves: used for checks, never signalled.
            Ok(None) => {}
            Ok(Some((empty, Ok(json)))) => {
                if !empty {
                    self.gathering.send_modify(|g| g.candidates += 1);
                }
                let _ = self.tx.send((self.id, LinkEvent::Candidate(json)));
            }
            _ => tracing::debug!("skipping a local candidate that does not serialise"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_modify(|g| g.complete = state == RTCIceGatheringState::Complete);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if matches!(state, RTCIceConnectionState::Connected | RTCIceConnectionState::Completed) {
            // Called inline by the connection's driver, before it reads again: what was kept
            // reaches DTLS ahead of anything that arrives later.
            self.io.open_path();
        }
        let _ = self.tx.send((self.id, LinkEvent::Ice(state)));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.io.set_settled(matches!(
            state,
            RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ));
        let _ = self.tx.send((self.id, LinkEvent::State(state)));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tx.send((self.id, LinkEvent::Track(track)));
    }
}

struct LocalTrack {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
}

/// One peer connection; see the module docs.
pub struct PeerLink {
    /// The engine's id for this link.
    pub id: u64,
    pc: Arc<dyn PeerConnection>,
    video: Option<LocalTrack>,
    audio: Option<LocalTrack>,
    remote_set: bool,
    pending: Vec<RTCIceCandidateInit>,
    tasks: Vec<JoinHandle<()>>,
    gathering: tokio::sync::watch::Receiver<Gathering>,
    /// STUN or TURN servers are configured (their candidates may take a while, or never come).
    has_servers: bool,
    /// Host candidates stay out of what we signal.
    hide_host: bool,
    /// What the partner reports losing of our media.
    loss: ReportedLoss,
}

/// The longest an offer or answer waits for local candidates before it goes out anyway (later
/// ones trickle). In practice it waits far less: with no STUN/TURN servers gathering completes
/// in well under a millisecond, and with servers it only waits for the host candidates, which
/// are found at once; the servers' candidates trickle, so an unreachable STUN server never holds
/// the engine up.
const GATHER_WAIT: Duration = Duration::from_millis(150);

/// The same when host candidates are kept from the partner: long enough for a STUN server's
/// answer on most of the internet, since without one the host candidates must be shown after all.
const HIDDEN_GATHER_WAIT: Duration = Duration::from_millis(400);

fn local_track(kind: RtpCodecKind, codec: RTCRtpCodec) -> Result<Arc<TrackLocalStaticSample>, CallError> {
    let encoding = RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(rand::random::<u32>()), ..Default::default() },
        codec,
        ..Default::default()
    };
    // Track ids unique to this link: webrtc-rs hands an RTCP packet for a track id to a remote
    // track of that id before a local one, so with the same id on both ends (both run this
    // code) the partner's keyframe requests reached our own receiver and never the encoder.
    let id = format!("strangers-{kind}-{:08x}", rand::random::<u32>());
    let track = MediaStreamTrack::new("strangers".to_string(), id.clone(), id, kind, vec![encoding]);
    TrackLocalStaticSample::new(Instant::now(), track).map(Arc::new).map_err(rtc_err)
}

impl PeerLink {
    /// Create a peer connection with local tracks for the configured media.
    pub async fn new(
        id: u64,
        cfg: &LinkConfig,
        events: mpsc::UnboundedSender<(u64, LinkEvent)>,
    ) -> Result<Self, CallError> {
        let mut media = setup::media_engine()?;
        let registry = setup::interceptors(&mut media)?;
        let loss = ReportedLoss::default();
        let registry = registry.with(Slot::from(14_000), KeyframeRequests::new(loss.clone()));
        let ice_servers = cfg
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect();
        let settings = setup::ice_settings(cfg.relay_only);
        let (gathering_tx, gathering) = tokio::sync::watch::channel(Gathering::default());
        let mut rtc_config = RTCConfigurationBuilder::new().with_ice_servers(ice_servers);
        if cfg.relay_only {
            if !privacy::has_udp_turn(&cfg.ice_servers) {
                return Err(CallError::NoRelay);
            }
            rtc_config = rtc_config.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
        }
        // Our own sockets and runtime under webrtc-rs, to mend its driver loop (see `link_io`).
        let io = Arc::new(LinkIo::default());
        let runtime = webrtc::runtime::default_runtime().ok_or(CallError::WebRtc("no async runtime".into()))?;
        let pc = PeerConnectionBuilder::new()
            .with_runtime(Arc::new(LinkRuntime::new(runtime, io.clone())))
            .with_configuration(rtc_config.build())
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler {
                id,
                tx: events,
                gathering: Arc::new(gathering_tx),
                hide_host: cfg.hide_host,
                io,
            }))
            .with_udp_addrs(vec![cfg.udp_bind.clone()])
            .build()
            .await
            .map_err(rtc_err)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let mut link = Self {
            id,
            pc,
            video: None,
            audio: None,
            remote_set: false,
            pending: Vec::new(),
            tasks: Vec::new(),
            gathering,
            has_servers: !cfg.ice_servers.is_empty(),
            hide_host: cfg.hide_host,
            loss,
        };
        if cfg.video {
            let track = local_track(RtpCodecKind::Video, setup::h264_codec())?;
            let sender = link.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.map_err(rtc_err)?;
            link.video = Some(LocalTrack { track, sender });
        }
        if cfg.audio {
            let track = local_track(RtpCodecKind::Audio, setup::opus_codec())?;
            let sender = link.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.map_err(rtc_err)?;
            link.audio = Some(LocalTrack { track, sender });
        }
        Ok(link)
    }

    /// Create the offer (offerer side) and return its SDP.
    pub async fn offer(&self) -> Result<String, CallError> {
        let offer = self.pc.create_offer(None).await.map_err(rtc_err)?;
        let sdp = offer.sdp.clone();
        self.pc.set_local_description(offer).await.map_err(rtc_err)?;
        Ok(self.with_candidates(sdp).await)
    }

    /// Restart ICE (new credentials, candidates gathered again) and return the new offer's SDP.
    /// The partner answers it on the same connection; DTLS and media carry on once a path works.
    pub async fn restart_ice(&self) -> Result<String, CallError> {
        self.pc.restart_ice().await.map_err(rtc_err)?;
        self.offer().await
    }

    /// The local description once it carries candidates, so that the partner's ICE agent has
    /// pairs to check the moment it starts: when gathering completes or, with STUN/TURN servers,
    /// as soon as the host candidates are in (capped by [`GATHER_WAIT`]). Candidates found later
    /// trickle.
    async fn with_candidates(&self, fallback: String) -> String {
        let mut gathering = self.gathering.clone();
        let servers = self.has_servers;
        let enough = |g: &Gathering| g.complete || (servers && g.candidates > 0);
        let wait = if self.hide_host { HIDDEN_GATHER_WAIT } else { GATHER_WAIT };
        let _ = tokio::time::timeout(wait, gathering.wait_for(enough)).await;
        let sdp = self.pc.local_description().await.map_or(fallback, |d| d.sdp);
        // Nothing but host candidates to show (the STUN server did not answer in time): they
        // are needed after all, or the partner has no address to try.
        let needed = gathering.borrow().candidates == 0;
        privacy::shown_sdp(&sdp, self.hide_host && !needed)
    }

    /// Take the partner's offer and return our answer's SDP.
    pub async fn answer(&mut self, offer_sdp: String) -> Result<String, CallError> {
        let offer = RTCSessionDescription::offer(offer_sdp).map_err(rtc_err)?;
        self.pc.set_remote_description(offer).await.map_err(rtc_err)?;
        self.remote_set = true;
        self.flush_candidates().await;
        let answer = self.pc.create_answer(None).await.map_err(rtc_err)?;
        let sdp = answer.sdp.clone();
        self.pc.set_local_description(answer).await.map_err(rtc_err)?;
        Ok(self.with_candidates(sdp).await)
    }

    /// Take the partner's answer (offerer side).
    pub async fn accept_answer(&mut self, answer_sdp: String) -> Result<(), CallError> {
        let answer = RTCSessionDescription::answer(answer_sdp).map_err(rtc_err)?;
        self.pc.set_remote_description(answer).await.map_err(rtc_err)?;
        self.remote_set = true;
        self.flush_candidates().await;
        Ok(())
    }

    /// Add a trickled candidate from the partner; buffered until the remote description is set.
    /// `None` (end-of-candidates) is accepted and ignored.
    pub async fn add_candidate(&mut self, candidate: Option<serde_json::Value>) -> Result<(), CallError> {
        let Some(value) = candidate.filter(|v| !v.is_null()) else { return Ok(()) };
        let init: RTCIceCandidateInit =
            serde_json::from_value(value).map_err(|e| CallError::BadCandidate(e.to_string()))?;
        if init.candidate.is_empty() {
            return Ok(());
        }
        if !self.remote_set {
            if self.pending.len() < 64 {
                self.pending.push(init);
            }
            return Ok(());
        }
        self.pc.add_ice_candidate(init).await.map_err(rtc_err)
    }

    async fn flush_candidates(&mut self) {
        for init in std::mem::take(&mut self.pending) {
            if let Err(e) = self.pc.add_ice_candidate(init).await {
                tracing::debug!(error = %e, "partner candidate refused");
            }
        }
    }

    /// Start sending the shared encoders' output on this link, and pass keyframe requests from
    /// the partner to the video encoder.
    pub async fn start_sending(
        &mut self,
        video: Option<broadcast::Receiver<EncodedSample>>,
        audio: Option<broadcast::Receiver<EncodedSample>>,
        control: Arc<SendControl>,
    ) -> Result<(), CallError> {
        if let (Some(local), Some(rx)) = (&self.video, video) {
            let pt = payload_type(&local.sender).await?;
            self.tasks.push(tokio::spawn(pump(local.track.clone(), pt, rx, Some(control.clone()))));
            let (track, control) = (local.track.clone(), control.clone());
            self.tasks.push(tokio::spawn(async move {
                while let Some(event) = track.poll().await {
                    let TrackLocalEvent::OnRtcpPacket(packets) = event else { continue };
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        control.keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        if let (Some(local), Some(rx)) = (&self.audio, audio) {
            let pt = payload_type(&local.sender).await?;
            self.tasks.push(tokio::spawn(pump(local.track.clone(), pt, rx, None)));
        }
        Ok(())
    }

    /// The fraction of our packets the partner last reported lost, 0–1.
    pub fn reported_loss(&self) -> f64 {
        self.loss.fraction()
    }

    /// The peer connection, for statistics.
    pub fn connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Tear everything down: sending tasks, tracks, sockets.
    pub async fn close(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing peer connection");
        }
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

async fn payload_type(sender: &Arc<dyn RtpSender>) -> Result<u8, CallError> {
    let params = sender.get_parameters().await.map_err(rtc_err)?;
    params
        .rtp_parameters
        .codecs
        .first()
        .map(|c| c.payload_type)
        .ok_or_else(|| CallError::WebRtc("no codec negotiated".into()))
}

/// Write every encoded sample to the track until the encoder goes away. A video pump that fell
/// behind skipped frames the decoder needs, so it asks `keyframe_on_lag` for a fresh keyframe.
async fn pump(
    track: Arc<TrackLocalStaticSample>,
    pt: u8,
    mut rx: broadcast::Receiver<EncodedSample>,
    keyframe_on_lag: Option<Arc<SendControl>>,
) {
    let Some(ssrc) = track.ssrcs().await.first().copied() else { return };
    loop {
        let sample = match rx.recv().await {
            Ok(s) => s,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if let Some(control) = &keyframe_on_lag {
                    control.keyframe.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let s = Sample { data: sample.data, duration: sample.duration, ..Sample::new(sample.captured_at) };
        if let Err(e) = track.sample_writer(ssrc, pt).write_sample(&s).await {
            tracing::debug!(error = %e, "write_sample failed; link closing");
            return;
        }
    }
}
