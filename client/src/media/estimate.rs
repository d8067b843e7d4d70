//! The estimate the encoders follow: webrtc-rs's GCC, held under a ceiling that a standing queue
//! lowers.
//!
//! webrtc-rs 0.21.1's GCC keeps raising its estimate while the sender uses less than it (it is
//! not capped at what is acknowledged), so after a few quiet seconds it says 1.8 Mbit/s on a
//! 300 kbit/s link. When the ladder then climbs past the link, GCC was measured taking four
//! seconds to notice while the round-trip time grew from 0 to 700 ms and video froze. The round
//! trip is the plainest signal there is, so this backstop watches it: the queueing delay (the
//! round-trip time above the lowest seen) over [`QUEUE_LIMIT`] means the path is full, and the
//! ceiling drops to 85% of what we are sending, every sample until the queue drains. Without a
//! queue the ceiling climbs back by 8% a second (as GCC's own increase does).
//!
//! Pure: samples in (twice a second), an estimate out.

use std::time::{Duration, Instant};

use super::ladder::{MAX_ESTIMATE_BPS, MIN_ESTIMATE_BPS};

/// Queueing delay that means the path is full.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(80);

/// What a backoff keeps of the rate being sent.
const BACKOFF: f64 = 0.85;

/// Growth of the ceiling per second without a queue.
const GROWTH: f64 = 1.08;

/// One sample of a link.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// GCC's estimate, if it has made one.
    pub gcc_bps: Option<u32>,
    /// What we sent on the link since the last sample, bits per second.
    pub sent_bps: u32,
    /// Round-trip time above the lowest seen, if measured.
    pub queue: Option<Duration>,
}

/// The estimate of one link; see the module docs.
#[derive(Debug, Clone)]
pub struct Estimator {
    ceiling: f64,
    last: Option<Instant>,
}

impl Default for Estimator {
    fn default() -> Self {
        Self { ceiling: f64::from(MAX_ESTIMATE_BPS), last: None }
    }
}

impl Estimator {
    /// Take a sample taken at `now`; returns the estimate to follow (`None` until GCC has made
    /// one and no queue has been seen).
    pub fn update(&mut self, s: Sample, now: Instant) -> Option<u32> {
        let elapsed = self.last.map_or(Duration::ZERO, |l| now.saturating_duration_since(l));
        self.last = Some(now);
        let (min, max) = (f64::from(MIN_ESTIMATE_BPS), f64::from(MAX_ESTIMATE_BPS));
        if s.queue.is_some_and(|q| q > QUEUE_LIMIT) {
            let sent = f64::from(s.sent_bps);
            let limited = s.gcc_bps.map_or(sent, |g| sent.min(f64::from(g)));
            self.ceiling = (limited * BACKOFF).min(self.ceiling).clamp(min, max);
        } else {
            self.ceiling = (self.ceiling * GROWTH.powf(elapsed.as_secs_f64().min(1.0))).clamp(min, max);
        }
        let capped = self.ceiling < max;
        match s.gcc_bps {
            Some(g) => Some((f64::from(g).min(self.ceiling)) as u32),
            None if capped => Some(self.ceiling as u32),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: Instant, secs: f64) -> Instant {
        t + Duration::from_secs_f64(secs)
    }

    fn sample(gcc: u32, sent: u32, queue_ms: u64) -> Sample {
        Sample { gcc_bps: Some(gcc), sent_bps: sent, queue: Some(Duration::from_millis(queue_ms)) }
    }

    #[test]
    fn without_a_queue_gcc_is_followed() {
        let t = Instant::now();
        let mut e = Estimator::default();
        assert_eq!(e.update(Sample { gcc_bps: None, sent_bps: 0, queue: None }, t), None);
        assert_eq!(e.update(sample(640_000, 500_000, 5), at(t, 0.5)), Some(640_000));
        assert_eq!(e.update(sample(1_800_000, 500_000, 20), at(t, 1.0)), Some(1_800_000));
    }

    #[test]
    fn a_standing_queue_backs_off_below_what_is_sent_until_it_drains() {
        let t = Instant::now();
        let mut e = Estimator::default();
        // GCC says 1.8M while the 300 kbit/s link queues what we send.
        let first = e.update(sample(1_800_000, 320_000, 150), t).unwrap();
        assert_eq!(first, 272_000);
        let second = e.update(sample(1_800_000, 300_000, 400), at(t, 0.5)).unwrap();
        assert!(second < first, "{second} after {first}");
        // Drained: it climbs back slowly, 8% a second, not to GCC's figure at once.
        let mut est = second;
        for i in 2..22 {
            est = e.update(sample(1_800_000, 200_000, 3), at(t, f64::from(i) * 0.5)).unwrap();
        }
        let expected = f64::from(second) * GROWTH.powf(10.0);
        assert!((f64::from(est) - expected).abs() < expected * 0.02, "{est} vs {expected:.0}");
        // A queue with no GCC estimate yet still caps.
        let mut e = Estimator::default();
        let s = Sample { gcc_bps: None, sent_bps: 900_000, queue: Some(Duration::from_millis(200)) };
        assert_eq!(e.update(s, t), Some(765_000));
        // And never below the floor.
        assert_eq!(e.update(sample(100_000, 10_000, 500), at(t, 0.5)), Some(MIN_ESTIMATE_BPS));
    }
}
