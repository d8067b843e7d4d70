//! The harness's results: checks that passed or failed, and measurements, printed as a table and
//! as one `JSON {...}` line for scripts.

use std::time::Duration;

use serde_json::json;

/// Percentile (nearest rank) of `values`, which need not be sorted.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

/// Milliseconds of each duration.
pub fn ms(d: &[Duration]) -> Vec<f64> {
    d.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

/// A scenario's outcome.
#[derive(Debug, Default)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Clients run.
    pub clients: usize,
    /// Calls that connected.
    pub calls: usize,
    /// Matched → peer connection connected, per client.
    pub connect_ms: Vec<f64>,
    /// Matched → first decoded remote picture, per client.
    pub first_frame_ms: Vec<f64>,
    /// Synthetic picture created → decoded picture ready.
    pub glass_ms: Vec<f64>,
    /// Audio marker captured → played.
    pub audio_ms: Vec<f64>,
    /// Pictures decoded per second, per stream.
    pub fps_in: Vec<f64>,
    /// How far below the partner's tone each client heard its own tone come back (its echo
    /// through the partner's room), dB.
    pub echo_below_db: Vec<f64>,
    /// Process CPU per call (both sides, encode+decode+crypto+server), percent of one core.
    pub cpu_pct_per_call: Option<f64>,
    /// Media bytes sent by all clients.
    pub bytes_sent: u64,
    /// Resident memory per client, KiB.
    pub rss_per_client_kib: Option<f64>,
    /// How each client's call reached its partner (the selected candidate pair's type).
    pub routes: Vec<String>,
    /// Candidate types the partners revealed, per client.
    pub remote_candidate_types: Vec<Vec<String>>,
    /// Errors the clients showed.
    pub errors: Vec<String>,
    /// When each client's call recovered from a media-path outage (Unix ms).
    pub recovered_unix_ms: Vec<u64>,
    /// Named checks and whether each passed, with detail.
    pub checks: Vec<(String, bool, String)>,
}

impl Report {
    /// Record a check.
    pub fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push((name.into(), ok, detail.into()));
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|(_, ok, _)| *ok)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let p = |v: &[f64], q| percentile(v, q);
        json!({
            "scenario": self.scenario,
            "clients": self.clients,
            "calls": self.calls,
            "passed": self.passed(),
            "connect_ms": {"p50": p(&self.connect_ms, 50.0), "p95": p(&self.connect_ms, 95.0)},
            "first_frame_ms": {"p50": p(&self.first_frame_ms, 50.0), "p95": p(&self.first_frame_ms, 95.0)},
            "glass_to_glass_ms": {"p50": p(&self.glass_ms, 50.0), "p99": p(&self.glass_ms, 99.0), "n": self.glass_ms.len()},
            "audio_latency_ms": {"p50": p(&self.audio_ms, 50.0), "p99": p(&self.audio_ms, 99.0), "n": self.audio_ms.len()},
            "fps_in": {"p50": p(&self.fps_in, 50.0), "min": p(&self.fps_in, 0.0)},
            "echo_below_db": {"p50": p(&self.echo_below_db, 50.0), "min": p(&self.echo_below_db, 0.0)},
            "cpu_pct_of_core_per_call": self.cpu_pct_per_call,
            "bytes_sent": self.bytes_sent,
            "rss_per_client_kib": self.rss_per_client_kib,
            "routes": self.routes,
            "remote_candidate_types": self.remote_candidate_types,
            "errors": self.errors,
            "recovered_unix_ms": self.recovered_unix_ms,
            "checks": self.checks.iter().map(|(n, ok, d)| json!({"name": n, "ok": ok, "detail": d})).collect::<Vec<_>>(),
        })
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
        let mut out = format!("scenario {}: {} clients, {} calls\n", self.scenario, self.clients, self.calls);
        let rows = [
            (
                "matched → connected (ms)",
                f(percentile(&self.connect_ms, 50.0)),
                f(percentile(&self.connect_ms, 95.0)),
                "p50 / p95",
            ),
            (
                "matched → first frame (ms)",
                f(percentile(&self.first_frame_ms, 50.0)),
                f(percentile(&self.first_frame_ms, 95.0)),
                "p50 / p95",
            ),
            (
                "glass-to-glass (ms)",
                f(percentile(&self.glass_ms, 50.0)),
                f(percentile(&self.glass_ms, 99.0)),
                "p50 / p99",
            ),
            (
                "audio latency (ms)",
                f(percentile(&self.audio_ms, 50.0)),
                f(percentile(&self.audio_ms, 99.0)),
                "p50 / p99",
            ),
            ("fps received", f(percentile(&self.fps_in, 50.0)), f(percentile(&self.fps_in, 0.0)), "p50 / min"),
            (
                "own echo below partner (dB)",
                f(percentile(&self.echo_below_db, 50.0)),
                f(percentile(&self.echo_below_db, 0.0)),
                "p50 / min",
            ),
        ];
        for (name, a, b, what) in rows {
            out.push_str(&format!("  {name:<28} {a:>8} {b:>8}   {what}\n"));
        }
        out.push_str(&format!("  {:<28} {:>8}   % of one core\n", "CPU per call", f(self.cpu_pct_per_call)));
        out.push_str(&format!("  {:<28} {:>8}\n", "bytes sent", self.bytes_sent));
        out.push_str(&format!("  {:<28} {:>8}\n", "RSS per client (KiB)", f(self.rss_per_client_kib)));
        for (name, ok, detail) in &self.checks {
            out.push_str(&format!("  [{}] {name}: {detail}\n", if *ok { "ok" } else { "FAIL" }));
        }
        out
    }
}

/// CPU time this process has used (user + system), from `/proc/self/stat`.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident memory of this process, KiB, from `/proc/self/status`.
pub fn process_rss_kib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Open file descriptors (sockets included) and threads of this process.
pub fn process_fds_and_threads() -> (usize, usize) {
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, |d| d.count());
    (count("/proc/self/fd"), count("/proc/self/task"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 100.0), Some(5.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_report_with_a_failed_check_fails() {
        let mut r = Report::default();
        assert!(!r.passed(), "no checks is not a pass");
        r.check("a", true, "");
        assert!(r.passed());
        r.check("b", false, "nope");
        assert!(!r.passed());
        assert!(r.table().contains("[FAIL] b: nope"));
        assert_eq!(r.to_json()["passed"], false);
        assert!(process_cpu().is_some() && process_rss_kib().is_some());
    }
}
