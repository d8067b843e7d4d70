//! HTTP endpoints, metrics, graceful shutdown and TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, http_get, matched_pair, metric, server, server_with};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn healthz_and_unknown_paths() {
    let srv = server().await;
    assert_eq!(http_get(&srv, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(http_get(&srv, "/nope").await.0, 404);
    assert_eq!(http_get(&srv, "/").await.0, 426, "a plain GET on the WebSocket endpoint");
}

#[tokio::test]
async fn metrics_report_connections_queues_pairs_rooms_matches_and_waits() {
    let srv = server().await;
    let (mut a, _b) = matched_pair(&srv).await;
    let mut c = Client::connect(&srv).await;
    c.send(r#"{"type":"find","mode":"text"}"#).await;
    c.expect("waiting").await;
    let mut r = Client::connect(&srv).await;
    r.send(r#"{"type":"join","room":"x"}"#).await;
    a.send(r#"{"type":"chat","text":"hi"}"#).await;
    a.send(r#"{"type":"bogus"}"#).await;
    a.expect_error("unknown_type").await;
    r.nothing_pending().await;

    let (_, body) = http_get(&srv, "/metrics").await;
    for line in [
        "strangers_connections 4",
        "strangers_queue_depth{mode=\"video\"} 0",
        "strangers_queue_depth{mode=\"text\"} 1",
        "strangers_pairs 1",
        "strangers_rooms 1",
        "strangers_matches_total 1",
        "strangers_match_wait_seconds_count 2",
        "strangers_match_wait_seconds_bucket{le=\"+Inf\"} 2",
        "strangers_messages_relayed_total 1",
        "strangers_errors_total{code=\"unknown_type\"} 2",
        "strangers_disconnects_total{cause=\"slow_reader\"} 0",
        "# TYPE strangers_match_wait_seconds histogram",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in\n{body}");
    }
}

#[tokio::test]
async fn shutdown_sends_1001_to_everyone_and_finishes_within_the_grace() {
    let srv = server().await;
    let (mut a, mut b) = matched_pair(&srv).await;
    let mut idle = Client::connect(&srv).await;
    let addr = srv.addr();
    let started = Instant::now();
    let stopping = tokio::spawn(srv.shutdown());
    for c in [&mut a, &mut b, &mut idle] {
        let frame = c.closed().await.expect("close frame");
        assert_eq!(frame.code, CloseCode::Away);
    }
    stopping.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_client_that_never_answers() {
    let srv = server_with(|c| c.shutdown_grace = Duration::from_millis(500)).await;
    // This client never reads, so it never completes the close handshake.
    let _mute = Client::connect_raw(&srv).await;
    let started = Instant::now();
    srv.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn after_shutdown_no_socket_is_left_open_even_for_a_client_that_never_answers() {
    let srv = server_with(|c| c.shutdown_grace = Duration::from_millis(300)).await;
    // Never reads during the shutdown, so the server waits in vain for its half of the close.
    let mute = Client::connect_raw(&srv).await;
    srv.shutdown().await.unwrap();
    // The server's end is closed already: what it wrote (the 1001 close) is still
    // readable, then the stream ends. Without the abort it would stay open for the whole close
    // timeout (3 s).
    let mut tcp = mute.ws.into_inner();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket was still open 1 s after shutdown returned");
}

#[tokio::test]
async fn wss_works_with_a_certificate_and_key() {
    // The crate's directory when the test runs (cargo sets it), not when it was compiled: a
    // build shared between checkouts would otherwise look in another checkout.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let data = format!("{dir}/tests/data");
    let srv = server_with(|c| {
        c.tls_cert = Some(format!("{data}/cert.pem").into());
        c.tls_key = Some(format!("{data}/key.pem").into());
    })
    .await;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(format!("{data}/cert.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    let tls =
        TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let url = format!("wss://localhost:{}/", srv.addr().port());
    let (ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    let mut c = Client { ws, id: 0 };
    c.send(common::HELLO).await;
    assert_eq!(c.expect("welcome").await["version"], 1);
    c.send(r#"{"type":"find","mode":"video"}"#).await;
    c.expect("waiting").await;
    // A plain-text client cannot speak to a TLS port.
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/", srv.addr())).await.is_err());
}

#[tokio::test]
async fn other_methods_get_405_and_open_no_connection() {
    let srv = server().await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"BREW /pot HTTP/1.1\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    assert_eq!(metric(&srv, "strangers_connections_total").await, 0.0);
}

/// A client that closes gets its close frame echoed and then the end of the stream, and nothing
/// else: the echo and the FIN go out together (the socket is corked first), and neither is lost.
#[tokio::test]
async fn a_client_close_is_echoed_then_the_stream_ends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = server().await;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr()).await.unwrap();
    let head = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "the 101 head is complete");
        response.push(byte[0]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
    // Close with 1000 "bye", masked as a client must.
    let payload = [0x03, 0xe8, b'b', b'y', b'e'];
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x88, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&frame).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(rest, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'], "the echo, unmasked, then the end");
    assert_eq!(metric(&srv, "strangers_connections").await, 0.0);
}
