//! Resumption in virtual time: a dropped connection keeps its call for the window, a token gets
//! it back on this process or on a restarted one, and tokens that are expired, forged, replayed
//! or name someone else's call get nothing.

use std::time::Duration;

use serde_json::Value;
use strangers_shared::PeerId;

use super::{Sim, to, types};
use crate::core::resume::ResumeConfig;
use crate::core::{CoreConfig, Input, Output};

const SECRET: &[u8] = b"resume-secret";
const FIND: &str = r#"{"type":"find","mode":"video"}"#;

fn sim(node: u8) -> Sim {
    let resume = ResumeConfig::new(SECRET, Duration::from_secs(15), Duration::from_secs(3600), [node; 16]);
    Sim::with(CoreConfig { resume: Some(resume), ..CoreConfig::default() })
}

fn hello(sim: &mut Sim, n: u64, token: Option<&str>) -> Vec<Output> {
    sim.connect(n);
    let msg = match token {
        Some(t) => serde_json::json!({"type": "hello", "version": 1, "resume": t}),
        None => serde_json::json!({"type": "hello", "version": 1}),
    };
    sim.send(n, &msg.to_string())
}

fn welcome(out: &[Output], n: u64) -> Value {
    to(out, n).into_iter().find(|m| m["type"] == "welcome").unwrap_or_default()
}

/// Whether the welcome in `out` for `n` says its call was resumed (`resumed` is left out when
/// false).
fn resumed(out: &[Output], n: u64) -> bool {
    welcome(out, n)["resumed"].as_bool().unwrap_or(false)
}

/// Two clients in a call; returns the resume tokens their `matched` carried.
fn pair(sim: &mut Sim, a: u64, b: u64) -> (String, String) {
    hello(sim, a, None);
    hello(sim, b, None);
    sim.send(a, FIND);
    let out = sim.send(b, FIND);
    assert_eq!(sim.partner(a), Some(b));
    let token =
        |n| to(&out, n).iter().find(|m| m["type"] == "matched").and_then(|m| m["resume"].as_str().map(String::from));
    (token(a).unwrap_or_default(), token(b).unwrap_or_default())
}

fn chat(sim: &mut Sim, from: u64, text: &str) -> Vec<Output> {
    sim.send(from, &serde_json::json!({"type": "chat", "text": text}).to_string())
}

#[test]
fn a_dropped_connection_keeps_its_call_and_a_new_one_resumes_it_silently() {
    let mut sim = sim(1);
    let (t1, _) = pair(&mut sim, 1, 2);
    assert!(t1.starts_with("r1."), "matched carries a token: {t1:?}");
    let out = sim.input(Input::Disconnected(PeerId(1)));
    assert!(to(&out, 2).is_empty(), "the partner hears nothing yet: {:?}", to(&out, 2));
    // What the partner sends meanwhile is kept, not refused.
    let out = chat(&mut sim, 2, "are you there?");
    assert!(types(&out, 2).is_empty(), "{:?}", types(&out, 2));
    sim.advance(Duration::from_secs(5));

    let out = hello(&mut sim, 3, Some(&t1));
    assert_eq!(types(&out, 3), ["welcome", "chat"], "welcome first, then what was kept");
    let w = welcome(&out, 3);
    assert!(resumed(&out, 3));
    assert_ne!(w["resume"], t1.as_str(), "a fresh token");
    assert_eq!(types(&out, 2), ["partner_resumed"], "the partner hears only that it is back");
    assert_eq!(sim.partner(2), Some(3));
    assert_eq!(types(&chat(&mut sim, 3, "back"), 2), ["chat"]);
    assert_eq!(sim.core.stats().resumed, 1);
}

#[test]
fn the_partner_hears_partner_left_only_when_the_window_expires() {
    let mut sim = sim(1);
    pair(&mut sim, 1, 2);
    sim.input(Input::Disconnected(PeerId(1)));
    // The driver sleeps until poll_timeout: the window's end must be in it, even after a tick.
    let ends = sim.now.mono + Duration::from_secs(15);
    assert_eq!(sim.core.poll_timeout(), Some(ends));
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.core.poll_timeout(), Some(ends), "a tick forgot the held session's deadline");
    let out = sim.advance(Duration::from_secs(13));
    assert!(!types(&out, 2).contains(&"partner_left".to_string()));
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(to(&out, 2)[0]["type"], "partner_left");
    assert_eq!(to(&out, 2)[0]["reason"], "disconnected");
    assert!(types(&out, 2).contains(&"waiting".to_string()), "and it is back in the queue");
    assert_eq!(sim.core.online(), 1, "the held session is gone");
}

#[test]
fn after_a_restart_the_two_are_paired_again_when_both_present_their_tokens() {
    let mut old = sim(1);
    let (t1, t2) = pair(&mut old, 1, 2);
    let mut new = sim(2); // the same secret, another process
    new.now = old.now;
    let out = hello(&mut new, 1, Some(&t1));
    assert!(resumed(&out, 1), "waiting for its partner");
    assert_eq!(new.partner(1), None);
    let out = hello(&mut new, 7, Some(&t2));
    assert!(resumed(&out, 7));
    assert_eq!(new.partner(1), Some(7), "paired again");
    assert_eq!(types(&chat(&mut new, 1, "still here"), 7), ["chat"]);
    // And the new tokens work on the new process.
    let fresh = welcome(&out, 7)["resume"].as_str().unwrap_or_default().to_string();
    new.input(Input::Disconnected(PeerId(7)));
    assert!(resumed(&hello(&mut new, 8, Some(&fresh)), 8));
    assert_eq!(new.partner(1), Some(8));
}

#[test]
fn a_lone_resumer_after_a_restart_hears_partner_left_after_the_window() {
    let mut old = sim(1);
    let (t1, _) = pair(&mut old, 1, 2);
    let mut new = sim(2);
    new.now = old.now;
    hello(&mut new, 1, Some(&t1));
    assert!(new.advance(Duration::from_secs(14)).iter().all(|o| !matches!(o, Output::Send { .. })));
    let out = new.advance(Duration::from_secs(1));
    assert_eq!(types(&out, 1), ["partner_left", "waiting"], "its partner never came back; searching again");
}

#[test]
fn expired_forged_replayed_and_foreign_tokens_get_nothing() {
    let mut sim = sim(1);
    let (t1, t2) = pair(&mut sim, 1, 2);
    let refused = |out: &[Output], n| {
        let msgs = to(out, n);
        let err = msgs.iter().any(|m| m["type"] == "error" && m["code"] == "resume_refused");
        err && !resumed(out, n)
    };
    // Forged: one character of the signature changed.
    let mut forged = t1.clone();
    let last = if forged.ends_with('0') { '1' } else { '0' };
    forged.pop();
    forged.push(last);
    assert!(refused(&hello(&mut sim, 3, Some(&forged)), 3));
    assert!(refused(&hello(&mut sim, 4, Some("r1.zz")), 4));
    // Replayed: the first use makes a new generation, so a second use of the same token fails.
    sim.input(Input::Disconnected(PeerId(1)));
    assert!(resumed(&hello(&mut sim, 5, Some(&t1)), 5));
    assert!(refused(&hello(&mut sim, 6, Some(&t1)), 6), "a replayed token was accepted");
    assert_eq!(sim.partner(2), Some(5), "the pair is untouched");
    assert_eq!(sim.core.stats().resume_refused, 3);
    // Expired: an hour later.
    sim.advance(Duration::from_secs(3600));
    sim.input(Input::Disconnected(PeerId(2)));
    assert!(refused(&hello(&mut sim, 9, Some(&t2)), 9));
    // Foreign: after a restart, a token naming a partner who is in another call resumes nothing.
    let mut new = self::sim(2);
    new.now = sim.now;
    let (_, _) = pair(&mut new, 20, 21);
    let mut third = self::sim(1);
    third.now = sim.now;
    let (t30, _) = pair(&mut third, 30, 31);
    assert!(resumed(&hello(&mut new, 30, Some(&t30)), 30), "waits for its own partner");
    assert_eq!(new.partner(20), Some(21), "nobody else's call is touched");
}

#[test]
fn a_partner_who_left_meanwhile_is_reported_after_the_welcome_and_the_resumer_searches_again() {
    let mut sim = sim(1);
    let (t1, _) = pair(&mut sim, 1, 2);
    sim.input(Input::Disconnected(PeerId(1)));
    sim.send(2, r#"{"type":"next"}"#);
    let out = hello(&mut sim, 3, Some(&t1));
    assert!(!resumed(&out, 3), "no call to resume");
    let kinds = types(&out, 3);
    assert_eq!(kinds[..2], ["welcome", "partner_left"], "{kinds:?}");
    assert!(kinds.contains(&"waiting".to_string()) || sim.partner(3).is_some(), "searching again: {kinds:?}");
}

#[test]
fn a_half_open_connection_is_replaced_by_the_newer_one_without_a_word_to_the_partner() {
    let mut sim = sim(1);
    let (t1, _) = pair(&mut sim, 1, 2);
    let out = hello(&mut sim, 3, Some(&t1));
    assert!(out.iter().any(|o| matches!(o, Output::Close { peer: PeerId(1), code: 4001, .. })));
    assert_eq!(types(&out, 2), ["partner_resumed"]);
    assert_eq!(sim.partner(2), Some(3));
    // The old connection's close reaches the core later and changes nothing.
    let out = sim.input(Input::Disconnected(PeerId(1)));
    assert!(to(&out, 2).is_empty());
    assert_eq!(sim.partner(2), Some(3));
}

#[test]
fn without_resumption_configured_a_dropped_connection_ends_the_call_at_once() {
    let mut sim = Sim::new();
    hello(&mut sim, 1, None);
    hello(&mut sim, 2, None);
    sim.send(1, FIND);
    sim.send(2, FIND);
    let out = sim.input(Input::Disconnected(PeerId(1)));
    assert_eq!(to(&out, 2)[0]["type"], "partner_left");
}
