//! Test helpers: a real server on 127.0.0.1:0 and a small real WebSocket client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod cluster;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use signal_server::{Config, ServerHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Long enough for a slow CI machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(10);

/// What a client of the full protocol sends first; the server answers with `welcome`.
pub const HELLO: &str = r#"{"type":"hello","version":1}"#;

/// A local server. Resumption is off (a window of zero), so a dropped connection ends its call
/// at once, as these tests expect; `tests/resume.rs` turns it on.
pub fn config() -> Config {
    let mut cfg = Config::local("127.0.0.1:0".parse().unwrap());
    cfg.resume_window = Duration::ZERO;
    cfg
}

pub async fn server() -> ServerHandle {
    server_with(|_| {}).await
}

pub async fn server_with(tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut cfg = config();
    tweak(&mut cfg);
    signal_server::start(cfg).await.expect("server starts")
}

pub struct Client<S = MaybeTlsStream<TcpStream>> {
    pub ws: WebSocketStream<S>,
    pub id: u64,
}

impl Client<MaybeTlsStream<TcpStream>> {
    /// Connect, say hello and swallow the welcome (its peer id is kept).
    pub async fn connect(srv: &ServerHandle) -> Self {
        let mut c = Self::connect_raw(srv).await;
        c.send(HELLO).await;
        let welcome = c.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c.id = welcome["peer_id"].as_u64().unwrap();
        c
    }

    /// Connect without reading anything.
    pub async fn connect_raw(srv: &ServerHandle) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(srv.url()).await.expect("connects");
        Self { ws, id: 0 }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send(&v.to_string()).await;
    }

    /// The next data message as JSON (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text}: {e}"))
    }

    pub async fn recv_text(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for a message");
            match msg {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next message, which must have this `type`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        let v = self.recv().await;
        assert_eq!(v["type"], ty, "expected {ty}, got {v}");
        v
    }

    /// The next message, which must be an error with this code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.expect("error").await;
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        v
    }

    /// Read until the server closes; returns its close frame (None if the TCP stream just ended).
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("timed out waiting for close") {
                Some(Ok(Message::Close(frame))) => {
                    // Keep reading so our half of the close handshake is sent.
                    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
                    return frame;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Prove that nothing else is queued for this client: a probe's reply must come next.
    pub async fn nothing_pending(&mut self) {
        self.send(r#"{"type":"probe-nothing-pending"}"#).await;
        let v = self.recv().await;
        assert_eq!(v["code"], "unknown_type", "something was pending: {v}");
    }
}

/// Two clients matched with each other in video mode; returns (offerer, answerer).
pub async fn matched_pair(srv: &ServerHandle) -> (Client, Client) {
    let (a, b, _, _) = matched_pair_with_messages(srv).await;
    (a, b)
}

/// [`matched_pair`], with the `matched` message each received.
pub async fn matched_pair_with_messages(srv: &ServerHandle) -> (Client, Client, Value, Value) {
    let mut a = Client::connect(srv).await;
    let mut b = Client::connect(srv).await;
    a.send(r#"{"type":"find","mode":"video"}"#).await;
    a.expect("waiting").await;
    b.send(r#"{"type":"find","mode":"video"}"#).await;
    b.expect("waiting").await;
    let (ma, mb) = (a.expect("matched").await, b.expect("matched").await);
    assert_eq!((ma["role"].as_str(), mb["role"].as_str()), (Some("offerer"), Some("answerer")));
    (a, b, ma, mb)
}

/// A plain HTTP GET on the server's port; returns (status, body).
pub async fn http_get(srv: &ServerHandle, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut buf)).await.unwrap().unwrap();
    parse_response(&buf)
}

pub fn parse_response(buf: &str) -> (u16, String) {
    let status = buf.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of one metric line (exact name with labels) from `/metrics`.
pub async fn metric(srv: &ServerHandle, name: &str) -> f64 {
    let (status, body) = http_get(srv, "/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// A client whose socket comes from `ip` (any 127.x.y.z works on Linux's loopback, so each
/// 127.0.X.1 is a network of its own), with install id `install` and the terms `terms` in its
/// hello; its welcome is read.
pub async fn connect_from(srv: &ServerHandle, ip: &str, install: u64, terms: Option<&str>) -> Client<TcpStream> {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
    let tcp = socket.connect(srv.addr()).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(srv.url(), tcp).await.unwrap();
    let mut c = Client { ws, id: 0 };
    let hello = serde_json::json!({"type":"hello","version":1,"install":format!("{install:032x}"),"terms":terms});
    c.send(&hello.to_string()).await;
    c.id = c.expect("welcome").await["peer_id"].as_u64().unwrap();
    c
}
