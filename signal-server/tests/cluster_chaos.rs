//! The cluster under random use, alone in its test binary (it loads both cores, and would starve
//! other tests' clients into missing their pings): 300 clients on three nodes over a real Redis,
//! for 60 s, one node killed 15 s in and Redis stopped from 30 s to 40 s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Client;
use common::cluster::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// What happens to the cluster during a chaos run: nodes (one of them a process that can be
/// killed), and Redis, which can be stopped and started again.
struct Stage {
    urls: Vec<String>,
    dead: Vec<bool>,
    /// The node that is a process, its index, and when to kill it.
    doomed: Option<(NodeProcess, usize, Duration)>,
    redis: Redis,
    /// When Redis stops, and when it starts again.
    outage: Option<(Duration, Duration)>,
    redis_down: bool,
}

impl Stage {
    /// Carry out what is due at `t` into the run.
    fn at(&mut self, t: Duration) {
        if let Some((mut node, i, when)) = self.doomed.take() {
            if t >= when {
                let _ = node.child.kill();
                let _ = node.child.wait();
                self.dead[i] = true;
                eprintln!("cluster chaos: node {i} killed at {t:?}");
            } else {
                self.doomed = Some((node, i, when));
            }
        }
        if let Some((down, up)) = self.outage {
            if t >= down && !self.redis_down && t < up {
                self.redis.server.kill();
                self.redis_down = true;
                eprintln!("cluster chaos: Redis stopped at {t:?}");
            } else if t >= up && self.redis_down {
                self.redis.server.restart().unwrap();
                self.redis_down = false;
                self.outage = None;
                eprintln!("cluster chaos: Redis started again at {t:?}");
            }
        }
    }

    /// A node still alive, picked by `pick`.
    fn live_url(&self, pick: usize) -> String {
        let live: Vec<&String> = self.urls.iter().zip(&self.dead).filter(|(_, d)| !**d).map(|(u, _)| u).collect();
        live[pick % live.len()].clone()
    }
}

/// One chaos client: what it believes about its call, checked against what arrives.
struct Chaos {
    c: Client,
    /// Its partner in the current call, once their `id` line arrived.
    partner: Option<u64>,
    /// Whether a call has begun (a `matched` since the last `partner_left`).
    in_call: bool,
    /// What it sent and got lately, for the failure message.
    log: Vec<String>,
}

/// Random finds, Nexts, stops and reconnects by `n` clients over `nodes` for `secs`. What the
/// server sends a client between one `matched` and the next `matched` or `partner_left` is one
/// call as the server sees it: every chat line in it must come from one partner (each client
/// says its id on every match), or the server had the client in two pairs, or relayed across
/// pairs. A client's own Next or stop ends the call without a message, and nothing of the old
/// partner may arrive after it.
async fn chaos(stage: &mut Stage, n: usize, secs: u64, seed: u64) -> (u64, u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut clients = Vec::new();
    for i in 0..n {
        let url = stage.urls[i % stage.urls.len()].clone();
        clients.push(Chaos::new(&url).await);
    }
    let started = std::time::Instant::now();
    let (mut matches, mut lines, mut dropped) = (0u64, 0u64, 0u64);
    let end = started + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        stage.at(started.elapsed());
        let i = rng.random_range(0..n);
        let action = rng.random_range(0..10);
        let me = &mut clients[i];
        me.log.push(format!("action {action}"));
        match action {
            0..=4 => me.say(r#"{"type":"find","mode":"text"}"#).await,
            5..=6 if me.in_call => me.say(r#"{"type":"next"}"#).await,
            7 => me.say(r#"{"type":"stop"}"#).await,
            8 if rng.random_range(0..10) == 0 => {
                // Gone without a word; a new client takes its place on another node.
                let url = stage.live_url(rng.random_range(0..1000));
                *me = Chaos::new(&url).await;
            }
            _ => {}
        }
        // Read whatever has arrived for a few clients, checking each message.
        for _ in 0..4 {
            let j = rng.random_range(0..n);
            let id = clients[j].c.id;
            loop {
                let next = tokio::time::timeout(Duration::from_millis(1), clients[j].c.ws.next()).await;
                let v: Value = match next {
                    Err(_) => break,
                    Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(&t).unwrap(),
                    Ok(Some(Ok(_))) => continue,
                    // Closed by the server (a searcher that stopped answering pings is dropped,
                    // as a frozen client would be): someone new takes its place.
                    Ok(_) => {
                        let url = stage.live_url(rng.random_range(0..1000));
                        clients[j] = Chaos::new(&url).await;
                        dropped += 1;
                        break;
                    }
                };
                let me = &mut clients[j];
                me.log.push(v.to_string());
                match v["type"].as_str() {
                    Some("matched") => {
                        (me.in_call, me.partner) = (true, None);
                        matches += 1;
                        me.say(&format!(r#"{{"type":"chat","text":"id {id}"}}"#)).await;
                    }
                    Some("partner_left") => (me.in_call, me.partner) = (false, None),
                    Some("chat") => {
                        lines += 1;
                        let from: u64 = v["text"]
                            .as_str()
                            .and_then(|t| t.strip_prefix("id "))
                            .and_then(|t| t.parse().ok())
                            .unwrap();
                        assert!(me.in_call, "{id} got a line from {from} outside a call: {:#?}", me.log);
                        match me.partner {
                            None => me.partner = Some(from),
                            Some(p) => assert_eq!(p, from, "{id} heard from two partners in one call: {:#?}", me.log),
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    eprintln!(
        "cluster chaos: {dropped} connections lost (the killed node's clients, searchers too silent for the server)"
    );
    (matches, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_and_three_hundred_clients_under_random_use_a_node_kill_and_a_redis_outage() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let doomed = NodeProcess::start(&redis);
    let urls = vec![a.url(), b.url(), doomed.url.clone()];
    let mut stage = Stage {
        urls,
        dead: vec![false; 3],
        doomed: Some((doomed, 2, Duration::from_secs(15))),
        redis,
        outage: Some((Duration::from_secs(30), Duration::from_secs(40))),
        redis_down: false,
    };
    let (matches, lines) = chaos(&mut stage, 300, 60, 7).await;
    eprintln!("cluster chaos: {matches} matches, {lines} id lines checked");
    assert!(matches > 100 && lines > 100, "too little happened to mean anything: {matches} matches, {lines} lines");
    // The chaos clients are gone (dropped): nothing of them is left in the shared queue.
    queued(&stage.redis, "text", 0).await;
    // After the kill and the outage, strangers on the surviving nodes all meet: nobody waits
    // while a compatible stranger waits on another node.
    let mut fresh = Vec::new();
    for i in 0..40 {
        fresh.push(connect_url(&[a.url(), b.url()][i % 2]).await);
    }
    for c in &mut fresh {
        c.send(r#"{"type":"find","mode":"text"}"#).await;
    }
    for c in &mut fresh {
        tokio::time::timeout(Duration::from_secs(10), until(c, "matched"))
            .await
            .expect("everyone is matched after the chaos");
    }
}

impl Chaos {
    async fn new(url: &str) -> Chaos {
        Chaos { c: connect_url(url).await, partner: None, in_call: false, log: Vec::new() }
    }

    /// Send a frame; a connection that is gone (its node was killed) shows on the next read.
    async fn say(&mut self, text: &str) {
        use futures_util::SinkExt;
        let _ = self.c.ws.send(Message::text(text)).await;
    }
}
