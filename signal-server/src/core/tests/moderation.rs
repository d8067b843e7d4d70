//! Safety in the core, in virtual time: the terms gate, report and block against the current or
//! last partner only, blocked pairs that wait rather than meet, bans from three networks that
//! reach the banned client at once and end on time, and the store effects.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use strangers_shared::{Mode, PeerId};

use super::super::safety::{SafetyConfig, StoreOp};
use super::super::{CoreConfig, Input, Output, State};
use super::{Sim, to, types};

const HOUR: Duration = Duration::from_secs(3600);

fn install(n: u64) -> String {
    format!("{n:032x}")
}

/// Connect peer `n` from `ip`, say hello with an install id (and `terms`), discard the welcome.
fn join(sim: &mut Sim, n: u64, ip: &str, terms: Option<&str>) {
    join_as(sim, n, ip, n, terms);
}

/// [`join`] with the install id of `id`.
fn join_as(sim: &mut Sim, n: u64, ip: &str, id: u64, terms: Option<&str>) {
    let ip: IpAddr = ip.parse().unwrap();
    sim.input(Input::Connected(PeerId(n), Some(ip)));
    let hello = serde_json::json!({"type":"hello","version":1,"install":install(id),"terms":terms});
    sim.send(n, &hello.to_string());
}

fn find(sim: &mut Sim, n: u64) -> Vec<Output> {
    sim.send(n, r#"{"type":"find","mode":"video"}"#)
}

fn first_error(out: &[Output], n: u64) -> Option<Value> {
    to(out, n).into_iter().find(|v| v["type"] == "error")
}

fn stored(out: &[Output]) -> Vec<&StoreOp> {
    out.iter()
        .filter_map(|o| match o {
            Output::Store(op) => Some(op),
            _ => None,
        })
        .collect()
}

fn no_cooldowns() -> CoreConfig {
    CoreConfig {
        rematch_cooldown: Duration::ZERO,
        skip_limit: super::super::SkipLimit { max: 0, ..Default::default() },
        ..CoreConfig::default()
    }
}

#[test]
fn a_server_that_requires_terms_refuses_find_and_join_until_they_are_accepted() {
    let safety = SafetyConfig { require_terms: Some("2026-12".into()), ..SafetyConfig::default() };
    let mut sim = Sim::with(CoreConfig { safety, ..CoreConfig::default() });
    sim.input(Input::Connected(PeerId(1), None));
    let out = sim.send(1, r#"{"type":"hello","version":1}"#);
    assert_eq!(to(&out, 1)[0]["terms"], "2026-12", "welcome says which version");
    for msg in [r#"{"type":"find","mode":"video"}"#, r#"{"type":"join","room":"r"}"#, r#"{"type":"next"}"#] {
        let err = first_error(&sim.send(1, msg), 1).expect("refused");
        assert_eq!(err["code"], "terms_required", "{msg}");
    }
    sim.send(1, r#"{"type":"hello","version":1,"terms":"2025-01"}"#);
    assert_eq!(first_error(&find(&mut sim, 1), 1).map(|e| e["code"].clone()), Some("terms_required".into()));
    sim.send(1, r#"{"type":"hello","version":1,"terms":"2026-12"}"#);
    assert_eq!(types(&find(&mut sim, 1), 1), ["waiting"]);
    // A simple `ws` client that never says hello cannot join either.
    sim.input(Input::Connected(PeerId(2), None));
    let err = first_error(&sim.send(2, r#"{"type":"join","room":"r"}"#), 2).expect("refused");
    assert_eq!(err["code"], "terms_required");
}

#[test]
fn without_the_flag_old_clients_search_as_before() {
    let mut sim = Sim::new();
    sim.input(Input::Connected(PeerId(1), None));
    let out = sim.send(1, r#"{"type":"hello","version":1}"#);
    assert!(to(&out, 1)[0].get("terms").is_none());
    assert_eq!(types(&find(&mut sim, 1), 1), ["waiting"]);
}

#[test]
fn a_report_blocks_and_skips_and_the_pair_waits_rather_than_meets() {
    let mut sim = Sim::with(no_cooldowns());
    join(&mut sim, 1, "198.51.100.1", None);
    join(&mut sim, 2, "203.0.113.2", None);
    find(&mut sim, 1);
    find(&mut sim, 2);
    assert_eq!(sim.partner(1), Some(2));
    let out = sim.send(1, r#"{"type":"report","reason":"harassment","text":"rude","chat":["you suck"]}"#);
    assert!(types(&out, 1).contains(&"reported".to_string()));
    assert_eq!(to(&out, 2)[0], serde_json::json!({"type":"partner_left","reason":"skipped"}));
    let ops = stored(&out);
    assert!(matches!(ops[0], StoreOp::Block(_)), "both have install ids, so the block is kept");
    let StoreOp::Report(r) = ops[1] else { panic!("{ops:?}") };
    assert_eq!((r.text.as_deref(), r.chat.len()), (Some("rude"), 1));
    // Both search, alone together, for a long time: they never meet again.
    for _ in 0..20 {
        sim.advance(Duration::from_secs(30));
    }
    assert!(matches!(sim.state(1), Some(State::Searching { .. })));
    assert!(matches!(sim.state(2), Some(State::Searching { .. })));
    // Someone new is met at once by either.
    join(&mut sim, 3, "192.0.2.3", None);
    find(&mut sim, 3);
    assert!(sim.partner(3).is_some());
    assert_eq!(sim.core.stats().reports.iter().sum::<u64>(), 1);
}

#[test]
fn a_block_after_the_call_reaches_the_last_partner_and_only_them() {
    let mut sim = Sim::with(no_cooldowns());
    for (n, ip) in [(1, "198.51.100.1"), (2, "203.0.113.2"), (3, "192.0.2.3")] {
        join(&mut sim, n, ip, None);
    }
    // Nobody met yet: nothing to report.
    let err = first_error(&sim.send(1, r#"{"type":"report","reason":"spam"}"#), 1).expect("refused");
    assert_eq!(err["code"], "not_paired");
    find(&mut sim, 1);
    find(&mut sim, 2);
    sim.send(1, r#"{"type":"stop"}"#);
    assert_eq!(sim.state(2).map(|s| matches!(s, State::Searching { .. })), Some(true));
    find(&mut sim, 3);
    assert_eq!(sim.partner(3), Some(2), "2 meets 3 now");
    // 1 blocks after its call with 2 ended: 2, not 3 (whom 1 never met), and 2's call goes on.
    let out = sim.send(1, r#"{"type":"block"}"#);
    assert_eq!(types(&out, 1), ["blocked"]);
    assert!(to(&out, 2).is_empty() && to(&out, 3).is_empty());
    assert!(sim.core.blocked(PeerId(1), PeerId(2)) && !sim.core.blocked(PeerId(1), PeerId(3)));
    assert_eq!(sim.partner(2), Some(3));
}

#[test]
fn reporting_the_same_stranger_again_is_acknowledged_and_not_counted() {
    let mut sim = Sim::with(no_cooldowns());
    join(&mut sim, 1, "198.51.100.1", None);
    join(&mut sim, 2, "203.0.113.2", None);
    find(&mut sim, 1);
    find(&mut sim, 2);
    for _ in 0..10 {
        let out = sim.send(1, r#"{"type":"report","reason":"spam"}"#);
        assert!(types(&out, 1).contains(&"reported".to_string()));
    }
    assert_eq!(sim.core.stats().reports.iter().sum::<u64>(), 1);
    assert_eq!(sim.core.recent_reports(100).len(), 1);
}

/// Peer `offender` (install 99, network 10.9.9.0/24) meets reporters 1..=3, each on its own
/// network, and each reports it.
fn three_reports(sim: &mut Sim, offender: u64) -> Vec<Output> {
    let mut last = Vec::new();
    for r in 1..=3u64 {
        join(sim, r, &format!("10.0.{r}.1"), None);
        find(sim, r);
        find(sim, offender);
        assert_eq!(sim.partner(r), Some(offender), "reporter {r} meets the offender");
        last = sim.send(r, r#"{"type":"report","reason":"sexual"}"#);
        sim.send(r, r#"{"type":"stop"}"#);
        sim.advance(Duration::from_secs(60));
    }
    last
}

#[test]
fn three_networks_ban_a_client_at_once_and_the_ban_ends_on_time() {
    let mut sim = Sim::with(no_cooldowns());
    join(&mut sim, 99, "10.9.9.9", None);
    let out = three_reports(&mut sim, 99);
    let err = first_error(&out, 99).expect("told at once");
    assert_eq!(err["code"], "banned");
    assert_eq!(err["retry_in_ms"], 3_600_000);
    let bans = stored(&out).iter().filter(|op| matches!(op, StoreOp::Ban(_))).count();
    assert_eq!(bans, 1, "the install id; its network needs reports from six networks");
    assert_eq!(sim.state(99), Some(State::Idle), "out of the queue");
    // It cannot search, nor shed the ban by saying another install id on this connection.
    assert_eq!(first_error(&find(&mut sim, 99), 99).map(|e| e["code"].clone()), Some("banned".into()));
    sim.send(99, &serde_json::json!({"type":"hello","version":1,"install":install(12345)}).to_string());
    assert_eq!(first_error(&find(&mut sim, 99), 99).map(|e| e["code"].clone()), Some("banned".into()));
    // A new connection under the same install id, from elsewhere, is refused too.
    sim.input(Input::Closed(PeerId(99)));
    join_as(&mut sim, 98, "172.16.0.1", 99, None);
    assert_eq!(first_error(&find(&mut sim, 98), 98).map(|e| e["code"].clone()), Some("banned".into()));
    // Someone else on the same network is not punished for it.
    join(&mut sim, 97, "10.9.9.200", None);
    assert_eq!(types(&find(&mut sim, 97), 97)[0], "waiting");
    sim.send(97, r#"{"type":"stop"}"#);
    // An hour after the ban began, it is over.
    sim.advance(HOUR);
    assert_eq!(types(&find(&mut sim, 98), 98)[0], "waiting");
    assert_eq!(sim.core.stats().bans, 1);
}

#[test]
fn a_network_flooding_reports_gets_rate_limited_but_still_blocks() {
    let mut sim = Sim::with(no_cooldowns());
    join(&mut sim, 1, "198.51.100.1", None);
    let mut refused = 0;
    for n in 2..=13u64 {
        join(&mut sim, n, &format!("10.1.{n}.1"), None);
        find(&mut sim, 1);
        find(&mut sim, n);
        assert_eq!(sim.partner(1), Some(n));
        let out = sim.send(1, r#"{"type":"report","reason":"spam"}"#);
        if first_error(&out, 1).is_some_and(|e| e["code"] == "rate_limited") {
            refused += 1;
        }
        assert!(sim.core.blocked(PeerId(1), PeerId(n)), "blocked either way");
        sim.send(1, r#"{"type":"stop"}"#);
        sim.send(n, r#"{"type":"stop"}"#);
    }
    assert_eq!(refused, 2, "10 an hour from one network");
    assert_eq!(sim.core.stats().reports_dropped, 2);
    assert_eq!(sim.core.searching(Mode::Video), 0);
}

#[test]
fn a_report_naming_an_earlier_call_is_refused_and_lands_on_nobody() {
    let mut sim = Sim::with(no_cooldowns());
    for (n, ip) in [(1, "198.51.100.1"), (2, "203.0.113.2"), (3, "192.0.2.3")] {
        join(&mut sim, n, ip, None);
    }
    find(&mut sim, 1);
    let out = find(&mut sim, 2);
    let first_call = to(&out, 1).iter().find(|v| v["type"] == "matched").map(|v| v["call"].clone()).unwrap();
    // The stranger skips, and someone new is matched before the report is sent.
    sim.send(2, r#"{"type":"stop"}"#);
    let out = find(&mut sim, 3);
    let second_call = to(&out, 1).iter().find(|v| v["type"] == "matched").map(|v| v["call"].clone()).unwrap();
    assert_ne!(first_call, second_call);
    let report = serde_json::json!({"type":"report","reason":"sexual","call":first_call});
    let err = first_error(&sim.send(1, &report.to_string()), 1).expect("refused");
    assert_eq!(err["code"], "wrong_state");
    assert_eq!(sim.partner(1), Some(3), "the newcomer is neither skipped");
    assert!(!sim.core.blocked(PeerId(1), PeerId(3)), "nor blocked");
    assert_eq!(sim.core.stats().reports.iter().sum::<u64>(), 0);
    // Naming the current call works.
    let block = serde_json::json!({"type":"block","call":second_call});
    assert_eq!(types(&sim.send(1, &block.to_string()), 1).last().map(String::as_str), Some("blocked"));
}

#[test]
fn blocking_counts_as_a_skip_for_the_skip_limit() {
    let cfg = CoreConfig {
        rematch_cooldown: Duration::ZERO,
        skip_limit: super::super::SkipLimit {
            max: 2,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(30),
        },
        ..CoreConfig::default()
    };
    let mut sim = Sim::with(cfg);
    join(&mut sim, 1, "198.51.100.1", None);
    let mut paused = false;
    for n in 2..=5u64 {
        join(&mut sim, n, &format!("10.2.{n}.1"), None);
        find(&mut sim, n);
        if sim.state(1) == Some(State::Idle) {
            find(&mut sim, 1);
        }
        if sim.partner(1) != Some(n) {
            continue;
        }
        let out = sim.send(1, r#"{"type":"block"}"#);
        if first_error(&out, 1).is_some_and(|e| e["code"] == "slow_down") {
            paused = true;
            break;
        }
    }
    assert!(paused, "the third block within a minute pauses the blocker");
}
