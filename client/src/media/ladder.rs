//! What to send for a given bandwidth estimate: a ladder of picture size × frame rate × bitrate
//! for video, a bitrate for audio, and the hysteresis that keeps the choice from flapping.
//!
//! Pure: the congestion controller's estimate and the time come in, a step comes out. The capture
//! thread drives it once per captured picture and rebuilds the encoder when the step changes.

use std::time::{Duration, Instant};

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Picture width (the height follows the source's aspect ratio); never wider than the source.
    pub width: usize,
    /// Pictures per second.
    pub fps: u32,
    /// The video encoder's target bitrate.
    pub bitrate_bps: u32,
}

/// From the best (index 0) to the last resort. Each step costs about a third less than the one
/// above (small steps: a climb past what the link carries overshoots it by little), and resolution goes before frame rate, which goes last: a smaller sharp picture that
/// moves reads better than a large blocky one. The last step fits what the congestion
/// controller's floor leaves after audio: whatever the estimate, the encoders never plan to send
/// more than it (webrtc-rs paces at exactly the estimate, RTCP feedback included, so an encoder
/// above it grows a queue that delays the very feedback that would raise the estimate).
pub const LADDER: [Step; 9] = [
    Step { width: 640, fps: 30, bitrate_bps: 1_200_000 },
    Step { width: 640, fps: 30, bitrate_bps: 800_000 },
    Step { width: 480, fps: 25, bitrate_bps: 550_000 },
    Step { width: 480, fps: 20, bitrate_bps: 380_000 },
    Step { width: 320, fps: 20, bitrate_bps: 260_000 },
    Step { width: 320, fps: 15, bitrate_bps: 180_000 },
    Step { width: 320, fps: 12, bitrate_bps: 120_000 },
    Step { width: 240, fps: 10, bitrate_bps: 75_000 },
    Step { width: 240, fps: 10, bitrate_bps: 45_000 },
];

/// The estimate a call starts from, before the congestion controller has measured anything.
/// webrtc-rs's GCC has no probing, so this is where the first seconds are spent: high enough that
/// a call on a good network starts on the second step (640×480@30), low enough that a thin link
/// is only overrun until the first backoff (well under a second of feedback).
pub const INITIAL_ESTIMATE_BPS: u32 = 1_000_000;

/// The ceiling the congestion controller may climb to (the top step plus audio and headroom).
pub const MAX_ESTIMATE_BPS: u32 = 1_800_000;

/// The floor: below this the estimate is not believed (GCC's own minimum).
pub const MIN_ESTIMATE_BPS: u32 = 100_000;

/// Share of the estimate the encoders may plan to use. The pacer releases at exactly the estimate,
/// and an encoder overshoots around keyframes, so planning to fill it would queue in the pacer.
const HEADROOM: f64 = 0.9;

/// Packet overhead of the audio stream (50 packets/s of IP, UDP, SRTP, RTP and header extensions)
/// and of the RTCP feedback, which the pacer meters like everything else.
const OVERHEAD_BPS: f64 = 28_000.0;

/// How long the estimate must clear the next step up (with margin) before the ladder climbs.
pub const UP_HOLD: Duration = Duration::from_secs(4);

/// The longest the ladder waits before trying a step that failed before.
pub const MAX_UP_HOLD: Duration = Duration::from_secs(32);

/// A climb that has to step down again within this long failed: the link could not carry it.
const CLIMB_TRIAL: Duration = Duration::from_secs(10);

/// The margin the budget must have over the next step's bitrate to climb.
const UP_MARGIN: f64 = 1.15;

/// Opus bitrate for an estimate: audio is the last thing to degrade, so it keeps 32 kbit/s down
/// to a link of about 250 kbit/s and never goes below 16 kbit/s.
pub fn audio_bitrate(estimate_bps: u32) -> u32 {
    match estimate_bps {
        250_000.. => 32_000,
        150_000.. => 24_000,
        _ => 16_000,
    }
}

/// The video bitrate an estimate can carry once audio and overhead are paid for.
pub fn video_budget(estimate_bps: u32) -> u32 {
    let estimate = f64::from(estimate_bps.max(MIN_ESTIMATE_BPS));
    let budget = estimate * HEADROOM - f64::from(audio_bitrate(estimate_bps)) - OVERHEAD_BPS;
    budget.max(0.0) as u32
}

/// The best step whose bitrate fits in `budget_bps` (the last step if none does).
fn fitting(budget_bps: u32) -> usize {
    LADDER.iter().position(|s| s.bitrate_bps <= budget_bps).unwrap_or(LADDER.len() - 1)
}

/// The video sender's place on the ladder.
///
/// Down at once: the moment the budget no longer covers the current step, it moves to the best
/// step that fits (a congested link needs relief now, and every second over it adds queueing
/// delay). Up one step at a time, and only after the budget has cleared the next step by 15% for
/// [`UP_HOLD`] without a break, so a noisy estimate does not make it flap.
///
/// GCC has no probing and its estimate keeps rising while the sender uses less than it (webrtc-rs
/// does not cap it at what is acknowledged), so a climb is the probe: if the link cannot carry
/// the new step, the estimate falls within a second or two and the ladder steps back down. Each
/// climb to a step that fails that way doubles the hold before that step is tried again (up to
/// [`MAX_UP_HOLD`]); a climb to it that holds for ten seconds resets it.
#[derive(Debug, Clone)]
pub struct Ladder {
    step: usize,
    clear_since: Option<Instant>,
    /// When the ladder last climbed, until the climb has held for [`CLIMB_TRIAL`].
    climbed_at: Option<Instant>,
    /// The last step a climb failed to hold, and how long to wait before trying it again.
    failed: Option<(usize, Duration)>,
}

impl Default for Ladder {
    fn default() -> Self {
        Self { step: fitting(video_budget(INITIAL_ESTIMATE_BPS)), clear_since: None, climbed_at: None, failed: None }
    }
}

impl Ladder {
    /// The current step's index (0 is the best).
    pub fn index(&self) -> usize {
        self.step
    }

    /// The current step.
    pub fn step(&self) -> Step {
        LADDER[self.step]
    }

    /// How long the budget must clear step `up` before the ladder climbs to it.
    fn hold_for(&self, up: usize) -> Duration {
        match self.failed {
            Some((step, hold)) if step == up => hold,
            _ => UP_HOLD,
        }
    }

    /// Take the latest estimate (`None` while there is none yet); returns the new step's index
    /// when the step changes.
    pub fn update(&mut self, estimate_bps: Option<u32>, now: Instant) -> Option<usize> {
        let budget = video_budget(estimate_bps?);
        if budget < LADDER[self.step].bitrate_bps && self.step + 1 < LADDER.len() {
            if self.climbed_at.take().is_some_and(|at| now.saturating_duration_since(at) < CLIMB_TRIAL) {
                let hold = (self.hold_for(self.step) * 2).min(MAX_UP_HOLD);
                self.failed = Some((self.step, hold));
            }
            self.step = fitting(budget).max(self.step + 1);
            self.clear_since = None;
            return Some(self.step);
        }
        if self.climbed_at.is_some_and(|at| now.saturating_duration_since(at) >= CLIMB_TRIAL) {
            self.climbed_at = None;
            if self.failed.is_some_and(|(step, _)| step == self.step) {
                self.failed = None;
            }
        }
        let up = self.step.checked_sub(1)?;
        if f64::from(budget) < f64::from(LADDER[up].bitrate_bps) * UP_MARGIN {
            self.clear_since = None;
            return None;
        }
        let since = *self.clear_since.get_or_insert(now);
        if now.saturating_duration_since(since) < self.hold_for(up) {
            return None;
        }
        self.step = up;
        self.clear_since = None;
        self.climbed_at = Some(now);
        Some(up)
    }
}

/// The picture size a step sends for a source of `src_w` × `src_h`: the step's width (never
/// wider than the source), the height in the source's proportions, both even.
pub fn scaled_size(step: Step, src_w: usize, src_h: usize) -> (usize, usize) {
    if src_w <= step.width || src_w == 0 {
        return (src_w & !1, src_h & !1);
    }
    let h = (src_h * step.width / src_w).max(2);
    (step.width & !1, h & !1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: Instant, s: f64) -> Instant {
        t + Duration::from_secs_f64(s)
    }

    #[test]
    fn a_call_starts_on_the_second_step_and_waits_for_an_estimate() {
        let mut l = Ladder::default();
        assert_eq!(l.index(), 1, "640x480@30 at 700 kbit/s fits the initial estimate");
        assert_eq!(l.update(None, Instant::now()), None);
        assert_eq!(l.index(), 1);
    }

    #[test]
    fn steps_down_at_once_to_what_fits() {
        let t = Instant::now();
        let mut l = Ladder::default();
        assert_eq!(l.update(Some(300_000), t), Some(5), "300 kbit/s leaves ~210k for video");
        assert!(l.step().bitrate_bps <= video_budget(300_000));
        assert_eq!(l.update(Some(300_000), secs(t, 0.5)), None, "and stays there");
        // A small dip below the current step still steps down (by one at least).
        let mut l = Ladder::default();
        assert_eq!(l.update(Some(800_000), t), Some(2));
    }

    #[test]
    fn climbs_one_step_after_a_steady_hold_and_never_flaps() {
        let t = Instant::now();
        let mut l = Ladder::default();
        l.update(Some(300_000), t);
        // Estimate recovers to 2 Mbit/s: one step per UP_HOLD, not all at once.
        let mut changes = Vec::new();
        for i in 0..100 {
            if let Some(s) = l.update(Some(2_000_000), secs(t, 1.0 + f64::from(i) * 0.25)) {
                changes.push((s, 1.0 + f64::from(i) * 0.25));
            }
        }
        let steps: Vec<usize> = changes.iter().map(|c| c.0).collect();
        assert_eq!(steps, [4, 3, 2, 1, 0]);
        for pair in changes.windows(2) {
            assert!(pair[1].1 - pair[0].1 >= UP_HOLD.as_secs_f64() - 0.01, "{changes:?}");
        }
        // An estimate that wobbles around a step's threshold never climbs: each dip restarts
        // the hold, and the wobble stays above the current step so it never descends either.
        let mut l = Ladder::default();
        l.update(Some(400_000), t);
        let at = l.index();
        let mut moved = 0;
        for i in 0..200 {
            let est = if i % 8 == 0 { 400_000 } else { 700_000 };
            if l.update(Some(est), secs(t, f64::from(i) * 0.25)).is_some() {
                moved += 1;
            }
        }
        assert_eq!((moved, l.index()), (0, at));
    }

    #[test]
    fn a_climb_the_link_cannot_carry_waits_longer_each_time() {
        let t = Instant::now();
        let mut l = Ladder::default();
        l.update(Some(300_000), t);
        let mut climbs = Vec::new();
        let mut at = 0.0;
        // The estimate rises whenever the sender is below the link and falls at once when a
        // climb overshoots it: the link carries step 5 and not step 4.
        while at < 120.0 {
            let est = if l.index() <= 4 { 300_000 } else { 2_000_000 };
            if l.update(Some(est), secs(t, at)) == Some(4) {
                climbs.push(at);
            }
            at += 0.25;
        }
        let gaps: Vec<f64> = climbs.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(climbs.len() >= 3, "{climbs:?}");
        assert!(gaps.windows(2).all(|g| g[1] > g[0] * 1.5 || g[1] >= MAX_UP_HOLD.as_secs_f64()), "{gaps:?}");
        assert!(gaps.iter().all(|g| *g <= MAX_UP_HOLD.as_secs_f64() + 1.0), "{gaps:?}");
        // A climb that holds resets the wait.
        let mut l = Ladder::default();
        l.update(Some(300_000), t);
        let mut last = None;
        for i in 0..400 {
            if let Some(s) = l.update(Some(2_000_000), secs(t, f64::from(i) * 0.25)) {
                last = Some((s, f64::from(i) * 0.25));
            }
        }
        assert_eq!(last.map(|l| l.0), Some(0), "all the way up at the normal pace");
    }

    #[test]
    fn the_budget_pays_for_audio_first() {
        assert_eq!(audio_bitrate(1_000_000), 32_000);
        assert_eq!(audio_bitrate(200_000), 24_000);
        assert_eq!(audio_bitrate(50_000), 16_000);
        assert!(video_budget(MIN_ESTIMATE_BPS) >= LADDER[LADDER.len() - 1].bitrate_bps, "the floor fits");
        assert!(
            f64::from(video_budget(MAX_ESTIMATE_BPS)) >= f64::from(LADDER[0].bitrate_bps) * UP_MARGIN,
            "the top step is reachable"
        );
        for est in [100_000, 150_000, 300_000, 600_000, 1_000_000] {
            let total = video_budget(est) + audio_bitrate(est) + OVERHEAD_BPS as u32;
            assert!(total <= est, "{est}: {total}");
        }
    }

    #[test]
    fn sizes_follow_the_source_and_never_upscale() {
        assert_eq!(scaled_size(LADDER[2], 640, 480), (480, 360));
        assert_eq!(scaled_size(LADDER[4], 1280, 720), (320, 180));
        assert_eq!(scaled_size(LADDER[0], 320, 240), (320, 240));
        assert_eq!(scaled_size(LADDER[4], 0, 0), (0, 0));
        assert_eq!(scaled_size(LADDER[4], 641, 479), (320, 238));
    }
}
