//! Helpers shared by the call tests: a headless client with a small, cheap test card.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use strangers_client::harness::analyser::ToneRegistry;
use strangers_client::harness::client::{ClientSpec, HarnessClient};

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
