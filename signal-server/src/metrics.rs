//! Prometheus text exposition of the server's counters: the network layer's atomics plus the
//! core's own statistics and gauges.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use strangers_shared::{ErrorCode, Mode, ReportReason};

use crate::core::{Core, MATCH_WAIT_BUCKETS_SECS};

/// Counters kept by the network layer (connection tasks and the accept loop).
#[derive(Debug, Default)]
pub struct NetMetrics {
    /// WebSocket connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused with 503 because the server was at its connection cap.
    pub rejected_at_cap: AtomicU64,
    /// Connections refused by the origin allow-list.
    pub rejected_origin: AtomicU64,
    /// Handshakes (TLS, HTTP or WebSocket) that failed or timed out.
    pub handshake_failures: AtomicU64,
    /// Connections closed because the reader fell too far behind (1008).
    pub slow_reader_closes: AtomicU64,
    /// Connections closed for an oversized frame (1009).
    pub oversize_closes: AtomicU64,
    /// Connections dropped after missing heartbeats.
    pub heartbeat_timeouts: AtomicU64,
    /// Text and binary frames received.
    pub frames_in: AtomicU64,
    /// Frames written.
    pub frames_out: AtomicU64,
}

impl NetMetrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// Render every metric in the Prometheus text format. `queued_bytes` is what the connection
/// mailboxes hold now, waiting to be written.
pub fn render(core: &Core, net: &NetMetrics, queued_bytes: usize, store_dropped: u64) -> String {
    let mut out = String::with_capacity(4096);
    let m = &mut out;
    metric(m, "strangers_connections", "gauge", "Open WebSocket connections.", core.online() as u64);
    metric(m, "strangers_connections_total", "counter", "WebSocket connections accepted.", get(&net.connections_total));
    metric(
        m,
        "strangers_rejected_at_cap_total",
        "counter",
        "Connections refused at the connection cap.",
        get(&net.rejected_at_cap),
    );
    metric(
        m,
        "strangers_rejected_origin_total",
        "counter",
        "Connections refused by the origin allow-list.",
        get(&net.rejected_origin),
    );
    metric(
        m,
        "strangers_handshake_failures_total",
        "counter",
        "Failed or timed-out handshakes.",
        get(&net.handshake_failures),
    );
    let _ = writeln!(m, "# HELP strangers_queue_depth Searchers waiting, by mode.\n# TYPE strangers_queue_depth gauge");
    for mode in Mode::ALL {
        let _ = writeln!(m, "strangers_queue_depth{{mode=\"{}\"}} {}", mode.as_str(), core.searching(mode));
    }
    metric(m, "strangers_pairs", "gauge", "Random pairs in a call.", core.pairs() as u64);
    metric(m, "strangers_rooms", "gauge", "Named rooms with members.", core.rooms() as u64);
    let stats = core.stats();
    metric(m, "strangers_matches_total", "counter", "Random pairs made.", stats.matches);
    metric(m, "strangers_skips_total", "counter", "Next presses while in a call.", stats.skips);
    metric(
        m,
        "strangers_slowdowns_total",
        "counter",
        "Skips past the skip limit; the skipper was paused.",
        stats.slowdowns,
    );
    metric(
        m,
        "strangers_failed_calls_total",
        "counter",
        "Calls a client could not connect (the pair is kept apart for --failed-cooldown).",
        stats.failed_calls,
    );
    metric(
        m,
        "strangers_held_total",
        "counter",
        "Connections that dropped mid-call and were held for resumption.",
        stats.held,
    );
    metric(m, "strangers_resumed_total", "counter", "Sessions resumed with a token.", stats.resumed);
    metric(m, "strangers_resume_refused_total", "counter", "Resume tokens refused.", stats.resume_refused);
    let _ = writeln!(
        m,
        "# HELP strangers_match_wait_seconds Time searchers waited for a match.\n# TYPE strangers_match_wait_seconds histogram"
    );
    for (bound, n) in MATCH_WAIT_BUCKETS_SECS.iter().zip(stats.match_wait.buckets.iter()) {
        let _ = writeln!(m, "strangers_match_wait_seconds_bucket{{le=\"{bound}\"}} {n}");
    }
    let h = &stats.match_wait;
    let _ = writeln!(m, "strangers_match_wait_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ =
        writeln!(m, "strangers_match_wait_seconds_sum {}\nstrangers_match_wait_seconds_count {}", h.sum_secs, h.count);
    metric(
        m,
        "strangers_messages_relayed_total",
        "counter",
        "Messages relayed to a partner or room member.",
        stats.relayed,
    );
    let _ = writeln!(
        m,
        "# HELP strangers_errors_total Error messages sent to clients, by code.\n# TYPE strangers_errors_total counter"
    );
    for (code, n) in ErrorCode::ALL.iter().zip(stats.errors.iter()) {
        let _ = writeln!(m, "strangers_errors_total{{code=\"{}\"}} {n}", code.as_str());
    }
    let _ = writeln!(
        m,
        "# HELP strangers_disconnects_total Connections the server closed, by cause.\n# TYPE strangers_disconnects_total counter"
    );
    for (cause, n) in [
        ("slow_reader", get(&net.slow_reader_closes)),
        ("oversize", get(&net.oversize_closes)),
        ("heartbeat", get(&net.heartbeat_timeouts)),
        ("rate_limit", stats.abuse_closes),
    ] {
        let _ = writeln!(m, "strangers_disconnects_total{{cause=\"{cause}\"}} {n}");
    }
    metric(
        m,
        "strangers_outbound_queued_bytes",
        "gauge",
        "Bytes queued for connections, not yet written.",
        queued_bytes as u64,
    );
    metric(m, "strangers_frames_in_total", "counter", "WebSocket data frames received.", get(&net.frames_in));
    metric(m, "strangers_frames_out_total", "counter", "WebSocket frames sent.", get(&net.frames_out));
    safety(m, core, store_dropped);
    out
}

/// Reports by reason, blocks, bans.
fn safety(m: &mut String, core: &Core, store_dropped: u64) {
    let stats = core.stats();
    let _ =
        writeln!(m, "# HELP strangers_reports_total Reports taken, by reason.\n# TYPE strangers_reports_total counter");
    for (reason, n) in ReportReason::ALL.iter().zip(stats.reports.iter()) {
        let _ = writeln!(m, "strangers_reports_total{{reason=\"{}\"}} {n}", reason.as_str());
    }
    let dropped = stats.reports_dropped;
    metric(m, "strangers_reports_dropped_total", "counter", "Reports over a network's flood limit.", dropped);
    metric(m, "strangers_blocks_total", "counter", "Blocks made (reports block too).", stats.blocks);
    metric(m, "strangers_bans_total", "counter", "Bans started.", stats.bans);
    let now = core.now().unix_ms;
    metric(m, "strangers_bans_active", "gauge", "Keys banned now.", core.active_ban_count(now) as u64);
    metric(m, "strangers_store_dropped_total", "counter", "Safety records the store could not queue.", store_dropped);
}

/// A node's view of its cluster: whether Redis answers, and the operations that failed.
pub fn cluster(m: &mut String, up: bool, failures: u64) {
    metric(
        m,
        "strangers_cluster_up",
        "gauge",
        "Whether the cluster's Redis answered the last heartbeat.",
        u64::from(up),
    );
    metric(m, "strangers_cluster_failures_total", "counter", "Cluster operations that failed.", failures);
}
