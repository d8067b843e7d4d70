//! The safety flags: the terms gate, bans, the store's directory and the admin endpoints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::{Secret, parse_positive_duration};
use crate::core::safety::SafetyConfig;

/// Flags for safety (see `docs/PROTOCOL.md`, "Safety").
#[derive(Debug, Clone, Args)]
pub struct SafetyArgs {
    /// Refuse `find` and `join` (`error terms_required`) from clients whose `hello` did not accept
    /// this version of the terms (the app shows TERMS.md and an 18+ confirmation first). Without
    /// it any client may search, as older clients expect.
    #[arg(long, env = "STRANGERS_REQUIRE_TERMS")]
    pub require_terms: Option<String>,

    /// Where blocks, reports and bans are kept (a SQLite file, `strangers.db`), so that they
    /// survive a restart.
    #[arg(long, env = "STRANGERS_DATA_DIR", default_value = "strangers-data")]
    pub data_dir: PathBuf,

    /// Keep blocks, reports and bans in memory only (they end with the process); no data
    /// directory is made.
    #[arg(long, env = "STRANGERS_IN_MEMORY")]
    pub in_memory: bool,

    /// The secret network prefixes and install ids are hashed with (HMAC) before anything is
    /// kept; give every node of a deployment the same one. Without it one is made and kept in
    /// the data directory (`ban-secret`), or made per process when there is none.
    #[arg(long, env = "STRANGERS_BAN_SECRET", hide_env_values = true)]
    pub ban_secret: Option<Secret>,

    /// Reports from this many different networks (/24 or /64) within --ban-window ban a stranger:
    /// for 1 h, then 24 h, then 7 days on repeat.
    #[arg(long, env = "STRANGERS_BAN_REPORTS", default_value_t = 3, value_parser = super::at_least(1u32))]
    pub ban_reports: u32,

    /// How long a first ban lasts; a second is 24 times as long (1 day by default) and a third or
    /// later 168 times (7 days). A ban counts toward the next for 30 days after it ends.
    #[arg(long, env = "STRANGERS_BAN_LENGTH", default_value = "1h", value_parser = parse_positive_duration)]
    pub ban_length: Duration,

    /// The window --ban-reports counts reports over.
    #[arg(long, env = "STRANGERS_BAN_WINDOW", default_value = "24h", value_parser = parse_positive_duration)]
    pub ban_window: Duration,

    /// Enables `/admin/reports` and `/admin/bans` for requests with `Authorization: Bearer
    /// <token>`. Without it those paths answer 404.
    #[arg(long, env = "STRANGERS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
}

impl SafetyArgs {
    /// The data directory, unless safety is kept in memory only.
    pub fn data_dir(&self) -> Option<&Path> {
        (!self.in_memory && !self.data_dir.as_os_str().is_empty()).then_some(self.data_dir.as_path())
    }

    /// The core's safety settings.
    pub fn core(&self) -> SafetyConfig {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        SafetyConfig {
            ban_threshold: self.ban_reports,
            ban_window_ms: ms(self.ban_window),
            ban_steps_ms: [1, 24, 168].map(|n| ms(self.ban_length).saturating_mul(n)).to_vec(),
            require_terms: self.require_terms.clone(),
            ..SafetyConfig::default()
        }
    }
}
