//! The cluster driver (`--redis`): carries out the core's [`ClusterOp`]s against Redis and feeds
//! what comes back to the hub. Redis holds the shared queue (sorted sets per mode, per interest
//! and of those open to anyone, scored by a place every node shares; `queue.lua` claims
//! atomically), and each node listens on a channel of its own for [`Remote`] messages about its
//! peers. Crate: `redis` (tokio, connection manager): it reconnects by itself, speaks RESP with
//! pipelining, and runs Lua scripts by hash.
//!
//! One task runs the operations in order, so a search and the stop that follows it reach Redis
//! in that order, and relayed frames leave in the order the core sent them.

mod beat;
mod local;
mod registry;
mod safety;

use beat::Beat;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use strangers_shared::{PeerId, Role};
use tokio::sync::mpsc;

use crate::core::cluster::{ClusterEvent, ClusterOp, Keys, Rejoin, Remote, Search};
use crate::hub::HubMsg;

pub use local::LocalRedis;

/// How often a node says it is alive and publishes its counts.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a node's liveness key lives without a beat: five beats, so that one slow round trip
/// does not make a live node look dead.
const ALIVE_TTL_SECS: u64 = 5;

/// Take a node number no running node holds: `wanted` (waiting up to a liveness period for a
/// previous run of it to expire), or the next free one. Its liveness key is the lease.
async fn claim_node(con: &mut ConnectionManager, prefix: &str, wanted: Option<u16>) -> anyhow::Result<u16> {
    let lease = |n: u16| {
        redis::cmd("SET").arg(format!("{prefix}:alive:{n}")).arg(0).arg("NX").arg("EX").arg(ALIVE_TTL_SECS).clone()
    };
    if let Some(n) = wanted {
        for _ in 0..(ALIVE_TTL_SECS * 4 + 4) {
            let got: Option<String> = lease(n).query_async(con).await?;
            if got.is_some() {
                return Ok(n);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::bail!("node id {n} is held by a running node of this cluster");
    }
    for _ in 0..u16::MAX {
        let seq: u64 = redis::cmd("INCR").arg(format!("{prefix}:node_seq")).query_async(con).await?;
        let n = ((seq - 1) % u64::from(u16::MAX)) as u16 + 1;
        let got: Option<String> = lease(n).query_async(con).await?;
        if got.is_some() {
            return Ok(n);
        }
    }
    anyhow::bail!("every node id of this cluster is in use")
}

/// How long one operation may take before Redis counts as unreachable for it.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Most messages published in one pipeline.
const MAX_BATCH: usize = 64;

/// A running cluster driver; see the module docs.
#[derive(Debug, Clone)]
pub struct Cluster {
    ops: mpsc::UnboundedSender<ClusterOp>,
    /// This node's number.
    pub node: u16,
    /// Operations that failed (Redis unreachable or refusing).
    pub failures: Arc<AtomicU64>,
    /// Whether Redis answered the last heartbeat.
    pub up: Arc<AtomicBool>,
    /// The cluster's ban secret (made by the first node), for nodes given none.
    pub ban_secret: Vec<u8>,
    /// The cluster's resume secret (made by the first node), for nodes given none, so that a
    /// token one node issued is honoured by any other.
    pub resume_secret: Vec<u8>,
}

/// Where a node's messages go.
fn channel(prefix: &str, node: u16) -> String {
    format!("{prefix}:node:{node}")
}

impl Cluster {
    /// Connect to Redis at `url` and take a node number (`node`, or the next free one).
    pub async fn connect(
        url: &str,
        prefix: &str,
        node: Option<u16>,
        report_ttl_ms: u64,
    ) -> anyhow::Result<(Cluster, Driver)> {
        // TCP_NODELAY: a relay published behind another must not wait for its acknowledgement
        // (Nagle), which showed in the across-node relay's tail latency.
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .with_context(|| format!("bad --redis URL {url}"))?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).with_context(|| format!("bad --redis URL {url}"))?;
        let mut con = client.get_connection_manager().await.with_context(|| format!("connecting to {url}"))?;
        let node = claim_node(&mut con, prefix, node).await?;
        let ban_secret = safety::secret(&mut con, prefix, "ban_secret").await?;
        let resume_secret = safety::secret(&mut con, prefix, "resume_secret").await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicU64::new(0));
        let up = Arc::new(AtomicBool::new(true));
        let prefix = prefix.to_owned();
        let secrets = vec![("ban_secret", ban_secret.clone()), ("resume_secret", resume_secret.clone())];
        let driver = Driver {
            client,
            con,
            prefix,
            node,
            rx,
            failures: failures.clone(),
            up: up.clone(),
            report_ttl_ms,
            secrets,
        };
        Ok((Cluster { ops: tx, node, failures, up, ban_secret, resume_secret }, driver))
    }

    /// Queue an operation; never blocks.
    pub fn submit(&self, op: ClusterOp) {
        let _ = self.ops.send(op);
    }
}

/// The tasks behind a [`Cluster`]; [`Driver::run`] starts them.
pub struct Driver {
    client: redis::Client,
    con: ConnectionManager,
    prefix: String,
    node: u16,
    rx: mpsc::UnboundedReceiver<ClusterOp>,
    failures: Arc<AtomicU64>,
    up: Arc<AtomicBool>,
    report_ttl_ms: u64,
    /// The cluster's shared secrets, by key name.
    secrets: Vec<(&'static str, Vec<u8>)>,
}

impl Driver {
    /// The bans and reports the cluster keeps, to load into a node that starts.
    pub async fn load_safety(&mut self, now_ms: u64) -> anyhow::Result<crate::core::safety::Snapshot> {
        safety::load(&mut self.con, &self.prefix, now_ms, self.report_ttl_ms).await
    }

    /// Run until the hub is gone: the operations, this node's channel and its heartbeat.
    pub async fn run(self, hub: mpsc::Sender<HubMsg>, online: Arc<AtomicU64>) {
        let Driver { client, con, prefix, node, rx, failures, up, report_ttl_ms, secrets } = self;
        // One task for all three, so that stopping it (or the hub going) stops them all.
        let channels = [channel(&prefix, node), safety::channel(&prefix)];
        let listen = listen(client, channels, node, report_ttl_ms, hub.clone());
        let beat =
            Beat { con: con.clone(), prefix: prefix.clone(), node, online, hub: hub.clone(), up: up.clone(), secrets };
        let beat = beat.run();
        let claim = redis::Script::new(CLAIM);
        let drop = redis::Script::new(UNSEARCH);
        let ops = Ops { con, prefix, node, hub, failures, claim, drop, report_ttl_ms, up };
        tokio::select! {
            () = ops.run(rx) => {}
            () = listen => {}
            () = beat => {}
        }
    }
}

const CLAIM: &str = include_str!("queue.lua");
const UNSEARCH: &str = include_str!("unsearch.lua");
const REAP: &str = include_str!("reap.lua");

struct Ops {
    con: ConnectionManager,
    prefix: String,
    node: u16,
    hub: mpsc::Sender<HubMsg>,
    failures: Arc<AtomicU64>,
    claim: redis::Script,
    drop: redis::Script,
    report_ttl_ms: u64,
    /// Whether Redis answered the last heartbeat.
    up: Arc<AtomicBool>,
}

impl Ops {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ClusterOp>) {
        let mut batch = Vec::new();
        while let Some(op) = rx.recv().await {
            // Redis is down: nothing waits on it. A search fails at once (the searcher is told),
            // the rest is dropped (what partners on other nodes would have got cannot reach them
            // anyway), so the queue drains instead of growing for as long as the outage lasts.
            if !self.up.load(Ordering::Relaxed) {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if let Some(failed) = failure_event(&op) {
                    let _ = self.hub.send(HubMsg::Cluster(failed)).await;
                }
                continue;
            }
            // Messages for other nodes waiting together go out in one pipeline: one round trip
            // for all of them, in order.
            if let ClusterOp::Send(msg) = op {
                batch.push(msg);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(ClusterOp::Send(msg)) => batch.push(msg),
                        Ok(other) => {
                            self.publish(&mut batch).await;
                            self.run_one(other).await;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                self.publish(&mut batch).await;
                continue;
            }
            self.run_one(op).await;
        }
    }

    /// Publish a batch of messages (ours go straight to our hub), in order.
    async fn publish(&mut self, batch: &mut Vec<Remote>) {
        if batch.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        let mut published = 0;
        for msg in batch.drain(..) {
            let node = msg.node();
            if node == self.node {
                let _ = self.hub.send(HubMsg::Remote(msg)).await;
                continue;
            }
            let Ok(payload) = serde_json::to_string(&msg) else { continue };
            pipe.cmd("PUBLISH").arg(channel(&self.prefix, node)).arg(payload).ignore();
            published += 1;
        }
        if published == 0 {
            return;
        }
        let sent = tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(&mut self.con)).await;
        if !matches!(sent, Ok(Ok(()))) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("publishing to other nodes failed");
        }
    }

    async fn run_one(&mut self, op: ClusterOp) {
        let failed = failure_event(&op);
        // An operation that asks and changes nothing twice over may be tried again once when
        // the connection was found broken (Redis restarted; the manager has reconnected since).
        let again = matches!(
            op,
            ClusterOp::Search(_) | ClusterOp::Unsearch { .. } | ClusterOp::Route(_) | ClusterOp::Claim { .. }
        )
        .then(|| op.clone());
        let mut done = tokio::time::timeout(OP_TIMEOUT, self.one(op)).await;
        if let (Ok(Err(e)), Some(op)) = (&done, again)
            && e.downcast_ref::<redis::RedisError>().is_some_and(|e| e.is_io_error() || e.is_connection_dropped())
        {
            tracing::debug!(error = %e, "the cluster's Redis connection broke; trying once more");
            done = tokio::time::timeout(OP_TIMEOUT, self.one(op)).await;
        }
        if let Err(e) = done.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out"))) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cluster operation failed");
            // A searcher the queue never saw (or a joiner) is told, rather than left waiting.
            if let Some(failed) = failed {
                let _ = self.hub.send(HubMsg::Cluster(failed)).await;
            }
        }
    }

    async fn one(&mut self, op: ClusterOp) -> anyhow::Result<()> {
        match op {
            ClusterOp::Search(search) => self.search(search).await,
            ClusterOp::Unsearch { peer } => {
                let _: i64 = self.drop.arg(&self.prefix).arg(peer.0).invoke_async(&mut self.con).await?;
                Ok(())
            }
            ClusterOp::Send(msg) => self.deliver(msg).await,
            ClusterOp::Share(op) => safety::share(&mut self.con, &self.prefix, self.node, op, self.report_ttl_ms).await,
            ClusterOp::Route(join) => {
                let (home, fresh) = registry::room(&mut self.con, &self.prefix, self.node, &join.room, "route").await?;
                self.deliver(Remote::Join { home, fresh, join }).await
            }
            ClusterOp::Claim { room } => {
                let (home, _) = registry::room(&mut self.con, &self.prefix, self.node, &room, "route").await?;
                if home != self.node {
                    tracing::warn!(%room, home, "a room homed here is homed on another node too");
                }
                Ok(())
            }
            ClusterOp::Resume(rejoin) => {
                let partner = registry::relocate(&mut self.con, &self.prefix, &rejoin).await?.or(rejoin.partner);
                let Some(to) = partner else { return Ok(()) };
                let Rejoin { peer, old, keys, .. } = rejoin;
                self.deliver(Remote::Resume { to, from: peer, old, keys }).await
            }
            ClusterOp::Unroute { room } => {
                registry::room(&mut self.con, &self.prefix, self.node, &room, "free").await.map(|_| ())
            }
        }
    }

    async fn search(&mut self, search: Search) -> anyhow::Result<()> {
        let Search { peer, mode, tags, open, exclude, keys } = search;
        let who = format!("p:{}\nk:{}", peer.0, keys.ident);
        let claimed: Option<Vec<String>> = self
            .claim
            .arg(&self.prefix)
            .arg(mode.as_str())
            .arg(peer.0)
            .arg(if open { "1" } else { "0" })
            .arg(serde_json::to_string(&keys)?)
            .arg(exclude.join("\n"))
            .arg(tags.join("\n"))
            .arg(self.node)
            .arg(who)
            .invoke_async(&mut self.con)
            .await?;
        let Some([partner, their_place, my_place, their_tags, their_keys]) =
            claimed.and_then(|v| <[String; 5]>::try_from(v).ok())
        else {
            return Ok(());
        };
        let partner = PeerId(partner.parse().context("partner id")?);
        let their_keys: Keys = serde_json::from_str(&their_keys).context("partner keys")?;
        let place = |s: &str| s.parse::<f64>().unwrap_or(f64::MAX);
        // Whoever waited longer (the smaller place) offers.
        let (mine, theirs) = if place(&their_place) <= place(&my_place) {
            (Role::Answerer, Role::Offerer)
        } else {
            (Role::Offerer, Role::Answerer)
        };
        let their_tags: Vec<&str> = their_tags.split('\n').collect();
        let common: Vec<String> = tags.iter().filter(|t| their_tags.contains(&t.as_str())).cloned().collect();
        let to_me =
            Remote::Matched { to: peer, from: partner, role: mine, mode, common: common.clone(), keys: their_keys };
        let to_them = Remote::Matched { to: partner, from: peer, role: theirs, mode, common, keys };
        // The partner's node first: if publishing fails, the searcher was told nothing and its
        // failed search is reported as such.
        self.deliver(to_them).await?;
        self.deliver(to_me).await
    }

    /// To our own hub, or published to the node the peer lives on.
    async fn deliver(&mut self, msg: Remote) -> anyhow::Result<()> {
        let node = msg.node();
        if node == self.node {
            let _ = self.hub.send(HubMsg::Remote(msg)).await;
            return Ok(());
        }
        let payload = serde_json::to_string(&msg)?;
        let _: i64 =
            redis::cmd("PUBLISH").arg(channel(&self.prefix, node)).arg(payload).query_async(&mut self.con).await?;
        Ok(())
    }
}

/// What the core is told when `op` cannot be carried out: a searcher or a joiner must not wait
/// for an answer that will never come.
fn failure_event(op: &ClusterOp) -> Option<ClusterEvent> {
    match op {
        ClusterOp::Search(s) => Some(ClusterEvent::SearchFailed(s.peer)),
        ClusterOp::Route(j) if j.hops == 0 => Some(ClusterEvent::JoinFailed(j.peer)),
        _ => None,
    }
}

/// This node's channel (every message for one of its peers, in the order it was published)
/// and the cluster's safety channel.
async fn listen(client: redis::Client, channels: [String; 2], node: u16, ttl: u64, hub: mpsc::Sender<HubMsg>) {
    let mut first = true;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channels).await {
                    tracing::warn!(error = %e, "cluster subscribe failed");
                } else {
                    // Subscribed again after a break: what was published meanwhile is lost, so
                    // every searcher here searches again (their places are kept).
                    if !std::mem::take(&mut first) && hub.send(HubMsg::Cluster(ClusterEvent::Back)).await.is_err() {
                        return;
                    }
                    // What was shared before we listened (a node starting, or listening again) is
                    // read back: bans and blocks, which loading twice does not change.
                    if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                        let now = unix_secs().saturating_mul(1000);
                        if let Ok(mut kept) =
                            safety::load(&mut con, &channels[1].replace(":safety", ""), now, ttl).await
                        {
                            kept.reports.clear();
                            if hub.send(HubMsg::SafetyKept(kept)).await.is_err() {
                                return;
                            }
                        }
                    }
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        let to_hub = if msg.get_channel_name() == channels[1] {
                            match serde_json::from_str::<safety::Shared>(&payload) {
                                Ok(shared) if shared.node != node => Some(HubMsg::Safety(shared.op)),
                                Ok(_) => None,
                                Err(e) => {
                                    tracing::warn!(error = %e, "bad message on the safety channel");
                                    None
                                }
                            }
                        } else {
                            match serde_json::from_str::<Remote>(&payload) {
                                Ok(remote) => Some(HubMsg::Remote(remote)),
                                Err(e) => {
                                    tracing::warn!(error = %e, "bad message on the cluster channel");
                                    None
                                }
                            }
                        };
                        if let Some(m) = to_hub
                            && hub.send(m).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster channel unreachable"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) fn unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
