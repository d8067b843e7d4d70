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
    /// The secrets the cluster shares, by key name, put back if Redis lost them.
    pub(super) secrets: Vec<(&'static str, Vec<u8>)>,
}

/// How many beats between two prunings of the blocks and bans kept in Redis (10 min).
const PRUNE_EVERY: u64 = 600;

impl Beat {
    pub(super) async fn run(mut self) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        let mut dead = HashSet::new();
        let mut failed_at: Option<std::time::Instant> = None;
        let mut run_id: Option<String> = None;
        let mut beats: u64 = 0;
        loop {
            tick.tick().await;
            beats += 1;
            // After our own beats failed, others' keys may have expired for the same reason:
            // judge nobody dead until a whole liveness period of good beats has passed.
            let judge = failed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(ALIVE_TTL_SECS + 1));
            let beat = tokio::time::timeout(OP_TIMEOUT, self.beat(&mut dead, judge)).await;
            let beat = beat
                .unwrap_or_else(|_| Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))));
            match beat {
                Ok((msgs, id)) => {
                    // Up first: what the news below makes the core ask must find Redis usable.
                    let was_down = !self.up.swap(true, Ordering::Relaxed);
                    // Another Redis process than before: a restart, however short, lost the
                    // queue, the registries and what safety kept. The nodes put them back.
                    let restarted = run_id.as_ref().is_some_and(|old| *old != id);
                    run_id = Some(id);
                    let news = if restarted {
                        tracing::warn!("the cluster's Redis restarted; putting back what it lost");
                        self.put_back_secrets().await;
                        Some(ClusterEvent::Reset)
                    } else if was_down {
                        tracing::info!("the cluster's Redis is back");
                        Some(ClusterEvent::Back)
                    } else {
                        None
                    };
                    if let Some(news) = news
                        && self.hub.send(HubMsg::Cluster(news)).await.is_err()
                    {
                        return;
                    }
                    if beats % PRUNE_EVERY == PRUNE_EVERY / 2 {
                        let now = unix_secs().saturating_mul(1000);
                        match super::safety::prune(&mut self.con, &self.prefix, now).await {
                            Ok(n) => tracing::debug!(pruned = n, "expired blocks and bans left Redis"),
                            Err(e) => tracing::warn!(error = %e, "pruning expired blocks and bans failed"),
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

    async fn put_back_secrets(&mut self) {
        for (name, secret) in &self.secrets {
            let value = String::from_utf8_lossy(secret).into_owned();
            let set = redis::cmd("SET").arg(format!("{}:{name}", self.prefix)).arg(value).arg("NX").clone();
            if let Err(e) = set.query_async::<Option<String>>(&mut self.con).await {
                tracing::warn!(error = %e, "putting the cluster's secrets back failed");
            }
        }
    }

    /// One beat; returns what to tell the hub, and the Redis process's run id.
    async fn beat(&mut self, dead: &mut HashSet<u16>, judge: bool) -> redis::RedisResult<(Vec<HubMsg>, String)> {
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
        pipe.cmd("INFO").arg("server");
        let (online, video, text, nodes, info): (Vec<String>, u64, u64, Vec<u16>, String) =
            pipe.query_async(&mut self.con).await?;
        let run_id = info.lines().find_map(|l| l.strip_prefix("run_id:")).unwrap_or("").trim().to_owned();
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
        Ok((msgs, run_id))
    }

    /// Take a dead node's searchers out of the shared queue (one script: atomic, and a no-op if
    /// another node did it first or the node is back).
    async fn reap(&mut self, n: u16) -> redis::RedisResult<()> {
        let reaped: i64 = redis::Script::new(REAP).arg(&self.prefix).arg(n).invoke_async(&mut self.con).await?;
        tracing::info!(node = n, searchers = reaped, "a dead node's searchers left the queue");
        Ok(())
    }
}
