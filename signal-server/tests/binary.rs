//! The `signal-server` binary itself: flags, environment, and SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const BIN: &str = env!("CARGO_BIN_EXE_signal-server");

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--stun",
        "--max-connections",
        "--allowed-origins",
        "--max-message-bytes",
        "--read-buffer-bytes",
        "--outbound-frames",
        "--outbound-bytes",
        "--rate-burst",
        "--rate-per-sec",
        "--rate-max-strikes",
        "--handshake-timeout",
        "--ping-interval",
        "--idle-timeout",
        "--interest-fallback",
        "--rematch-cooldown",
        "--room-capacity",
        "--shutdown-grace",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert_eq!(help.matches("[env: STRANGERS_").count(), 21, "every flag has an env fallback:\n{help}");
}

#[test]
fn a_bad_flag_is_a_clear_error() {
    let out = Command::new(BIN).args(["--listen", "not-an-address"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_cleanly() {
    let mut child = Command::new(BIN)
        .env("STRANGERS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));

    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
    while let Some(Ok(_)) = ws.next().await {}
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
