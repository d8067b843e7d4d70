//! Several nodes as one server, against a real `redis-server` started on a free port: strangers
//! on different nodes meet (FIFO, interests), talk through both nodes in order, part, and are
//! never paired twice however the searches race.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::Client;
use common::cluster::*;

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

#[tokio::test]
async fn a_killed_nodes_partners_are_told_and_its_searchers_leave_the_queue() {
    let redis = Redis::start();
    let mut doomed = NodeProcess::start(&redis);
    let b = node(&redis).await;
    let mut x = connect_url(&doomed.url).await;
    let mut y = Client::connect(&b).await;
    match_across(&redis, &mut x, &mut y, "text").await;
    // Another client of the doomed node waits in the shared queue.
    let mut w = connect_url(&doomed.url).await;
    w.send(r#"{"type":"find","mode":"text"}"#).await;
    queued(&redis, "text", 1).await;
    let killed = std::time::Instant::now();
    let _ = doomed.child.kill();
    let _ = doomed.child.wait();
    let left = tokio::time::timeout(Duration::from_secs(10), until(&mut y, "partner_left")).await.expect("told");
    assert_eq!(left["reason"], "disconnected");
    let took = killed.elapsed();
    eprintln!("cluster: the partner heard after {took:?}");
    // Its liveness key lives 5 s after its last beat; the others look every second.
    assert!(took < Duration::from_secs(8), "told after {took:?}");
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
async fn no_match_within<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(c: &mut Client<S>, d: Duration) {
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

#[tokio::test]
async fn a_node_id_held_by_a_running_node_is_refused() {
    let redis = Redis::start();
    let url = redis.url.clone();
    let first = common::server_with(move |cfg| {
        cfg.cluster.redis = Some(url);
        cfg.cluster.node_id = Some(7);
    })
    .await;
    // Serving, so past taking its id.
    let held = Client::connect(&first).await;
    assert_eq!(held.id >> 48, 7);
    let mut cfg = common::config();
    cfg.cluster.redis = Some(redis.url.clone());
    cfg.cluster.node_id = Some(7);
    // The second one gives up (after waiting a liveness period for a previous run to expire).
    let second = signal_server::start(cfg).await.unwrap();
    let err = second.shutdown().await.expect_err("two nodes with one id");
    assert!(format!("{err:#}").contains("node id 7"), "{err:#}");
    // Without an id, the next free one is taken.
    let other = node(&redis).await;
    let mut c = Client::connect(&other).await;
    c.nothing_pending().await;
    assert_ne!(c.id >> 48, 7);
    drop((first, held));
}

#[tokio::test]
async fn a_block_holds_when_both_come_back_on_other_nodes() {
    let redis = Redis::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    // A node serves as soon as it has loaded what the cluster keeps, a moment before it listens
    // for what is shared next (it reads the store again then); a block made in that moment may
    // not keep a pair apart on it. Let every node listen first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut x = common::connect_from(&a, "127.0.41.1", 41, None).await;
    let mut y = common::connect_from(&b, "127.0.42.1", 42, None).await;
    x.send(r#"{"type":"find","mode":"text"}"#).await;
    queued(&redis, "text", 1).await;
    y.send(r#"{"type":"find","mode":"text"}"#).await;
    until(&mut x, "matched").await;
    until(&mut y, "matched").await;
    x.send(r#"{"type":"block"}"#).await;
    until(&mut x, "blocked").await;
    for c in [&mut x, &mut y] {
        c.send(r#"{"type":"stop"}"#).await;
    }
    queued(&redis, "text", 0).await;
    drop((x, y));
    // Both come back, each on a node the other was not on, and search alone together.
    let mut x = common::connect_from(&b, "127.0.41.1", 41, None).await;
    let mut y = common::connect_from(&c, "127.0.42.1", 42, None).await;
    x.send(r#"{"type":"find","mode":"text"}"#).await;
    y.send(r#"{"type":"find","mode":"text"}"#).await;
    queued(&redis, "text", 2).await;
    no_match_within(&mut x, Duration::from_millis(1000)).await;
    // Someone new meets one of them.
    let mut z = common::connect_from(&a, "127.0.43.1", 43, None).await;
    z.send(r#"{"type":"find","mode":"text"}"#).await;
    until(&mut z, "matched").await;
}

#[tokio::test]
async fn a_quick_redis_restart_is_noticed_and_what_it_lost_is_put_back() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let secret = || async {
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("GET").arg("strangers:ban_secret").query_async::<Option<String>>(&mut con).await.unwrap()
    };
    let mut x = Client::connect(&a).await;
    let mut y = Client::connect(&b).await;
    // Both nodes are up (they answered), so the secret is made.
    let before = secret().await;
    assert!(before.is_some());
    x.send(r#"{"type":"find","mode":"text"}"#).await;
    x.expect("waiting").await;
    queued(&redis, "text", 1).await;
    // A restart loses everything (no persistence): the queue, the registries, the secrets.
    redis.server.restart().unwrap();
    // The nodes notice the new Redis process by its run id, put the secret back, and their
    // searchers search again, so a stranger on the other node meets x.
    tokio::time::sleep(Duration::from_secs(3)).await;
    y.send(r#"{"type":"find","mode":"text"}"#).await;
    tokio::time::timeout(Duration::from_secs(5), until(&mut y, "matched")).await.expect("matched after the restart");
    until(&mut x, "matched").await;
    assert_eq!(secret().await, before, "the cluster keeps its ban secret");
}
