//! Named rooms across two nodes in virtual time, with the in-memory stand-in for the room
//! registry (`cluster/room.lua`'s contract) and every message between nodes delivered when the
//! test says.

use serde_json::Value;
use strangers_shared::{PeerId, RoomName};

use super::super::cluster::{ClusterEvent, Remote};
use super::super::{Input, State};
use super::cluster::Cluster;

fn join_mesh(c: &mut Cluster, p: PeerId, name: &str) {
    c.send(p, &format!(r#"{{"type":"join","room":"r","name":"{name}","capacity":3}}"#));
    c.deliver();
}

fn last(c: &Cluster, p: PeerId, kind: &str) -> Option<Value> {
    c.inbox.get(&p)?.iter().rev().find(|v| v["type"] == kind).cloned()
}

fn in_room(c: &Cluster, p: PeerId) -> bool {
    let core = &c.nodes[usize::from(super::super::cluster::node_of(p)) - 1];
    matches!(core.peers.get(&p).map(|p| &p.state), Some(State::InRoom { .. }))
}

/// x on node 1 (the home) and y on node 2 in mesh room "r".
fn mesh_across() -> (Cluster, PeerId, PeerId) {
    let mut c = Cluster::new();
    let (x, y) = (Cluster::peer(1, 0), Cluster::peer(2, 0));
    c.connect(x);
    c.connect(y);
    join_mesh(&mut c, x, "X");
    join_mesh(&mut c, y, "Y");
    (c, x, y)
}

#[test]
fn a_mesh_room_spans_two_nodes_with_its_capacity_held_at_the_home() {
    let (mut c, x, y) = mesh_across();
    let joined = last(&c, y, "joined").expect("y is in");
    assert_eq!(joined["members"][0]["id"], x.0);
    assert_eq!(last(&c, x, "peer_joined").map(|v| v["peer"]["name"].clone()), Some("Y".into()));
    // Addressed signaling, both ways, with `from` set by the home.
    c.send(y, &format!(r#"{{"type":"offer","to":{},"sdp":"v=0"}}"#, x.0));
    c.deliver();
    assert_eq!(last(&c, x, "offer").map(|v| v["from"].clone()), Some(y.0.into()));
    c.send(x, &format!(r#"{{"type":"answer","to":{},"sdp":"v=0"}}"#, y.0));
    c.deliver();
    assert_eq!(last(&c, y, "answer").map(|v| v["from"].clone()), Some(x.0.into()));
    c.send(x, r#"{"type":"chat","text":"hi"}"#);
    c.deliver();
    assert_eq!(last(&c, y, "chat").map(|v| v["text"].clone()), Some("hi".into()));
    // The third member fits; a fourth, on either node, does not.
    let (z, w) = (Cluster::peer(2, 1), Cluster::peer(1, 1));
    c.connect(z);
    c.connect(w);
    join_mesh(&mut c, z, "Z");
    assert!(last(&c, z, "joined").is_some());
    join_mesh(&mut c, w, "W");
    assert_eq!(last(&c, w, "error").map(|v| v["code"].clone()), Some("room_full".into()));
    assert!(!in_room(&c, w), "refused: in no room, free to join another");
    let z2 = Cluster::peer(2, 2);
    c.connect(z2);
    join_mesh(&mut c, z2, "Z2");
    assert_eq!(last(&c, z2, "error").map(|v| v["code"].clone()), Some("room_full".into()));
    assert!(!in_room(&c, z2));
    // y leaves: the others hear it, and the home forgets y.
    c.send(y, r#"{"type":"leave"}"#);
    c.deliver();
    assert_eq!(last(&c, x, "peer_left").map(|v| v["peer"].clone()), Some(y.0.into()));
    assert_eq!(last(&c, z, "peer_left").map(|v| v["peer"].clone()), Some(y.0.into()));
    assert!(!c.nodes[0].ghosts.contains_key(&y));
}

#[test]
fn a_simple_room_spans_two_nodes_and_relays_verbatim() {
    let mut c = Cluster::new();
    let (x, y, z) = (Cluster::peer(1, 0), Cluster::peer(2, 0), Cluster::peer(2, 1));
    for p in [x, y, z] {
        c.connect(p);
    }
    for p in [x, y] {
        c.send(p, r#"{"type":"join","room":"s"}"#);
        c.deliver();
    }
    assert!(last(&c, x, "ready").is_some() && last(&c, y, "ready").is_some());
    let cand = r#"{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0"}}"#;
    c.send(y, cand);
    c.deliver();
    assert_eq!(last(&c, x, "candidate"), serde_json::from_str(cand).ok());
    c.send(z, r#"{"type":"join","room":"s"}"#);
    c.deliver();
    assert_eq!(last(&c, z, "error").map(|v| v["code"].clone()), Some("room_full".into()));
}

#[test]
fn the_home_going_down_closes_the_room_for_members_elsewhere() {
    let (mut c, x, y) = mesh_across();
    c.queue.dead.push(1);
    c.input(y, Input::Cluster(ClusterEvent::NodeDown(1)));
    assert_eq!(last(&c, y, "peer_left").map(|v| v["peer"].clone()), Some(x.0.into()));
    assert_eq!(last(&c, y, "error").map(|v| v["code"].clone()), Some("unavailable".into()));
    assert!(!in_room(&c, y));
    // Joining again makes y's node the home.
    join_mesh(&mut c, y, "Y");
    assert!(last(&c, y, "joined").is_some());
    assert!(c.nodes[1].rooms.contains_key(&RoomName("r".into())));
}

#[test]
fn a_member_node_going_down_drops_its_members_from_the_room() {
    let (mut c, x, y) = mesh_across();
    c.input(x, Input::Cluster(ClusterEvent::NodeDown(2)));
    let left = last(&c, x, "peer_left").expect("x told");
    assert_eq!((left["peer"].clone(), left["reason"].clone()), (y.0.into(), "disconnected".into()));
    assert!(c.nodes[0].ghosts.is_empty());
}

#[test]
fn room_messages_from_or_for_someone_not_in_the_room_go_nowhere() {
    let (mut c, x, y) = mesh_across();
    let outsider = Cluster::peer(2, 5);
    c.connect(outsider);
    let before = c.inbox[&x].len();
    // A node forwarding for someone the home does not have in the room.
    let frame = r#"{"type":"chat","text":"boo"}"#.to_string();
    c.wire.push_back(Remote::RoomIn { home: 1, from: outsider, room: RoomName("r".into()), frame });
    // A home speaking for a room y is not in.
    let frame = r#"{"type":"chat","text":"boo","ts":1}"#.to_string();
    c.wire.push_back(Remote::RoomFrame { to: y, room: RoomName("other".into()), home: 1, frame });
    c.deliver();
    assert_eq!(c.inbox[&x].len(), before, "{:?}", c.types(x));
    assert!(last(&c, y, "chat").is_none());
    assert!(c.nodes[0].ghosts.contains_key(&y), "y's own membership is untouched");
}

/// x (node 1) in room "r"; y (node 2) has asked to join, its join not delivered yet.
fn x_in_y_joining() -> (Cluster, PeerId, PeerId) {
    let mut c = Cluster::new();
    let (x, y) = (Cluster::peer(1, 0), Cluster::peer(2, 0));
    c.connect(x);
    c.connect(y);
    join_mesh(&mut c, x, "X");
    c.send(y, r#"{"type":"join","room":"r","name":"Y"}"#);
    (c, x, y)
}

#[test]
fn leaving_while_the_join_travels_leaves_no_ghost() {
    let (mut c, x, y) = x_in_y_joining();
    c.send(y, r#"{"type":"leave"}"#);
    c.deliver();
    assert!(!in_room(&c, y));
    assert!(c.nodes[0].ghosts.is_empty(), "the home let the ghost go");
    assert_eq!(c.nodes[0].rooms[&RoomName("r".into())].members.len(), 1);
    assert_eq!(last(&c, x, "peer_left").map(|v| v["peer"].clone()), Some(y.0.into()));
}

#[test]
fn a_join_reaching_a_home_that_just_emptied_is_routed_again() {
    // y's join is on its way to node 1 when x leaves and the room empties there.
    let (mut c, x, y) = x_in_y_joining();
    c.send(x, r#"{"type":"leave"}"#);
    c.deliver();
    let joined = last(&c, y, "joined").expect("y got in");
    assert_eq!(joined["members"].as_array().map(Vec::len), Some(0));
    assert!(in_room(&c, y));
}

#[test]
fn a_media_state_sent_while_the_join_travels_is_kept_and_passed_on() {
    let (mut c, x, y) = x_in_y_joining();
    c.send(y, r#"{"type":"media_state","audio":false,"video":true}"#);
    c.deliver();
    assert!(last(&c, y, "error").is_none(), "media_state is for any state: {:?}", c.types(y));
    assert!(last(&c, y, "joined").is_some());
    let seen = last(&c, x, "media_state").expect("x hears y's media state");
    assert_eq!((seen["from"].clone(), seen["audio"].clone()), (y.0.into(), false.into()));
}
