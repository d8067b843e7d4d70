//! Resuming a call on another node, against a real `redis-server`: a node is killed mid-call,
//! its client comes back on another node with its resume token and goes on with the same
//! partner, who never hears `partner_left`; the same token presented again is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Client;
use common::cluster::*;

#[tokio::test]
async fn a_call_outlives_its_node_and_resumes_on_another() {
    let redis = Redis::start();
    let doomed = NodeProcess::start_resuming(&redis, "15s");
    let url = redis.url.clone();
    let b = common::server_with(move |cfg| {
        cfg.cluster.redis = Some(url);
        cfg.resume_window = Duration::from_secs(15);
    })
    .await;
    let mut x = connect_url(&doomed.url).await;
    let mut y = Client::connect(&b).await;
    let matched = match_across(&redis, &mut x, &mut y, "video").await;
    let token = matched["resume"].as_str().expect("a resume token").to_string();
    drop(doomed);
    // Past the point where b notices the dead node (its key lives 5 s): y keeps its call.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    y.nothing_pending().await;
    // x's client comes back through b.
    let mut x2 = Client::connect_raw(&b).await;
    x2.send(&format!(r#"{{"type":"hello","version":1,"resume":"{token}"}}"#)).await;
    let welcome = until(&mut x2, "welcome").await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    until(&mut y, "partner_resumed").await;
    x2.send(r#"{"type":"chat","text":"still here"}"#).await;
    assert_eq!(until(&mut y, "chat").await["text"], "still here");
    y.send(r#"{"type":"chat","text":"welcome back"}"#).await;
    assert_eq!(until(&mut x2, "chat").await["text"], "welcome back");
    // The same token again (a copy, a replay), on the node that holds the session now: refused
    // as used (the virtual-time tests cover a replay on another node, refused by the call).
    let mut thief = Client::connect_raw(&b).await;
    thief.send(&format!(r#"{{"type":"hello","version":1,"resume":"{token}"}}"#)).await;
    thief.expect_error("resume_refused").await;
    y.send(r#"{"type":"chat","text":"only you"}"#).await;
    assert_eq!(until(&mut x2, "chat").await["text"], "only you");
    y.nothing_pending().await;
}

#[tokio::test]
async fn a_deploy_of_one_node_does_not_end_the_calls_of_its_clients() {
    let redis = Redis::start();
    let node = || {
        let url = redis.url.clone();
        common::server_with(move |cfg| {
            cfg.cluster.redis = Some(url);
            cfg.resume_window = Duration::from_secs(15);
        })
    };
    let (a, b) = (node().await, node().await);
    let mut x = Client::connect(&a).await;
    let mut y = Client::connect(&b).await;
    let matched = match_across(&redis, &mut x, &mut y, "text").await;
    let token = matched["resume"].as_str().expect("a resume token").to_string();
    // Node a is shut down gracefully (SIGTERM): its clients are closed with 1001.
    a.shutdown().await.unwrap();
    assert_eq!(x.closed().await.map(|c| u16::from(c.code)), Some(1001));
    let mut x2 = Client::connect_raw(&b).await;
    x2.send(&format!(r#"{{"type":"hello","version":1,"resume":"{token}"}}"#)).await;
    assert_eq!(until(&mut x2, "welcome").await["resumed"], true);
    until(&mut y, "partner_resumed").await;
    x2.send(r#"{"type":"chat","text":"after the deploy"}"#).await;
    assert_eq!(until(&mut y, "chat").await["text"], "after the deploy");
    // Past the dead node's liveness: nothing more for y.
    tokio::time::sleep(Duration::from_secs(6)).await;
    y.nothing_pending().await;
}
