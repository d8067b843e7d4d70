//! Named rooms: the plain `ws` room protocol, exactly as its clients speak it, and mesh rooms.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Client, metric, server, server_with};
use serde_json::json;

#[tokio::test]
async fn a_simple_ws_client_works_unchanged() {
    let srv = server().await;
    // Exactly what the simple `ws` room clients send, and nothing else; they never say hello,
    // so the first thing they hear is `ready`.
    let mut a = Client::connect_raw(&srv).await;
    let mut b = Client::connect_raw(&srv).await;
    a.send(r#"{"type":"join","room":"room123"}"#).await;
    b.send(r#"{"type":"join","room":"room123"}"#).await;
    assert_eq!(a.recv_text().await, r#"{"type":"ready","room":"room123"}"#);
    assert_eq!(b.recv_text().await, r#"{"type":"ready","room":"room123"}"#);

    let offer = r#"{"type":"offer","offer":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"},"room":"room123"}"#;
    a.send(offer).await;
    assert_eq!(b.recv_text().await, offer);
    let answer = r#"{"type":"answer","answer":{"type":"answer","sdp":"v=0\r\n"},"room":"room123"}"#;
    b.send(answer).await;
    assert_eq!(a.recv_text().await, answer);
    let cand = r#"{"type":"candidate","candidate":{"candidate":"candidate:842163049 1 udp 1677729535 127.0.0.1 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXhV network-cost 999","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"sXhV"},"room":"room123"}"#;
    a.send(cand).await;
    assert_eq!(b.recv_text().await, cand);
    b.send(cand).await;
    assert_eq!(a.recv_text().await, cand);

    // A third joiner is refused and hears nothing meant for the pair.
    let mut c = Client::connect_raw(&srv).await;
    c.send(r#"{"type":"join","room":"room123"}"#).await;
    c.expect_error("room_full").await;
    a.send(offer).await;
    assert_eq!(b.recv_text().await, offer);
    c.nothing_pending().await;
    c.send(offer).await;
    c.expect_error("not_paired").await;
    a.nothing_pending().await;
    b.nothing_pending().await;

    // When one leaves, the other is told and the seat frees up.
    drop(b);
    let left = a.expect("peer_left").await;
    assert_eq!(left["room"], "room123");
    c.send(r#"{"type":"join","room":"room123"}"#).await;
    assert_eq!(c.recv_text().await, r#"{"type":"ready","room":"room123"}"#);
    assert_eq!(a.recv_text().await, r#"{"type":"ready","room":"room123"}"#);
}

#[tokio::test]
async fn relays_in_a_simple_room_stay_in_that_room() {
    let srv = server().await;
    let mut a = Client::connect(&srv).await;
    let mut b = Client::connect(&srv).await;
    let mut x = Client::connect(&srv).await;
    let mut y = Client::connect(&srv).await;
    for (c, room) in [(&mut a, "one"), (&mut b, "one"), (&mut x, "two"), (&mut y, "two")] {
        c.send_json(json!({"type":"join","room":room})).await;
    }
    for c in [&mut a, &mut b, &mut x, &mut y] {
        c.expect("ready").await;
    }
    // Naming another room does not reach it.
    a.send(r#"{"type":"offer","offer":{},"room":"two"}"#).await;
    a.expect_error("not_in_room").await;
    x.nothing_pending().await;
    y.nothing_pending().await;
    b.nothing_pending().await;
}

#[tokio::test]
async fn mesh_rooms_list_members_and_route_addressed_signaling() {
    let srv = server_with(|c| c.room_capacity = 3).await;
    let mut ann = Client::connect(&srv).await;
    let mut bo = Client::connect(&srv).await;
    let mut cy = Client::connect(&srv).await;
    let mut di = Client::connect(&srv).await;
    ann.send(r#"{"type":"join","room":"team","name":"Ann"}"#).await;
    let j = ann.expect("joined").await;
    assert_eq!((j["capacity"].as_u64(), j["members"].clone()), (Some(3), json!([])));
    bo.send(r#"{"type":"media_state","audio":false,"video":true}"#).await;
    bo.send(r#"{"type":"join","room":"team","name":"Bo"}"#).await;
    let j = bo.expect("joined").await;
    assert_eq!(j["you"], bo.id);
    assert_eq!(j["members"], json!([{"id":ann.id,"name":"Ann","audio":true,"video":true}]));
    let pj = ann.expect("peer_joined").await;
    assert_eq!(pj["peer"], json!({"id":bo.id,"name":"Bo","audio":false,"video":true}));
    cy.send(r#"{"type":"join","room":"team","name":"Cy"}"#).await;
    assert_eq!(cy.expect("joined").await["members"].as_array().map(Vec::len), Some(2));
    ann.expect("peer_joined").await;
    bo.expect("peer_joined").await;
    di.send(r#"{"type":"join","room":"team","name":"Di"}"#).await;
    di.expect_error("room_full").await;

    // Addressed signaling reaches only its target, stamped with the sender.
    cy.send_json(json!({"type":"offer","to":ann.id,"sdp":"v=0"})).await;
    assert_eq!(ann.recv().await, json!({"type":"offer","from":cy.id,"sdp":"v=0"}));
    bo.nothing_pending().await;
    cy.send_json(json!({"type":"candidate","to":di.id,"candidate":{"candidate":"c"}})).await;
    cy.expect_error("unknown_peer").await;
    di.nothing_pending().await;

    // Chat and media state are broadcast.
    ann.send(r#"{"type":"chat","text":"hi all"}"#).await;
    for c in [&mut bo, &mut cy] {
        let m = c.expect("chat").await;
        assert_eq!((m["from"].as_u64(), m["text"].as_str()), (Some(ann.id), Some("hi all")));
    }
    cy.send(r#"{"type":"media_state","audio":true,"video":false}"#).await;
    assert_eq!(ann.expect("media_state").await["from"], cy.id);
    assert_eq!(bo.expect("media_state").await["video"], false);

    // Leaving and dropping are both announced.
    bo.send(r#"{"type":"leave"}"#).await;
    for c in [&mut ann, &mut cy] {
        let m = c.expect("peer_left").await;
        assert_eq!((m["peer"].as_u64(), m["reason"].as_str()), (Some(bo.id), Some("stopped")));
    }
    drop(cy);
    let m = ann.expect("peer_left").await;
    assert_eq!(m["reason"], "disconnected");
    ann.nothing_pending().await;
}

#[tokio::test]
async fn typing_and_media_state_are_broadcast_in_a_mesh_room_with_the_sender() {
    let srv = server().await;
    let mut ann = Client::connect(&srv).await;
    let mut bo = Client::connect(&srv).await;
    let mut cy = Client::connect(&srv).await;
    let mut outsider = Client::connect(&srv).await;
    ann.send(r#"{"type":"join","room":"crew","name":"Ann"}"#).await;
    ann.expect("joined").await;
    bo.send(r#"{"type":"join","room":"crew","name":"Bo"}"#).await;
    bo.expect("joined").await;
    ann.expect("peer_joined").await;

    bo.send(r#"{"type":"typing","active":true}"#).await;
    assert_eq!(ann.recv().await, json!({"type":"typing","from":bo.id,"active":true}));
    bo.send(r#"{"type":"typing","active":false}"#).await;
    assert_eq!(ann.recv().await, json!({"type":"typing","from":bo.id,"active":false}));
    ann.send(r#"{"type":"media_state","audio":false,"video":false}"#).await;
    assert_eq!(bo.recv().await, json!({"type":"media_state","from":ann.id,"audio":false,"video":false}));

    // A newcomer sees the remembered media state, then hears typing from both others.
    cy.send(r#"{"type":"join","room":"crew","name":"Cy"}"#).await;
    let joined = cy.expect("joined").await;
    let members = joined["members"].as_array().unwrap();
    assert_eq!(members[0], json!({"id":ann.id,"name":"Ann","audio":false,"video":false}));
    ann.expect("peer_joined").await;
    bo.expect("peer_joined").await;
    cy.send(r#"{"type":"typing","active":true}"#).await;
    for c in [&mut ann, &mut bo] {
        assert_eq!(c.recv().await, json!({"type":"typing","from":cy.id,"active":true}));
    }
    cy.send(r#"{"type":"media_state","audio":true,"video":false}"#).await;
    for c in [&mut ann, &mut bo] {
        assert_eq!(c.recv().await, json!({"type":"media_state","from":cy.id,"audio":true,"video":false}));
    }
    // Nothing echoes back to the sender or leaks out of the room.
    cy.nothing_pending().await;
    outsider.nothing_pending().await;
}

#[tokio::test]
async fn the_rooms_gauge_returns_to_zero_when_everyone_has_left() {
    let srv = server().await;
    let mut a = Client::connect(&srv).await;
    let mut b = Client::connect(&srv).await;
    let mut ann = Client::connect(&srv).await;
    let mut bo = Client::connect(&srv).await;
    a.send(r#"{"type":"join","room":"plain"}"#).await;
    b.send(r#"{"type":"join","room":"plain"}"#).await;
    a.expect("ready").await;
    b.expect("ready").await;
    ann.send(r#"{"type":"join","room":"mesh","name":"Ann"}"#).await;
    ann.expect("joined").await;
    bo.send(r#"{"type":"join","room":"mesh","name":"Bo"}"#).await;
    bo.expect("joined").await;
    ann.expect("peer_joined").await;
    assert_eq!(metric(&srv, "strangers_rooms").await, 2.0);

    // One member of each room goes (a drop and a leave); the rooms stay while anyone is in them.
    drop(b);
    a.expect("peer_left").await;
    bo.send(r#"{"type":"leave"}"#).await;
    ann.expect("peer_left").await;
    assert_eq!(metric(&srv, "strangers_rooms").await, 2.0);

    // The last members go: a by leaving, ann by stopping.
    a.send(r#"{"type":"leave"}"#).await;
    a.nothing_pending().await; // the leave was handled before the probe's answer
    ann.send(r#"{"type":"stop"}"#).await;
    ann.nothing_pending().await;
    assert_eq!(metric(&srv, "strangers_rooms").await, 0.0);
    assert_eq!(metric(&srv, "strangers_connections").await, 3.0);
}
