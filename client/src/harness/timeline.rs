//! A call's timeline: every [`TICK`], one JSON line per client with what it received in that
//! tick (pictures, freezes, glass-to-glass, the share of audio frames carrying the partner's
//! tone) and how its sender was adapting (the estimate, the ladder step, the rate it sent). The
//! link benchmark (`bench/link.sh`) shapes the path between two harness processes and reads
//! these lines to compute per-profile figures.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::HarnessClient;
use super::error::HarnessError;
use super::report::{ms, percentile};
use crate::engine::Who;

/// How often a line is written.
pub const TICK: Duration = Duration::from_millis(500);

/// Totals of one client at one tick, to subtract from the next.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    frames: u64,
    freezes: u64,
    latencies: usize,
    tone_frames: u64,
    tone_with: u64,
    /// Audio frames the receiver had to conceal (nothing arrived in time).
    concealed: u64,
    sent_bytes: u64,
}

fn totals(c: &HarnessClient) -> Totals {
    let send = c.send_stats();
    let sent_bytes = send.video_bytes.load(Ordering::Relaxed) + send.audio_bytes.load(Ordering::Relaxed);
    c.view(|v| {
        let mut t = Totals { sent_bytes, ..Totals::default() };
        if let Some(video) = v.video_from(Who::Partner) {
            t.frames = video.frames.load(Ordering::Relaxed);
        }
        if let Some(stamps) = v.stamps_from(Who::Partner) {
            t.freezes = stamps.freezes.load(Ordering::Relaxed);
            t.latencies = stamps.latency_count();
        }
        if let Some(audio) = v.audio_from(Who::Partner) {
            t.concealed = audio.errors.load(Ordering::Relaxed);
        }
        if let Some(tone) = v.tone_from(Who::Partner) {
            t.tone_frames = tone.frames.load(Ordering::Relaxed);
            t.tone_with = tone.with_tone.load(Ordering::Relaxed);
        }
        t
    })
}

/// One client's line for the tick that ended `at` seconds into the call.
fn line(c: &HarnessClient, at: f64, tick: f64, before: Totals, now: Totals) -> serde_json::Value {
    let glass = c.view(|v| {
        let all = v.stamps_from(Who::Partner).map(|s| s.latencies()).unwrap_or_default();
        ms(all.get(before.latencies..).unwrap_or_default())
    });
    let stats = c.view(|v| v.stats.get(&Who::Partner).cloned()).unwrap_or_default();
    let tone_frames = now.tone_frames.saturating_sub(before.tone_frames);
    let tone_with = now.tone_with.saturating_sub(before.tone_with);
    json!({
        "client": c.spec.name,
        "t": (at * 1000.0).round() / 1000.0,
        "unix_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        "frames": now.frames.saturating_sub(before.frames),
        "fps": now.frames.saturating_sub(before.frames) as f64 / tick,
        "freezes": now.freezes.saturating_sub(before.freezes),
        "glass_p95_ms": percentile(&glass, 95.0),
        "glass_ms": glass.iter().map(|g| (g * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "tone_frames": tone_frames,
        "tone_with": tone_with,
        "concealed": now.concealed.saturating_sub(before.concealed),
        "sent_kbps": now.sent_bytes.saturating_sub(before.sent_bytes) as f64 * 8.0 / tick / 1000.0,
        "estimate_kbps": stats.estimate_bps.map(|e| f64::from(e) / 1000.0),
        "gcc_kbps": stats.gcc_bps.map(|e| f64::from(e) / 1000.0),
        "ladder_step": stats.ladder_step,
        "video_target_kbps": stats.video_target_kbps,
        "queue_ms": stats.queue_ms,
        "rtt_ms": stats.rtt_ms,
        "loss_out": stats.loss_out,
        "resolution": stats.resolution.map(|(w, h)| format!("{w}x{h}")),
    })
}

/// Let the call run for `duration`; with a `path`, append a line per client every [`TICK`].
pub async fn record(clients: &[HarnessClient], duration: Duration, path: Option<&Path>) -> Result<(), HarnessError> {
    let Some(path) = path else {
        tokio::time::sleep(duration).await;
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(HarnessError::Timeline)?;
    let start = Instant::now();
    let mut last: Vec<Totals> = clients.iter().map(totals).collect();
    let mut tick_start = start;
    while start.elapsed() < duration {
        let next = (tick_start + TICK).min(start + duration);
        tokio::time::sleep_until(next.into()).await;
        let tick = tick_start.elapsed().as_secs_f64().max(0.001);
        tick_start = Instant::now();
        let at = start.elapsed().as_secs_f64();
        let mut out = String::new();
        for (c, before) in clients.iter().zip(last.iter_mut()) {
            let now = totals(c);
            out.push_str(&line(c, at, tick, *before, now).to_string());
            out.push('\n');
            *before = now;
        }
        file.write_all(out.as_bytes()).map_err(HarnessError::Timeline)?;
    }
    Ok(())
}
