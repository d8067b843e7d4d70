//! A real call between two headless clients on two signal-server nodes that share a queue over a
//! real `redis-server`: matched across nodes, signaled across nodes, media both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{heard, in_call, video_frames};
use signal_server::Config;
use signal_server::cluster::LocalRedis;
use strangers_client::call::state::CallState;
use strangers_client::harness::analyser::ToneRegistry;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_between_clients_on_two_nodes_passes_the_media_checks() {
    let redis = LocalRedis::start().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut cfg = Config::local("127.0.0.1:0".parse().unwrap());
        cfg.cluster.redis = Some(redis.url());
        nodes.push(signal_server::start(cfg).await.unwrap());
    }
    let reg = Arc::new(ToneRegistry::default());
    let (a, b) = in_call(&nodes[0].url(), &nodes[1].url(), &reg, 30, WAIT).await;
    a.wait(WAIT, "b's tone", |v| heard(v, 660.0)).await.unwrap();
    b.wait(WAIT, "a's tone", |v| heard(v, 440.0)).await.unwrap();
    let ids = [a.view(|v| v.peer_id), b.view(|v| v.peer_id)];
    let nodes_of: Vec<u64> = ids.iter().map(|id| id.map_or(0, |p| p.0 >> 48)).collect();
    assert_ne!(nodes_of[0], nodes_of[1], "the two clients were on different nodes");
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A deploy as it runs: two nodes share one port (SO_REUSEPORT, as behind a TCP balancer), one is
/// stopped mid-call, and its client comes back through the same address to the other node with
/// its resume token. The call goes on: no new match, nobody told the partner left, media on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_on_when_the_node_of_one_side_is_stopped() {
    let redis = LocalRedis::start().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut nodes = Vec::new();
    for id in [1u16, 2] {
        let mut cfg = Config::local(format!("127.0.0.1:{port}").parse().unwrap());
        cfg.cluster.redis = Some(redis.url());
        cfg.cluster.node_id = Some(id);
        cfg.cluster.reuse_port = true;
        nodes.push(Some(signal_server::start(cfg).await.unwrap()));
    }
    let url = format!("ws://127.0.0.1:{port}/");
    let reg = Arc::new(ToneRegistry::default());
    let (a, b) = in_call(&url, &url, &reg, 30, WAIT).await;
    let node_of = |c: &strangers_client::harness::client::HarnessClient| c.view(|v| v.peer_id.map(|p| p.0 >> 48));
    let stopped = node_of(&a).expect("a has an id");
    let calls = [a.view(|v| v.calls), b.view(|v| v.calls)];
    let node = nodes[usize::try_from(stopped).unwrap() - 1].take().unwrap();
    node.shutdown().await.unwrap();
    a.wait(WAIT, "back, on the other node", move |v| v.peer_id.is_some_and(|p| p.0 >> 48 != stopped)).await.unwrap();
    for c in [&a, &b] {
        let seen = c.view(video_frames);
        c.wait(WAIT, "30 more frames after the stop", move |v| video_frames(v) >= seen + 30).await.unwrap();
        assert_eq!(c.view(|v| v.call.clone()), Some(CallState::Connected));
        assert!(c.view(|v| v.partner_left.is_empty()), "nobody was told the partner left");
    }
    assert_eq!([a.view(|v| v.calls), b.view(|v| v.calls)], calls, "the same call, no new match");
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}
