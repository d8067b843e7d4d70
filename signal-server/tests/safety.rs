//! Safety against a real server on real sockets: bans and blocks kept in a real SQLite file
//! across a restart, three reporters on three networks (client sockets bound to 127.0.X.1, each a
//! different /24) banning a fourth, the terms gate, the admin endpoints, and hostile reports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Client, WAIT, connect_from};
use serde_json::{Value, json};
use signal_server::ServerHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Plain = Client<TcpStream>;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strangers-{name}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn server(dir: Option<&PathBuf>, tweak: impl FnOnce(&mut signal_server::Config)) -> ServerHandle {
    common::server_with(|cfg| {
        cfg.safety.in_memory = dir.is_none();
        cfg.safety.data_dir = dir.cloned().unwrap_or_default();
        cfg.rematch_cooldown = Duration::ZERO;
        tweak(cfg);
    })
    .await
}

/// Read until a message of type `ty` (skipping `waiting` and the like); returns it.
async fn until(c: &mut Plain, ty: &str) -> Value {
    loop {
        let v = c.recv().await;
        if v["type"] == ty {
            return v;
        }
    }
}

async fn find(c: &mut Plain) {
    c.send(r#"{"type":"find","mode":"video"}"#).await;
}

/// Three reporters on 127.0.1/24, 127.0.2/24 and 127.0.3/24 each meet `offender` and report it.
async fn report_three_times(srv: &ServerHandle, offender: &mut Plain) {
    for r in 1..=3u64 {
        let mut reporter = connect_from(srv, &format!("127.0.{r}.1"), r, None).await;
        find(&mut reporter).await;
        reporter.expect("waiting").await;
        find(offender).await;
        until(&mut reporter, "matched").await;
        until(offender, "matched").await;
        reporter.send(r#"{"type":"report","reason":"harassment","text":"abuse","chat":["line"]}"#).await;
        until(&mut reporter, "reported").await;
        if r < 3 {
            assert_eq!(until(offender, "partner_left").await["reason"], "skipped");
            offender.send(r#"{"type":"stop"}"#).await;
        }
    }
}

/// No `matched` arrives within `d` (anything else is fine).
async fn not_matched_within(c: &mut Plain, d: Duration) {
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(v) = tokio::time::timeout_at(deadline, c.recv()).await {
        assert_ne!(v["type"], "matched", "a blocked pair met");
    }
}

#[tokio::test]
async fn three_networks_ban_a_client_the_ban_survives_a_restart_and_ends_on_time() {
    let dir = temp_dir("bans");
    let srv = server(Some(&dir), |cfg| cfg.safety.ban_length = Duration::from_secs(6)).await;
    let mut offender = connect_from(&srv, "127.0.9.1", 99, None).await;
    report_three_times(&srv, &mut offender).await;
    let err = until(&mut offender, "error").await;
    assert_eq!(err["code"], "banned", "told at once: {err}");
    let until_ms = err["until_ms"].as_u64().unwrap();
    srv.shutdown().await.unwrap();
    let db = std::fs::read(dir.join("strangers.db")).unwrap_or_default();
    let wal = std::fs::read(dir.join("strangers.db-wal")).unwrap_or_default();
    for raw in [&db, &wal] {
        let text = String::from_utf8_lossy(raw);
        assert!(!text.contains("127.0.9") && !text.contains(&format!("{:032x}", 99)), "no address or id on disk");
    }

    // A new process on the same data directory.
    let srv = server(Some(&dir), |cfg| cfg.safety.ban_length = Duration::from_secs(6)).await;
    let mut back = connect_from(&srv, "127.0.9.1", 99, None).await;
    find(&mut back).await;
    let err = back.expect_error("banned").await;
    assert_eq!(err["until_ms"].as_u64(), Some(until_ms));
    // The same install elsewhere is refused too; someone else on its /24 is not (a network is
    // banned only after reports from six networks).
    let mut sibling = connect_from(&srv, "127.0.9.200", 500, None).await;
    find(&mut sibling).await;
    sibling.expect("waiting").await;
    sibling.send(r#"{"type":"stop"}"#).await;
    let mut moved = connect_from(&srv, "127.0.10.1", 99, None).await;
    find(&mut moved).await;
    moved.expect_error("banned").await;
    // Once the ban ends it can search again.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(until_ms.saturating_sub(now) + 200)).await;
    find(&mut back).await;
    back.expect("waiting").await;
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_blocked_pair_waits_rather_than_meets_even_after_a_restart() {
    let dir = temp_dir("blocks");
    let srv = server(Some(&dir), |_| {}).await;
    let mut a = connect_from(&srv, "127.0.21.1", 21, None).await;
    let mut b = connect_from(&srv, "127.0.22.1", 22, None).await;
    find(&mut a).await;
    find(&mut b).await;
    until(&mut a, "matched").await;
    until(&mut b, "matched").await;
    a.send(r#"{"type":"block"}"#).await;
    until(&mut a, "blocked").await;
    assert_eq!(until(&mut b, "partner_left").await["reason"], "skipped");
    not_matched_within(&mut a, Duration::from_millis(1500)).await;
    srv.shutdown().await.unwrap();

    let srv = server(Some(&dir), |_| {}).await;
    let mut a = connect_from(&srv, "127.0.21.1", 21, None).await;
    let mut b = connect_from(&srv, "127.0.22.1", 22, None).await;
    find(&mut a).await;
    find(&mut b).await;
    not_matched_within(&mut b, Duration::from_millis(1500)).await;
    let mut c = connect_from(&srv, "127.0.23.1", 23, None).await;
    find(&mut c).await;
    until(&mut c, "matched").await;
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_terms_gate_refuses_search_until_accepted() {
    let srv = server(None, |cfg| cfg.safety.require_terms = Some("2026-12".into())).await;
    let mut old = connect_from(&srv, "127.0.31.1", 31, None).await;
    find(&mut old).await;
    old.expect_error("terms_required").await;
    old.send(r#"{"type":"join","room":"lobby"}"#).await;
    old.expect_error("terms_required").await;
    let mut ok = connect_from(&srv, "127.0.32.1", 32, Some("2026-12")).await;
    find(&mut ok).await;
    ok.expect("waiting").await;
}

#[tokio::test]
async fn hostile_reports_are_refused() {
    let srv = server(None, |_| {}).await;
    let mut lone = connect_from(&srv, "127.0.41.1", 41, None).await;
    // Nobody met: a report cannot name anyone.
    lone.send(r#"{"type":"report","reason":"spam"}"#).await;
    lone.expect_error("not_paired").await;
    // A report cannot name someone else either: extra fields are not part of it.
    lone.send(r#"{"type":"report","reason":"spam","peer":7}"#).await;
    lone.expect_error("not_paired").await;
    let long = "x".repeat(501);
    lone.send(&json!({"type":"report","reason":"other","text":long}).to_string()).await;
    lone.expect_error("field_too_long").await;
    lone.send(r#"{"type":"report","reason":"nope"}"#).await;
    lone.expect_error("malformed").await;
}

/// An HTTP request with a method and an optional bearer token; returns (status, body).
async fn admin(srv: &ServerHandle, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    tcp.write_all(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut buf)).await.unwrap().unwrap();
    common::parse_response(&buf)
}

#[tokio::test]
async fn moderators_list_reports_and_bans_and_lift_a_ban_with_the_token_only() {
    let plain = server(None, |_| {}).await;
    assert_eq!(admin(&plain, "GET", "/admin/bans", Some("t0ken-t0ken")).await.0, 404, "off without a token");

    let token = "t0ken-t0ken-t0ken";
    let srv = server(None, |cfg| cfg.safety.admin_token = Some(token.parse().unwrap())).await;
    assert_eq!(admin(&srv, "GET", "/admin/bans", None).await.0, 401);
    assert_eq!(admin(&srv, "GET", "/admin/bans", Some("t0ken-t0ken-t0keN")).await.0, 401);
    let mut offender = connect_from(&srv, "127.0.59.1", 59, None).await;
    report_three_times(&srv, &mut offender).await;
    assert_eq!(until(&mut offender, "error").await["code"], "banned");

    let (status, body) = admin(&srv, "GET", "/admin/reports?limit=10", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    let reports: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reports["reports"].as_array().map(Vec::len), Some(3));
    assert_eq!(reports["reports"][0]["reason"], "harassment");
    assert_eq!(reports["reports"][0]["chat"], json!(["line"]));
    let (status, body) = admin(&srv, "GET", "/admin/bans", Some(token)).await;
    assert_eq!(status, 200);
    let bans: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<String> =
        bans["bans"].as_array().unwrap().iter().map(|b| b["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys.len(), 1, "the install id: {body}");
    assert!(!body.contains("127.0.59"), "keys only");
    assert_eq!(admin(&srv, "DELETE", &format!("/admin/bans/{}", keys[0]), Some(token)).await.0, 200);
    assert_eq!(admin(&srv, "DELETE", &format!("/admin/bans/{}", keys[0]), Some(token)).await.0, 404);
    find(&mut offender).await;
    offender.expect("waiting").await;
    assert_eq!(common::metric(&srv, "strangers_reports_total{reason=\"harassment\"}").await, 3.0);
    assert_eq!(common::metric(&srv, "strangers_bans_total").await, 1.0);
}
