//! Safety: blocks, reports and bans (see `docs/PROTOCOL.md`, "Safety"). The decisions are pure
//! ([`ledger`]); keeping them is an effect: the core emits [`StoreOp`]s for a store to write, and
//! a [`Snapshot`] of what a store kept is loaded at start.

mod keys;
pub(crate) mod ledger;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use strangers_shared::ReportReason;

pub use keys::{Key, Keyer};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// Thresholds and retention of safety.
#[derive(Debug, Clone)]
pub struct SafetyConfig {
    /// Reports from this many distinct networks within `ban_window_ms` ban the stranger.
    pub ban_threshold: u32,
    /// The window reports are counted over.
    pub ban_window_ms: u64,
    /// Ban lengths for the first, second, third (and later) ban.
    pub ban_steps_ms: Vec<u64>,
    /// How long after a ban ends it still counts for the next one's length.
    pub strike_memory_ms: u64,
    /// How long a block keeps two strangers apart.
    pub block_ttl_ms: u64,
    /// How long reports are kept.
    pub report_ttl_ms: u64,
    /// Reports one network may send within `report_flood_window_ms`; more are dropped.
    pub report_flood_max: u32,
    /// The window of the flood limit.
    pub report_flood_window_ms: u64,
    /// The terms version `find` and `join` require (`--require-terms`); `None`: no gate.
    pub require_terms: Option<String>,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            ban_threshold: 3,
            ban_window_ms: DAY_MS,
            ban_steps_ms: vec![HOUR_MS, DAY_MS, 7 * DAY_MS],
            strike_memory_ms: 30 * DAY_MS,
            block_ttl_ms: 30 * DAY_MS,
            report_ttl_ms: 30 * DAY_MS,
            report_flood_max: 10,
            report_flood_window_ms: HOUR_MS,
            require_terms: None,
        }
    }
}

/// One report, as kept: keys and what the reporter said, never an address or an install id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// When, milliseconds since the Unix epoch.
    pub at: u64,
    /// The reporter's network (one network counts once toward a ban).
    pub voice: Key,
    /// The reporter's install key (or connection key).
    pub reporter: Key,
    /// The key reports about the stranger are counted on: its install key, else its network.
    pub subject: Key,
    /// The stranger's network key, if known.
    pub subject_net: Option<Key>,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's words.
    pub text: Option<String>,
    /// Chat lines the reporter attached.
    pub chat: Vec<String>,
}

/// A ban on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The install or network key banned.
    pub key: Key,
    /// When it started (ms since the epoch).
    pub since: u64,
    /// When it ends.
    pub until: u64,
    /// Which ban this is for the key (1 for the first), setting its length.
    pub strikes: u32,
    /// When the record is forgotten (and a next ban starts from the first length again).
    pub forget_at: u64,
}

/// A block between two keys (symmetric), until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    /// One side.
    pub a: Key,
    /// The other side.
    pub b: Key,
    /// When it ends (ms since the epoch).
    pub expires: u64,
}

/// What a store must keep. Rows expire by their own times; the store deletes them after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StoreOp {
    /// Keep a block (replacing one between the same two keys).
    Block(BlockRow),
    /// Keep a report until `at` + the report retention.
    Report(Report),
    /// Keep a ban (replacing the key's previous one), or its new end when it was lifted.
    Ban(Ban),
}

/// What a store kept, loaded into the core at start.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Blocks in force.
    pub blocks: Vec<BlockRow>,
    /// Bans, including ended ones still remembered.
    pub bans: Vec<Ban>,
    /// Reports within their retention.
    pub reports: Vec<Report>,
}
