//! Counters and the match-wait histogram that the core keeps about itself.

use std::time::Duration;

use strangers_shared::ErrorCode;

/// Upper bounds of the match-wait histogram buckets, in seconds (Prometheus `le` labels).
pub const MATCH_WAIT_BUCKETS_SECS: [f64; 11] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A cumulative-bucket histogram of durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound of [`MATCH_WAIT_BUCKETS_SECS`] (cumulative).
    pub buckets: [u64; MATCH_WAIT_BUCKETS_SECS.len()],
    /// All observations.
    pub count: u64,
    /// Sum of observations, in seconds.
    pub sum_secs: f64,
}

impl Histogram {
    /// Record one duration.
    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, n) in MATCH_WAIT_BUCKETS_SECS.iter().zip(self.buckets.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum_secs += secs;
    }
}

/// Monotonic counters since the core started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Random pairs made.
    pub matches: u64,
    /// Time each matched searcher waited (two observations per match).
    pub match_wait: Histogram,
    /// Frames relayed to another client (signaling, chat, typing, media state), per recipient.
    pub relayed: u64,
    /// `error` messages sent, indexed like [`ErrorCode::ALL`].
    pub errors: [u64; ErrorCode::ALL.len()],
    /// Connections closed for abusing the rate limit.
    pub abuse_closes: u64,
    /// Skips (`next` while paired).
    pub skips: u64,
    /// Skips past the skip limit, which paused the skipper (`slow_down`).
    pub slowdowns: u64,
    /// Calls a client reported as failed to connect (`next` with reason `failed`).
    pub failed_calls: u64,
    /// Connections that dropped mid-call and were held for the resume window.
    pub held: u64,
    /// Sessions resumed with a token (each side of a pair re-made after a restart counts).
    pub resumed: u64,
    /// Resume tokens refused.
    pub resume_refused: u64,
    /// Reports taken, indexed like [`strangers_shared::ReportReason::ALL`].
    pub reports: [u64; strangers_shared::ReportReason::ALL.len()],
    /// Reports dropped by the flood limit.
    pub reports_dropped: u64,
    /// Blocks made (a report blocks too).
    pub blocks: u64,
    /// Bans started (one per stranger, however many keys it covers).
    pub bans: u64,
}

impl Stats {
    pub(crate) fn count_error(&mut self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i] += 1;
        }
    }

    /// Errors sent with `code`.
    pub fn errors_with(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL.iter().position(|c| *c == code).map_or(0, |i| self.errors[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(7));
        h.observe(Duration::from_secs(600));
        assert_eq!(h.count, 3);
        assert_eq!(h.buckets[0], 0); // <= 10 ms
        assert_eq!(h.buckets[1], 1); // <= 50 ms
        assert_eq!(h.buckets[8], 2); // <= 10 s
        assert_eq!(h.buckets[10], 2); // <= 60 s; the 600 s one is only in +Inf (count)
        assert!((h.sum_secs - 607.03).abs() < 1e-9);
    }

    #[test]
    fn errors_are_counted_by_code() {
        let mut s = Stats::default();
        s.count_error(ErrorCode::RoomFull);
        s.count_error(ErrorCode::RoomFull);
        assert_eq!(s.errors_with(ErrorCode::RoomFull), 2);
        assert_eq!(s.errors_with(ErrorCode::Malformed), 0);
    }
}
