//! `loadgen`: a load generator for the plain room protocol (to compare signal servers) and for
//! random matching in the full protocol (`--protocol random`), on one server or spread over the
//! nodes of a cluster (`--url` repeated: session k puts its two sides on nodes k mod n and k/n
//! mod n, so (n-1)/n of the sessions cross nodes).
//!
//! - `closed`: C workers run sessions back to back → sessions/s.
//! - `open`: sessions start at a fixed rate whatever happens → relay-hop and session latency.
//! - `idle`: N connections each alone in a room → server memory per idle connection.
//!
//! With `--server-pid` it reads the server's CPU time and memory from `/proc`. It prints a summary
//! and a final `JSON {...}` line.

mod proc_stats;
mod random;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::sync::Mutex;

use proc_stats::{cpu_ms, percentile, rss_kib};

/// Load generator for the plain `ws` room signaling protocol.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about)]
struct Args {
    /// WebSocket URL of the server under test (repeat for the nodes of a cluster).
    #[arg(long, default_value = "ws://127.0.0.1:8080/")]
    url: Vec<String>,
    /// PID of the server, to read its CPU time and memory from /proc (repeat for every node:
    /// CPU is summed).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// PID of the cluster's Redis, to report its CPU per session apart.
    #[arg(long)]
    redis_pid: Option<u32>,
    /// `room`: the plain room protocol (join → ready), one node per session; `random`: hello,
    /// find with an interest only the two share, matched, possibly across nodes.
    #[arg(long, default_value = "room")]
    protocol: String,
    /// Name of the server in the output.
    #[arg(long, default_value = "server")]
    label: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Closed loop: `concurrency` workers run sessions back to back.
    Closed {
        /// Concurrent sessions.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Open loop: start `rate` sessions per second regardless of completions.
    Open {
        /// Sessions started per second.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Seconds to run.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Most sessions in flight; starts beyond it are counted as dropped.
        #[arg(long, default_value_t = 4000)]
        max_in_flight: u64,
    },
    /// Idle memory: `connections` sockets, each alone in its own room.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
}

#[derive(Default)]
struct Totals {
    ok: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Sessions whose two sides were on different nodes.
    cross: AtomicU64,
    hops: Mutex<Vec<u64>>,
    /// Hops of sessions across nodes (also in `hops`).
    cross_hops: Mutex<Vec<u64>>,
    /// Hops of sessions on one node (also in `hops`).
    same_hops: Mutex<Vec<u64>>,
    totals: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    async fn record(&self, (result, cross): (Result<session::Outcome, String>, bool)) {
        match result {
            Ok(o) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                if cross {
                    self.cross.fetch_add(1, Ordering::Relaxed);
                    self.cross_hops.lock().await.extend(o.hops_ns.iter().copied());
                } else {
                    self.same_hops.lock().await.extend(o.hops_ns.iter().copied());
                }
                self.hops.lock().await.extend(o.hops_ns);
                self.totals.lock().await.push(o.total_ns);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_error.lock().await.get_or_insert(e);
            }
        }
    }
}

static ROOM: AtomicU64 = AtomicU64::new(0);

fn room_name() -> String {
    format!("bench-{}-{}", std::process::id(), ROOM.fetch_add(1, Ordering::Relaxed))
}

/// One session of `protocol` over `urls`; returns its outcome and whether it crossed nodes.
async fn one(protocol: &str, urls: &[String], sdp: &str, base: Instant) -> (Result<session::Outcome, String>, bool) {
    let k = ROOM.fetch_add(1, Ordering::Relaxed) as usize;
    let n = urls.len().max(1);
    let (a, b) = (k % n, (k / n) % n);
    let name = format!("s{}x{k}", std::process::id());
    match protocol {
        "random" => (random::run(&urls[a], &urls[b], &name, sdp, base).await, a != b),
        _ => (session::run(&urls[a], &name, sdp, base).await, false),
    }
}

fn cpu_sum(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|p| cpu_ms(*p)).sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sdp: Arc<str> = Arc::from(session::fake_sdp());
    let base = Instant::now();
    let totals = Arc::new(Totals::default());
    let server_cpu0 = cpu_sum(&args.server_pid);
    let redis_cpu0 = args.redis_pid.and_then(cpu_ms);
    let own_cpu0 = cpu_ms(std::process::id());
    let started = Instant::now();
    let mut extra = json!({});
    match args.mode {
        Mode::Closed { concurrency, duration } => {
            let end = Instant::now() + Duration::from_secs_f64(duration);
            let mut workers = Vec::new();
            for _ in 0..concurrency.max(1) {
                let (urls, sdp, totals, proto) = (args.url.clone(), sdp.clone(), totals.clone(), args.protocol.clone());
                workers.push(tokio::spawn(async move {
                    while Instant::now() < end {
                        totals.record(one(&proto, &urls, &sdp, base).await).await;
                    }
                }));
            }
            for w in workers {
                let _ = w.await;
            }
        }
        Mode::Open { rate, duration, max_in_flight } => {
            let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
            let count = (rate * duration).round() as u64;
            let in_flight = Arc::new(AtomicU64::new(0));
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = Vec::new();
            for _ in 0..count {
                tick.tick().await;
                if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    totals.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                in_flight.fetch_add(1, Ordering::Relaxed);
                let (urls, sdp, totals, in_flight) = (args.url.clone(), sdp.clone(), totals.clone(), in_flight.clone());
                let proto = args.protocol.clone();
                tasks.push(tokio::spawn(async move {
                    totals.record(one(&proto, &urls, &sdp, base).await).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            extra = json!({"rate": rate});
        }
        Mode::Idle { connections } => {
            let pid = *args.server_pid.first().ok_or_else(|| anyhow::anyhow!("idle needs --server-pid"))?;
            let before = rss_kib(pid).ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/status"))?;
            let mut sockets = Vec::with_capacity(connections);
            let mut failed = 0u64;
            for chunk in 0..connections.div_ceil(200) {
                let n = (connections - chunk * 200).min(200);
                let batch: Vec<_> = (0..n)
                    .map(|_| {
                        let (url, room) = (args.url[0].clone(), room_name());
                        async move { session::idle(&url, &room).await }
                    })
                    .collect();
                for r in futures_util::future::join_all(batch).await {
                    match r {
                        Ok(ws) => sockets.push(ws),
                        Err(_) => failed += 1,
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = rss_kib(pid).unwrap_or(before);
            let per_conn = (after.saturating_sub(before) as f64 * 1024.0) / sockets.len().max(1) as f64;
            println!(
                "{}: {} idle connections, RSS {before} → {after} KiB, {per_conn:.0} bytes per connection",
                args.label,
                sockets.len()
            );
            extra = json!({"connections": sockets.len(), "failed": failed, "rss_before_kib": before, "rss_after_kib": after, "bytes_per_connection": per_conn});
            drop(sockets);
            println!("JSON {}", json!({"label": args.label, "mode": "idle", "result": extra}));
            return Ok(());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = totals.ok.load(Ordering::Relaxed);
    let failed = totals.failed.load(Ordering::Relaxed);
    let dropped = totals.dropped.load(Ordering::Relaxed);
    let hops = totals.hops.lock().await.clone();
    let cross_hops = totals.cross_hops.lock().await.clone();
    let same_hops = totals.same_hops.lock().await.clone();
    let cross = totals.cross.load(Ordering::Relaxed);
    let whole = totals.totals.lock().await.clone();
    let us = |v: &[u64], p: f64| percentile(v, p).map(|ns| ns as f64 / 1000.0);
    let server_cpu = server_cpu0.zip(cpu_sum(&args.server_pid)).map(|(a, b)| b.saturating_sub(a));
    let redis_cpu = redis_cpu0.zip(args.redis_pid.and_then(cpu_ms)).map(|(a, b)| b.saturating_sub(a));
    let own_cpu = own_cpu0.zip(cpu_ms(std::process::id())).map(|(a, b)| b.saturating_sub(a));
    let per = |ms: Option<u64>| ms.map(|m| m as f64 / ok.max(1) as f64);
    let result = json!({
        "sessions": ok, "failed": failed, "dropped": dropped, "seconds": elapsed,
        "sessions_per_sec": ok as f64 / elapsed.max(0.001),
        "hop_us": {"p50": us(&hops, 50.0), "p99": us(&hops, 99.0), "n": hops.len()},
        "cross_share": cross as f64 / ok.max(1) as f64,
        "cross_hop_us": {"p50": us(&cross_hops, 50.0), "p99": us(&cross_hops, 99.0), "n": cross_hops.len()},
        "same_hop_us": {"p50": us(&same_hops, 50.0), "p99": us(&same_hops, 99.0), "n": same_hops.len()},
        "redis_cpu_ms_per_session": per(redis_cpu),
        "session_us": {"p50": us(&whole, 50.0), "p99": us(&whole, 99.0)},
        "server_cpu_ms_per_session": per(server_cpu),
        "loadgen_cpu_ms_per_session": per(own_cpu),
        "mode": extra,
    });
    println!(
        "{}: {ok} sessions ({failed} failed, {dropped} dropped) in {elapsed:.1} s = {:.0}/s; hop p50 {:?} µs p99 {:?} µs; session p50 {:?} µs; server CPU {:?} ms/session; loadgen CPU {:?} ms/session",
        args.label,
        ok as f64 / elapsed.max(0.001),
        us(&hops, 50.0).map(|x| x.round()),
        us(&hops, 99.0).map(|x| x.round()),
        us(&whole, 50.0).map(|x| x.round()),
        per(server_cpu),
        per(own_cpu),
    );
    if let Some(e) = totals.first_error.lock().await.as_ref() {
        println!("first failure: {e}");
    }
    println!("JSON {}", json!({"label": args.label, "result": result}));
    Ok(())
}
