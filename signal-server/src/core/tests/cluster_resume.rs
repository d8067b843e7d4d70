//! Resuming a call on another node, in virtual time (see `cluster_resume.rs`): after the
//! session's node died, after its client came back through another live node, a replay, and a
//! partner that never comes back.

use std::time::Duration;

use serde_json::Value;
use strangers_shared::PeerId;

use super::super::cluster::ClusterEvent;
use super::super::{Input, Output};
use super::cluster::Cluster;

const WINDOW: Duration = Duration::from_secs(15);

/// x on node 1 and y on node 2, matched with each other; x's resume token from `matched`.
fn pair() -> (Cluster, PeerId, PeerId, String) {
    let mut c = Cluster::with_resume(Some(WINDOW));
    let (x, y) = (Cluster::peer(1, 0), Cluster::peer(2, 0));
    for p in [x, y] {
        c.connect(p);
        c.send(p, r#"{"type":"hello","version":1}"#);
        c.send(p, r#"{"type":"find","mode":"text"}"#);
    }
    c.deliver();
    assert_eq!(c.partner(y), Some(x));
    let token = last(&c, x, "matched")["resume"].as_str().expect("a token").to_string();
    (c, x, y, token)
}

fn last(c: &Cluster, p: PeerId, kind: &str) -> Value {
    c.inbox.get(&p).and_then(|m| m.iter().rev().find(|v| v["type"] == kind).cloned()).unwrap_or(Value::Null)
}

fn count(c: &Cluster, p: PeerId, kind: &str) -> usize {
    c.inbox.get(&p).map_or(0, |m| m.iter().filter(|v| v["type"] == kind).count())
}

fn resume(c: &mut Cluster, p: PeerId, token: &str) -> Value {
    c.connect(p);
    c.send(p, &format!(r#"{{"type":"hello","version":1,"resume":"{token}"}}"#));
    c.deliver();
    last(c, p, "welcome")
}

#[test]
fn a_call_resumes_on_another_node_after_its_node_died() {
    let (mut c, _x, y, token) = pair();
    c.queue.dead.push(1);
    c.input(y, Input::Cluster(ClusterEvent::NodeDown(1)));
    assert_eq!(count(&c, y, "partner_left"), 0, "y keeps its call for the window");
    // x's client comes back on node 2.
    let x2 = Cluster::peer(2, 7);
    assert_eq!(resume(&mut c, x2, &token)["resumed"], true);
    assert_eq!((c.partner(x2), c.partner(y)), (Some(y), Some(x2)));
    assert_eq!(count(&c, y, "partner_resumed"), 1);
    c.send(x2, r#"{"type":"chat","text":"back"}"#);
    c.deliver();
    assert_eq!(last(&c, y, "chat")["text"], "back");
    // The window passing now changes nothing.
    c.now.mono += WINDOW * 2;
    c.input(y, Input::Tick);
    assert_eq!(count(&c, y, "partner_left"), 0);
    // A new token from the new node names the call too.
    assert!(last(&c, x2, "welcome")["resume"].is_string());
}

#[test]
fn a_client_back_through_another_live_node_takes_its_call_and_the_old_connection_ends_quietly() {
    let (mut c, x, y, token) = pair();
    let x2 = Cluster::peer(2, 7);
    assert_eq!(resume(&mut c, x2, &token)["resumed"], true);
    assert_eq!(c.partner(y), Some(x2));
    assert!(!c.nodes[0].peers.contains_key(&x), "node 1 let the old connection go");
    assert_eq!(count(&c, y, "partner_left"), 0);
    // Node 1 closed it (4001); nothing else happened there.
    c.nodes[0].handle(c.now, Input::Tick);
    let closed = std::iter::from_fn(|| c.nodes[0].poll_output()).any(|o| matches!(o, Output::Close { code: 4001, .. }));
    assert!(!closed, "already closed during the resume, not again");
}

#[test]
fn a_replayed_token_cannot_take_the_call() {
    let (mut c, _x, y, token) = pair();
    let x2 = Cluster::peer(2, 7);
    resume(&mut c, x2, &token);
    assert_eq!(c.partner(y), Some(x2));
    // Someone else presents the same token on node 1.
    let thief = Cluster::peer(1, 9);
    resume(&mut c, thief, &token);
    assert_eq!(c.partner(y), Some(x2), "y stays with x");
    assert_eq!(c.partner(thief), None);
    assert_eq!(last(&c, thief, "partner_left")["reason"], "disconnected");
    assert_eq!(count(&c, y, "partner_left"), 0);
}

#[test]
fn a_partner_whose_node_died_hears_partner_left_when_the_window_ends() {
    let (mut c, x, y, _token) = pair();
    c.queue.dead.push(1);
    c.input(y, Input::Cluster(ClusterEvent::NodeDown(1)));
    c.now.mono += WINDOW - Duration::from_secs(1);
    c.input(y, Input::Tick);
    assert_eq!(count(&c, y, "partner_left"), 0);
    c.now.mono += Duration::from_secs(2);
    c.input(y, Input::Tick);
    assert_eq!(last(&c, y, "partner_left")["reason"], "disconnected");
    assert_ne!(c.partner(y), Some(x));
}
