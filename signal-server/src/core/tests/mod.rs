//! Tests of the core: scenario tests in virtual time, and property tests of its invariants.

mod cluster;
mod cluster_resume;
mod cluster_rooms;
mod invariants;
mod matching;
mod moderation;
mod relay_rooms;
mod sessions;
mod skips;

use std::time::Duration;

use serde_json::Value;
use strangers_shared::{PeerId, decode_client};

use super::{Core, CoreConfig, Input, Now, Output, State, TextFrame};

/// Drives a core in virtual time and reads its outputs as JSON.
pub(super) struct Sim {
    pub(super) core: Core,
    pub(super) now: Now,
}

impl Sim {
    pub(super) fn new() -> Self {
        Self::with(CoreConfig::default())
    }

    pub(super) fn with(cfg: CoreConfig) -> Self {
        Self { core: Core::new(cfg), now: Now { mono: Duration::from_secs(100), unix_ms: 1_700_000_000_000 } }
    }

    pub(super) fn input(&mut self, input: Input) -> Vec<Output> {
        self.core.handle(self.now, input);
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    /// Peers 1 and 2 connected and searching in video (so paired with each other).
    pub(super) fn paired(cfg: CoreConfig) -> Self {
        let mut sim = Self::with(cfg);
        for n in 1..=2 {
            sim.connect(n);
            sim.send(n, r#"{"type":"find","mode":"video"}"#);
        }
        sim
    }

    /// Connect peer `n`, discarding its welcome.
    pub(super) fn connect(&mut self, n: u64) {
        self.input(Input::Connected(PeerId(n), None));
    }

    /// Send raw JSON text from peer `n`, as the network layer would.
    pub(super) fn send(&mut self, n: u64, text: &str) -> Vec<Output> {
        let input = match decode_client(text) {
            Ok(msg) => Input::Message(PeerId(n), msg, TextFrame::text(text.to_string())),
            Err(e) => Input::Invalid(PeerId(n), e),
        };
        self.input(input)
    }

    pub(super) fn advance(&mut self, d: Duration) -> Vec<Output> {
        self.now.mono += d;
        self.now.unix_ms += d.as_millis() as u64;
        self.input(Input::Tick)
    }

    pub(super) fn state(&self, n: u64) -> Option<State> {
        self.core.peers.get(&PeerId(n)).map(|p| p.state.clone())
    }

    pub(super) fn partner(&self, n: u64) -> Option<u64> {
        match self.state(n) {
            Some(State::Paired { partner }) => Some(partner.0),
            _ => None,
        }
    }
}

/// The JSON messages in `out` addressed to peer `n`.
pub(super) fn to(out: &[Output], n: u64) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, frame } if *to == PeerId(n) => serde_json::from_slice(&frame.clone().into_bytes()).ok(),
            _ => None,
        })
        .collect()
}

/// The `type`s of the messages in `out` addressed to peer `n`.
pub(super) fn types(out: &[Output], n: u64) -> Vec<String> {
    to(out, n).iter().map(|v| v["type"].as_str().unwrap_or("?").to_string()).collect()
}
