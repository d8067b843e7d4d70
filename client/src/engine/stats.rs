//! Per-call statistics: codec, resolution, frame rates and bitrates from our own counters, and
//! RTT, loss and the selected candidate pair from webrtc-rs's stats report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use webrtc::peer_connection::{PeerConnection, RTCIceCandidateType, RTCStatsReportEntry, StatsSelector};

use crate::media::estimate::{Estimator, Sample};
use crate::media::receive::RxStats;
use crate::media::send::SendStats;

/// How the selected candidate pair reaches the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CandidateKind {
    /// Directly (host candidates).
    Host,
    /// Through NAT, found by STUN.
    Srflx,
    /// Peer-reflexive.
    Prflx,
    /// Through a TURN relay.
    Relay,
    /// Not known yet.
    #[default]
    Unknown,
}

impl CandidateKind {
    /// The route's short name, as ICE names candidate types (`relay`, `srflx`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::Srflx => "srflx",
            CandidateKind::Prflx => "prflx",
            CandidateKind::Relay => "relay",
            CandidateKind::Unknown => "unknown",
        }
    }
}

/// A sample of a call (twice a second), as the stats overlay shows it.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// The negotiated codecs, as the stats report names them (e.g. `H264 / opus`).
    pub codec: String,
    /// Remote picture size.
    pub resolution: Option<(usize, usize)>,
    /// Pictures decoded per second.
    pub fps_in: f64,
    /// Pictures encoded per second.
    pub fps_out: f64,
    /// Received media bitrate (video + audio payload), kilobits per second.
    pub kbps_in: f64,
    /// Sent media bitrate (video + audio payload, per link), kilobits per second.
    pub kbps_out: f64,
    /// Round-trip time of the selected candidate pair, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Fraction of inbound packets lost since the previous sample, 0–1.
    pub loss: f64,
    /// The selected candidate pair's type.
    pub candidate: CandidateKind,
    /// What this link carries, bits per second, as the encoders follow it: GCC's estimate under
    /// the queueing-delay ceiling (see [`crate::media::estimate`]).
    pub estimate_bps: Option<u32>,
    /// GCC's own estimate, bits per second.
    pub gcc_bps: Option<u32>,
    /// Fraction of what we send that the partner last reported lost (its RTCP reports), 0–1.
    pub loss_out: f64,
    /// Queueing delay: the round-trip time above the lowest seen in this call, milliseconds.
    pub queue_ms: Option<f64>,
    /// The video ladder step being sent (1 is the best; 0: a fixed rate).
    pub ladder_step: u32,
    /// The video encoder's target, kilobits per second.
    pub video_target_kbps: f64,
}

/// How long the lowest round-trip time counts as the path's own.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(30);

/// Counter values at the previous sample, to turn totals into rates.
#[derive(Debug, Clone)]
pub(super) struct Previous {
    at: Instant,
    frames_in: u64,
    bytes_in: u64,
    frames_out: u64,
    bytes_out: u64,
    received: u64,
    lost: i64,
    /// The lowest round-trip time seen in the last [`MIN_RTT_WINDOW`], seconds, and when.
    min_rtt: Option<(f64, Instant)>,
    estimator: Estimator,
}

impl Default for Previous {
    fn default() -> Self {
        Self {
            at: Instant::now(),
            frames_in: 0,
            bytes_in: 0,
            frames_out: 0,
            bytes_out: 0,
            received: 0,
            lost: 0,
            min_rtt: None,
            estimator: Estimator::default(),
        }
    }
}

/// Sample one link.
pub(super) async fn collect(
    pc: &Arc<dyn PeerConnection>,
    reported_loss: f64,
    video_in: Option<&Arc<RxStats>>,
    audio_in: Option<&Arc<RxStats>>,
    send: &SendStats,
    prev: &mut Previous,
) -> CallStats {
    let now = Instant::now();
    let secs = now.duration_since(prev.at).as_secs_f64().max(0.001);
    let frames_in = video_in.map_or(0, |s| s.frames.load(Ordering::Relaxed));
    let bytes_in = video_in.map_or(0, |s| s.bytes.load(Ordering::Relaxed))
        + audio_in.map_or(0, |s| s.bytes.load(Ordering::Relaxed));
    let frames_out = send.video_frames.load(Ordering::Relaxed);
    let bytes_out = send.video_bytes.load(Ordering::Relaxed) + send.audio_bytes.load(Ordering::Relaxed);
    let mut stats = CallStats {
        resolution: video_in.and_then(|s| s.picture_size()),
        fps_in: frames_in.saturating_sub(prev.frames_in) as f64 / secs,
        fps_out: frames_out.saturating_sub(prev.frames_out) as f64 / secs,
        kbps_in: bytes_in.saturating_sub(prev.bytes_in) as f64 * 8.0 / secs / 1000.0,
        kbps_out: bytes_out.saturating_sub(prev.bytes_out) as f64 * 8.0 / secs / 1000.0,
        ladder_step: send.ladder_step.load(Ordering::Relaxed),
        video_target_kbps: f64::from(send.video_target_bps.load(Ordering::Relaxed)) / 1000.0,
        ..CallStats::default()
    };

    let report = pc.get_stats(now, StatsSelector::None).await;
    let (mut received, mut lost) = (0u64, 0i64);
    let mut pair_ends = None;
    let mut codecs: Vec<&str> = Vec::new();
    for entry in report.iter() {
        match entry {
            RTCStatsReportEntry::Codec(c) => {
                let name = c.mime_type.split_once('/').map_or(c.mime_type.as_str(), |(_, n)| n);
                if !codecs.contains(&name) {
                    codecs.push(name);
                }
            }
            RTCStatsReportEntry::IceCandidatePair(pair) if pair.nominated => {
                let rtt = pair.current_round_trip_time;
                stats.rtt_ms = Some(rtt * 1000.0);
                if rtt > 0.0 {
                    // A floor that is too old may belong to another path (an ICE restart, a
                    // relay): forget it rather than read the new path's RTT as a queue forever.
                    let floor = match prev.min_rtt {
                        Some((m, at)) if m <= rtt && now.saturating_duration_since(at) < MIN_RTT_WINDOW => (m, at),
                        _ => (rtt, now),
                    };
                    prev.min_rtt = Some(floor);
                    stats.queue_ms = Some((rtt - floor.0) * 1000.0);
                }
                pair_ends = Some((pair.local_candidate_id.clone(), pair.remote_candidate_id.clone()));
            }
            // The estimate is one number per connection, reported on each outbound stream; it
            // is zero until the controller has changed it once.
            RTCStatsReportEntry::OutboundRtp(s) if s.target_bitrate >= 1.0 => {
                let bps = s.target_bitrate as u32;
                stats.gcc_bps = Some(stats.gcc_bps.map_or(bps, |e| e.min(bps)));
            }
            RTCStatsReportEntry::InboundRtp(s) => {
                received += s.received_rtp_stream_stats.packets_received;
                lost += s.received_rtp_stream_stats.packets_lost;
            }
            _ => {}
        }
    }
    // The pair names its candidates by their own ids; their stats entries carry those ids with a
    // prefix. The route is the furthest either end had to go: through a relay, through a NAT
    // (server- or peer-reflexive), or direct.
    if let Some((local_id, remote_id)) = pair_ends {
        let kind_of = |t: &RTCIceCandidateType| match t {
            RTCIceCandidateType::Host => CandidateKind::Host,
            RTCIceCandidateType::Srflx => CandidateKind::Srflx,
            RTCIceCandidateType::Prflx => CandidateKind::Prflx,
            RTCIceCandidateType::Relay => CandidateKind::Relay,
            _ => CandidateKind::Unknown,
        };
        let mut kinds = Vec::new();
        let mut remote_known = false;
        for e in report.iter() {
            match e {
                RTCStatsReportEntry::LocalCandidate(c) if c.stats.id.ends_with(&local_id) => {
                    kinds.push(kind_of(&c.candidate_type));
                }
                RTCStatsReportEntry::RemoteCandidate(c) if c.stats.id.ends_with(&remote_id) => {
                    remote_known = true;
                    kinds.push(kind_of(&c.candidate_type));
                }
                _ => {}
            }
        }
        // Only signalled candidates have stats entries: a remote end without one was learnt from
        // a connectivity check, so it is peer-reflexive (the partner is behind a NAT).
        if !remote_known {
            kinds.push(CandidateKind::Prflx);
        }
        stats.candidate = route(&kinds);
    }
    // Video first, as people name a call's codecs.
    codecs.sort_by_key(|c| !c.eq_ignore_ascii_case("h264"));
    stats.codec = codecs.join(" / ");
    let new_received = received.saturating_sub(prev.received) as f64;
    let new_lost = (lost - prev.lost).max(0) as f64;
    let total = new_received + new_lost;
    stats.loss = if total > 0.0 { new_lost / total } else { 0.0 };
    // From our RTCP interceptor (call/keyframe.rs): webrtc-rs's stats read loss only from bare
    // receiver reports, which a partner that sends media does not send.
    stats.loss_out = reported_loss;
    let sample = Sample {
        gcc_bps: stats.gcc_bps,
        sent_bps: (stats.kbps_out * 1000.0) as u32,
        queue: stats.queue_ms.map(|q| Duration::from_secs_f64(q / 1000.0)),
        loss: stats.loss_out,
    };
    stats.estimate_bps = prev.estimator.update(sample, now);
    prev.at = now;
    (prev.frames_in, prev.bytes_in, prev.frames_out, prev.bytes_out) = (frames_in, bytes_in, frames_out, bytes_out);
    (prev.received, prev.lost) = (received, lost);
    stats
}

/// The route of a candidate pair from its two ends' types: a relay at either end makes it
/// relayed; otherwise a reflexive end means it crosses a NAT.
fn route(kinds: &[CandidateKind]) -> CandidateKind {
    let rank = |k: &CandidateKind| match k {
        CandidateKind::Relay => 4,
        CandidateKind::Srflx => 3,
        CandidateKind::Prflx => 2,
        CandidateKind::Host => 1,
        CandidateKind::Unknown => 0,
    };
    kinds.iter().copied().max_by_key(rank).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_the_furthest_end() {
        use CandidateKind::*;
        assert_eq!(route(&[Host, Host]), Host);
        assert_eq!(route(&[Host, Srflx]), Srflx);
        assert_eq!(route(&[Prflx, Host]), Prflx);
        assert_eq!(route(&[Srflx, Relay]), Relay);
        assert_eq!(route(&[Host]), Host, "a peer-reflexive remote may have no stats entry");
        assert_eq!(route(&[]), Unknown);
    }
}
