//! Random matchmaking, Next, Stop, disconnects and relays, through real WebSockets.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Client, matched_pair, server, server_with};
use serde_json::json;

#[tokio::test]
async fn welcome_carries_identity_presence_and_ice_servers() {
    let srv = server_with(|c| c.stun = vec!["stun:127.0.0.1:3478".into()]).await;
    let _first = Client::connect(&srv).await;
    let mut c = Client::connect_raw(&srv).await;
    c.send(common::HELLO).await;
    let w = c.expect("welcome").await;
    assert_eq!(w["version"], 1);
    assert_eq!(w["online"], 2);
    assert!(w["peer_id"].as_u64().is_some());
    assert_eq!(w["ice_servers"], json!([{"urls":["stun:127.0.0.1:3478"]}]));
}

#[tokio::test]
async fn strangers_are_matched_and_signal_chat_and_media_state_flow() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let offer = r#"{"type":"offer","sdp":"v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"}"#;
    a.send(offer).await;
    assert_eq!(b.recv_text().await, offer, "relayed verbatim");
    b.send(r#"{"type":"answer","sdp":"v=0\r\n"}"#).await;
    assert_eq!(a.expect("answer").await["sdp"], "v=0\r\n");
    let cand = json!({"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}});
    a.send_json(cand.clone()).await;
    assert_eq!(b.recv().await, cand);
    b.send(r#"{"type":"chat","text":"hello stranger"}"#).await;
    let chat = a.expect("chat").await;
    assert_eq!(chat["text"], "hello stranger");
    let ts = chat["ts"].as_u64().unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(now_ms.abs_diff(ts) < 60_000, "server timestamp is wall-clock ms");
    a.send(r#"{"type":"typing","active":true}"#).await;
    assert_eq!(b.recv().await, json!({"type":"typing","active":true}));
    a.send(r#"{"type":"media_state","audio":false,"video":true}"#).await;
    assert_eq!(b.recv().await, json!({"type":"media_state","audio":false,"video":true}));
    a.nothing_pending().await;
}

#[tokio::test]
async fn typing_start_and_stop_reach_the_partner_only() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let mut other = Client::connect(&srv).await;
    other.send(r#"{"type":"find","mode":"text"}"#).await;
    other.expect("waiting").await;
    b.send(r#"{"type":"typing","active":true}"#).await;
    assert_eq!(a.recv().await, json!({"type":"typing","active":true}));
    b.send(r#"{"type":"typing","active":false}"#).await;
    assert_eq!(a.recv().await, json!({"type":"typing","active":false}));
    b.nothing_pending().await;
    other.nothing_pending().await;
    // Typing with nobody to show it to is an error, not a broadcast.
    other.send(r#"{"type":"typing","active":false}"#).await;
    other.expect_error("not_paired").await;
    a.nothing_pending().await;
}

#[tokio::test]
async fn modes_do_not_mix_and_interests_are_reported() {
    let srv = server().await;
    let mut v = Client::connect(&srv).await;
    let mut t1 = Client::connect(&srv).await;
    let mut t2 = Client::connect(&srv).await;
    v.send(r#"{"type":"find","mode":"video","interests":["chess"]}"#).await;
    v.expect("waiting").await;
    t1.send(r#"{"type":"find","mode":"text","interests":[" Chess ","Go"]}"#).await;
    let w = t1.expect("waiting").await;
    assert_eq!((w["mode"].as_str(), w["searching"].as_u64()), (Some("text"), Some(1)));
    t2.send(r#"{"type":"find","mode":"text","interests":["go","CHESS"]}"#).await;
    t2.expect("waiting").await;
    let m = t2.expect("matched").await;
    assert_eq!(m["mode"], "text");
    assert_eq!(m["common_interests"], json!(["go", "chess"]));
    // Both sides get the same list.
    assert_eq!(t1.expect("matched").await["common_interests"], json!(["go", "chess"]));
    v.nothing_pending().await;
}

#[tokio::test]
async fn interest_matching_falls_back_to_anyone_after_the_configured_wait() {
    let srv = server_with(|c| c.interest_fallback = Duration::from_millis(300)).await;
    let mut a = Client::connect(&srv).await;
    let mut b = Client::connect(&srv).await;
    a.send(r#"{"type":"find","mode":"video","interests":["cats"]}"#).await;
    a.expect("waiting").await;
    b.send(r#"{"type":"find","mode":"video","interests":["dogs"]}"#).await;
    b.expect("waiting").await;
    let started = std::time::Instant::now();
    let m = a.expect("matched").await;
    assert_eq!(m["common_interests"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the fallback");
    b.expect("matched").await;
}

#[tokio::test]
async fn searchers_get_periodic_waiting_updates_at_the_configured_interval() {
    let srv = server_with(|c| c.waiting_interval = Duration::from_millis(300)).await;
    let mut a = Client::connect(&srv).await;
    a.send(r#"{"type":"find","mode":"video"}"#).await;
    assert_eq!(a.expect("waiting").await["online"], 1, "the first update comes at once");
    let started = std::time::Instant::now();
    let _b = Client::connect(&srv).await;
    let update = a.expect("waiting").await;
    let waited = started.elapsed();
    assert_eq!(update, json!({"type":"waiting","mode":"video","online":2,"searching":1}));
    // The default is 2 s; the server's timers run every 250 ms.
    assert!(waited < Duration::from_millis(1900), "the update took {waited:?}");
}

#[tokio::test]
async fn next_notifies_the_partner_and_requeues_both_without_an_immediate_rematch() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    a.send(r#"{"type":"next"}"#).await;
    assert_eq!(b.recv().await, json!({"type":"partner_left","reason":"skipped"}));
    b.expect("waiting").await;
    a.expect("waiting").await;
    // Both are searching; a third stranger meets the skipper, who is first in the queue.
    let mut c = Client::connect(&srv).await;
    c.send(r#"{"type":"find","mode":"video"}"#).await;
    c.expect("waiting").await;
    assert_eq!(c.expect("matched").await["role"], "answerer");
    assert_eq!(a.expect("matched").await["role"], "offerer");
    // The skipped partner was not paired with the skipper meanwhile.
    b.nothing_pending().await;
    // Chat now goes to the new partner only.
    c.send(r#"{"type":"chat","text":"hi a"}"#).await;
    assert_eq!(a.expect("chat").await["text"], "hi a");
    b.nothing_pending().await;
}

#[tokio::test]
async fn stop_leaves_without_requeueing_but_the_partner_is_requeued() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    b.send(r#"{"type":"stop"}"#).await;
    assert_eq!(a.recv().await, json!({"type":"partner_left","reason":"stopped"}));
    assert_eq!(a.expect("waiting").await["searching"], 1);
    b.nothing_pending().await;
    b.send(r#"{"type":"offer","sdp":"v=0"}"#).await;
    b.expect_error("not_paired").await;
}

#[tokio::test]
async fn a_clean_close_tells_the_partner_and_leaves_no_state() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    b.ws.close(None).await.unwrap();
    assert_eq!(a.recv().await, json!({"type":"partner_left","reason":"disconnected"}));
    let w = a.expect("waiting").await;
    assert_eq!((w["online"].as_u64(), w["searching"].as_u64()), (Some(1), Some(1)));
    a.send(r#"{"type":"stop"}"#).await;
    a.nothing_pending().await;
    assert_eq!(common::metric(&srv, "strangers_pairs").await, 0.0);
    assert_eq!(common::metric(&srv, "strangers_connections").await, 1.0);
}

#[tokio::test]
async fn an_abrupt_drop_tells_the_partner_within_a_second() {
    let srv = server().await;
    let (mut a, b) = matched_pair(&srv).await;
    let tcp = b.ws.into_inner();
    drop(tcp); // no close frame: the TCP connection just goes away
    let started = std::time::Instant::now();
    assert_eq!(a.recv().await, json!({"type":"partner_left","reason":"disconnected"}));
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_silent_peer_is_dropped_by_heartbeat_and_its_partner_told() {
    let srv = server_with(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let (mut a, b) = matched_pair(&srv).await;
    // b never reads again, so it never answers pings; a keeps reading (its client answers pings).
    let started = std::time::Instant::now();
    assert_eq!(a.recv().await, json!({"type":"partner_left","reason":"disconnected"}));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(common::metric(&srv, "strangers_disconnects_total{cause=\"heartbeat\"}").await, 1.0);
    drop(b);
}

/// A searcher that stops answering pings (a suspended process, a closed laptop lid) leaves the
/// queue within --searcher-timeout instead of being matched with the next stranger, while one
/// that answers stays as long as it likes.
#[tokio::test]
async fn a_frozen_searcher_leaves_the_queue_and_a_live_one_stays() {
    let srv = server_with(|c| c.searcher_timeout = Duration::from_millis(600)).await;
    let mut frozen = Client::connect(&srv).await;
    frozen.send(r#"{"type":"find","mode":"video"}"#).await;
    frozen.expect("waiting").await;
    // It never reads again, so it never answers a ping.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        common::metric(&srv, "strangers_queue_depth{mode=\"video\"}").await,
        0.0,
        "the frozen searcher is still queued"
    );
    let mut live = Client::connect(&srv).await;
    live.send(r#"{"type":"find","mode":"video"}"#).await;
    assert_eq!(live.expect("waiting").await["searching"], 1, "alone: nobody frozen to be matched with");
    // A live searcher answers the pings while it reads (its waiting updates), however long.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(100), live.recv()).await;
    }
    let mut newcomer = Client::connect(&srv).await;
    newcomer.send(r#"{"type":"find","mode":"video"}"#).await;
    newcomer.expect("waiting").await;
    assert_eq!(newcomer.expect("matched").await["role"], "answerer", "matched with the live searcher");
    drop(frozen);
}

/// A call needs no messages, so a client can be quiet for longer than --searcher-timeout; when
/// its partner leaves and it goes back to the queue, it is pinged and stays (it was dropped on
/// the spot before, found by the cluster tests).
#[tokio::test]
async fn a_quiet_client_whose_partner_left_is_pinged_and_stays_in_the_queue() {
    let srv = server_with(|c| c.searcher_timeout = Duration::from_millis(600)).await;
    let (mut a, mut b) = matched_pair(&srv).await;
    // A quiet call, well past the searcher timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.send(r#"{"type":"stop"}"#).await;
    a.expect("partner_left").await;
    // `a` reads (so it answers pings) for longer than the timeout, and is still there.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < until {
        let _ = tokio::time::timeout(Duration::from_millis(100), a.recv()).await;
    }
    let mut newcomer = Client::connect(&srv).await;
    newcomer.send(r#"{"type":"find","mode":"video"}"#).await;
    newcomer.expect("waiting").await;
    newcomer.expect("matched").await;
}
