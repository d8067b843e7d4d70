//! The heartbeat of a node: liveness, counts, and noticing dead nodes and Redis outages.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use strangers_shared::Mode;
use tokio::sync::mpsc;

use super::{ALIVE_TTL_SECS, HEARTBEAT, OP_TIMEOUT, REAP, unix_secs};
use crate::core::cluster::ClusterEvent;
use crate::hub::HubMsg;

/// The heartbeat: say this node is alive, publish its online count, read the cluster's counts,
/// notice nodes that stopped beating, and notice Redis going and coming back.
pub(super) struct Beat {
    pub(super) con: ConnectionManager,
    pub(super) prefix: String,
    pub(super) node: u16,
    pub(super) online: Arc<AtomicU64>,
    pub(super) hub: mpsc::Sender<HubMsg>,
    pub(super) up: Arc<AtomicBool>,
}

impl Beat {
    pub(super) async fn run(mut self) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        let mut dead = HashSet::new();
        let mut failed_at: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            // After our own beats failed, others' keys may have expired for the same reason:
            // judge nobody dead until a whole liveness period of good beats has passed.
            let judge = failed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(ALIVE_TTL_SECS + 1));
            let beat = tokio::time::timeout(OP_TIMEOUT, self.beat(&mut dead, judge)).await;
            let beat = beat
                .unwrap_or_else(|_| Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))));
            match beat {
                Ok(msgs) => {
                    if !self.up.swap(true, Ordering::Relaxed) {
                        tracing::info!("the cluster's Redis is back");
                        if self.hub.send(HubMsg::Cluster(ClusterEvent::Back)).await.is_err() {
                            return;
                        }
                    }
                    for msg in msgs {
                        if self.hub.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    failed_at = Some(std::time::Instant::now());
                    if self.up.swap(false, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "the cluster's Redis is unreachable; no new matches until it is back");
                    }
                }
            }
        }
    }

    /// One beat; returns what to tell the hub.
    async fn beat(&mut self, dead: &mut HashSet<u16>, judge: bool) -> redis::RedisResult<Vec<HubMsg>> {
        let (p, node) = (self.prefix.clone(), self.node);
        let mine = self.online.load(Ordering::Relaxed);
        let now = unix_secs();
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(format!("{p}:alive:{node}")).arg(mine).arg("EX").arg(ALIVE_TTL_SECS).ignore();
        pipe.cmd("SADD").arg(format!("{p}:nodes")).arg(node).ignore();
        // "count stamp": a node that stopped beating stops counting after a few seconds.
        pipe.cmd("HSET").arg(format!("{p}:online")).arg(node).arg(format!("{mine} {now}")).ignore();
        pipe.cmd("HVALS").arg(format!("{p}:online"));
        for mode in Mode::ALL {
            pipe.cmd("ZCARD").arg(format!("{p}:q:{}:all", mode.as_str()));
        }
        pipe.cmd("SMEMBERS").arg(format!("{p}:nodes"));
        let (online, video, text, nodes): (Vec<String>, u64, u64, Vec<u16>) = pipe.query_async(&mut self.con).await?;
        let fresh = |v: &String| {
            let (count, stamp) = v.split_once(' ')?;
            let stamp: u64 = stamp.parse().ok()?;
            (now.saturating_sub(stamp) <= 3).then(|| count.parse::<u64>().ok()).flatten()
        };
        let mut msgs =
            vec![HubMsg::ClusterCounts { online: online.iter().filter_map(fresh).sum(), searching: [video, text] }];
        let others: Vec<u16> = if judge { nodes.into_iter().filter(|n| *n != node).collect() } else { Vec::new() };
        let mut pipe = redis::pipe();
        for n in &others {
            pipe.cmd("EXISTS").arg(format!("{p}:alive:{n}"));
        }
        let alive: Vec<bool> = if others.is_empty() { Vec::new() } else { pipe.query_async(&mut self.con).await? };
        for (n, alive) in others.into_iter().zip(alive) {
            if alive {
                dead.remove(&n);
            } else if dead.insert(n) {
                tracing::warn!(node = n, "a node stopped beating; its pairs are over");
                msgs.push(HubMsg::Cluster(ClusterEvent::NodeDown(n)));
                self.reap(n).await?;
            }
        }
        Ok(msgs)
    }

    /// Take a dead node's searchers out of the shared queue (one script: atomic, and a no-op if
    /// another node did it first or the node is back).
    async fn reap(&mut self, n: u16) -> redis::RedisResult<()> {
        let reaped: i64 = redis::Script::new(REAP).arg(&self.prefix).arg(n).invoke_async(&mut self.con).await?;
        tracing::info!(node = n, searchers = reaped, "a dead node's searchers left the queue");
        Ok(())
    }
}
