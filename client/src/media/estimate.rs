//! The estimate the encoders follow: webrtc-rs's GCC, held under a ceiling that a standing queue
//! lowers.
//!
//! webrtc-rs 0.21.1's GCC keeps raising its estimate while the sender uses less than it (it is
//! not capped at what is acknowledged), so after a few quiet seconds it says 1.8 Mbit/s on a
//! 300 kbit/s link. When the ladder then climbs past the link, GCC was measured taking four
//! seconds to notice while the round-trip time grew from 0 to 700 ms and video froze. The round
//! trip is the plainest signal there is, so this backstop watches it: the queueing delay (the
//! round-trip time above the lowest seen) over [`QUEUE_LIMIT`] in two samples running (half a
//! second apart; one over twice the limit is enough) means the path is full. The ceiling then
//! drops to 85% of what the path delivered: what we sent, less the loss the partner reports or
//! the share the queue grew by (a queue that grew 250 ms in 500 ms took in half again what it
//! let out), whichever says less. It drops again at the next sample if the queue is still
//! growing or over twice the limit, and every two seconds while a smaller one stands. One sample over the limit is a keyframe's
//! burst and is let pass. Without a queue the ceiling climbs back by 8% a second (as GCC's own
//! increase does).
//!
//! Pure: samples in (twice a second), an estimate out.

use std::time::{Duration, Instant};

use super::ladder::{MAX_ESTIMATE_BPS, MIN_ESTIMATE_BPS};

/// Queueing delay that means the path is full.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(80);

/// What a backoff keeps of the rate being received.
const BACKOFF: f64 = 0.85;

/// Growth of the ceiling per second without a queue.
const GROWTH: f64 = 1.08;

/// Samples in a row over the limit before the first backoff.
const CONFIRM: u32 = 2;

/// Samples between backoffs while the queue stands.
const AGAIN_EVERY: u32 = 4;

/// One sample of a link.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// GCC's estimate, if it has made one.
    pub gcc_bps: Option<u32>,
    /// What we sent on the link since the last sample, bits per second.
    pub sent_bps: u32,
    /// Round-trip time above the lowest seen, if measured.
    pub queue: Option<Duration>,
    /// The share of our packets the partner reports lost, 0–1.
    pub loss: f64,
}

/// The estimate of one link; see the module docs.
#[derive(Debug, Clone)]
pub struct Estimator {
    ceiling: f64,
    last: Option<Instant>,
    /// Samples in a row with the queue over the limit.
    over: u32,
    /// What was sent in the previous sample (a backoff starts from the higher of the two: the
    /// encoder may already have stepped down within the sample).
    prev_sent: u32,
    /// The queueing delay of the previous sample.
    prev_queue: Duration,
    /// The last sample backed off.
    backed_off: bool,
}

impl Default for Estimator {
    fn default() -> Self {
        Self {
            ceiling: f64::from(MAX_ESTIMATE_BPS),
            last: None,
            over: 0,
            prev_sent: 0,
            prev_queue: Duration::ZERO,
            backed_off: false,
        }
    }
}

impl Estimator {
    /// Take a sample taken at `now`; returns the estimate to follow (`None` until GCC has made
    /// one and no queue has been seen).
    pub fn update(&mut self, s: Sample, now: Instant) -> Option<u32> {
        let elapsed = self.last.map_or(Duration::ZERO, |l| now.saturating_duration_since(l));
        self.last = Some(now);
        let (min, max) = (f64::from(MIN_ESTIMATE_BPS), f64::from(MAX_ESTIMATE_BPS));
        let queue = s.queue.unwrap_or_default();
        self.over = if queue > QUEUE_LIMIT { self.over + 1 } else { 0 };
        // How much faster the queue filled than it drained, as a share of what went in.
        let growth = if elapsed.is_zero() {
            0.0
        } else {
            queue.saturating_sub(self.prev_queue).as_secs_f64() / elapsed.as_secs_f64()
        };
        let back_off = match self.over {
            0 => false,
            1 => queue > QUEUE_LIMIT * 2,
            _ if self.backed_off && (growth > 0.1 || queue > QUEUE_LIMIT * 2) => true,
            n => n == CONFIRM || (n > CONFIRM && (n - CONFIRM).is_multiple_of(AGAIN_EVERY)),
        };
        if back_off {
            let delivered = (1.0 - s.loss).min(1.0 - growth).clamp(0.25, 1.0);
            let received = f64::from(s.sent_bps.max(self.prev_sent)) * delivered;
            let base = s.gcc_bps.map_or(received, |g| received.min(f64::from(g)));
            // Still growing right after a backoff: what we sent was already too much, so the
            // ceiling itself comes down.
            let from = if self.backed_off { self.ceiling } else { base };
            self.ceiling = (from * BACKOFF).min(self.ceiling).clamp(min, max);
        } else if self.over == 0 {
            self.ceiling = (self.ceiling * GROWTH.powf(elapsed.as_secs_f64().min(1.0))).clamp(min, max);
        }
        self.prev_sent = s.sent_bps;
        self.prev_queue = queue;
        self.backed_off = back_off;
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
        Sample { gcc_bps: Some(gcc), sent_bps: sent, queue: Some(Duration::from_millis(queue_ms)), loss: 0.0 }
    }

    #[test]
    fn without_a_queue_gcc_is_followed() {
        let t = Instant::now();
        let mut e = Estimator::default();
        assert_eq!(e.update(Sample::default(), t), None);
        assert_eq!(e.update(sample(640_000, 500_000, 5), at(t, 0.5)), Some(640_000));
        assert_eq!(e.update(sample(1_800_000, 500_000, 20), at(t, 1.0)), Some(1_800_000));
    }

    #[test]
    fn one_burst_is_let_pass_and_a_standing_queue_backs_off_until_it_drains() {
        let t = Instant::now();
        let mut e = Estimator::default();
        // A keyframe's burst: one sample over the limit, not twice it.
        assert_eq!(e.update(sample(1_800_000, 320_000, 120), t), Some(1_800_000));
        assert_eq!(e.update(sample(1_800_000, 320_000, 5), at(t, 0.5)), Some(1_800_000));
        // A standing queue: backs off on the second sample, from the higher of the two rates,
        // less the share the queue grew by (30 ms in 500 ms: 6%).
        assert_eq!(e.update(sample(1_800_000, 340_000, 150), at(t, 1.0)), Some(1_800_000));
        let first = e.update(sample(1_800_000, 300_000, 180), at(t, 1.5)).unwrap();
        assert_eq!(first, 271_660);
        // It holds while a smaller queue stands, and backs off again two seconds later.
        for i in 0..3 {
            assert_eq!(e.update(sample(1_800_000, 250_000, 150), at(t, 2.0 + f64::from(i) * 0.5)), Some(first));
        }
        let second = e.update(sample(1_800_000, 250_000, 150), at(t, 3.5)).unwrap();
        assert!(second < first, "{second} after {first}");
        // Drained: it climbs back slowly, 8% a second, not to GCC's figure at once.
        let mut est = second;
        for i in 0..20 {
            est = e.update(sample(1_800_000, 200_000, 3), at(t, 4.0 + f64::from(i) * 0.5)).unwrap();
        }
        let expected = f64::from(second) * GROWTH.powf(10.0);
        assert!((f64::from(est) - expected).abs() < expected * 0.03, "{est} vs {expected:.0}");
    }

    #[test]
    fn a_sudden_full_queue_backs_off_at_once_to_what_got_through() {
        let t = Instant::now();
        let mut e = Estimator::default();
        // The link fell from 2 Mbit/s to 300 kbit/s under a 1.2 Mbit/s sender: the queue is far
        // over the limit at once, and the partner reports 70% lost.
        let s = Sample {
            gcc_bps: Some(1_800_000),
            sent_bps: 1_200_000,
            queue: Some(Duration::from_millis(400)),
            loss: 0.7,
        };
        let est = e.update(s, t).unwrap();
        assert_eq!(est, 306_000, "85% of the 360 kbit/s that got through");
        // Before the partner's report arrives, the queue's growth says the same: 400 ms more
        // in 500 ms, so at most a quarter got through; and while it keeps growing, again.
        let mut e = Estimator::default();
        e.update(sample(1_800_000, 1_200_000, 0), t);
        let first = e.update(sample(1_800_000, 1_200_000, 400), at(t, 0.5)).unwrap();
        assert_eq!(first, 255_000);
        let second = e.update(sample(1_800_000, 900_000, 650), at(t, 1.0)).unwrap();
        assert!(second < first, "{second} after {first}");
        let third = e.update(sample(1_800_000, 200_000, 600), at(t, 1.5)).unwrap();
        assert!(third < second, "far over the limit, even shrinking: {third} after {second}");
        assert_eq!(e.update(sample(1_800_000, 200_000, 120), at(t, 2.0)), Some(third), "nearly drained: held");
        // A queue with no GCC estimate yet still caps, and never below the floor.
        let mut e = Estimator::default();
        let s = Sample { gcc_bps: None, sent_bps: 900_000, queue: Some(Duration::from_millis(200)), loss: 0.0 };
        assert_eq!(e.update(s, t), Some(765_000));
        let floor =
            Sample { gcc_bps: Some(100_000), sent_bps: 10_000, queue: Some(Duration::from_millis(500)), loss: 0.0 };
        assert_eq!(e.update(floor, at(t, 0.5)), Some(MIN_ESTIMATE_BPS));
    }
}
