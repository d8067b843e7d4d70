//! Property tests: random sequences of connect, find, next, stop, chat, join, leave, relay,
//! disconnect and time passing must keep the core's invariants.

use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;
use strangers_shared::PeerId;

use super::{Sim, types};
use crate::core::{Input, Output, State, mode_index};

#[derive(Debug, Clone)]
enum Op {
    Connect(u64),
    Find(u64, bool, Vec<usize>),
    Next(u64),
    Stop(u64),
    Chat(u64),
    Offer(u64),
    Join(u64, usize, bool),
    Leave(u64),
    Disconnect(u64),
    Garbage(u64),
    Wait(u64),
}

const PEERS: u64 = 7;
const TAGS: [&str; 3] = ["a", "b", "c"];

fn op() -> impl Strategy<Value = Op> {
    let peer = 0..PEERS;
    prop_oneof![
        3 => peer.clone().prop_map(Op::Connect),
        4 => (peer.clone(), any::<bool>(), prop::collection::vec(0..TAGS.len(), 0..3))
            .prop_map(|(p, text, tags)| Op::Find(p, text, tags)),
        3 => peer.clone().prop_map(Op::Next),
        1 => peer.clone().prop_map(Op::Stop),
        1 => peer.clone().prop_map(Op::Chat),
        1 => peer.clone().prop_map(Op::Offer),
        2 => (peer.clone(), 0..2usize, any::<bool>()).prop_map(|(p, r, mesh)| Op::Join(p, r, mesh)),
        1 => peer.clone().prop_map(Op::Leave),
        2 => peer.clone().prop_map(Op::Disconnect),
        1 => peer.clone().prop_map(Op::Garbage),
        2 => (0..7000u64).prop_map(Op::Wait),
    ]
}

fn apply(sim: &mut Sim, op: &Op) -> Vec<Output> {
    match op {
        Op::Connect(p) => {
            if sim.state(*p).is_some() {
                return Vec::new();
            }
            sim.input(Input::Connected(PeerId(*p)))
        }
        Op::Find(p, text, tags) => {
            let mode = if *text { "text" } else { "video" };
            let tags: Vec<&str> = tags.iter().map(|i| TAGS[*i]).collect();
            sim.send(*p, &serde_json::json!({"type":"find","mode":mode,"interests":tags}).to_string())
        }
        Op::Next(p) => sim.send(*p, r#"{"type":"next"}"#),
        Op::Stop(p) => sim.send(*p, r#"{"type":"stop"}"#),
        Op::Chat(p) => sim.send(*p, r#"{"type":"chat","text":"hi"}"#),
        Op::Offer(p) => sim.send(*p, r#"{"type":"offer","sdp":"v=0","room":"r0"}"#),
        Op::Join(p, r, mesh) => {
            let name = if *mesh { r#","name":"n""# } else { "" };
            sim.send(*p, &format!(r#"{{"type":"join","room":"r{r}"{name}}}"#))
        }
        Op::Leave(p) => sim.send(*p, r#"{"type":"leave"}"#),
        Op::Disconnect(p) => sim.input(Input::Disconnected(PeerId(*p))),
        Op::Garbage(p) => sim.send(*p, "{\"type\":"),
        Op::Wait(ms) => sim.advance(Duration::from_millis(*ms)),
    }
}

fn check(sim: &Sim) -> Result<(), TestCaseError> {
    let core = &sim.core;
    let mut queued = HashSet::new();
    for q in &core.queues {
        for (seq, id) in q {
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
            }
            State::Searching { .. } => {
                prop_assert!(queued.contains(id), "{id} searching but not queued");
                let mode = p.prefs.as_ref().map(|pr| mode_index(pr.mode));
                let in_own = mode.is_some_and(|m| core.queues[m].values().any(|x| x == id));
                prop_assert!(in_own, "{id} queued in the wrong mode");
            }
            State::InRoom { room } => {
                let r = core.rooms.get(room);
                prop_assert!(r.is_some_and(|r| r.has(*id)), "{id} thinks it is in {room} but is not a member");
            }
            State::Idle => {}
        }
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_use(ops in prop::collection::vec(op(), 1..120)) {
        let mut sim = Sim::new();
        for op in &ops {
            let partner_before = match op {
                Op::Next(p) | Op::Stop(p) | Op::Disconnect(p) => sim.partner(*p),
                _ => None,
            };
            let out = apply(&mut sim, op);
            if let Some(q) = partner_before {
                prop_assert!(
                    types(&out, q).first().map(String::as_str) == Some("partner_left"),
                    "{op:?}: partner {q} was not told first: {:?}", types(&out, q)
                );
            }
            for o in &out {
                if let Output::Send { to, .. } = o {
                    // Nothing is ever sent to a peer the core does not know, except the close
                    // notice path, which never sends frames.
                    prop_assert!(sim.state(to.0).is_some(), "{op:?} sent to departed {to}");
                }
            }
            check(&sim)?;
        }
        for p in sim.core.peer_ids() {
            sim.input(Input::Disconnected(p));
            check(&sim)?;
        }
        prop_assert_eq!(sim.core.online(), 0);
        prop_assert!(sim.core.queues.iter().all(|q| q.is_empty()), "queues not empty");
        prop_assert!(sim.core.rooms.is_empty(), "rooms left behind");
        prop_assert_eq!(sim.core.pairs(), 0);
    }
}
