//! The `signal-server` binary itself: flags, environment, refused values, SIGTERM and SIGINT.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
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
        "--waiting-interval",
        "--room-capacity",
        "--shutdown-grace",
        "--tls-cert",
        "--tls-key",
        "--turn",
        "--turn-secret",
        "--turn-ttl",
        "--failed-cooldown",
        "--resume-secret",
        "--resume-window",
        "--searcher-timeout",
        "--skip-limit",
        "--skip-window",
        "--skip-cooldown",
        "--require-terms",
        "--data-dir",
        "--ban-secret",
        "--ban-reports",
        "--ban-length",
        "--ban-window",
        "--admin-token",
        "--in-memory",
        "--redis",
        "--node-id",
        "--redis-prefix",
        "--reuse-port",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert_eq!(help.matches("[env: STRANGERS_").count(), 44, "every flag has an env fallback:\n{help}");
}

#[test]
fn a_bad_flag_is_a_clear_error() {
    let out = Command::new(BIN).args(["--listen", "not-an-address"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

/// Run the binary with `args` and `env`, which must make it refuse to start; returns its stderr.
async fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    // Should a value be accepted after all, the server binds a free port rather than 8080.
    let dir = std::env::temp_dir().join(format!("strangers-refusal-{}", std::process::id()));
    cmd.env("STRANGERS_LISTEN", "127.0.0.1:0")
        .env("STRANGERS_DATA_DIR", &dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id().to_string();
    let waited =
        tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(|| child.wait_with_output()));
    let Ok(out) = waited.await else {
        let _ = Command::new("kill").arg(&pid).status();
        panic!("{args:?} {env:?} was accepted: the server started");
    };
    let out = out.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn zero_and_nonsense_values_are_refused_with_a_clear_message() {
    for (args, reason) in [
        (&["--outbound-frames", "0"][..], "must be at least 1, not 0"),
        (&["--max-connections", "0"], "must be at least 1, not 0"),
        (&["--rate-max-strikes", "0"], "must be at least 1, not 0"),
        (&["--idle-timeout", "0"], "must be longer than zero"),
        (&["--waiting-interval", "0ms"], "must be longer than zero"),
        (&["--ping-interval", "30s", "--idle-timeout", "30s"], "must be longer than --ping-interval"),
    ] {
        let stderr = refusal(args, &[]).await;
        assert!(stderr.contains(args[0]) && stderr.contains(reason), "{args:?}: {stderr}");
    }
    // The environment goes through the same checks.
    let stderr = refusal(&[], &[("STRANGERS_OUTBOUND_BYTES", "0")]).await;
    assert!(stderr.contains("--outbound-bytes") && stderr.contains("at least 1024"), "{stderr}");
}

/// Start the binary on a free port, connect one client, send `signal`, and check that the client
/// is closed with 1001 and the process exits cleanly within the grace.
async fn a_signal_closes_clients_with_1001_and_exits_cleanly(signal: &str) {
    let dir = std::env::temp_dir().join(format!("strangers-binary-{signal}-{}", std::process::id()));
    let mut child = Command::new(BIN)
        .env("STRANGERS_LISTEN", "127.0.0.1:0")
        .env("STRANGERS_DATA_DIR", &dir)
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
    ws.send(Message::text(r#"{"type":"hello","version":1}"#)).await.unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));

    let started = Instant::now();
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("{signal}: expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away), "{signal}");
    while let Some(Ok(_)) = ws.next().await {}
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{signal}: {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{signal}: took {:?}", started.elapsed());
    // The safety store was a real database file in the data directory, with its secret.
    assert!(dir.join("strangers.db").is_file() && dir.join("ban-secret").is_file(), "{signal}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_cleanly() {
    a_signal_closes_clients_with_1001_and_exits_cleanly("TERM").await;
}

#[tokio::test]
async fn sigint_closes_clients_with_1001_and_exits_cleanly() {
    a_signal_closes_clients_with_1001_and_exits_cleanly("INT").await;
}
