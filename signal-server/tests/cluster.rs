//! Several nodes as one server, against a real `redis-server` started on a free port: strangers
//! on different nodes meet (FIFO, interests), talk through both nodes in order, part, and are
//! never paired twice however the searches race.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Client;
use futures_util::StreamExt;
use serde_json::Value;
use signal_server::ServerHandle;
use signal_server::cluster::LocalRedis;
use tokio_tungstenite::tungstenite::Message;

/// A real Redis on a free port, stopped when dropped.
struct Redis {
    server: LocalRedis,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        let server = LocalRedis::start().expect("redis-server starts");
        Redis { url: server.url(), server }
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

async fn until<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(c: &mut Client<S>, ty: &str) -> Value {
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

/// A node as its own process (so it can be killed with SIGKILL), on a free port.
struct NodeProcess {
    child: std::process::Child,
    url: String,
}

impl NodeProcess {
    fn start(redis: &Redis) -> NodeProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_signal-server"))
            .env("STRANGERS_LISTEN", "127.0.0.1:0")
            .env("STRANGERS_REDIS", &redis.url)
            .env("STRANGERS_IN_MEMORY", "true")
            .env("STRANGERS_RESUME_WINDOW", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the node printed its address").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        NodeProcess { child, url }
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

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect_url(url: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = Client { ws, id: 0 };
    c.send(common::HELLO).await;
    c.id = c.expect("welcome").await["peer_id"].as_u64().unwrap();
    c
}

#[tokio::test]
async fn a_killed_nodes_partners_are_told_and_its_searchers_leave_the_queue() {
    let redis = Redis::start();
    let mut doomed = NodeProcess::start(&redis);
    let b = node(&redis).await;
    let mut x = connect_url(&doomed.url).await;
    let mut y = Client::connect(&b).await;
    x.send(r#"{"type":"find","mode":"text"}"#).await;
    x.expect("waiting").await;
    queued(&redis, "text", 1).await;
    y.send(r#"{"type":"find","mode":"text"}"#).await;
    until(&mut y, "matched").await;
    until(&mut x, "matched").await;
    // Another client of the doomed node waits in the shared queue.
    let mut w = connect_url(&doomed.url).await;
    w.send(r#"{"type":"find","mode":"text"}"#).await;
    queued(&redis, "text", 1).await;
    let killed = std::time::Instant::now();
    let _ = doomed.child.kill();
    let _ = doomed.child.wait();
    let left = tokio::time::timeout(Duration::from_secs(8), until(&mut y, "partner_left")).await.expect("told");
    assert_eq!(left["reason"], "disconnected");
    let took = killed.elapsed();
    eprintln!("cluster: the partner heard after {took:?}");
    // Its heartbeat lives 3 s; the others look every second.
    assert!(took < Duration::from_secs(6), "told after {took:?}");
    // The dead node's searcher is gone from the shared queue: y (re-queued) waits alone.
    queued(&redis, "text", 1).await;
    no_match_within(&mut y, Duration::from_millis(500)).await;
    drop((x, w));
}

#[tokio::test]
async fn a_redis_outage_refuses_new_matches_then_the_cluster_recovers_by_itself() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut x = Client::connect(&a).await;
    let mut y = Client::connect(&b).await;
    redis.server.kill();
    // Refused plainly (the search is taken, then refused when the queue cannot be reached),
    // and the health check says so.
    x.send(r#"{"type":"find","mode":"video"}"#).await;
    let v = tokio::time::timeout(Duration::from_secs(10), until(&mut x, "error")).await.expect("refused in time");
    assert_eq!(v["code"], "unavailable", "{v}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let health = loop {
        let (status, _) = common::http_get(&a, "/healthz").await;
        if status == 503 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health, 503);
    assert_eq!(common::metric(&a, "strangers_cluster_up").await, 0.0);
    // Redis comes back (empty): the nodes notice and matching works again.
    redis.server.restart().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::http_get(&a, "/healthz").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    x.send(r#"{"type":"find","mode":"video"}"#).await;
    until(&mut x, "waiting").await;
    queued(&redis, "video", 1).await;
    y.send(r#"{"type":"find","mode":"video"}"#).await;
    until(&mut y, "matched").await;
    until(&mut x, "matched").await;
}

/// No `matched` arrives within `d` (`waiting` updates may).
async fn no_match_within(c: &mut Client, d: Duration) {
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(v) = tokio::time::timeout_at(deadline, c.recv()).await {
        assert_ne!(v["type"], "matched", "matched with someone who is gone");
    }
}

#[tokio::test]
async fn two_nodes_on_one_port_share_the_connections_and_the_queue() {
    let redis = Redis::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let url = redis.url.clone();
        nodes.push(
            common::server_with(move |cfg| {
                cfg.listen = ([127, 0, 0, 1], port).into();
                cfg.cluster.redis = Some(url);
                cfg.cluster.reuse_port = true;
            })
            .await,
        );
    }
    let url = format!("ws://127.0.0.1:{port}/");
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(connect_url(&url).await);
    }
    let on: std::collections::HashSet<u64> = clients.iter().map(|c| c.id >> 48).collect();
    assert_eq!(on.len(), 2, "the kernel spread 16 connections over both nodes");
    for c in &mut clients {
        c.send(r#"{"type":"find","mode":"video"}"#).await;
    }
    for c in &mut clients {
        until(c, "matched").await;
    }
    drop(nodes);
}

#[tokio::test]
async fn reports_on_other_nodes_ban_a_client_everywhere_and_a_new_node_knows() {
    let redis = Redis::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut offender = common::connect_from(&a, "127.0.9.1", 99, None).await;
    for (r, srv) in [(1u64, &b), (2, &c), (3, &b)] {
        let mut reporter = common::connect_from(srv, &format!("127.0.{r}.1"), r, None).await;
        reporter.send(r#"{"type":"find","mode":"text"}"#).await;
        queued(&redis, "text", 1).await;
        offender.send(r#"{"type":"find","mode":"text"}"#).await;
        until(&mut reporter, "matched").await;
        until(&mut offender, "matched").await;
        reporter.send(r#"{"type":"report","reason":"spam"}"#).await;
        until(&mut reporter, "reported").await;
        reporter.send(r#"{"type":"stop"}"#).await;
        if r < 3 {
            until(&mut offender, "partner_left").await;
            offender.send(r#"{"type":"stop"}"#).await;
            queued(&redis, "text", 0).await;
        }
    }
    // Three networks, reporting through two other nodes: banned where it is.
    let err = tokio::time::timeout(Duration::from_secs(5), until(&mut offender, "error")).await.expect("told");
    assert_eq!(err["code"], "banned", "{err}");
    // A node that starts now loads the ban from Redis (and the cluster's ban secret with it).
    let d = node(&redis).await;
    let mut again = common::connect_from(&d, "127.0.20.1", 99, None).await;
    again.send(r#"{"type":"find","mode":"text"}"#).await;
    assert_eq!(until(&mut again, "error").await["code"], "banned");
    drop((a, b, c, d));
}

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
        doomed: Some((doomed, 2, Duration::from_secs(6))),
        redis,
        outage: Some((Duration::from_secs(10), Duration::from_secs(20))),
        redis_down: false,
    };
    let (matches, lines) = chaos(&mut stage, 300, 30, 7).await;
    eprintln!("cluster chaos: {matches} matches, {lines} id lines checked");
    assert!(matches > 100 && lines > 100, "too little happened to mean anything: {matches} matches, {lines} lines");
    // After the outage the survivors match again.
    let mut x = connect_url(&a.url()).await;
    let mut y = connect_url(&b.url()).await;
    for c in [&mut x, &mut y] {
        c.send(r#"{"type":"stop"}"#).await;
    }
    x.send(r#"{"type":"find","mode":"video"}"#).await;
    until(&mut x, "waiting").await;
    y.send(r#"{"type":"find","mode":"video"}"#).await;
    tokio::time::timeout(Duration::from_secs(5), until(&mut y, "matched")).await.expect("matched after the outage");
}
