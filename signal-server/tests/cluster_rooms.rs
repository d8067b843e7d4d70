//! Named rooms with members on different nodes, against a real `redis-server`: one node runs
//! each room (its home), so capacity holds cluster-wide; relays cross nodes; a killed node's
//! members leave the rooms, and a room whose home was killed closes for the members elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Client;
use common::cluster::*;
use serde_json::json;

#[tokio::test]
async fn a_mesh_room_spans_three_nodes_and_is_full_everywhere_at_once() {
    let redis = Redis::start();
    let nodes = [node(&redis).await, node(&redis).await, node(&redis).await];
    let mut members = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut c = Client::connect(n).await;
        c.send_json(json!({"type":"join","room":"band","name":format!("m{i}"),"capacity":3})).await;
        let joined = until(&mut c, "joined").await;
        assert_eq!(joined["members"].as_array().unwrap().len(), i, "everyone before is listed");
        members.push(c);
    }
    // Full: a fourth member is refused whichever node it comes to.
    for n in &nodes {
        let mut late = Client::connect(n).await;
        late.send(r#"{"type":"join","room":"band","name":"late"}"#).await;
        late.expect_error("room_full").await;
        // Refused means in no room: it can search.
        late.send(r#"{"type":"find","mode":"text"}"#).await;
        until(&mut late, "waiting").await;
    }
    let ids: Vec<u64> = members.iter().map(|c| c.id).collect();
    // Addressed signaling from node 3's member to node 1's, with `from` set by the room's home.
    members[2].send_json(json!({"type":"offer","to":ids[0],"sdp":"v=0"})).await;
    let offer = until(&mut members[0], "offer").await;
    assert_eq!(offer["from"], ids[2]);
    // Chat fans out to both others, in order.
    for i in 0..10 {
        members[1].send_json(json!({"type":"chat","text":format!("l{i}")})).await;
    }
    for m in [0, 2] {
        for i in 0..10 {
            let line = until(&mut members[m], "chat").await;
            assert_eq!((line["text"].clone(), line["from"].clone()), (json!(format!("l{i}")), json!(ids[1])));
        }
    }
    // One leaves; the others hear it and a newcomer fits again.
    members[1].send(r#"{"type":"leave"}"#).await;
    for m in [0, 2] {
        assert_eq!(until(&mut members[m], "peer_left").await["peer"], ids[1]);
    }
    let mut again = Client::connect(&nodes[1]).await;
    again.send(r#"{"type":"join","room":"band","name":"again"}"#).await;
    until(&mut again, "joined").await;
}

#[tokio::test]
async fn a_plain_ws_room_works_across_two_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut x = Client::connect_raw(&a).await;
    let mut y = Client::connect_raw(&b).await;
    x.send(r#"{"type":"join","room":"room123"}"#).await;
    // Wait until x is in before y joins, so that the room's home is a's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    y.send(r#"{"type":"join","room":"room123"}"#).await;
    assert_eq!(x.recv_text().await, r#"{"type":"ready","room":"room123"}"#);
    assert_eq!(y.recv_text().await, r#"{"type":"ready","room":"room123"}"#);
    let offer = r#"{"type":"offer","offer":{"type":"offer","sdp":"v=0\r\n"},"room":"room123"}"#;
    y.send(offer).await;
    assert_eq!(x.recv_text().await, offer, "verbatim, through the home");
    let answer = r#"{"type":"answer","answer":{"type":"answer","sdp":"v=0\r\n"},"room":"room123"}"#;
    x.send(answer).await;
    assert_eq!(y.recv_text().await, answer);
    let mut z = Client::connect_raw(&b).await;
    z.send(r#"{"type":"join","room":"room123"}"#).await;
    z.expect_error("room_full").await;
}

#[tokio::test]
async fn a_killed_node_leaves_its_rooms_and_closes_the_rooms_it_was_home_to() {
    let redis = Redis::start();
    let doomed = NodeProcess::start(&redis);
    let b = node(&redis).await;
    // Room "there": homed on the doomed node, with a member on b.
    let mut home_member = connect_url(&doomed.url).await;
    home_member.send(r#"{"type":"join","room":"there","name":"h"}"#).await;
    until(&mut home_member, "joined").await;
    let mut far = Client::connect(&b).await;
    far.send(r#"{"type":"join","room":"there","name":"f"}"#).await;
    until(&mut far, "joined").await;
    // Room "here": homed on b, with a member on the doomed node.
    let mut local = Client::connect(&b).await;
    local.send(r#"{"type":"join","room":"here","name":"l"}"#).await;
    until(&mut local, "joined").await;
    let mut visitor = connect_url(&doomed.url).await;
    visitor.send(r#"{"type":"join","room":"here","name":"v"}"#).await;
    until(&mut visitor, "joined").await;
    until(&mut local, "peer_joined").await;
    let killed = std::time::Instant::now();
    drop(doomed);
    let within = Duration::from_secs(10);
    let left = tokio::time::timeout(within, until(&mut local, "peer_left")).await.expect("told");
    assert_eq!((left["peer"].as_u64(), left["reason"].as_str()), (Some(visitor.id), Some("disconnected")));
    let left = tokio::time::timeout(within, until(&mut far, "peer_left")).await.expect("told");
    assert_eq!(left["peer"].as_u64(), Some(home_member.id));
    far.expect_error("unavailable").await;
    let took = killed.elapsed();
    eprintln!("cluster rooms: members told after {took:?}");
    assert!(took < Duration::from_secs(8), "told after {took:?}");
    // The closed room can be opened again, now at b.
    far.send(r#"{"type":"join","room":"there","name":"f"}"#).await;
    let joined = until(&mut far, "joined").await;
    assert_eq!(joined["members"], json!([]));
}
