//! Registries in Redis: which node is each named room's home (`room.lua`), and where a resumed
//! session is now.

use redis::aio::ConnectionManager;
use strangers_shared::{PeerId, RoomName};

use crate::core::cluster::Rejoin;

/// `room.lua`, made once: a `Script` hashes and copies its source when made, which per join
/// cost a kilobyte of short-lived garbage at the worst moment (a burst of joins).
static REGISTRY: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("room.lua")));

/// Run one registry operation (`route` or `free`, see `room.lua`) for `room` from `node`:
/// returns the room's home and whether it is `node` (which may then create the room).
pub(super) async fn room(
    con: &mut ConnectionManager,
    prefix: &str,
    node: u16,
    room: &RoomName,
    op: &str,
) -> anyhow::Result<(u16, bool)> {
    let (home, mine): (u16, i64) = REGISTRY.arg(prefix).arg(room.as_str()).arg(node).arg(op).invoke_async(con).await?;
    Ok((home, mine == 1))
}

/// Record that `rejoin`'s session resumed on its new connection (for as long as a token may
/// name it), and read where its partner's session resumed, if it did.
pub(super) async fn relocate(
    con: &mut ConnectionManager,
    prefix: &str,
    rejoin: &Rejoin,
) -> anyhow::Result<Option<PeerId>> {
    let ttl = u64::try_from(crate::config::RESUME_TOKEN_TTL.as_millis()).unwrap_or(u64::MAX);
    let (_, partner): ((), Option<u64>) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(format!("{prefix}:sess:{}", rejoin.sid))
        .arg(rejoin.peer.0)
        .arg("PX")
        .arg(ttl)
        .cmd("GET")
        .arg(format!("{prefix}:sess:{}", rejoin.partner_sid))
        .query_async(con)
        .await?;
    Ok(partner.map(PeerId))
}
