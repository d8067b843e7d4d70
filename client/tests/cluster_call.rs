//! A real call between two headless clients on two signal-server nodes that share a queue over a
//! real `redis-server`: matched across nodes, signaled across nodes, media both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::client;
use signal_server::Config;
use signal_server::cluster::LocalRedis;
use strangers_client::call::state::CallState;
use strangers_client::engine::Who;
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
    let a = client("a", &nodes[0].url(), 440.0, &reg);
    let b = client("b", &nodes[1].url(), 660.0, &reg);
    a.start_video();
    b.start_video();
    for c in [&a, &b] {
        c.wait(WAIT, "connected", |v| v.call == Some(CallState::Connected)).await.unwrap();
        let frames = |v: &strangers_client::harness::client::View| {
            v.video_from(Who::Partner).map_or(0, |s| s.frames.load(Ordering::Relaxed))
        };
        c.wait(WAIT, "30 decoded frames", move |v| frames(v) >= 30).await.unwrap();
    }
    let heard = |hz: f64| {
        move |v: &strangers_client::harness::client::View| {
            v.tones
                .last()
                .is_some_and(|(_, t)| t.detected_hz() == Some(hz) && t.with_tone.load(Ordering::Relaxed) >= 10)
        }
    };
    a.wait(WAIT, "b's tone", heard(660.0)).await.unwrap();
    b.wait(WAIT, "a's tone", heard(440.0)).await.unwrap();
    let ids = [a.view(|v| v.peer_id), b.view(|v| v.peer_id)];
    let nodes_of: Vec<u64> = ids.iter().map(|id| id.map_or(0, |p| p.0 >> 48)).collect();
    assert_ne!(nodes_of[0], nodes_of[1], "the two clients were on different nodes");
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
