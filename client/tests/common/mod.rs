//! Helpers shared by the call tests: a headless client with a small, cheap test card.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strangers_client::call::state::CallState;
use strangers_client::engine::Who;
use strangers_client::harness::analyser::ToneRegistry;
use strangers_client::harness::client::{ClientSpec, HarnessClient, View};

/// A headless client at 320×240@30, 300 kbit/s, sending a `tone` Hz tone.
pub fn client(name: &str, url: &str, tone: f64, registry: &Arc<ToneRegistry>) -> HarnessClient {
    let spec = ClientSpec {
        name: name.into(),
        server_url: url.into(),
        width: 320,
        height: 240,
        fps: 30.0,
        bitrate_bps: Some(300_000),
        tone_hz: tone,
    };
    HarnessClient::start(spec, registry.clone()).unwrap()
}

/// In a call whose media flows.
pub fn connected(v: &View) -> bool {
    v.call == Some(CallState::Connected)
}

/// Frames decoded from the partner so far.
pub fn video_frames(v: &View) -> u64 {
    v.video_from(Who::Partner).map_or(0, |s| s.frames.load(Ordering::Relaxed))
}

/// Whether the partner's `hz` tone was heard in at least 10 frames.
pub fn heard(v: &View, hz: f64) -> bool {
    v.tones.last().is_some_and(|(_, t)| t.detected_hz() == Some(hz) && t.with_tone.load(Ordering::Relaxed) >= 10)
}

/// Clients "a" (440 Hz, on `url_a`) and "b" (660 Hz, on `url_b`) start, meet, and have each
/// decoded `frames` frames from the other within `wait`.
pub async fn in_call(
    url_a: &str,
    url_b: &str,
    reg: &Arc<ToneRegistry>,
    frames: u64,
    wait: Duration,
) -> (HarnessClient, HarnessClient) {
    let a = client("a", url_a, 440.0, reg);
    let b = client("b", url_b, 660.0, reg);
    a.start_video();
    b.start_video();
    for c in [&a, &b] {
        c.wait(wait, "connected", connected).await.unwrap();
        c.wait(wait, "decoded frames", move |v| video_frames(v) >= frames).await.unwrap();
    }
    (a, b)
}
