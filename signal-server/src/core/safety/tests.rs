//! The ledger's decisions in virtual time: thresholds, distinct reporters, escalation, expiry,
//! floods, block symmetry, and what a store hands back after a restart.

use strangers_shared::ReportReason;

use super::ledger::{Ledger, Verdict};
use super::{Ban, BlockRow, Key, Report, SafetyConfig};

const T0: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn k(n: u8) -> Key {
    Key([n; 16])
}

/// A report about `subject` from the network `voice` at `at`.
fn report(voice: u8, subject: u8, at: u64) -> Report {
    Report {
        at,
        voice: k(voice),
        reporter: k(voice + 100),
        subject: k(subject),
        subject_net: Some(k(200)),
        reason: ReportReason::Harassment,
        text: None,
        chat: vec![],
    }
}

fn banned_until(v: &Verdict) -> Option<u64> {
    match v {
        Verdict::Ban(bans) => bans.first().map(|b| b.until),
        _ => None,
    }
}

#[test]
fn three_networks_ban_for_an_hour_and_the_subjects_network_with_it() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    assert_eq!(l.report(&cfg, report(1, 50, T0), &[(k(50), 3), (k(200), 3)]), Verdict::Noted);
    assert_eq!(l.report(&cfg, report(2, 50, T0 + 10), &[(k(50), 3), (k(200), 3)]), Verdict::Noted);
    let v = l.report(&cfg, report(3, 50, T0 + 20), &[(k(50), 3), (k(200), 3)]);
    let Verdict::Ban(bans) = v else { panic!("expected a ban, got {v:?}") };
    let keys: Vec<Key> = bans.iter().map(|b| b.key).collect();
    assert_eq!(keys, vec![k(50), k(200)], "the install key and the network");
    assert!(bans.iter().all(|b| b.until == T0 + 20 + HOUR && b.strikes == 1));
    assert!(l.banned([k(50)], T0 + HOUR).is_some());
    assert!(l.banned([k(200)], T0 + HOUR).is_some(), "a new install on the same network too");
    assert!(l.banned([k(50)], T0 + 20 + HOUR).is_none(), "over when it ends");
}

#[test]
fn one_reporter_reporting_ten_times_is_one_report() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    for i in 0..10 {
        assert_eq!(l.report(&cfg, report(1, 50, T0 + i), &[(k(50), 3)]), Verdict::Noted, "report {i}");
    }
    // The same network under another install id is still the same reporter, and past the flood
    // limit its reports are not taken at all.
    let mut r = report(1, 50, T0 + 100);
    r.reporter = k(150);
    assert_eq!(l.report(&cfg, r, &[(k(50), 3)]), Verdict::Flood);
    assert_eq!(l.report(&cfg, report(2, 50, T0 + 200), &[(k(50), 3)]), Verdict::Noted, "two networks");
    assert!(banned_until(&l.report(&cfg, report(3, 50, T0 + 300), &[(k(50), 3)])).is_some(), "three");
}

#[test]
fn reports_older_than_the_window_do_not_count() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    l.report(&cfg, report(1, 50, T0), &[(k(50), 3)]);
    l.report(&cfg, report(2, 50, T0 + HOUR), &[(k(50), 3)]);
    // 24 h after the first: it no longer counts, so this third network makes two.
    assert_eq!(l.report(&cfg, report(3, 50, T0 + 24 * HOUR), &[(k(50), 3)]), Verdict::Noted);
    assert!(banned_until(&l.report(&cfg, report(4, 50, T0 + 24 * HOUR + 1), &[(k(50), 3)])).is_some());
}

#[test]
fn bans_escalate_from_an_hour_to_a_day_to_a_week_and_reset_after_a_clean_month() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    let mut at = T0;
    let ban = |l: &mut Ledger, at: u64| {
        l.report(&cfg, report(1, 50, at), &[(k(50), 3)]);
        l.report(&cfg, report(2, 50, at + 1), &[(k(50), 3)]);
        banned_until(&l.report(&cfg, report(3, 50, at + 2), &[(k(50), 3)])).map(|until| until - (at + 2))
    };
    assert_eq!(ban(&mut l, at), Some(HOUR));
    at += 2 * HOUR;
    assert_eq!(ban(&mut l, at), Some(24 * HOUR));
    at += 25 * HOUR;
    assert_eq!(ban(&mut l, at), Some(7 * 24 * HOUR));
    at += 8 * 24 * HOUR;
    assert_eq!(ban(&mut l, at), Some(7 * 24 * HOUR), "a week from then on");
    // The reports that led to a ban are spent: the same three do not ban again at once.
    at += 8 * 24 * HOUR;
    assert_eq!(l.report(&cfg, report(1, 50, at), &[(k(50), 3)]), Verdict::Noted);
    // A month after the last ban ended, the record is forgotten: back to an hour.
    at += 40 * 24 * HOUR;
    l.sweep(&cfg, at);
    assert_eq!(ban(&mut l, at), Some(HOUR));
}

#[test]
fn blocks_are_symmetric_and_expire() {
    let mut l = Ledger::default();
    l.block(k(1), k(2), T0 + 30 * 24 * HOUR);
    assert!(l.blocked(k(1), k(2), T0) && l.blocked(k(2), k(1), T0));
    assert!(!l.blocked(k(1), k(3), T0));
    assert!(!l.blocked(k(2), k(1), T0 + 30 * 24 * HOUR), "30 days, then gone");
    l.sweep(&SafetyConfig::default(), T0 + 30 * 24 * HOUR);
    assert!(l.is_empty());
}

#[test]
fn a_network_sending_a_flood_of_reports_is_cut_off_for_the_hour() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    for i in 0..10u8 {
        assert_eq!(l.report(&cfg, report(1, 50 + i, T0 + u64::from(i)), &[(k(50 + i), 3)]), Verdict::Noted);
    }
    assert_eq!(l.report(&cfg, report(1, 70, T0 + 20), &[(k(70), 3)]), Verdict::Flood);
    assert_eq!(l.recent_reports(100).count(), 10, "the dropped one is not kept");
    assert_eq!(l.report(&cfg, report(1, 70, T0 + HOUR), &[(k(70), 3)]), Verdict::Noted, "an hour later");
}

#[test]
fn lifting_ends_a_ban_now_but_remembers_the_strike() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    for v in 1..=3 {
        l.report(&cfg, report(v, 50, T0), &[(k(50), 3)]);
    }
    assert_eq!(l.lift(k(50), T0 + 5).len(), 1);
    assert!(l.banned([k(50)], T0 + 5).is_none());
    assert!(l.lift(k(50), T0 + 6).is_empty(), "nothing left to lift");
    assert!(l.active_bans(T0 + 6).is_empty());
    for v in 4..=6 {
        l.report(&cfg, report(v, 50, T0 + 10), &[(k(50), 3)]);
    }
    assert_eq!(l.banned([k(50)], T0 + 10).map(|b| b.strikes), Some(2), "the next ban is the second");
}

#[test]
fn a_restored_ledger_decides_as_the_one_before_the_restart() {
    let cfg = SafetyConfig::default();
    let ban = Ban { key: k(60), since: T0, until: T0 + HOUR, strikes: 1, forget_at: T0 + 31 * 24 * HOUR };
    let mut l = Ledger::default();
    let reports = vec![report(1, 60, T0 - 10), report(2, 60, T0 - 5), report(3, 60, T0), report(4, 50, T0 + 1)];
    l.restore(vec![BlockRow { a: k(7), b: k(8), expires: T0 + HOUR }], vec![ban], reports);
    assert!(l.blocked(k(8), k(7), T0));
    assert_eq!(l.banned([k(60)], T0 + 1).map(|b| b.until), Some(T0 + HOUR));
    assert_eq!(l.recent_reports(10).count(), 4);
    // The reports before the ban were spent on it; the one about 50 still counts.
    l.report(&cfg, report(5, 50, T0 + 2), &[(k(50), 3)]);
    assert!(banned_until(&l.report(&cfg, report(6, 50, T0 + 3), &[(k(50), 3)])).is_some());
    assert_eq!(l.report(&cfg, report(5, 60, T0 + 2 * HOUR), &[(k(60), 3)]), Verdict::Noted);
}

#[test]
fn a_network_needs_a_higher_bar_and_lifting_one_key_lifts_the_incident() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    // The same network, five installs reported once each by three networks: each install is
    // below its bar of 3, the network reaches 3 but its bar is 6.
    let targets = |id: u8| [(k(id), 3), (k(200), 6)];
    for (i, id) in [60u8, 61, 62].iter().enumerate() {
        let r = report(i as u8 + 1, *id, T0 + i as u64);
        assert_eq!(l.report(&cfg, r, &targets(*id)), Verdict::Noted);
    }
    assert!(l.banned([k(200)], T0 + 10).is_none(), "not at 3 networks");
    for v in 4..=6u8 {
        let r = report(v, 63, T0 + u64::from(v));
        l.report(&cfg, r, &targets(63));
    }
    assert!(l.banned([k(200)], T0 + 10).is_some(), "six networks ban the network");
    // An install banned with its network: lifting either lifts both.
    let mut l = Ledger::default();
    for v in 1..=3u8 {
        l.report(&cfg, report(v, 70, T0), &[(k(70), 3), (k(201), 3)]);
    }
    assert_eq!(l.lift(k(201), T0 + 1).len(), 2);
    assert!(l.banned([k(70)], T0 + 1).is_none());
}

#[test]
fn a_new_ban_never_shortens_one_already_running() {
    let cfg = SafetyConfig::default();
    let mut l = Ledger::default();
    // Three bans of install 80 on network 202: the third lasts a week and bans the network too.
    let mut at = T0;
    for round in 0..3u64 {
        for v in 1..=3u8 {
            l.report(&cfg, report(v + 10 * round as u8, 80, at), &[(k(80), 3), (k(202), 3)]);
        }
        at += 25 * HOUR * (round + 1);
    }
    let week = l.banned([k(202)], at).map(|b| b.until);
    assert!(week.is_some());
    // Someone else on that network earns a first (one-hour) ban: the network's week stands.
    for v in 50..=52u8 {
        l.report(&cfg, report(v, 81, at), &[(k(81), 3), (k(202), 3)]);
    }
    let now = l.banned([k(202)], at).map(|b| b.until);
    assert!(now >= week, "{now:?} < {week:?}");
}

#[test]
fn forgetting_a_connection_key_drops_its_blocks() {
    let mut l = Ledger::default();
    l.block(k(1), k(2), T0 + HOUR);
    l.block(k(1), k(3), T0 + HOUR);
    assert_eq!(l.blocked_by(k(1), T0).count(), 2);
    l.forget(k(1));
    assert!(!l.blocked(k(1), k(2), T0) && l.blocked_by(k(2), T0).count() == 0);
}
