//! Link management inside the engine: creating a peer connection for a partner or room member,
//! offer/answer/candidates, starting media when it connects, receiving media, and teardown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use strangers_shared::{ClientMsg, PeerId, Relay};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_remote::TrackRemote;

use super::rebuild::Verdict;
use super::stats::Previous;
use super::task::Engine;
use super::{Event, Who};
use crate::call::peer::{CallError, LinkConfig, PeerLink};
use crate::media::receive::{RxStats, VideoOut, receive_audio, receive_video};
use crate::slot::FrameSlot;

/// One peer connection and what hangs off it.
pub(super) struct Link {
    pub(super) peer: PeerLink,
    pub(super) connected: bool,
    /// Offer and answer have been exchanged (a further offer means the partner starts over).
    pub(super) negotiated: bool,
    /// When the link was created, for the setup deadline.
    pub(super) opened: Instant,
    pub(super) receivers: Vec<JoinHandle<()>>,
    pub(super) video_in: Option<(Arc<RxStats>, FrameSlot)>,
    pub(super) audio_in: Option<Arc<RxStats>>,
    pub(super) prev: Previous,
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

/// The links of the engine, by who they are with and by id.
#[derive(Default)]
pub(super) struct Links {
    pub(super) by_who: HashMap<Who, Link>,
    pub(super) ids: HashMap<u64, Who>,
    pub(super) next_id: u64,
    /// Peer connections created and not yet completely closed (shared with the handle).
    pub(super) live: Arc<AtomicUsize>,
}

impl Who {
    /// The `to` of relayed signaling (random partners need none).
    pub(super) fn to(self) -> Option<PeerId> {
        match self {
            Who::Partner => None,
            Who::Member(id) => Some(id),
        }
    }
}

impl Engine {
    /// Create a link to `who`, replacing any old one; if `offer`, send an offer.
    pub(super) async fn open_link(&mut self, who: Who, offer: bool) -> Result<(), CallError> {
        self.close_link(who);
        self.links.next_id += 1;
        let id = self.links.next_id;
        let cfg = LinkConfig {
            ice_servers: self.ice_servers.clone(),
            udp_bind: self.settings.udp_bind.clone(),
            video: true,
            audio: true,
        };
        let peer = PeerLink::new(id, &cfg, self.link_tx.clone()).await?;
        let link = Link {
            peer,
            connected: false,
            negotiated: false,
            opened: Instant::now(),
            receivers: Vec::new(),
            video_in: None,
            audio_in: None,
            prev: Previous::default(),
            live: LiveGuard::new(&self.links.live),
        };
        self.links.ids.insert(id, who);
        self.links.by_who.insert(who, link);
        tracing::debug!(?who, "link created");
        if offer && let Some(link) = self.links.by_who.get(&who) {
            let sdp = link.peer.offer().await?;
            tracing::debug!(?who, "offer created");
            self.signal(ClientMsg::Offer(Relay { to: who.to(), sdp: Some(sdp), ..Relay::default() }));
        }
        Ok(())
    }

    /// Tear a link down completely (tasks, tracks, sockets). The close itself runs in the
    /// background so the engine never waits on it.
    pub(super) fn close_link(&mut self, who: Who) {
        let Some(mut link) = self.links.by_who.remove(&who) else { return };
        self.links.ids.retain(|_, w| *w != who);
        for r in link.receivers.drain(..) {
            r.abort();
        }
        let (peer, live) = (link.peer, link.live);
        tokio::spawn(async move {
            peer.close().await;
            drop(live);
        });
        self.emit(Event::LinkClosed(who));
    }

    /// Links that have been trying to connect for longer than `deadline`.
    pub(super) fn overdue(&self, deadline: Duration) -> Vec<Who> {
        self.links
            .by_who
            .iter()
            .filter(|(_, l)| !l.connected && l.opened.elapsed() > deadline)
            .map(|(w, _)| *w)
            .collect()
    }

    /// Close every link (and stop rebuilding any).
    pub(super) fn close_all_links(&mut self) {
        self.rebuilds.clear();
        let all: Vec<Who> = self.links.by_who.keys().copied().collect();
        for who in all {
            self.close_link(who);
        }
    }

    pub(super) async fn on_offer(&mut self, who: Who, sdp: String) -> Result<(), CallError> {
        match (who, self.links.by_who.get(&who).map(|l| l.negotiated)) {
            (Who::Partner, None) => {
                tracing::debug!("offer with no call; ignored");
                return Ok(());
            }
            // A member's first offer, or a new one after its link broke (it may notice before
            // we do): a fresh link either way.
            (Who::Member(_), None | Some(true)) => self.open_link(who, false).await?,
            _ => {}
        }
        let Some(link) = self.links.by_who.get_mut(&who) else { return Ok(()) };
        let answer = link.peer.answer(sdp).await?;
        link.negotiated = true;
        self.signal(ClientMsg::Answer(Relay { to: who.to(), sdp: Some(answer), ..Relay::default() }));
        Ok(())
    }

    pub(super) async fn on_answer(&mut self, who: Who, sdp: String) -> Result<(), CallError> {
        match self.links.by_who.get_mut(&who) {
            Some(link) => {
                link.peer.accept_answer(sdp).await?;
                link.negotiated = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) async fn on_candidate(&mut self, who: Who, candidate: Option<serde_json::Value>) {
        if let Some(link) = self.links.by_who.get_mut(&who)
            && let Err(e) = link.peer.add_candidate(candidate).await
        {
            tracing::debug!(error = %e, "candidate refused");
        }
    }

    /// The link to a room member broke while the member is still listed: rebuild it (see
    /// [`super::rebuild`]), or drop the member from view once out of attempts.
    pub(super) fn member_link_lost(&mut self, member: PeerId) {
        let we_offer = self.me.is_some_and(|me| super::offers_to(me, member));
        match self.rebuilds.lost(member, we_offer, Instant::now()) {
            Verdict::OfferAt(at) => {
                tracing::info!(%member, in_ms = at.saturating_duration_since(Instant::now()).as_millis(), "offering again");
            }
            Verdict::Wait => tracing::info!(%member, "link lost; waiting for the member's new offer"),
            Verdict::GiveUp => self.give_up_member(member),
        }
    }

    fn give_up_member(&mut self, member: PeerId) {
        tracing::warn!(%member, "could not rebuild the link; dropping the member from view");
        self.close_link(Who::Member(member));
        self.emit(Event::Error(format!("lost the connection to member {member}")));
        self.emit(Event::MemberLeft(member));
    }

    /// Carry out rebuilds that fell due: new offers, and members given up on.
    pub(super) async fn run_rebuilds(&mut self) {
        let due = self.rebuilds.take_due(Instant::now());
        for member in due.give_up {
            self.give_up_member(member);
        }
        for member in due.offer {
            if let Err(e) = self.open_link(Who::Member(member), true).await {
                self.fail(Who::Member(member), &e);
            }
        }
    }

    /// The link connected: start sending the shared encoders' output on it.
    pub(super) async fn on_link_connected(&mut self, who: Who) -> Result<(), CallError> {
        let video = Some(self.media.video.subscribe());
        let audio = Some(self.media.audio.subscribe());
        let control = self.media.control.clone();
        if let Some(link) = self.links.by_who.get_mut(&who)
            && !link.connected
        {
            link.connected = true;
            link.peer.start_sending(video, audio, control).await?;
            // The new partner needs a keyframe to start decoding. The encoder also notices new
            // listeners, but not when an old link closed in the same frame (Next).
            self.media.request_keyframe();
        }
        Ok(())
    }

    /// A remote track arrived: start receiving it.
    pub(super) async fn on_track(&mut self, who: Who, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let Some(link) = self.links.by_who.get_mut(&who) else { return };
        if kind == RtpCodecKind::Video {
            let stats = Arc::new(RxStats::default());
            let slot = FrameSlot::default();
            let out = VideoOut { slot: slot.clone(), rgba: self.settings.rgba, stats: stats.clone() };
            link.receivers.push(tokio::spawn(receive_video(track, out)));
            link.video_in = Some((stats.clone(), slot.clone()));
            self.emit(Event::RemoteVideo { from: who, slot, stats });
        } else {
            let stats = Arc::new(RxStats::default());
            let sink = (self.settings.sinks)(who);
            link.receivers.push(tokio::spawn(receive_audio(track, sink, stats.clone())));
            link.audio_in = Some(stats.clone());
            self.emit(Event::RemoteAudio { from: who, stats });
        }
    }

    /// Emit fresh statistics for every connected link.
    pub(super) async fn emit_stats(&mut self) {
        let send = self.media.stats.clone();
        let mut out = Vec::new();
        for (who, link) in self.links.by_who.iter_mut().filter(|(_, l)| l.connected) {
            let video = link.video_in.as_ref().map(|(s, _)| s);
            let stats =
                super::stats::collect(link.peer.connection(), video, link.audio_in.as_ref(), &send, &mut link.prev)
                    .await;
            out.push((*who, stats));
        }
        for (who, stats) in out {
            self.emit(Event::Stats(who, stats));
        }
    }
}
