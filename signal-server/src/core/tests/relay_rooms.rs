//! Relay, chat and room scenarios.

use serde_json::json;
use strangers_shared::PeerId;

use super::{Sim, to, types};
use crate::core::{Input, Output, State};

fn paired() -> Sim {
    Sim::paired(crate::core::CoreConfig::default())
}

#[test]
fn signaling_between_partners_is_relayed_as_the_servers_own_frame() {
    let mut sim = paired();
    let offer = r#"{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}"#;
    let out = sim.send(1, offer);
    assert_eq!(out.len(), 1);
    match &out[0] {
        Output::Send { to, frame } => {
            assert_eq!(*to, PeerId(2));
            assert_eq!(&frame.clone().into_bytes()[..], offer.as_bytes());
        }
        other => panic!("{other:?}"),
    }
    let cand = r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#;
    assert_eq!(types(&sim.send(2, cand), 1), ["candidate"]);
    assert_eq!(types(&sim.send(2, r#"{"type":"candidate"}"#), 1), ["candidate"], "end-of-candidates");
    let out = sim.send(2, r#"{"type":"answer"}"#);
    assert_eq!(to(&out, 2)[0]["code"], "malformed", "an answer needs sdp");
    assert_eq!(sim.core.stats().relayed, 3);
}

/// The frame partner `n` received, as text.
fn frame_to(out: &[Output], n: u64) -> String {
    let frames: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { to, frame } if *to == PeerId(n) => Some(frame.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 1, "{out:?}");
    frames[0].clone()
}

#[test]
fn a_partner_cannot_forge_from_or_smuggle_fields() {
    let mut sim = paired();
    // A random partner claiming to be room member 7: the engine would open a link for it.
    let out = sim.send(1, r#"{"type":"offer","sdp":"v=0","from":7}"#);
    assert_eq!(frame_to(&out, 2), r#"{"type":"offer","sdp":"v=0"}"#);
    let out = sim.send(1, r#"{"type":"candidate","candidate":null,"from":7,"to":9}"#);
    assert_eq!(frame_to(&out, 2), r#"{"type":"candidate","candidate":null}"#);
    // A second `type`: JSON.parse keeps the last key and would read a forged partner_left.
    let out = sim.send(1, r#"{"type":"offer","sdp":"v=0","type":"partner_left","reason":"skipped"}"#);
    assert_eq!(frame_to(&out, 2), r#"{"type":"offer","sdp":"v=0"}"#);
    let out = sim.send(1, r#"{"type":"answer","sdp":"v=0","extra":{"type":"matched"}}"#);
    assert_eq!(frame_to(&out, 2), r#"{"type":"answer","sdp":"v=0"}"#);
    // A duplicate known field is refused outright.
    let out = sim.send(1, r#"{"type":"offer","sdp":"v=0","sdp":"v=1"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "malformed");
    assert!(to(&out, 2).is_empty());
}

#[test]
fn a_simple_room_frame_with_a_key_twice_goes_nowhere() {
    let mut sim = Sim::new();
    for n in 1..=2 {
        sim.connect(n);
        sim.send(n, r#"{"type":"join","room":"r"}"#);
    }
    for forged in [
        r#"{"type":"offer","offer":{},"room":"r","type":"chat"}"#,
        r#"{"type":"offer","offer":{"sdp":"a","sdp":"b"},"room":"r"}"#,
        r#"{"type":"candidate","candidate":{},"room":"r","ty\u0070e":"ready"}"#,
    ] {
        let out = sim.send(1, forged);
        assert_eq!(to(&out, 1)[0]["code"], "malformed", "{forged}");
        assert!(to(&out, 2).is_empty(), "{forged} reached the other member");
    }
}

#[test]
fn relay_without_a_partner_goes_nowhere() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.connect(2);
    let out = sim.send(1, r#"{"type":"offer","sdp":"v=0"}"#);
    assert_eq!(out.len(), 1);
    assert_eq!(to(&out, 1)[0]["code"], "not_paired");
    let out = sim.send(1, r#"{"type":"chat","text":"anyone?"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "not_paired");
    assert!(to(&out, 2).is_empty());
}

#[test]
fn chat_typing_and_media_state_reach_the_partner() {
    let mut sim = paired();
    let out = sim.send(1, r#"{"type":"chat","text":"hi there"}"#);
    assert_eq!(to(&out, 2), vec![json!({"type":"chat","text":"hi there","ts":sim.now.unix_ms})]);
    assert!(to(&out, 1).is_empty());
    let out = sim.send(2, r#"{"type":"typing","active":true}"#);
    assert_eq!(to(&out, 1), vec![json!({"type":"typing","active":true})]);
    let out = sim.send(2, r#"{"type":"media_state","audio":false,"video":true}"#);
    assert_eq!(to(&out, 1), vec![json!({"type":"media_state","audio":false,"video":true})]);
}

#[test]
fn simple_room_speaks_the_plain_ws_protocol() {
    let mut sim = Sim::new();
    for n in 1..=3 {
        sim.connect(n);
    }
    assert!(sim.send(1, r#"{"type":"join","room":"room123"}"#).is_empty());
    let out = sim.send(2, r#"{"type":"join","room":"room123"}"#);
    assert_eq!(to(&out, 1), vec![json!({"type":"ready","room":"room123"})]);
    assert_eq!(to(&out, 2), vec![json!({"type":"ready","room":"room123"})]);

    let offer = r#"{"type":"offer","offer":{"type":"offer","sdp":"v=0\r\n"},"room":"room123"}"#;
    let out = sim.send(1, offer);
    assert_eq!(out, vec![Output::Send { to: PeerId(2), frame: crate::core::TextFrame::text(offer.into()) }]);

    let out = sim.send(3, r#"{"type":"join","room":"room123"}"#);
    assert_eq!(to(&out, 3)[0]["code"], "room_full");
    assert_eq!(out.len(), 1, "nobody else hears about it");
    let out = sim.send(3, offer);
    assert_eq!(to(&out, 3)[0]["code"], "not_paired");
    assert!(to(&out, 1).is_empty() && to(&out, 2).is_empty());

    let out = sim.send(2, r#"{"type":"answer","answer":{"type":"answer","sdp":"v=0"},"room":"other"}"#);
    assert_eq!(to(&out, 2)[0]["code"], "not_in_room");

    let out = sim.input(Input::Disconnected(PeerId(2)));
    assert_eq!(to(&out, 1), vec![json!({"type":"peer_left","room":"room123","peer":2,"reason":"disconnected"})]);
    // The seat is free again.
    let out = sim.send(3, r#"{"type":"join","room":"room123"}"#);
    assert_eq!(types(&out, 1), ["ready"]);
    assert_eq!(sim.core.rooms(), 1);
}

#[test]
fn mesh_room_lists_members_and_addresses_signaling() {
    let mut sim = Sim::new();
    for n in 1..=5 {
        sim.connect(n);
    }
    let out = sim.send(1, r#"{"type":"join","room":"team","name":"Ann"}"#);
    assert_eq!(to(&out, 1), vec![json!({"type":"joined","room":"team","you":1,"capacity":4,"members":[]})]);
    sim.send(1, r#"{"type":"media_state","audio":false,"video":true}"#);
    let out = sim.send(2, r#"{"type":"join","room":"team","name":"  Bo "}"#);
    assert_eq!(to(&out, 2)[0]["members"], json!([{"id":1,"name":"Ann","audio":false,"video":true}]));
    assert_eq!(
        to(&out, 1),
        vec![json!({"type":"peer_joined","room":"team","peer":{"id":2,"name":"Bo","audio":true,"video":true}})]
    );
    sim.send(3, r#"{"type":"join","room":"team","name":"Cy"}"#);
    sim.send(4, r#"{"type":"join","room":"team","name":"Di"}"#);
    let out = sim.send(5, r#"{"type":"join","room":"team","name":"Ed"}"#);
    assert_eq!(to(&out, 5)[0]["code"], "room_full");
    let out = sim.send(5, r#"{"type":"join","room":"team"}"#);
    assert_eq!(to(&out, 5)[0]["code"], "room_kind_mismatch");

    let out = sim.send(3, r#"{"type":"offer","to":1,"sdp":"v=0"}"#);
    assert_eq!(to(&out, 1), vec![json!({"type":"offer","from":3,"sdp":"v=0"})]);
    assert_eq!(out.len(), 1);
    let out = sim.send(3, r#"{"type":"offer","to":5,"sdp":"v=0"}"#);
    assert_eq!(to(&out, 3)[0]["code"], "unknown_peer", "5 is not in the room");
    assert!(to(&out, 5).is_empty());
    let out = sim.send(3, r#"{"type":"candidate","to":3,"candidate":null}"#);
    assert_eq!(to(&out, 3)[0]["code"], "unknown_peer", "not to yourself");
    let out = sim.send(3, r#"{"type":"candidate","sdp":"x"}"#);
    assert_eq!(to(&out, 3)[0]["code"], "unknown_peer", "to is required");

    let out = sim.send(2, r#"{"type":"chat","text":"hello all"}"#);
    for n in [1, 3, 4] {
        assert_eq!(to(&out, n), vec![json!({"type":"chat","from":2,"text":"hello all","ts":sim.now.unix_ms})]);
    }
    assert!(to(&out, 2).is_empty());
    let out = sim.send(4, r#"{"type":"media_state","audio":true,"video":false}"#);
    assert_eq!(out.len(), 3);

    let out = sim.send(2, r#"{"type":"leave"}"#);
    for n in [1, 3, 4] {
        assert_eq!(to(&out, n), vec![json!({"type":"peer_left","room":"team","peer":2,"reason":"stopped"})]);
    }
    assert_eq!(sim.state(2), Some(State::Idle));
    let out = sim.send(2, r#"{"type":"leave"}"#);
    assert_eq!(to(&out, 2)[0]["code"], "not_in_room");
    for n in [1, 3, 4] {
        sim.input(Input::Disconnected(PeerId(n)));
    }
    assert_eq!(sim.core.rooms(), 0);
}

#[test]
fn mesh_capacity_is_the_creators_choice_within_the_maximum() {
    let mut sim = Sim::new();
    for n in 1..=3 {
        sim.connect(n);
    }
    let out = sim.send(1, r#"{"type":"join","room":"duo","name":"A","capacity":2}"#);
    assert_eq!(to(&out, 1)[0]["capacity"], 2);
    sim.send(2, r#"{"type":"join","room":"duo","name":"B","capacity":8}"#);
    let out = sim.send(3, r#"{"type":"join","room":"duo","name":"C"}"#);
    assert_eq!(to(&out, 3)[0]["code"], "room_full");
}

#[test]
fn joining_twice_or_while_in_a_room_is_refused() {
    let mut sim = Sim::new();
    sim.connect(1);
    sim.send(1, r#"{"type":"join","room":"a"}"#);
    let out = sim.send(1, r#"{"type":"join","room":"b"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    let out = sim.send(1, r#"{"type":"find","mode":"text"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    let out = sim.send(1, r#"{"type":"next"}"#);
    assert_eq!(to(&out, 1)[0]["code"], "wrong_state");
    // Stop leaves the room.
    sim.send(1, r#"{"type":"stop"}"#);
    assert_eq!(sim.core.rooms(), 0);
}
