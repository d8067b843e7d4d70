//! What the video encoder is asked for, picture by picture: the bitrate ladder's step (size,
//! frame rate, bitrate) while adapting to the link, or a fixed rate; which source pictures it
//! is given at a step's lower frame rate; and the picture scaled to the step's size.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::frame::I420;
use super::ladder::{self, Ladder};
use super::send::{SendConfig, SendControl, SendStats};

/// What the video encoder is asked for: the ladder's step when adapting, else the fixed rate;
/// and which source pictures it is given (every one at the source's rate, a share of them at a
/// step's lower rate).
#[derive(Clone)]
pub(super) struct VideoRate {
    cfg: SendConfig,
    ladder: Option<Ladder>,
    /// Pictures owed to the encoder: grows by step fps / source fps per source picture.
    credit: f32,
    /// The last picture scaled to the step's size, whose planes the next one reuses.
    scaled: Option<I420>,
}

impl VideoRate {
    pub(super) fn new(cfg: SendConfig) -> Self {
        Self { cfg, ladder: cfg.adaptive.then(Ladder::default), credit: 1.0, scaled: None }
    }

    pub(super) fn bitrate_bps(&self) -> u32 {
        self.ladder.as_ref().map_or(self.cfg.video_bitrate_bps, |l| l.step().bitrate_bps)
    }

    pub(super) fn fps(&self) -> f32 {
        let source = self.cfg.video_fps.max(1.0);
        self.ladder.as_ref().map_or(source, |l| (l.step().fps as f32).min(source))
    }

    pub(super) fn frame_time(&self) -> Duration {
        Duration::from_secs_f32(1.0 / self.fps())
    }

    /// Take the latest estimate; true when the step changed (the encoder must follow).
    pub(super) fn follow(&mut self, ctl: &SendControl, now: Instant) -> bool {
        let Some(ladder) = self.ladder.as_mut() else { return false };
        let estimate = Some(ctl.estimate_bps.load(Ordering::Relaxed)).filter(|&e| e > 0);
        ladder.update(estimate, now).is_some()
    }

    /// Whether this source picture is encoded (false: dropped to hold the step's frame rate).
    /// `urgent` takes it anyway; the pictures after it pay the credit back.
    pub(super) fn take_frame(&mut self, urgent: bool) -> bool {
        self.credit = (self.credit + self.fps() / self.cfg.video_fps.max(1.0)).min(2.0);
        if self.credit < 1.0 && !urgent {
            return false;
        }
        self.credit = (self.credit - 1.0).max(-1.0);
        true
    }

    /// The picture at the step's size.
    pub(super) fn picture<'a>(&'a mut self, pic: &'a I420) -> &'a I420 {
        let Some(ladder) = &self.ladder else { return pic };
        let (w, h) = ladder::scaled_size(ladder.step(), pic.width, pic.height);
        if (w, h) == (pic.width, pic.height) {
            return pic;
        }
        if self.scaled.as_ref().is_none_or(|s| (s.width, s.height) != (w, h)) {
            self.scaled = Some(I420::black(w, h));
        }
        let out = self.scaled.get_or_insert_with(|| I420::black(w, h));
        pic.scale_into(out);
        out
    }

    pub(super) fn publish(&self, stats: &SendStats) {
        let step = self.ladder.as_ref().map_or(0, |l| l.index() as u32 + 1);
        stats.ladder_step.store(step, Ordering::Relaxed);
        stats.video_target_bps.store(self.bitrate_bps(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(rate: &mut VideoRate, n: usize, urgent_at: Option<usize>) -> usize {
        (0..n).filter(|&i| rate.take_frame(urgent_at == Some(i))).count()
    }

    #[test]
    fn a_step_takes_its_share_of_pictures_and_a_keyframe_request_jumps_the_queue() {
        let cfg = SendConfig::default();
        let mut fixed = VideoRate::new(SendConfig { adaptive: false, ..cfg });
        assert_eq!(taken(&mut fixed, 30, None), 30, "a fixed rate takes every picture");
        let mut rate = VideoRate::new(cfg);
        let ctl = SendControl::default();
        ctl.estimate_bps.store(300_000, Ordering::Relaxed);
        assert!(rate.follow(&ctl, Instant::now()), "300 kbit/s is a lower step");
        let fps = rate.fps();
        assert!(fps < 30.0);
        let got = taken(&mut rate, 300, None);
        assert!((got as f32 - fps * 10.0).abs() <= 1.0, "{got} pictures in 10 s at {fps} fps");
        // An urgent picture is taken at once, and the ones after it pay it back.
        let mut rate2 = rate.clone();
        let skipped_then_urgent = (0..3).map(|i| rate2.take_frame(i == 2)).collect::<Vec<_>>();
        assert!(skipped_then_urgent[2]);
        assert!((taken(&mut rate2, 300, None) as f32 - fps * 10.0).abs() <= 2.0);
    }
}
