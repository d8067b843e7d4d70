//! Helpers for the cluster tests: a real Redis, nodes in process or as processes, and waiting
//! on the shared queue.

use std::time::Duration;

use serde_json::Value;
use signal_server::ServerHandle;
use signal_server::cluster::LocalRedis;

use super::Client;

/// A real Redis on a free port, stopped when dropped.
pub struct Redis {
    pub server: LocalRedis,
    pub url: String,
}

impl Redis {
    pub fn start() -> Redis {
        let server = LocalRedis::start().expect("redis-server starts");
        Redis { url: server.url(), server }
    }
}

pub async fn node(redis: &Redis) -> ServerHandle {
    let url = redis.url.clone();
    super::server_with(move |cfg| {
        cfg.cluster.redis = Some(url);
        cfg.rematch_cooldown = Duration::ZERO;
    })
    .await
}

/// Wait until `n` searchers are in the shared queue of `mode` (a search reaches Redis a moment
/// after its `waiting`).
pub async fn queued(redis: &Redis, mode: &str, n: u64) {
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

pub async fn until<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(c: &mut Client<S>, ty: &str) -> Value {
    loop {
        let v = c.recv().await;
        if v["type"] == ty {
            return v;
        }
    }
}

/// A node as its own process (so it can be killed with SIGKILL), on a free port.
pub struct NodeProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl NodeProcess {
    pub fn start(redis: &Redis) -> NodeProcess {
        Self::start_resuming(redis, "0")
    }

    /// A node that keeps calls for `window` for a resume (`"0"`: it does not).
    pub fn start_resuming(redis: &Redis, window: &str) -> NodeProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_signal-server"))
            .env("STRANGERS_LISTEN", "127.0.0.1:0")
            .env("STRANGERS_REDIS", &redis.url)
            .env("STRANGERS_IN_MEMORY", "true")
            .env("STRANGERS_RESUME_WINDOW", window)
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

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn connect_url(url: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = Client { ws, id: 0 };
    c.send(super::HELLO).await;
    c.id = c.expect("welcome").await["peer_id"].as_u64().unwrap();
    c
}

/// A client that never says hello (the plain `ws` room protocol).
pub async fn connect_url_raw(url: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    Client { ws, id: 0 }
}

/// Match `x` (searching first, so it offers) with `y` in `mode`; returns x's `matched`.
pub async fn match_across(redis: &Redis, x: &mut Client, y: &mut Client, mode: &str) -> Value {
    x.send(&format!(r#"{{"type":"find","mode":"{mode}"}}"#)).await;
    x.expect("waiting").await;
    queued(redis, mode, 1).await;
    y.send(&format!(r#"{{"type":"find","mode":"{mode}"}}"#)).await;
    until(y, "matched").await;
    until(x, "matched").await
}
