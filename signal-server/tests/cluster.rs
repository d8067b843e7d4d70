//! Several nodes as one server, against a real `redis-server` started on a free port: strangers
//! on different nodes meet (FIFO, interests), talk through both nodes in order, part, and are
//! never paired twice however the searches race.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Client;
use serde_json::Value;
use signal_server::ServerHandle;

/// A real Redis on a free port, stopped when dropped.
pub struct Redis {
    child: Child,
    pub url: String,
}

impl Redis {
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        let url = format!("redis://127.0.0.1:{port}/");
        // Owned at once, so that it is stopped (and waited for) whatever happens next.
        let redis = Redis { child, url };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn node(redis: &Redis) -> ServerHandle {
    let url = redis.url.clone();
    common::server_with(move |cfg| {
        cfg.cluster.redis = Some(url);
        cfg.rematch_cooldown = Duration::ZERO;
    })
    .await
}

/// Wait until `n` searchers are in the shared queue of `mode` (a search reaches Redis a moment
/// after its `waiting`).
async fn queued(redis: &Redis, mode: &str, n: u64) {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..200 {
        let len: u64 = redis::cmd("ZCARD").arg(format!("strangers:q:{mode}:all")).query_async(&mut con).await.unwrap();
        if len == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the shared queue never held {n}");
}

async fn until(c: &mut Client, ty: &str) -> Value {
    loop {
        let v = c.recv().await;
        if v["type"] == ty {
            return v;
        }
    }
}

#[tokio::test]
async fn strangers_on_two_nodes_meet_talk_and_part() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut x = Client::connect(&a).await;
    let mut y = Client::connect(&b).await;
    assert_ne!(x.id >> 48, y.id >> 48, "two nodes, two id ranges");
    x.send(r#"{"type":"find","mode":"text","interests":["chess"]}"#).await;
    x.expect("waiting").await;
    queued(&redis, "text", 1).await;
    y.send(r#"{"type":"find","mode":"text","interests":["go","chess"]}"#).await;
    let my = until(&mut y, "matched").await;
    let mx = until(&mut x, "matched").await;
    assert_eq!((mx["role"].as_str(), my["role"].as_str()), (Some("offerer"), Some("answerer")), "who waited offers");
    assert_eq!(mx["common_interests"], serde_json::json!(["chess"]));
    for i in 0..20 {
        x.send(&format!(r#"{{"type":"chat","text":"line {i}"}}"#)).await;
    }
    for i in 0..20 {
        assert_eq!(until(&mut y, "chat").await["text"], format!("line {i}"), "in order across nodes");
    }
    y.send(r#"{"type":"offer","sdp":"v=0"}"#).await;
    assert_eq!(until(&mut x, "offer").await["sdp"], "v=0");
    y.send(r#"{"type":"next"}"#).await;
    assert_eq!(until(&mut x, "partner_left").await["reason"], "skipped");
    x.send(r#"{"type":"stop"}"#).await;
    y.send(r#"{"type":"stop"}"#).await;
    // Both stopped, so nobody is left in the shared queue: a third client waits alone.
    queued(&redis, "text", 0).await;
    let mut z = Client::connect(&a).await;
    z.send(r#"{"type":"find","mode":"text"}"#).await;
    until(&mut z, "waiting").await;
    queued(&redis, "text", 1).await;
    z.nothing_pending().await;
    drop((a, b));
}

#[tokio::test]
async fn racing_searches_on_three_nodes_never_pair_anyone_twice() {
    let redis = Redis::start();
    let nodes = [node(&redis).await, node(&redis).await, node(&redis).await];
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(Client::connect(&nodes[i % 3]).await);
    }
    for c in &mut clients {
        c.send(r#"{"type":"find","mode":"video"}"#).await;
    }
    // Everyone is matched exactly once, with someone who was matched with them.
    let mut partner_of = std::collections::HashMap::new();
    let ids: Vec<u64> = clients.iter().map(|c| c.id).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        until(c, "matched").await;
        // The partner speaks first: whoever receives our line is our partner.
        c.send(&format!(r#"{{"type":"chat","text":"{}"}}"#, ids[i])).await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let line = until(c, "chat").await;
        let from: u64 = line["text"].as_str().unwrap().parse().unwrap();
        assert!(partner_of.insert(ids[i], from).is_none());
    }
    for (me, them) in &partner_of {
        assert_eq!(partner_of.get(them), Some(me), "pairs are symmetric");
        assert_ne!(me, them);
    }
    for c in &mut clients {
        c.nothing_pending().await;
    }
}
