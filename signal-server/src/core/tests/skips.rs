//! Skip limits in virtual time: a client that presses Next faster than a person can look is
//! paused (`slow_down` with the time left), its partner is still released, and it can search
//! again once the cooldown is over.

use std::time::Duration;

use serde_json::json;
use strangers_shared::Mode;

use super::super::{CoreConfig, SkipLimit, State};
use super::{Sim, to, types};

/// Peers 1 and 2 searching in video, and a limit of `max` skips a minute.
fn sim(max: u32) -> Sim {
    let cfg = CoreConfig {
        skip_limit: SkipLimit { max, window: Duration::from_secs(60), cooldown: Duration::from_secs(30) },
        rematch_cooldown: Duration::ZERO,
        ..CoreConfig::default()
    };
    Sim::paired(cfg)
}

#[test]
fn skipping_past_the_limit_pauses_the_skipper_and_releases_the_partner() {
    let mut sim = sim(3);
    // With nobody else waiting and no rematch cooldown, 1 and 2 meet again after each skip.
    for _ in 0..3 {
        assert_eq!(sim.partner(1), Some(2));
        let out = sim.send(1, r#"{"type":"next"}"#);
        assert_eq!(types(&out, 2)[0], "partner_left");
        sim.advance(Duration::from_secs(1));
    }
    assert_eq!(sim.partner(1), Some(2));
    let out = sim.send(1, r#"{"type":"next"}"#);
    let err = &to(&out, 1)[0];
    assert_eq!((err["type"].as_str(), err["code"].as_str()), (Some("error"), Some("slow_down")));
    assert_eq!(err["retry_in_ms"], json!(30_000));
    assert_eq!(to(&out, 2)[0], json!({"type":"partner_left","reason":"skipped"}), "the partner is still released");
    assert_eq!(sim.state(1), Some(State::Idle), "the skipper is not queued");
    assert_eq!(sim.core.searching(Mode::Video), 1, "only the partner searches");
    assert_eq!(sim.core.stats().slowdowns, 1);

    // Paused: find and next are refused with the time left; stop and find does not get round it.
    sim.advance(Duration::from_secs(10));
    for text in [r#"{"type":"find","mode":"video"}"#, r#"{"type":"next"}"#] {
        let out = sim.send(1, text);
        let err = &to(&out, 1)[0];
        assert_eq!(err["code"], "slow_down", "{text}");
        assert_eq!(err["retry_in_ms"], json!(20_000));
    }
    sim.send(1, r#"{"type":"stop"}"#);
    assert_eq!(to(&sim.send(1, r#"{"type":"find","mode":"video"}"#), 1)[0]["code"], "slow_down");
    assert_eq!(sim.partner(2), None);

    // Over: it searches and meets the waiting partner.
    sim.advance(Duration::from_secs(21));
    let out = sim.send(1, r#"{"type":"find","mode":"video"}"#);
    assert!(types(&out, 1).contains(&"matched".to_string()), "{:?}", types(&out, 1));
    assert_eq!(sim.partner(1), Some(2));
}

#[test]
fn a_human_pace_failed_calls_and_a_zero_limit_are_never_paused() {
    let mut sim = sim(3);
    // One skip every 25 s: never more than 3 in a minute.
    for _ in 0..10 {
        assert_eq!(sim.partner(1), Some(2));
        assert_eq!(types(&sim.send(1, r#"{"type":"next"}"#), 1), ["waiting", "matched"]);
        sim.advance(Duration::from_secs(25));
    }
    // Calls that failed to connect do not count as skips.
    for _ in 0..10 {
        let out = sim.send(1, r#"{"type":"next","reason":"failed"}"#);
        assert!(!types(&out, 1).contains(&"error".to_string()));
        // Kept apart after a failure: bring in a fresh stranger for the next round.
        sim.advance(Duration::from_secs(1));
    }
    // 50 skips in a burst (the message rate limit's own burst is 60).
    let mut sim = sim_unlimited();
    for _ in 0..50 {
        let out = sim.send(1, r#"{"type":"next"}"#);
        assert!(!types(&out, 1).contains(&"error".to_string()), "{:?}", to(&out, 1));
    }
    assert_eq!(sim.core.stats().slowdowns, 0);
}

fn sim_unlimited() -> Sim {
    sim(0)
}
