//! A token bucket in integer milli-tokens, driven by explicit time so it stays deterministic.

use std::time::Duration;

/// Rate-limit settings shared by every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages a client may send in a burst.
    pub burst: u32,
    /// Sustained messages per second.
    pub per_sec: u32,
    /// Consecutive refused messages after which the connection is closed (1008).
    pub max_strikes: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { burst: 60, per_sec: 30, max_strikes: 20 }
    }
}

/// One connection's bucket.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    milli_tokens: u64,
    last: Duration,
    strikes: u32,
}

/// What the bucket says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Within the limit.
    Allow,
    /// Over the limit: drop the message and tell the client.
    Refuse,
    /// Over the limit too many times in a row: close the connection.
    Abuse,
}

impl TokenBucket {
    pub(crate) fn new(limit: &RateLimit, now: Duration) -> Self {
        Self { milli_tokens: u64::from(limit.burst) * 1000, last: now, strikes: 0 }
    }

    /// Spend one token for a message arriving at `now`.
    pub(crate) fn take(&mut self, limit: &RateLimit, now: Duration) -> Admission {
        let elapsed_ms = now.saturating_sub(self.last).as_millis();
        self.last = self.last.max(now);
        let cap = u64::from(limit.burst) * 1000;
        let refill = u64::try_from(elapsed_ms.saturating_mul(u128::from(limit.per_sec))).unwrap_or(cap);
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            self.strikes = 0;
            Admission::Allow
        } else {
            self.strikes += 1;
            if self.strikes >= limit.max_strikes { Admission::Abuse } else { Admission::Refuse }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit { burst: 5, per_sec: 10, max_strikes: 3 };

    #[test]
    fn burst_then_refuse_then_abuse() {
        let t = Duration::from_secs(1);
        let mut b = TokenBucket::new(&LIMIT, t);
        for _ in 0..5 {
            assert_eq!(b.take(&LIMIT, t), Admission::Allow);
        }
        assert_eq!(b.take(&LIMIT, t), Admission::Refuse);
        assert_eq!(b.take(&LIMIT, t), Admission::Refuse);
        assert_eq!(b.take(&LIMIT, t), Admission::Abuse);
    }

    #[test]
    fn refills_at_the_sustained_rate_and_resets_strikes() {
        let t = Duration::from_secs(1);
        let mut b = TokenBucket::new(&LIMIT, t);
        for _ in 0..5 {
            b.take(&LIMIT, t);
        }
        assert_eq!(b.take(&LIMIT, t), Admission::Refuse);
        // 10/s: one token every 100 ms.
        assert_eq!(b.take(&LIMIT, t + Duration::from_millis(99)), Admission::Refuse);
        // Two tokens have accrued by 200 ms, however the reads were spaced.
        assert_eq!(b.take(&LIMIT, t + Duration::from_millis(200)), Admission::Allow);
        assert_eq!(b.take(&LIMIT, t + Duration::from_millis(200)), Admission::Allow);
        assert_eq!(b.take(&LIMIT, t + Duration::from_millis(200)), Admission::Refuse);
        // A long pause refills only up to the burst.
        let later = t + Duration::from_secs(100);
        for _ in 0..5 {
            assert_eq!(b.take(&LIMIT, later), Admission::Allow);
        }
        assert_eq!(b.take(&LIMIT, later), Admission::Refuse);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut b = TokenBucket::new(&LIMIT, Duration::from_secs(10));
        assert_eq!(b.take(&LIMIT, Duration::from_secs(1)), Admission::Allow);
    }
}
