//! The shell's half of each link: the webrtc-rs peer connection, the tasks that receive its
//! media, its statistics, and carrying out what the core asked for on it. What a result means
//! goes back to the core as a [`LinkInput`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use strangers_shared::IceServer;
use tokio::task::JoinHandle;
use tracing::Instrument;
use webrtc::media_stream::track_remote::TrackRemote;

use super::core::{Input, LinkId, LinkInput};
use super::stats::Previous;
use super::task::{LinkPrivacy, Shell};
use super::{Event, Who};
use crate::call::peer::{CallError, LinkConfig, PeerLink};
use crate::media::receive::{RxStats, VideoOut, receive_audio, receive_video};
use crate::slot::FrameSlot;

/// One peer connection and what hangs off it.
pub(super) struct Link {
    who: Who,
    peer: PeerLink,
    connected: bool,
    receivers: Vec<JoinHandle<()>>,
    video_in: Option<(Arc<RxStats>, FrameSlot)>,
    audio_in: Option<Arc<RxStats>>,
    prev: Previous,
    /// The link's log context (its id, who it is with, our role).
    span: tracing::Span,
    /// Counts this link as alive until its peer connection has finished closing.
    live: LiveGuard,
}

/// One count in [`Links::live`], given back when dropped.
struct LiveGuard(Arc<AtomicUsize>);

impl LiveGuard {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The shell's links, by id.
pub(super) struct Links {
    by_id: HashMap<LinkId, Link>,
    /// Peer connections created and not yet completely closed (shared with the handle).
    live: Arc<AtomicUsize>,
}

impl Links {
    pub(super) fn new(live: Arc<AtomicUsize>) -> Self {
        Self { by_id: HashMap::new(), live }
    }
}

impl Shell {
    /// Create the peer connection the core opened; make the offer if it offers.
    pub(super) async fn open_link(
        &mut self,
        id: LinkId,
        who: Who,
        offer: bool,
        ice_servers: Vec<IceServer>,
        privacy: LinkPrivacy,
    ) {
        let role = if offer { "offerer" } else { "answerer" };
        let span = tracing::info_span!("link", id = id.0, ?who, role);
        let cfg = LinkConfig {
            ice_servers,
            udp_bind: self.settings.udp_bind.clone(),
            video: true,
            audio: true,
            relay_only: privacy.relay_only,
            hide_host: privacy.hide_host,
        };
        let created = PeerLink::new(id.0, &cfg, self.link_tx.clone()).instrument(span.clone()).await;
        let peer = match created {
            Ok(peer) => peer,
            Err(e) => return self.feed(Input::Link(id, LinkInput::Failed(e))),
        };
        let live = LiveGuard::new(&self.links.live);
        let link = Link {
            who,
            peer,
            connected: false,
            receivers: Vec::new(),
            video_in: None,
            audio_in: None,
            prev: Previous::default(),
            span: span.clone(),
            live,
        };
        self.links.by_id.insert(id, link);
        tracing::debug!(parent: &span, "link created");
        if offer && let Some(link) = self.links.by_id.get(&id) {
            let result = link.peer.offer().instrument(span).await;
            self.feed(Input::Link(id, described(result)));
        }
    }

    fn observe(&self, who: Who, text: &str) {
        if let Some(observe) = &self.settings.observers.remote_signals {
            observe(who, text);
        }
    }

    /// Restart ICE on the link and make the new offer.
    pub(super) async fn restart_ice(&mut self, id: LinkId) {
        let Some(link) = self.links.by_id.get(&id) else { return };
        let result = link.peer.restart_ice().instrument(link.span.clone()).await;
        self.feed(Input::Link(id, described(result)));
    }

    pub(super) async fn apply_offer(&mut self, id: LinkId, sdp: String) {
        let Some(link) = self.links.by_id.get(&id) else { return };
        self.observe(link.who, &sdp);
        let Some(link) = self.links.by_id.get_mut(&id) else { return };
        let result = link.peer.answer(sdp).instrument(link.span.clone()).await;
        self.feed(Input::Link(id, described(result)));
    }

    pub(super) async fn apply_answer(&mut self, id: LinkId, sdp: String) {
        let Some(link) = self.links.by_id.get(&id) else { return };
        self.observe(link.who, &sdp);
        let Some(link) = self.links.by_id.get_mut(&id) else { return };
        if let Err(e) = link.peer.accept_answer(sdp).instrument(link.span.clone()).await {
            self.feed(Input::Link(id, LinkInput::Failed(e)));
        }
    }

    pub(super) async fn add_candidate(&mut self, id: LinkId, candidate: Option<serde_json::Value>) {
        let Some(link) = self.links.by_id.get(&id) else { return };
        if let Some(text) = candidate.as_ref().and_then(|c| c.get("candidate")).and_then(|c| c.as_str()) {
            self.observe(link.who, text);
        }
        let Some(link) = self.links.by_id.get_mut(&id) else { return };
        if let Err(e) = link.peer.add_candidate(candidate).await {
            tracing::debug!(parent: &link.span, error = %e, "candidate refused");
        }
    }

    /// The link connected: start sending the shared encoders' output on it.
    pub(super) async fn start_sending(&mut self, id: LinkId) {
        let video = Some(self.media.video.subscribe());
        let audio = Some(self.media.audio.subscribe());
        let control = self.media.control.clone();
        let Some(link) = self.links.by_id.get_mut(&id) else { return };
        link.connected = true;
        if let Err(e) = link.peer.start_sending(video, audio, control).await {
            self.feed(Input::Link(id, LinkInput::Failed(e)));
        }
    }

    /// Tear a link down completely (tasks, tracks, sockets). The close itself runs in the
    /// background so the engine never waits on it.
    pub(super) fn close_link(&mut self, id: LinkId) {
        let Some(mut link) = self.links.by_id.remove(&id) else { return };
        tracing::debug!(parent: &link.span, "link closed");
        for r in link.receivers.drain(..) {
            r.abort();
        }
        let (peer, live) = (link.peer, link.live);
        tokio::spawn(async move {
            peer.close().await;
            drop(live);
        });
    }

    /// A remote track arrived: start receiving it.
    pub(super) async fn on_track(&mut self, id: LinkId, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let Some(link) = self.links.by_id.get_mut(&id) else { return };
        let who = link.who;
        let stats = Arc::new(RxStats::default());
        if kind == RtpCodecKind::Video {
            let slot = FrameSlot::default();
            let probe = self.settings.observers.pictures.as_ref().map(|make| make(who));
            let out = VideoOut { slot: slot.clone(), rgba: self.settings.rgba, stats: stats.clone(), probe };
            link.receivers.push(tokio::spawn(receive_video(track, out).instrument(link.span.clone())));
            link.video_in = Some((stats.clone(), slot.clone()));
            self.emit(Event::RemoteVideo { from: who, slot, stats });
        } else {
            let sink = (self.settings.sinks)(who);
            link.receivers.push(tokio::spawn(receive_audio(track, sink, stats.clone()).instrument(link.span.clone())));
            link.audio_in = Some(stats.clone());
            self.emit(Event::RemoteAudio { from: who, stats });
        }
    }

    /// Emit fresh statistics for every connected link.
    pub(super) async fn emit_stats(&mut self) {
        let send = self.media.stats.clone();
        let mut out = Vec::new();
        for link in self.links.by_id.values_mut().filter(|l| l.connected) {
            let video = link.video_in.as_ref().map(|(s, _)| s);
            let stats = super::stats::collect(
                link.peer.connection(),
                link.peer.reported_loss(),
                video,
                link.audio_in.as_ref(),
                &send,
                &mut link.prev,
            )
            .await;
            out.push((link.who, stats));
        }
        // One encoder serves every link (a mesh room shares it), so it follows the worst one.
        let control = &self.media.control;
        let estimate = out.iter().filter_map(|(_, s)| s.estimate_bps).min().unwrap_or(0);
        let loss = out.iter().map(|(_, s)| s.loss_out).fold(0.0, f64::max);
        control.estimate_bps.store(estimate, std::sync::atomic::Ordering::Relaxed);
        control.loss_pct.store((loss * 100.0).round() as u32, std::sync::atomic::Ordering::Relaxed);
        for (who, stats) in out {
            self.emit(Event::Stats(who, stats));
        }
    }
}

/// An offer or answer that was made, or why not.
fn described(result: Result<String, CallError>) -> LinkInput {
    match result {
        Ok(sdp) => LinkInput::LocalDescription(sdp),
        Err(e) => LinkInput::Failed(e),
    }
}
