//! The cluster flags: several nodes sharing one queue over Redis.

use clap::Args;

/// Flags for running as one node of several (see the README, "Running several nodes").
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Run as a node of a cluster that shares its queue through this Redis
    /// (`redis://host:6379/`). Without it the server is on its own, in memory.
    #[arg(long, env = "STRANGERS_REDIS")]
    pub redis: Option<String>,

    /// This node's number (1 to 65535), unique in the cluster; without it the next free one is
    /// taken from Redis.
    #[arg(long, env = "STRANGERS_NODE_ID", value_parser = clap::value_parser!(u16).range(1..))]
    pub node_id: Option<u16>,

    /// The prefix of every Redis key and channel the cluster uses (several clusters can share one
    /// Redis under different prefixes).
    #[arg(long, env = "STRANGERS_REDIS_PREFIX", default_value = "strangers")]
    pub redis_prefix: String,

    /// Let several processes on this machine listen on the same --listen port (Linux
    /// SO_REUSEPORT: the kernel spreads new connections over them). With --redis they serve as
    /// one server, a core each.
    #[arg(long, env = "STRANGERS_REUSE_PORT")]
    pub reuse_port: bool,
}
