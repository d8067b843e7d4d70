//! Verifying the media of a harness call: what a client received from one sender over a window
//! of time, against what that sender really encoded.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::client::HarnessClient;
use super::report::{Report, ms};
use crate::engine::Who;

/// What one client had received from one sender at a moment; two of them bound a window.
#[derive(Debug, Clone, Default)]
pub(super) struct Mark {
    /// Pictures the sender encoded (and so sent on every link).
    sent: u64,
    decoded: u64,
    stamped: u64,
    last_counter: Option<u32>,
    out_of_order: u64,
    latencies: usize,
    tone_frames: u64,
    tone_with: u64,
    audio_latencies: usize,
}

/// The client that `c` sees as `who`: its partner (by the greeting's name, never `c` itself: a
/// partner in another process may have the same name) or a room member (by
/// peer id).
fn sender_of<'a>(clients: &'a [HarnessClient], c: &HarnessClient, who: Who) -> Option<&'a HarnessClient> {
    match who {
        Who::Partner => {
            let name = c.view(|v| v.partner_name.clone())?;
            clients.iter().find(|o| o.spec.name == name && !std::ptr::eq(*o, c))
        }
        Who::Member(id) => clients.iter().find(|o| o.view(|v| v.peer_id) == Some(id)),
    }
}

/// What `c` has received from `who` so far (and what its sender has encoded).
pub(super) fn mark(clients: &[HarnessClient], c: &HarnessClient, who: Who) -> Mark {
    let sent = sender_of(clients, c, who).map_or(0, |s| s.send_stats().video_frames.load(Ordering::Relaxed));
    c.view(|v| {
        let mut m = Mark { sent, ..Mark::default() };
        if let Some(video) = v.video_from(who) {
            m.decoded = video.frames.load(Ordering::Relaxed);
        }
        if let Some(stamps) = v.stamps_from(who) {
            m.stamped = stamps.stamped.load(Ordering::Relaxed);
            m.last_counter = stamps.last_counter();
            m.out_of_order = stamps.out_of_order.load(Ordering::Relaxed);
            m.latencies = stamps.latency_count();
        }
        if let Some(t) = v.tone_from(who) {
            m.tone_frames = t.frames.load(Ordering::Relaxed);
            m.tone_with = t.with_tone.load(Ordering::Relaxed);
            m.audio_latencies = t.latencies().len();
        }
        m
    })
}

/// Check and measure what `c` received from `who` between `start` and now (`window` long): at
/// least 90% of the pictures the sender encoded in that time, decoded, with counters (read from
/// the pixels) that only go up; and the sender's tone in at least 80% of the audio.
pub(super) fn verify_media(
    report: &mut Report,
    clients: &[HarnessClient],
    c: &HarnessClient,
    who: Who,
    start: &Mark,
    window: Duration,
) {
    let name = &c.spec.name;
    let end = mark(clients, c, who);
    let expect_hz = sender_of(clients, c, who).map(|s| s.spec.tone_hz);
    let (video, stamps, tone) =
        c.view(|v| (v.video_from(who).cloned(), v.stamps_from(who).cloned(), v.tone_from(who).cloned()));
    let Some(video) = video else {
        report.check(format!("{name} video from {who:?}"), false, "no remote video");
        return;
    };
    // What the sender really encoded; its nominal rate only if it is unknown.
    let expected = match end.sent.saturating_sub(start.sent) {
        0 => (c.spec.fps * window.as_secs_f64()).floor().max(1.0),
        n => n as f64,
    };
    let decoded = end.decoded.saturating_sub(start.decoded);
    let stamped = end.stamped.saturating_sub(start.stamped);
    let advanced = match (start.last_counter, end.last_counter) {
        (Some(a), Some(b)) => u64::from(b.saturating_sub(a)),
        (None, Some(_)) => stamped,
        _ => 0,
    };
    let ratio = decoded as f64 / expected;
    let disorder = end.out_of_order;
    report.check(
        format!("{name} video from {who:?}"),
        ratio >= 0.9 && advanced + 1 >= stamped && advanced > 0 && disorder == 0,
        format!(
            "decoded {decoded} of {expected:.0} frames sent in {window:.1?} ({:.0}%, {:.1} fps), {stamped} stamps read, counter +{advanced}, {disorder} out of order; {} decode errors, {} keyframe requests in the call",
            ratio * 100.0,
            expected / window.as_secs_f64().max(0.001),
            video.errors.load(Ordering::Relaxed),
            video.keyframe_requests.load(Ordering::Relaxed),
        ),
    );
    report.fps_in.push(decoded as f64 / window.as_secs_f64().max(0.001));
    let latencies = stamps.map(|s| s.latencies()).unwrap_or_default();
    report.glass_ms.extend(ms(latencies.get(start.latencies..).unwrap_or_default()));
    match tone {
        Some(t) => {
            let hz = t.detected_hz();
            let frames = end.tone_frames.saturating_sub(start.tone_frames);
            let with = end.tone_with.saturating_sub(start.tone_with);
            let right = match expect_hz {
                Some(want) => hz.is_some_and(|hz| (hz - want).abs() < 1.0),
                None => hz.is_some_and(|hz| (hz - c.spec.tone_hz).abs() > 1.0),
            };
            let ok = right && frames > 0 && with * 10 >= frames * 8;
            report.check(
                format!("{name} audio from {who:?}"),
                ok,
                format!("tone {hz:?} Hz (expected {expect_hz:?}) in {with} of {frames} frames"),
            );
            report.echo_below_db.extend(t.echo_below_db());
            let lat = t.latencies();
            report.audio_ms.extend(ms(lat.get(start.audio_latencies..).unwrap_or_default()));
        }
        None => report.check(format!("{name} audio from {who:?}"), false, "no remote audio"),
    }
}
