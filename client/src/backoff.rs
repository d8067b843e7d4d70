//! Exponential reconnect backoff with "equal jitter" (half of each delay fixed, half random), so
//! that many clients cut off by one server restart do not all come back in the same instant,
//! yet none retries sooner than half its delay.

use std::time::Duration;

/// Reconnect delays: `base · 2^attempt`, capped at `max`, each drawn uniformly from
/// `[delay/2, delay]` (equal jitter, not full jitter's `[0, delay]`) so that clients spread out.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A policy starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max: max.max(base), attempt: 0 }
    }

    /// The delay before the next attempt, given a uniform random number in `[0, 1)`.
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        ceiling.mul_f64(0.5 + 0.5 * unit)
    }

    /// The delay before the next attempt, with thread-local randomness.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// Call after a successful connection: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.next_delay_with(1.0), Duration::from_millis(100));
        assert_eq!(b.next_delay_with(0.0), Duration::from_millis(100));
        assert_eq!(b.next_delay_with(1.0), Duration::from_millis(400));
        assert_eq!(b.next_delay_with(1.0), Duration::from_millis(800));
        assert_eq!(b.next_delay_with(1.0), Duration::from_secs(1));
        for _ in 0..100 {
            assert!(b.next_delay_with(0.5) <= Duration::from_secs(1));
        }
        assert_eq!(b.attempts(), 105);
        b.reset();
        assert_eq!(b.next_delay_with(0.0), Duration::from_millis(50));
    }

    #[test]
    fn random_delays_stay_in_range() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(80));
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(80), "{d:?}");
        }
        assert_eq!(b.next_delay_with(f64::NAN), Duration::from_millis(40));
    }
}
