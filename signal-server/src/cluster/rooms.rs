//! The room registry in Redis (`room.lua`): which node is each named room's home.

use redis::aio::ConnectionManager;
use strangers_shared::RoomName;

const REGISTRY: &str = include_str!("room.lua");

/// Run one registry operation (`route` or `free`, see `room.lua`) for `room` from `node`:
/// returns the room's home and whether it is `node` (which may then create the room).
pub(super) async fn registry(
    con: &mut ConnectionManager,
    prefix: &str,
    node: u16,
    room: &RoomName,
    op: &str,
) -> anyhow::Result<(u16, bool)> {
    let (home, mine): (u16, i64) =
        redis::Script::new(REGISTRY).arg(prefix).arg(room.as_str()).arg(node).arg(op).invoke_async(con).await?;
    Ok((home, mine == 1))
}
