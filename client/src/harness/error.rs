//! Why a harness scenario could not run to its checks (a failed check is not an error: it is
//! reported, and the harness exits non-zero).

use std::time::Duration;

/// Why a scenario stopped before its checks.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A client's engine could not start (its media threads or runtime).
    #[error("cannot start a client: {0}")]
    Start(#[source] std::io::Error),
    /// The scenario cannot run as asked (e.g. a room scenario with no clients).
    #[error("{0}")]
    Usage(&'static str),
    /// The timeline file could not be written.
    #[error("cannot write the timeline: {0}")]
    Timeline(#[source] std::io::Error),
    /// Something a scenario waits for did not happen in time.
    #[error("{client}: timed out after {after:?} waiting for {what}")]
    Timeout {
        /// The client that waited.
        client: String,
        /// What it waited for.
        what: String,
        /// How long it waited.
        after: Duration,
    },
}
