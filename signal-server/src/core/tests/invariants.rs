//! Property tests: random sequences of connect, find, next, stop, chat, typing, media state, join,
//! leave, relay, report, block (bans included: three reports ban), disconnect and time passing must keep the core's invariants. One run uses the
//! default rate limit; another uses a tiny one, so that abuse closes happen in every state.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use strangers_shared::{PeerId, RoomName};

use super::{Sim, to, types};
use crate::core::timers::Timer;
use crate::core::{CoreConfig, Input, Output, RateLimit, State, mode_index};

#[derive(Debug, Clone)]
enum Op {
    Connect(u64),
    Find(u64, bool, Vec<usize>),
    Next(u64),
    Stop(u64),
    Chat(u64),
    Typing(u64, bool),
    Media(u64, bool, bool),
    Offer(u64),
    Join(u64, usize, bool),
    Leave(u64),
    Report(u64, usize),
    Block(u64),
    Disconnect(u64),
    Garbage(u64),
    /// Several bad frames at once: harmless under the default rate limit, abuse under a tiny one.
    Flood(u64),
    Wait(u64),
}

impl Op {
    /// The peer acting, if any.
    fn actor(&self) -> Option<PeerId> {
        match self {
            Op::Connect(p)
            | Op::Find(p, ..)
            | Op::Next(p)
            | Op::Stop(p)
            | Op::Chat(p)
            | Op::Typing(p, _)
            | Op::Media(p, ..)
            | Op::Offer(p)
            | Op::Join(p, ..)
            | Op::Leave(p)
            | Op::Report(p, _)
            | Op::Block(p)
            | Op::Disconnect(p)
            | Op::Garbage(p)
            | Op::Flood(p) => Some(PeerId(*p)),
            Op::Wait(_) => None,
        }
    }
}

const PEERS: u64 = 7;
const TAGS: [&str; 3] = ["a", "b", "c"];

/// One op; time passes in steps of up to `max_wait_ms`.
fn op(max_wait_ms: u64) -> impl Strategy<Value = Op> {
    let peer = 0..PEERS;
    prop_oneof![
        3 => peer.clone().prop_map(Op::Connect),
        4 => (peer.clone(), any::<bool>(), prop::collection::vec(0..TAGS.len(), 0..3))
            .prop_map(|(p, text, tags)| Op::Find(p, text, tags)),
        3 => peer.clone().prop_map(Op::Next),
        1 => peer.clone().prop_map(Op::Stop),
        1 => peer.clone().prop_map(Op::Chat),
        1 => (peer.clone(), any::<bool>()).prop_map(|(p, on)| Op::Typing(p, on)),
        1 => (peer.clone(), any::<bool>(), any::<bool>()).prop_map(|(p, a, v)| Op::Media(p, a, v)),
        1 => peer.clone().prop_map(Op::Offer),
        2 => (peer.clone(), 0..2usize, any::<bool>()).prop_map(|(p, r, mesh)| Op::Join(p, r, mesh)),
        1 => peer.clone().prop_map(Op::Leave),
        2 => (peer.clone(), 0..5usize).prop_map(|(p, r)| Op::Report(p, r)),
        1 => peer.clone().prop_map(Op::Block),
        2 => peer.clone().prop_map(Op::Disconnect),
        1 => peer.clone().prop_map(Op::Garbage),
        2 => peer.clone().prop_map(Op::Flood),
        2 => (0..max_wait_ms).prop_map(Op::Wait),
    ]
}

fn ops(max_wait_ms: u64) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(max_wait_ms), 1..120)
}

fn apply(sim: &mut Sim, op: &Op) -> Vec<Output> {
    match op {
        Op::Connect(p) => {
            if sim.state(*p).is_some() {
                return Vec::new();
            }
            sim.input(Input::Connected(PeerId(*p), None))
        }
        Op::Find(p, text, tags) => {
            let mode = if *text { "text" } else { "video" };
            let tags: Vec<&str> = tags.iter().map(|i| TAGS[*i]).collect();
            sim.send(*p, &serde_json::json!({"type":"find","mode":mode,"interests":tags}).to_string())
        }
        Op::Next(p) => sim.send(*p, r#"{"type":"next"}"#),
        Op::Stop(p) => sim.send(*p, r#"{"type":"stop"}"#),
        Op::Chat(p) => sim.send(*p, r#"{"type":"chat","text":"hi"}"#),
        Op::Typing(p, on) => sim.send(*p, &format!(r#"{{"type":"typing","active":{on}}}"#)),
        Op::Media(p, a, v) => sim.send(*p, &format!(r#"{{"type":"media_state","audio":{a},"video":{v}}}"#)),
        Op::Offer(p) => sim.send(*p, r#"{"type":"offer","sdp":"v=0","room":"r0"}"#),
        Op::Join(p, r, mesh) => {
            let name = if *mesh { r#","name":"n""# } else { "" };
            sim.send(*p, &format!(r#"{{"type":"join","room":"r{r}"{name}}}"#))
        }
        Op::Leave(p) => sim.send(*p, r#"{"type":"leave"}"#),
        Op::Report(p, r) => {
            let reason = strangers_shared::ReportReason::ALL[*r].as_str();
            sim.send(*p, &serde_json::json!({"type":"report","reason":reason,"text":"x"}).to_string())
        }
        Op::Block(p) => sim.send(*p, r#"{"type":"block"}"#),
        Op::Disconnect(p) => sim.input(Input::Disconnected(PeerId(*p))),
        Op::Garbage(p) => sim.send(*p, "{\"type\":"),
        Op::Flood(p) => (0..5).flat_map(|_| sim.send(*p, "{\"type\":")).collect(),
        Op::Wait(ms) => sim.advance(Duration::from_millis(*ms)),
    }
}

fn check(sim: &Sim) -> Result<(), TestCaseError> {
    let core = &sim.core;
    let mut queued = HashSet::new();
    for q in &core.queues {
        prop_assert!(q.consistent(), "a queue's indexes disagree");
        for (seq, id) in q.iter() {
            prop_assert!(queued.insert(*id), "{id} is queued twice");
            let p = core.peers.get(id);
            prop_assert!(p.is_some(), "{id} is queued but gone");
            match p.map(|p| &p.state) {
                Some(State::Searching { seq: s, .. }) => prop_assert_eq!(s, seq),
                other => prop_assert!(false, "{id} is queued but {other:?}"),
            }
        }
    }
    for (id, p) in &core.peers {
        match &p.state {
            State::Paired { partner } => {
                prop_assert_ne!(partner, id, "paired with itself");
                let back = core.peers.get(partner).map(|q| q.state.clone());
                prop_assert_eq!(back, Some(State::Paired { partner: *id }), "asymmetric pair");
                prop_assert!(
                    !core.blocked(*id, *partner),
                    "{id} is paired with {partner}, whom a block stands between"
                );
            }
            State::Searching { seq, last_waiting, .. } => {
                let update = (*last_waiting + core.cfg.waiting_interval, *id, *seq, Timer::Waiting);
                prop_assert!(core.timers.contains(&update), "{id} searches with no waiting update ahead");
                prop_assert!(queued.contains(id), "{id} searching but not queued");
                let mode = p.prefs.as_ref().map(|pr| mode_index(pr.mode));
                let in_own = mode.is_some_and(|m| core.queues[m].values().any(|x| x == id));
                prop_assert!(in_own, "{id} queued in the wrong mode");
            }
            State::InRoom { room } => {
                let r = core.rooms.get(room);
                prop_assert!(r.is_some_and(|r| r.has(*id)), "{id} thinks it is in {room} but is not a member");
            }
            State::Resuming { until, .. } => {
                prop_assert!(core.expiries.contains(&(*until, *id)), "{id} resuming without an expiry");
            }
            State::Idle => {}
        }
        if let Some(sid) = p.sid {
            prop_assert_eq!(core.sessions.get(&sid), Some(id), "{}'s session maps elsewhere", id);
        }
        if p.held.is_some() {
            prop_assert!(!queued.contains(id), "{id} is away but queued");
        }
    }
    for (at, id, seq, timer) in &core.timers {
        let searching =
            core.peers.get(id).is_some_and(|p| matches!(p.state, State::Searching { seq: s, .. } if s == *seq));
        prop_assert!(searching, "a {timer:?} timer at {at:?} for {id}, who is not searching with number {seq}");
    }
    for (name, room) in &core.rooms {
        prop_assert!(!room.members.is_empty(), "empty room {name} kept");
        prop_assert!(room.members.len() <= usize::from(room.capacity));
        for (id, _) in &room.members {
            let st = core.peers.get(id).map(|p| p.state.clone());
            prop_assert_eq!(st, Some(State::InRoom { room: name.clone() }));
        }
    }
    Ok(())
}

/// Who is attached to whom before an op: partners, and the members of each room.
struct Snapshot {
    partners: HashMap<PeerId, PeerId>,
    rooms: HashMap<RoomName, BTreeSet<PeerId>>,
}

impl Snapshot {
    fn of(sim: &Sim) -> Self {
        let mut partners = HashMap::new();
        for (id, p) in &sim.core.peers {
            if let State::Paired { partner } = p.state {
                partners.insert(*id, partner);
            }
        }
        let rooms = sim.core.rooms.iter().map(|(n, r)| (n.clone(), r.members.iter().map(|(id, _)| *id).collect()));
        Self { partners, rooms: rooms.collect() }
    }

    fn room_of(&self, peer: PeerId) -> Option<(&RoomName, &BTreeSet<PeerId>)> {
        self.rooms.iter().find(|(_, members)| members.contains(&peer))
    }
}

/// What one op did to the departure-related counters.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Abuse closes of a peer that had a partner, who then had to be told.
    abusers_with_partner: u64,
    /// Abuse closes of a peer that had room-mates, who then had to be told.
    abusers_in_rooms: u64,
}

/// The messages in `out` for `n`, as JSON.
fn msgs(out: &[Output], n: PeerId) -> Vec<Value> {
    to(out, n.0)
}

/// Every departure (Next, Stop, Leave, disconnect, abuse close) tells whoever was left behind.
fn check_departures(
    op: &Op,
    before: &Snapshot,
    sim: &Sim,
    out: &[Output],
    seen: &mut Seen,
) -> Result<(), TestCaseError> {
    let actor = op.actor();
    let gone = actor.is_some_and(|a| !sim.core.peers.contains_key(&a));
    let closed = actor.is_some_and(|a| out.iter().any(|o| matches!(o, Output::Close { peer, .. } if *peer == a)));
    let reason = if gone {
        "disconnected"
    } else if matches!(op, Op::Next(_) | Op::Report(..) | Op::Block(_)) {
        "skipped"
    } else {
        "stopped"
    };
    let (mut had_partner, mut had_room) = (false, false);
    for (&x, &y) in &before.partners {
        if sim.core.peers.get(&x).map(|p| &p.state) == Some(&State::Paired { partner: y }) {
            continue;
        }
        prop_assert!(actor == Some(x) || actor == Some(y), "{op:?} broke the pair {x}-{y}");
        if actor == Some(y) {
            had_partner = true;
            let first = msgs(out, x).into_iter().next();
            prop_assert_eq!(
                first,
                Some(serde_json::json!({"type":"partner_left","reason":reason})),
                "{:?}: partner {} was not told first: {:?}",
                op,
                x,
                types(out, x.0)
            );
        }
    }
    for (room, members) in &before.rooms {
        for &m in members {
            let still = sim.core.rooms.get(room).is_some_and(|r| r.has(m));
            prop_assert!(still || actor == Some(m), "{op:?} took {m} out of {room}");
        }
        let Some(a) = actor.filter(|a| members.contains(a)) else { continue };
        if sim.core.rooms.get(room).is_some_and(|r| r.has(a)) {
            continue;
        }
        for &m in members.iter().filter(|m| **m != a) {
            had_room = true;
            let told = msgs(out, m).iter().any(|v| {
                v["type"] == "peer_left" && v["peer"] == a.0 && v["room"] == room.as_str() && v["reason"] == reason
            });
            prop_assert!(told, "{op:?}: {m} was not told that {a} left {room}: {:?}", types(out, m.0));
        }
    }
    if closed {
        prop_assert!(gone, "{op:?}: closed but still known");
        seen.abusers_with_partner += u64::from(had_partner);
        seen.abusers_in_rooms += u64::from(had_room);
    }
    Ok(())
}

/// Chat, typing and media state reach exactly the partner or the other room members.
fn check_relay(op: &Op, before: &Snapshot, out: &[Output]) -> Result<(), TestCaseError> {
    let (ty, p) = match op {
        Op::Chat(p) => ("chat", PeerId(*p)),
        Op::Typing(p, _) => ("typing", PeerId(*p)),
        Op::Media(p, ..) => ("media_state", PeerId(*p)),
        _ => return Ok(()),
    };
    if msgs(out, p).iter().any(|v| v["type"] == "error") || out.iter().any(|o| matches!(o, Output::Close { .. })) {
        return Ok(()); // refused (rate limit, or nobody to send it to)
    }
    let expected: BTreeSet<PeerId> = match (before.partners.get(&p), before.room_of(p)) {
        (Some(q), _) => [*q].into(),
        (None, Some((_, members))) => members.iter().copied().filter(|m| *m != p).collect(),
        (None, None) => BTreeSet::new(),
    };
    let got: BTreeSet<PeerId> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, frame } => {
                let v: Value = serde_json::from_slice(&frame.clone().into_bytes()).ok()?;
                (v["type"] == ty).then_some(*to)
            }
            Output::Close { .. } | Output::Searching { .. } | Output::Store(_) | Output::Cluster(_) => None,
        })
        .collect();
    prop_assert_eq!(got, expected, "{:?} reached the wrong peers", op);
    Ok(())
}

/// Run `ops` on a fresh core, checking every invariant after each op and that nothing is left
/// once everyone has gone.
fn run_ops(cfg: CoreConfig, ops: &[Op]) -> Result<Seen, TestCaseError> {
    let mut sim = Sim::with(cfg);
    let mut seen = Seen::default();
    for op in ops {
        let before = Snapshot::of(&sim);
        let out = apply(&mut sim, op);
        // Nothing is sent to a peer the core does not know: a peer that leaves during the op
        // (closed for abuse) may only have had replies before its close.
        for (i, o) in out.iter().enumerate() {
            if let Output::Send { to, .. } = o {
                let closed_later = out[i..].iter().any(|o| matches!(o, Output::Close { peer, .. } if peer == to));
                prop_assert!(sim.state(to.0).is_some() || closed_later, "{op:?} sent to departed {to}");
            }
        }
        check_departures(op, &before, &sim, &out, &mut seen)?;
        check_relay(op, &before, &out)?;
        check(&sim)?;
    }
    for p in sim.core.peer_ids() {
        let before = Snapshot::of(&sim);
        let out = sim.input(Input::Disconnected(p));
        check_departures(&Op::Disconnect(p.0), &before, &sim, &out, &mut seen)?;
        check(&sim)?;
    }
    prop_assert_eq!(sim.core.online(), 0);
    prop_assert!(sim.core.queues.iter().all(|q| q.is_empty()), "queues not empty");
    prop_assert!(sim.core.rooms.is_empty(), "rooms left behind");
    prop_assert_eq!(sim.core.pairs(), 0);
    Ok(seen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_use(ops in ops(7000)) {
        run_ops(CoreConfig::default(), &ops)?;
    }
}

#[test]
fn invariants_hold_when_the_rate_limit_closes_abusers() {
    // A few messages within a second or so close a connection, so abuse happens in every state.
    let rate = RateLimit { burst: 3, per_sec: 1, max_strikes: 2 };
    let cfg = CoreConfig { rate, ..CoreConfig::default() };
    let total = Cell::new(Seen::default());
    let mut runner = TestRunner::new(Config { cases: 1000, failure_persistence: None, ..Config::default() });
    let result = runner.run(&ops(2000), |ops| {
        let seen = run_ops(cfg.clone(), &ops)?;
        let mut t = total.get();
        t.abusers_with_partner += seen.abusers_with_partner;
        t.abusers_in_rooms += seen.abusers_in_rooms;
        total.set(t);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The property is only worth something if abusers with partners and in rooms did occur (a
    // typical run has about 50 of the first and 15 of the second).
    let t = total.get();
    eprintln!("{t:?}");
    assert!(t.abusers_with_partner >= 3 && t.abusers_in_rooms >= 3, "too few abuse closes left someone behind: {t:?}");
}
