//! Bad input, floods, slow readers, caps and timeouts: each has a defined, tested behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Client, matched_pair, metric, server, server_with};
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn bad_messages_get_errors_and_the_connection_stays_up() {
    let srv = server().await;
    let mut c = Client::connect(&srv).await;
    c.send("this is not json").await;
    c.expect_error("malformed").await;
    c.send("[1,2,3]").await;
    c.expect_error("malformed").await;
    c.send(r#"{"no":"type"}"#).await;
    c.expect_error("malformed").await;
    c.send(r#"{"type":"find","mode":"telepathy"}"#).await;
    c.expect_error("malformed").await;
    c.send(r#"{"type":"fly"}"#).await;
    c.expect_error("unknown_type").await;
    c.send(r#"{"type":"next"}"#).await;
    c.expect_error("wrong_state").await;
    c.send(r#"{"type":"chat","text":"nobody here"}"#).await;
    c.expect_error("not_paired").await;
    let long = "x".repeat(2001);
    c.send(&format!(r#"{{"type":"chat","text":"{long}"}}"#)).await;
    c.expect_error("field_too_long").await;
    let tags: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    c.send_json(serde_json::json!({"type":"find","mode":"video","interests":tags})).await;
    c.expect_error("field_too_long").await;
    c.send(&format!(r#"{{"type":"find","mode":"video","interests":["{}"]}}"#, "i".repeat(33))).await;
    c.expect_error("field_too_long").await;
    c.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    c.expect_error("binary_unsupported").await;
    // Still connected and working.
    c.send(r#"{"type":"find","mode":"text"}"#).await;
    c.expect("waiting").await;
    assert_eq!(metric(&srv, "strangers_errors_total{code=\"malformed\"}").await, 4.0);
    assert_eq!(metric(&srv, "strangers_errors_total{code=\"field_too_long\"}").await, 3.0);
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    a.ws.send(Message::Frame(bad)).await.unwrap();
    let frame = a.closed().await.expect("a close frame, not a dropped connection");
    assert_eq!(frame.code, CloseCode::Invalid, "RFC 6455: 1007 for data that is not consistent with its type");
    assert_eq!(u16::from(frame.code), 1007);
    assert_eq!(b.expect("partner_left").await["reason"], "disconnected");
}

#[tokio::test]
async fn a_partner_sees_only_the_servers_own_signaling_frames() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    a.send(r#"{"type":"offer","sdp":"v=0","from":7,"type":"partner_left","reason":"skipped"}"#).await;
    assert_eq!(b.recv_text().await, r#"{"type":"offer","sdp":"v=0"}"#);
    a.send(r#"{"type":"candidate","from":3,"candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}"#).await;
    assert_eq!(
        b.recv_text().await,
        r#"{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":0,"sdpMid":"0"}}"#
    );
    b.nothing_pending().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let huge = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(70 * 1024));
    a.send(&huge).await;
    let frame = a.closed().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert_eq!(b.expect("partner_left").await["reason"], "disconnected");
    assert_eq!(metric(&srv, "strangers_disconnects_total{cause=\"oversize\"}").await, 1.0);
}

#[tokio::test]
async fn the_partner_hears_at_once_even_when_the_closed_peer_never_answers_the_close() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let huge = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(70 * 1024));
    // `a` sends and then never reads, so it never completes the close handshake; the server must
    // not make `b` wait for it (the close handshake alone may take 3 s).
    a.send(&huge).await;
    let started = std::time::Instant::now();
    assert_eq!(b.expect("partner_left").await["reason"], "disconnected");
    assert!(started.elapsed() < Duration::from_secs(2), "partner told after {:?}", started.elapsed());
    drop(a);
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_with_1008() {
    // `--rate-max-strikes N`: the first N-1 over-limit messages in a row are refused, the Nth
    // closes the connection (as docs/PROTOCOL.md and --help say).
    const STRIKES: u32 = 5;
    let srv = server_with(|c| {
        c.rate_burst = 10;
        c.rate_per_sec = 1;
        c.rate_max_strikes = STRIKES;
    })
    .await;
    let (mut a, mut b) = matched_pair(&srv).await;
    // The two finds used 1 token each; candidates count like anything else.
    for _ in 0..30 {
        a.send(r#"{"type":"candidate","candidate":{"candidate":"c"}}"#).await;
    }
    let mut relayed = 0;
    loop {
        let v = b.recv().await;
        if v["type"] == "candidate" {
            relayed += 1;
        } else {
            assert_eq!(v["type"], "partner_left");
            break;
        }
    }
    assert!((8..=10).contains(&relayed), "relayed {relayed}");
    let mut refused = 0;
    let close = loop {
        match tokio::time::timeout(common::WAIT, futures_util::StreamExt::next(&mut a.ws)).await.unwrap() {
            Some(Ok(Message::Text(t))) => {
                assert!(t.contains("rate_limited"), "{t}");
                refused += 1;
            }
            Some(Ok(Message::Close(f))) => break f,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(refused, STRIKES - 1, "four refusals, then the fifth over-limit message closes");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Policy));
    assert_eq!(metric(&srv, "strangers_disconnects_total{cause=\"rate_limit\"}").await, 1.0);
}

#[tokio::test]
async fn a_slow_reader_is_disconnected_with_1008_and_memory_stays_bounded() {
    let srv = server_with(|c| {
        c.rate_burst = 100_000;
        c.rate_per_sec = 100_000;
        c.outbound_frames = 64;
        c.outbound_bytes = 256 * 1024;
    })
    .await;
    let (mut fast, mut slow) = matched_pair(&srv).await;
    let text = "y".repeat(1900);
    let chat = format!(r#"{{"type":"chat","text":"{text}"}}"#);
    // `slow` never reads; the kernel buffers fill, then its mailbox, then it is cut off. While
    // that happens the server never holds more than the mailbox limit for it.
    let mut sent = 0;
    let mut most_queued = 0.0_f64;
    loop {
        fast.send(&chat).await;
        sent += 1;
        // Sampled more often than the 64 frames the mailbox holds, so a sample sees it filling.
        if sent % 16 == 0 {
            most_queued = most_queued.max(metric(&srv, "strangers_outbound_queued_bytes").await);
            if metric(&srv, "strangers_disconnects_total{cause=\"slow_reader\"}").await == 1.0 {
                break;
            }
        }
        assert!(sent < 50_000, "slow reader never disconnected");
    }
    assert!(most_queued > 0.0, "the mailbox filled before the cut");
    assert!(most_queued <= 256.0 * 1024.0, "queued {most_queued} bytes, over the 256 KiB limit");
    assert!(sent as f64 * 1900.0 > 2.0 * 256.0 * 1024.0, "the flood ({sent} chats) was far bigger than the limit");
    assert_eq!(metric(&srv, "strangers_outbound_queued_bytes").await, 0.0);
    assert_eq!(fast.expect("partner_left").await["reason"], "disconnected");
    // Now read: whatever the kernel buffered arrives, then the 1008 close.
    let frame = slow.closed().await;
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Policy));
    assert_eq!(metric(&srv, "strangers_connections").await, 1.0);
}

#[tokio::test]
async fn a_silent_tcp_connection_is_dropped_at_the_handshake_timeout() {
    let srv = server_with(|c| c.handshake_timeout = Duration::from_millis(200)).await;
    let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(common::WAIT, tcp.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(metric(&srv, "strangers_handshake_failures_total").await, 1.0);
}

#[tokio::test]
async fn garbage_instead_of_http_gets_400() {
    let srv = server().await;
    let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
    tcp.write_all(b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n").await.unwrap();
    let mut buf = String::new();
    let _ = tokio::time::timeout(common::WAIT, tcp.read_to_string(&mut buf)).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 400"), "{buf}");
}

#[tokio::test]
async fn websockets_over_the_cap_get_503_but_health_and_metrics_still_answer() {
    let srv = server_with(|c| c.max_connections = 2).await;
    let _a = Client::connect(&srv).await;
    let b = Client::connect(&srv).await;
    let err = tokio_tungstenite::connect_async(srv.url()).await.expect_err("third is refused");
    assert!(err.to_string().contains("503"), "{err}");
    // Monitoring does not go blind at the cap.
    assert_eq!(common::http_get(&srv, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(metric(&srv, "strangers_connections").await, 2.0);
    assert_eq!(metric(&srv, "strangers_rejected_at_cap_total").await, 1.0, "only the upgrade was refused");
    // Once a seat frees up, a WebSocket gets in again.
    drop(b);
    let mut refused = 0;
    let _c = loop {
        match tokio_tungstenite::connect_async(srv.url()).await {
            Ok((ws, _)) => break Client { ws, id: 0 },
            Err(e) => assert!(e.to_string().contains("503"), "{e}"),
        }
        refused += 1;
        assert!(refused < 10_000, "the seat never freed up");
        tokio::task::yield_now().await;
    };
    assert_eq!(metric(&srv, "strangers_rejected_at_cap_total").await, 1.0 + f64::from(refused));
}

#[tokio::test]
async fn the_http_reserve_above_the_cap_is_bounded_too() {
    let srv = server_with(|c| c.max_connections = 1).await;
    let _ws = Client::connect(&srv).await;
    // Sockets that never send a request use up the reserve (until the handshake timeout)...
    let mut silent = Vec::new();
    for _ in 0..signal_server::net::HTTP_RESERVE {
        silent.push(TcpStream::connect(srv.addr()).await.unwrap());
    }
    // ...so one more socket is refused at once, even for a health check.
    let (status, _) = common::http_get(&srv, "/healthz").await;
    assert_eq!(status, 503);
    // One silent socket goes away; its seat in the reserve comes back.
    drop(silent.pop());
    let mut attempts = 0;
    loop {
        let (status, body) = common::http_get(&srv, "/healthz").await;
        if status == 200 {
            assert_eq!(body, "ok\n");
            break;
        }
        attempts += 1;
        assert!(attempts < 10_000, "the reserve never freed up");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_origin_allow_list_is_enforced_for_browsers_only() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let srv = server_with(|c| c.allowed_origins = vec!["https://strangers.example".into()]).await;
    let request = |origin: &str| {
        let mut r = srv.url().into_client_request().unwrap();
        r.headers_mut().insert("origin", origin.parse().unwrap());
        r
    };
    let err = tokio_tungstenite::connect_async(request("https://evil.example")).await.expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    assert!(tokio_tungstenite::connect_async(request("https://strangers.example")).await.is_ok());
    // Native clients send no Origin.
    Client::connect(&srv).await;
    assert_eq!(metric(&srv, "strangers_rejected_origin_total").await, 1.0);
}

/// A client that presses Next faster than the skip limit allows is paused: over a real socket it
/// gets `slow_down` with the time left, its partner is released, its searches are refused, and
/// the metric counts it.
#[tokio::test]
async fn skipping_past_the_limit_is_paused_with_the_time_left() {
    let srv = server_with(|c| {
        c.skip_limit = 1;
        c.skip_cooldown = Duration::from_secs(30);
    })
    .await;
    let (mut a, mut b) = matched_pair(&srv).await;
    a.send(r#"{"type":"next"}"#).await;
    b.expect("partner_left").await;
    a.expect("waiting").await;
    // A third stranger meets the skipper; its second skip within the minute is one too many.
    let mut c = Client::connect(&srv).await;
    c.send(r#"{"type":"find","mode":"video"}"#).await;
    c.expect("waiting").await;
    c.expect("matched").await;
    a.expect("matched").await;
    a.send(r#"{"type":"next"}"#).await;
    let err = a.expect_error("slow_down").await;
    let left = err["retry_in_ms"].as_u64().unwrap();
    assert!((29_000..=30_000).contains(&left), "{err}");
    assert_eq!(c.expect("partner_left").await["reason"], "skipped", "the partner is released");
    a.send(r#"{"type":"find","mode":"video"}"#).await;
    let err = a.expect_error("slow_down").await;
    assert!(err["retry_in_ms"].as_u64().unwrap() <= left);
    assert_eq!(metric(&srv, "strangers_slowdowns_total").await, 1.0);
    assert_eq!(metric(&srv, "strangers_errors_total{code=\"slow_down\"}").await, 2.0);
}
