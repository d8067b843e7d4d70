//! Fuzz the sans-IO core with arbitrary sequences of inputs. It must never panic, never address a
//! peer that is not connected, and hold no state once everyone has left.
#![no_main]

use std::collections::BTreeSet;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signal_server::core::{Core, CoreConfig, TextFrame, Input, Now, Output, RateLimit};
use strangers_shared::{Mode, PeerId, decode_client};

#[derive(Debug, Arbitrary)]
enum Op {
    Connect(u8),
    Disconnect(u8),
    Binary(u8),
    /// A frame built from a template, so most inputs are valid protocol messages.
    Template(u8, u8, u8, u8),
    /// Raw text, to reach the error paths.
    Raw(u8, String),
    Wait(u16),
}

const TEMPLATES: &[&str] = &[
    r#"{"type":"find","mode":"video","interests":["a","b"]}"#,
    r#"{"type":"find","mode":"text"}"#,
    r#"{"type":"find","mode":"video","interests":["{x}"]}"#,
    r#"{"type":"next"}"#,
    r#"{"type":"stop"}"#,
    r#"{"type":"leave"}"#,
    r#"{"type":"join","room":"r{x}"}"#,
    r#"{"type":"join","room":"m{x}","name":"n{y}"}"#,
    r#"{"type":"join","room":"m{x}","name":"n","capacity":{y}}"#,
    r#"{"type":"offer","sdp":"v=0"}"#,
    r#"{"type":"answer","sdp":"v=0","to":{y}}"#,
    r#"{"type":"candidate","candidate":{"candidate":"c"},"to":{y}}"#,
    r#"{"type":"offer","offer":{},"room":"r{x}"}"#,
    r#"{"type":"chat","text":"hi {x}"}"#,
    r#"{"type":"typing","active":true}"#,
    r#"{"type":"media_state","audio":false,"video":true}"#,
    r#"{"type":"hello","version":{y}}"#,
];

fuzz_target!(|ops: Vec<Op>| {
    let cfg = CoreConfig { rate: RateLimit { burst: 20, per_sec: 5, max_strikes: 4 }, ..CoreConfig::default() };
    let mut core = Core::new(cfg);
    let mut now = Now { mono: Duration::from_secs(1), unix_ms: 0 };
    let mut connected = BTreeSet::new();
    let peer = |n: u8| PeerId(u64::from(n % 8));
    for op in ops.into_iter().take(500) {
        let input = match op {
            Op::Connect(n) => {
                if !connected.insert(peer(n)) {
                    continue;
                }
                Input::Connected(peer(n), None)
            }
            Op::Disconnect(n) => {
                connected.remove(&peer(n));
                Input::Disconnected(peer(n))
            }
            Op::Binary(n) => Input::Binary(peer(n)),
            Op::Template(n, t, x, y) => {
                let text = TEMPLATES[usize::from(t) % TEMPLATES.len()]
                    .replace("{x}", &(x % 4).to_string())
                    .replace("{y}", &(y % 10).to_string());
                match decode_client(&text) {
                    Ok(msg) => Input::Message(peer(n), msg, TextFrame::text(text)),
                    Err(e) => Input::Invalid(peer(n), e),
                }
            }
            Op::Raw(n, text) => match decode_client(&text) {
                Ok(msg) => Input::Message(peer(n), msg, TextFrame::text(text)),
                Err(e) => Input::Invalid(peer(n), e),
            },
            Op::Wait(ms) => {
                now.mono += Duration::from_millis(u64::from(ms));
                Input::Tick
            }
        };
        core.handle(now, input);
        while let Some(out) = core.poll_output() {
            match out {
                Output::Send { to, .. } => assert!(connected.contains(&to), "sent to {to}, who is not connected"),
                Output::Close { peer, .. } => {
                    connected.remove(&peer);
                }
                Output::Searching { peer, .. } => {
                    assert!(connected.contains(&peer), "heartbeat switch for {peer}, who is not connected")
                }
            }
        }
    }
    for p in std::mem::take(&mut connected) {
        core.handle(now, Input::Disconnected(p));
        while let Some(out) = core.poll_output() {
            if let Output::Send { to, .. } = out {
                assert_ne!(to, p, "sent to a departed peer");
            }
        }
    }
    assert_eq!(core.online(), 0);
    assert_eq!(core.rooms(), 0);
    assert_eq!(core.pairs(), 0);
    assert_eq!(core.searching(Mode::Video) + core.searching(Mode::Text), 0);
});
