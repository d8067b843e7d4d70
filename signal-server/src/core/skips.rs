//! Skip limits: a client that presses Next faster than a person can look at a stranger (by
//! default more than 20 times in a minute) is paused for a short cooldown: its Next and find are
//! refused with `slow_down` and the time left. Pure: the core hands in its clock.

use std::collections::VecDeque;
use std::time::Duration;

/// How fast a client may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipLimit {
    /// Skips allowed within `window`; 0 turns the limit off.
    pub max: u32,
    /// The window skips are counted over.
    pub window: Duration,
    /// How long a client that goes over is paused.
    pub cooldown: Duration,
}

impl Default for SkipLimit {
    fn default() -> Self {
        Self { max: 20, window: Duration::from_secs(60), cooldown: Duration::from_secs(30) }
    }
}

/// One client's recent skips and cooldown.
#[derive(Debug, Clone, Default)]
pub(crate) struct SkipMeter {
    recent: VecDeque<Duration>,
    until: Option<Duration>,
}

impl SkipMeter {
    /// The cooldown left at `now`, if the client is paused.
    pub(crate) fn paused(&self, now: Duration) -> Option<Duration> {
        self.until.filter(|u| *u > now).map(|u| u - now)
    }

    /// A skip at `now`: allowed (and counted), or refused with the cooldown left. The skip that
    /// goes over the limit starts the cooldown and is itself refused.
    pub(crate) fn skip(&mut self, limit: &SkipLimit, now: Duration) -> Result<(), Duration> {
        if limit.max == 0 {
            return Ok(());
        }
        if let Some(left) = self.paused(now) {
            return Err(left);
        }
        while self.recent.front().is_some_and(|t| now.saturating_sub(*t) >= limit.window) {
            self.recent.pop_front();
        }
        if self.recent.len() >= limit.max as usize {
            self.recent.clear();
            self.until = Some(now + limit.cooldown);
            return Err(limit.cooldown);
        }
        self.recent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_skip_past_the_limit_starts_a_cooldown_that_ends() {
        let limit = SkipLimit::default();
        let mut m = SkipMeter::default();
        for i in 0..20 {
            assert_eq!(m.skip(&limit, s(f64::from(i))), Ok(()), "skip {i}");
        }
        assert_eq!(m.skip(&limit, s(20.0)), Err(s(30.0)), "the 21st in a minute");
        assert_eq!(m.paused(s(35.0)), Some(s(15.0)));
        assert_eq!(m.skip(&limit, s(35.0)), Err(s(15.0)), "still paused, the time left");
        assert_eq!(m.paused(s(50.0)), None);
        assert_eq!(m.skip(&limit, s(50.0)), Ok(()), "free again after the cooldown");
    }

    #[test]
    fn a_person_skipping_at_a_human_pace_is_never_paused_and_zero_turns_it_off() {
        let limit = SkipLimit::default();
        let mut m = SkipMeter::default();
        // One skip every 3.5 s for ten minutes: 17 in any minute.
        for i in 0..170 {
            assert_eq!(m.skip(&limit, s(f64::from(i) * 3.5)), Ok(()));
        }
        let off = SkipLimit { max: 0, ..limit };
        let mut m = SkipMeter::default();
        for i in 0..1000 {
            assert_eq!(m.skip(&off, s(f64::from(i) * 0.01)), Ok(()));
        }
    }
}
