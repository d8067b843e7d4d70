//! Safety shared by the nodes (see `core/shared_safety.rs`): what one node shares is published
//! on the cluster's safety channel for the others and kept in Redis (bans in a hash by key,
//! reports in a sorted set by time, trimmed to their retention) for nodes that start later. The
//! ban secret is shared too, so that every node makes the same keys.

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::core::safety::{Ban, BlockRow, Report, Snapshot, StoreOp};

/// Where nodes share safety.
pub(super) fn channel(prefix: &str) -> String {
    format!("{prefix}:safety")
}

/// A shared operation and the node it came from (a node ignores its own).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Shared {
    pub(super) node: u16,
    pub(super) op: StoreOp,
}

/// Publish `op` and keep it.
pub(super) async fn share(
    con: &mut ConnectionManager,
    prefix: &str,
    node: u16,
    op: StoreOp,
    report_ttl_ms: u64,
) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    match &op {
        StoreOp::Ban(ban) => {
            pipe.cmd("HSET")
                .arg(format!("{prefix}:bans"))
                .arg(ban.key.to_string())
                .arg(serde_json::to_string(ban)?)
                .ignore();
        }
        StoreOp::Report(report) => {
            let reports = format!("{prefix}:reports");
            pipe.cmd("ZADD").arg(&reports).arg(report.at).arg(serde_json::to_string(report)?).ignore();
            let stale = report.at.saturating_sub(report_ttl_ms);
            pipe.cmd("ZREMRANGEBYSCORE").arg(&reports).arg("-inf").arg(format!("({stale}")).ignore();
        }
        StoreOp::Block(row) => {
            let field = format!("{}:{}", row.a, row.b);
            pipe.cmd("HSET").arg(format!("{prefix}:blocks")).arg(field).arg(serde_json::to_string(row)?).ignore();
        }
    }
    pipe.cmd("PUBLISH").arg(channel(prefix)).arg(serde_json::to_string(&Shared { node, op })?).ignore();
    pipe.query_async::<()>(con).await?;
    Ok(())
}

/// What the cluster keeps, for a node that starts: bans still remembered, reports within
/// their retention.
pub(super) async fn load<C: redis::aio::ConnectionLike + Send>(
    con: &mut C,
    prefix: &str,
    now_ms: u64,
    report_ttl_ms: u64,
) -> anyhow::Result<Snapshot> {
    let bans: Vec<String> = redis::cmd("HVALS").arg(format!("{prefix}:bans")).query_async(con).await?;
    let blocks: Vec<String> = redis::cmd("HVALS").arg(format!("{prefix}:blocks")).query_async(con).await?;
    let since = now_ms.saturating_sub(report_ttl_ms);
    let reports: Vec<String> =
        redis::cmd("ZRANGEBYSCORE").arg(format!("{prefix}:reports")).arg(since).arg("+inf").query_async(con).await?;
    Ok(Snapshot {
        blocks: blocks
            .iter()
            .filter_map(|b| serde_json::from_str::<BlockRow>(b).ok())
            .filter(|b| b.expires > now_ms)
            .collect(),
        bans: bans
            .iter()
            .filter_map(|b| serde_json::from_str::<Ban>(b).ok())
            .filter(|b| b.forget_at > now_ms)
            .collect(),
        reports: reports.iter().filter_map(|r| serde_json::from_str::<Report>(r).ok()).collect(),
    })
}

/// A secret the whole cluster shares (`ban_secret`, `resume_secret`): the first node to start
/// makes it.
pub(super) async fn secret(con: &mut ConnectionManager, prefix: &str, name: &str) -> anyhow::Result<Vec<u8>> {
    let key = format!("{prefix}:{name}");
    let fresh: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    let () = redis::cmd("SET").arg(&key).arg(fresh).arg("NX").query_async::<Option<String>>(con).await.map(|_| ())?;
    let secret: String = redis::cmd("GET").arg(&key).query_async(con).await?;
    Ok(secret.into_bytes())
}

/// Drop what has expired from the blocks and bans kept in Redis (each node's own memory sweeps
/// itself; without this the hashes would only grow). A field is deleted only if it still holds
/// the value read, so a block or ban renewed meanwhile stays. Returns how many went.
pub(super) async fn prune(con: &mut ConnectionManager, prefix: &str, now_ms: u64) -> anyhow::Result<usize> {
    const DEL_IF_SAME: &str = "local n = 0 for i = 1, #ARGV, 2 do if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end end return n";
    let script = redis::Script::new(DEL_IF_SAME);
    let mut pruned = 0;
    for (hash, expired) in [
        ("blocks", (|v: &str| serde_json::from_str::<BlockRow>(v).ok().map(|b| b.expires)) as fn(&str) -> Option<u64>),
        ("bans", |v: &str| serde_json::from_str::<Ban>(v).ok().map(|b| b.forget_at)),
    ] {
        let key = format!("{prefix}:{hash}");
        let mut cursor: u64 = 0;
        loop {
            let (next, pairs): (u64, Vec<(String, String)>) =
                redis::cmd("HSCAN").arg(&key).arg(cursor).arg("COUNT").arg(500).query_async(con).await?;
            let mut call = script.key(&key);
            let mut any = false;
            for (field, value) in &pairs {
                // Unreadable rows go too: nothing could ever load them.
                if expired(value).is_none_or(|t| t <= now_ms) {
                    call.arg(field).arg(value);
                    any = true;
                }
            }
            if any {
                let n: usize = call.invoke_async(con).await?;
                pruned += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::core::safety::Key;

    #[tokio::test]
    async fn pruning_drops_what_expired_and_keeps_the_rest() {
        let server = super::super::LocalRedis::start().unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_connection_manager().await.unwrap();
        let ban = |k: u8, forget_at| Ban { key: Key([k; 16]), since: 0, until: 1, strikes: 1, forget_at };
        let block = |k: u8, expires| BlockRow { a: Key([k; 16]), b: Key([k + 1; 16]), expires };
        let keep = [StoreOp::Ban(ban(1, 2_000)), StoreOp::Block(block(3, 2_000))];
        let drop = [StoreOp::Ban(ban(5, 1_000)), StoreOp::Block(block(7, 999))];
        for op in keep.into_iter().chain(drop) {
            share(&mut con, "t", 1, op, 1_000).await.unwrap();
        }
        let () = redis::cmd("HSET").arg("t:bans").arg("junk").arg("{").query_async(&mut con).await.unwrap();
        assert_eq!(prune(&mut con, "t", 1_000).await.unwrap(), 3);
        let kept = load(&mut con, "t", 0, 1_000).await.unwrap();
        assert_eq!(kept.bans, vec![ban(1, 2_000)]);
        assert_eq!(kept.blocks, vec![block(3, 2_000)]);
        assert_eq!(prune(&mut con, "t", 1_000).await.unwrap(), 0, "nothing left to prune");
    }
}
