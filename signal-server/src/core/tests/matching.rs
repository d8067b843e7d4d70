//! Random matchmaking scenarios.

use std::time::Duration;

use serde_json::json;
use strangers_shared::{Mode, PeerId};

use super::{Sim, to, types};
use crate::core::{Input, Output, State};

const FIND_VIDEO: &str = r#"{"type":"find","mode":"video"}"#;

#[test]
fn welcome_carries_id_version_online_and_ice_servers() {
    let cfg = crate::core::CoreConfig {
        ice_servers: vec![strangers_shared::IceServer {
            urls: vec!["stun:127.0.0.1:3478".into()],
            username: None,
            credential: None,
        }],
        ..Default::default()
    };
    let mut sim = Sim::with(cfg);
    sim.connect(1);
    // Connecting alone says nothing: a simple room client hears only its own protocol.
    assert!(sim.input(Input::Connected(PeerId(2), None)).is_empty());
    let out = sim.send(2, r#"{"type":"hello","version":1}"#);
    assert_eq!(out.len(), 1);
    let welcome = &to(&out, 2)[0];
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["peer_id"], 2);
    assert_eq!(welcome["version"], 1);
    assert_eq!(welcome["online"], 2);
    assert_eq!(welcome["ice_servers"][0]["urls"][0], "stun:127.0.0.1:3478");
}

#[test]
fn queue_is_fifo_and_the_older_searcher_offers() {
    let mut sim = Sim::new();
    for n in 1..=3 {
        sim.connect(n);
    }
    let out = sim.send(1, FIND_VIDEO);
    assert_eq!(to(&out, 1), vec![json!({"type":"waiting","mode":"video","online":3,"searching":1})]);
    let out = sim.send(2, FIND_VIDEO);
    assert_eq!(
        to(&out, 1),
        vec![json!({"type":"matched","role":"offerer","mode":"video","common_interests":[],"call":1})]
    );
    assert_eq!(types(&out, 2), ["waiting", "matched"]);
    assert_eq!(to(&out, 2)[1]["role"], "answerer");
    sim.send(3, FIND_VIDEO);
    assert_eq!(sim.partner(1), Some(2));
    assert!(matches!(sim.state(3), Some(State::Searching { .. })));
    assert_eq!(sim.core.searching(Mode::Video), 1);
    assert_eq!(sim.core.pairs(), 1);
    assert_eq!(sim.core.stats().matches, 1);
    assert_eq!(sim.core.stats().match_wait.count, 2);
}

#[test]
fn modes_have_separate_queues() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    sim.send(1, FIND_VIDEO);
    let out = sim.send(2, r#"{"type":"find","mode":"text"}"#);
    assert_eq!(to(&out, 2), vec![json!({"type":"waiting","mode":"text","online":2,"searching":1})]);
    assert_eq!(sim.partner(1), None);
    sim.connect(3);
    let out = sim.send(3, r#"{"type":"find","mode":"text","interests":[]}"#);
    assert_eq!(to(&out, 2)[0]["mode"], "text");
    assert_eq!(sim.partner(3), Some(2));
}

#[test]
fn common_interest_is_preferred_over_the_older_searcher() {
    let mut sim = Sim::new();
    for n in 1..=3 {
        sim.connect(n);
    }
    sim.send(1, r#"{"type":"find","mode":"video","interests":["cats"]}"#);
    sim.send(2, r#"{"type":"find","mode":"video","interests":["chess","Music"]}"#);
    assert_eq!(sim.partner(1), None, "no common interest, nobody has waited 5 s");
    let out = sim.send(3, r#"{"type":"find","mode":"video","interests":["music","cats"]}"#);
    // 1 is older and shares "cats", so 1 wins over 2.
    assert_eq!(sim.partner(3), Some(1));
    assert_eq!(to(&out, 3)[1]["common_interests"], json!(["cats"]));
    assert_eq!(to(&out, 1)[0]["common_interests"], json!(["cats"]));
}

#[test]
fn interests_fall_back_to_anyone_after_the_wait() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    sim.send(1, r#"{"type":"find","mode":"video","interests":["cats"]}"#);
    sim.advance(Duration::from_secs(1));
    sim.send(2, r#"{"type":"find","mode":"video","interests":["dogs"]}"#);
    let out = sim.advance(Duration::from_millis(3900));
    assert!(types(&out, 1).iter().all(|t| t != "matched"), "4.9 s: still waiting");
    // At 5 s peer 1 is open, but peer 2 has waited only 4 s.
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.partner(1), None);
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(sim.partner(1), Some(2));
    assert_eq!(to(&out, 1).last().map(|m| m["common_interests"].clone()), Some(json!([])));
}

#[test]
fn a_searcher_without_interests_takes_an_open_searcher() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    sim.send(1, r#"{"type":"find","mode":"video","interests":["cats"]}"#);
    sim.send(2, FIND_VIDEO);
    assert_eq!(sim.partner(2), None, "1 still hopes for cats");
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.partner(2), Some(1));
}

#[test]
fn next_tells_the_partner_and_requeues_both_without_rematching() {
    let mut sim = Sim::new();
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, r#"{"type":"find","mode":"video","interests":["go"]}"#);
    }
    assert_eq!(sim.partner(1), Some(2));
    let out = sim.send(1, r#"{"type":"next"}"#);
    assert_eq!(to(&out, 2)[0], json!({"type":"partner_left","reason":"skipped"}));
    assert_eq!(types(&out, 2), ["partner_left", "waiting"]);
    assert_eq!(types(&out, 1), ["waiting"]);
    let order: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, .. } => Some(to.0),
            _ => None,
        })
        .collect();
    assert_eq!(order, [1, 2, 2], "the skipper is queued first");
    assert_eq!(sim.partner(1), None, "not re-matched at once");
    assert_eq!(sim.core.searching(Mode::Video), 2);
    assert_eq!(sim.core.stats().skips, 1);

    // A newcomer meets the skipper first (it asked for someone new and is ahead in the queue).
    sim.connect(3);
    sim.send(3, r#"{"type":"find","mode":"video","interests":["go"]}"#);
    assert_eq!(sim.partner(3), Some(1));
    assert!(matches!(sim.state(2), Some(State::Searching { .. })));
}

#[test]
fn skipped_pair_may_meet_again_after_the_cooldown_when_alone() {
    let mut sim = Sim::new();
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, FIND_VIDEO);
    }
    sim.send(2, r#"{"type":"next"}"#);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.partner(1), None);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.partner(1), Some(2));
}

#[test]
fn stop_leaves_the_queue_or_the_pair_and_requeues_the_partner() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.send(1, FIND_VIDEO);
    sim.send(1, r#"{"type":"stop"}"#);
    assert_eq!(sim.state(1), Some(State::Idle));
    assert_eq!(sim.core.searching(Mode::Video), 0);

    sim.connect(2);
    sim.send(1, FIND_VIDEO);
    sim.send(2, FIND_VIDEO);
    let out = sim.send(2, r#"{"type":"stop"}"#);
    assert_eq!(to(&out, 1)[0], json!({"type":"partner_left","reason":"stopped"}));
    assert_eq!(types(&out, 2), Vec::<String>::new());
    assert_eq!(sim.state(2), Some(State::Idle));
    assert!(matches!(sim.state(1), Some(State::Searching { .. })));
    // Stop twice is harmless.
    assert!(sim.send(2, r#"{"type":"stop"}"#).is_empty());
}

#[test]
fn disconnect_notifies_requeues_and_forgets() {
    let mut sim = Sim::new();
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, FIND_VIDEO);
    }
    let out = sim.input(Input::Disconnected(PeerId(2)));
    assert_eq!(to(&out, 1)[0], json!({"type":"partner_left","reason":"disconnected"}));
    assert_eq!(sim.state(2), None);
    assert!(matches!(sim.state(1), Some(State::Searching { .. })));
    sim.input(Input::Disconnected(PeerId(1)));
    assert_eq!(sim.core.online(), 0);
    assert_eq!(sim.core.searching(Mode::Video), 0);
    // A second disconnect of the same peer is ignored.
    assert!(sim.input(Input::Disconnected(PeerId(1))).is_empty());
}

#[test]
fn wrong_state_messages_get_errors() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    let out = sim.send(1, r#"{"type":"next"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    sim.send(1, FIND_VIDEO);
    sim.send(2, FIND_VIDEO);
    let out = sim.send(1, FIND_VIDEO);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    let out = sim.send(1, r#"{"type":"join","room":"r"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    assert_eq!(sim.partner(1), Some(2), "errors change nothing");
}

#[test]
fn searchers_get_periodic_waiting_updates() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.send(1, FIND_VIDEO);
    sim.connect(2);
    assert!(sim.advance(Duration::from_secs(1)).is_empty());
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(to(&out, 1), vec![json!({"type":"waiting","mode":"video","online":2,"searching":1})]);
}

#[test]
fn rate_limit_refuses_then_closes() {
    let cfg = crate::core::CoreConfig {
        rate: crate::core::RateLimit { burst: 3, per_sec: 1, max_strikes: 2 },
        ..Default::default()
    };
    let mut sim = Sim::with(cfg);
    sim.connect(1);
    for _ in 0..3 {
        sim.send(1, r#"{"type":"stop"}"#);
    }
    let out = sim.send(1, r#"{"type":"stop"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "rate_limited");
    // Garbage counts against the limit too.
    let out = sim.send(1, "garbage");
    assert_eq!(out, vec![Output::Close { peer: PeerId(1), code: 1008, reason: "rate limit exceeded" }]);
    assert_eq!(sim.state(1), None);
    assert_eq!(sim.core.stats().abuse_closes, 1);
}

#[test]
fn invalid_and_binary_frames_get_errors_and_change_nothing() {
    let mut sim = Sim::new();
    sim.connect(1);
    let out = sim.send(1, "{nope");
    assert_eq!(to(&out, 1)[0]["code"], "malformed");
    let out = sim.send(1, r#"{"type":"teleport"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "unknown_type");
    let out = sim.input(Input::Binary(PeerId(1)));
    assert_eq!(to(&out, 1)[0]["code"], "binary_unsupported");
    let out = sim.send(1, r#"{"type":"hello","version":99}"#);
    assert_eq!(to(&out, 1)[0]["code"], "version_unsupported");
    assert_eq!(types(&sim.send(1, r#"{"type":"hello","version":1}"#), 1), ["welcome"]);
    assert_eq!(sim.state(1), Some(State::Idle));
}

#[test]
fn the_longer_waiter_offers_when_both_fallbacks_expire_in_the_same_tick() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    sim.send(1, r#"{"type":"find","mode":"video","interests":["cats"]}"#);
    sim.advance(Duration::from_millis(100));
    sim.send(2, r#"{"type":"find","mode":"video","interests":["dogs"]}"#);
    // One tick crosses both fallbacks: 1's at 5 s, 2's at 5.1 s.
    let out = sim.advance(Duration::from_millis(5100));
    assert_eq!(sim.partner(1), Some(2));
    assert_eq!(to(&out, 1).last().map(|m| m["role"].clone()), Some(json!("offerer")), "1 waited longer");
    assert_eq!(to(&out, 2).last().map(|m| m["role"].clone()), Some(json!("answerer")));
}

/// 1 and 2 share an interest and part by Next while 3, with another interest, waits.
fn skipped_pair_with_a_third_waiting() -> Sim {
    let mut sim = Sim::new();
    sim.connect(3);
    sim.send(3, r#"{"type":"find","mode":"video","interests":["chess"]}"#);
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, r#"{"type":"find","mode":"video","interests":["go"]}"#);
    }
    assert_eq!(sim.partner(1), Some(2));
    sim.advance(Duration::from_secs(1));
    sim.send(1, r#"{"type":"next"}"#);
    sim
}

#[test]
fn a_skipped_pair_is_kept_apart_after_the_cooldown_while_anyone_else_waits() {
    let mut sim = skipped_pair_with_a_third_waiting();
    // The 3 s cooldown is over, and 1 and 2 still share "go"; but 3 is waiting.
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.partner(1), None, "re-matched while someone else was waiting");
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.partner(1), None);
    // At 1's and 2's interest fallback, 1 (first in the queue after 3) meets 3, not 2.
    let out = sim.advance(Duration::from_secs(1));
    assert_eq!(sim.partner(1), Some(3));
    assert_eq!(to(&out, 3).last().map(|m| m["role"].clone()), Some(json!("offerer")), "3 waited longest");
    assert!(matches!(sim.state(2), Some(State::Searching { .. })));
}

#[test]
fn a_skipped_pair_meets_again_once_nobody_else_is_waiting() {
    let mut sim = skipped_pair_with_a_third_waiting();
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.partner(1), None);
    // The other searcher gives up after the cooldown: the two are alone and meet again at once.
    let out = sim.send(3, r#"{"type":"stop"}"#);
    assert_eq!(sim.partner(1), Some(2));
    assert_eq!(to(&out, 2).last().map(|m| m["common_interests"].clone()), Some(json!(["go"])));
    // A match spends the avoidance on both sides.
    assert!(sim.core.peers.values().all(|p| p.avoid.is_none()));
}

/// Drive the core only at the times it asks for, as the hub does.
fn to_next_timeout(sim: &mut Sim) -> Option<Duration> {
    let at = sim.core.poll_timeout()?;
    assert!(at > sim.now.mono, "a deadline in the past: {at:?} at {:?}", sim.now.mono);
    let out = sim.advance(at - sim.now.mono);
    assert!(!out.is_empty() || sim.core.poll_timeout().is_some(), "a wake-up with nothing to do and nothing ahead");
    Some(at)
}

#[test]
fn the_core_asks_for_ticks_only_when_a_timer_is_due() {
    let mut sim = Sim::new();
    assert_eq!(sim.core.poll_timeout(), None, "nothing to time while nobody searches");
    let t0 = sim.now.mono;
    for (n, tag) in [(1, "a"), (2, "b")] {
        sim.connect(n);
        sim.send(n, &format!(r#"{{"type":"find","mode":"video","interests":["{tag}"]}}"#));
    }
    // The first `waiting` update is due after the interval, the fallback after its wait.
    assert_eq!(to_next_timeout(&mut sim), Some(t0 + Duration::from_secs(2)));
    assert_eq!(sim.partner(1), None);
    assert_eq!(to_next_timeout(&mut sim), Some(t0 + Duration::from_secs(4)));
    assert_eq!(to_next_timeout(&mut sim), Some(t0 + Duration::from_secs(5)), "woken exactly at the fallback");
    assert_eq!(sim.partner(1), Some(2), "no common interest: anyone will do after the fallback");
    assert_eq!(sim.core.poll_timeout(), None, "nobody left searching");

    // A skip's cooldown is a timer too: alone, two open to anyone meet again exactly when it ends.
    sim.send(1, r#"{"type":"stop"}"#);
    sim.send(2, r#"{"type":"stop"}"#);
    sim.send(1, FIND_VIDEO);
    sim.send(2, FIND_VIDEO);
    assert_eq!(sim.partner(1), Some(2));
    sim.send(2, r#"{"type":"next"}"#);
    let skipped = sim.now.mono;
    while sim.partner(1).is_none() {
        let at = to_next_timeout(&mut sim).expect("a timer while two search");
        assert!(at <= skipped + Duration::from_secs(3), "slept past the cooldown");
    }
    assert_eq!(sim.now.mono, skipped + Duration::from_secs(3));
}

#[test]
fn a_pair_whose_call_failed_is_kept_apart_for_minutes_even_alone() {
    let mut sim = Sim::new();
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, FIND_VIDEO);
    }
    assert_eq!(sim.partner(1), Some(2));
    sim.send(1, r#"{"type":"next","reason":"failed"}"#);
    assert_eq!(sim.core.stats().failed_calls, 1);
    // A plain skip would meet again after 3 s when alone; a failed call does not.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.partner(1), None, "re-matched with a partner it could not connect to");
    sim.advance(Duration::from_secs(280));
    assert_eq!(sim.partner(1), None);
    // Anyone else is fine meanwhile.
    sim.connect(3);
    sim.send(3, FIND_VIDEO);
    assert!(sim.partner(3).is_some(), "a third searcher is matched at once");
    let other = sim.partner(3);
    let alone = if other == Some(1) { 2 } else { 1 };
    // After the cooldown the two may meet again (e.g. after a network change).
    sim.send(3, r#"{"type":"stop"}"#);
    while sim.core.poll_timeout().is_some() && sim.partner(alone).is_none() {
        let at = sim.core.poll_timeout().unwrap_or(sim.now.mono);
        sim.advance(at.saturating_sub(sim.now.mono).max(Duration::from_millis(1)));
    }
    assert!(sim.now.mono >= Duration::from_secs(100 + 300), "kept apart for the whole cooldown");
    assert!(sim.partner(alone).is_some(), "and may meet once it is over");
}

#[test]
fn searchers_are_watched_closely_while_they_wait_and_no_longer_once_matched() {
    use crate::core::Output;
    let watched = |out: &[Output]| -> Vec<(u64, bool)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Searching { peer, searching } => Some((peer.0, *searching)),
                _ => None,
            })
            .collect()
    };
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    assert_eq!(watched(&sim.send(1, FIND_VIDEO)), [(1, true)]);
    assert_eq!(watched(&sim.send(1, r#"{"type":"stop"}"#)), [(1, false)]);
    sim.send(1, FIND_VIDEO);
    let out = sim.send(2, FIND_VIDEO);
    assert_eq!(watched(&out), [(2, true), (1, false), (2, false)], "both matched: back to the normal heartbeat");
}

#[test]
fn a_normal_session_completes_while_ten_thousand_searchers_churn() {
    let mut sim = Sim::new();
    let find = |tag: String| format!(r#"{{"type":"find","mode":"video","interests":["{tag}"]}}"#);
    for n in 1..=10_000 {
        sim.connect(n);
        sim.send(n, &find(format!("lone{n}")));
    }
    // Two strangers who share an interest arrive while the crowd keeps re-sending find.
    sim.connect(20_001);
    sim.send(20_001, &find("chess".into()));
    for i in 0..2_000u64 {
        sim.send(1 + (i * 7919) % 10_000, &find(format!("again{i}")));
    }
    sim.connect(20_002);
    let out = sim.send(20_002, &find("chess".into()));
    assert_eq!(sim.partner(20_002), Some(20_001), "the two who share an interest met");
    assert_eq!(
        to(&out, 20_002).iter().find(|m| m["type"] == "matched").map(|m| m["common_interests"].clone()),
        Some(serde_json::json!(["chess"]))
    );
    let out = sim.send(20_001, r#"{"type":"chat","text":"hello"}"#);
    assert_eq!(types(&out, 20_002), ["chat"]);
    assert_eq!(sim.core.searching(strangers_shared::Mode::Video), 10_000, "the crowd still waits, unmatched");
}
