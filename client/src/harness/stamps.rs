//! The harness's probe on decoded pictures: it reads the test card's stamp (frame counter and
//! capture time, carried in the pixels through H.264) to verify that what arrived is what the
//! partner sent, in order, and how long it took from capture to decode.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::media::frame::I420;
use crate::media::pattern;
use crate::media::probe::PictureProbe;
use crate::media::video_source::age_of;

/// Most latencies kept per stream (an hour of 30 fps is 108,000).
const MAX_LATENCIES: usize = 100_000;

/// Stamps read back from one remote video stream.
#[derive(Debug, Default)]
pub struct StampProbe {
    /// Pictures whose stamp could be read.
    pub stamped: AtomicU64,
    /// Stamps whose counter did not increase.
    pub out_of_order: AtomicU64,
    /// Freezes: gaps of more than [`FREEZE`] between two decoded pictures.
    pub freezes: AtomicU64,
    detail: Mutex<Detail>,
}

#[derive(Debug, Default)]
struct Detail {
    last_counter: Option<u32>,
    latencies: Vec<Duration>,
    last_picture: Option<Instant>,
}

/// A gap between decoded pictures longer than this is a freeze (as the call-quality benchmarks
/// count them).
pub const FREEZE: Duration = Duration::from_millis(500);

impl StampProbe {
    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        self.detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counter of the latest stamped picture.
    pub fn last_counter(&self) -> Option<u32> {
        self.detail().last_counter
    }

    /// Capture → decoded latency of each stamped picture, in order.
    pub fn latencies(&self) -> Vec<Duration> {
        self.detail().latencies.clone()
    }

    /// How many latencies have been recorded.
    pub fn latency_count(&self) -> usize {
        self.detail().latencies.len()
    }
}

impl PictureProbe for StampProbe {
    fn decoded(&self, picture: &I420, now: Instant) -> Option<Instant> {
        if let Some(last) = self.detail().last_picture.replace(now)
            && now.saturating_duration_since(last) > FREEZE
        {
            self.freezes.fetch_add(1, Ordering::Relaxed);
        }
        let stamp = pattern::read(picture)?;
        self.stamped.fetch_add(1, Ordering::Relaxed);
        let mut d = self.detail();
        if d.last_counter.is_some_and(|last| stamp.counter <= last) {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        d.last_counter = Some(stamp.counter);
        let age = age_of(stamp, now)?;
        if d.latencies.len() < MAX_LATENCIES {
            d.latencies.push(age);
        }
        now.checked_sub(age)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::media::video_source::SyntheticVideo;

    #[test]
    fn stamps_are_read_counted_and_timed() {
        let src = SyntheticVideo::new(320, 240, 30.0, "t");
        let probe = StampProbe::default();
        let at = Instant::now();
        for n in [1, 2, 2, 5] {
            let captured = probe.decoded(&src.render(n, at), at + Duration::from_millis(30));
            assert!(captured.is_some());
        }
        assert_eq!(probe.stamped.load(Ordering::Relaxed), 4);
        assert_eq!(probe.out_of_order.load(Ordering::Relaxed), 1, "2 after 2");
        assert_eq!(probe.last_counter(), Some(5));
        assert_eq!(probe.latency_count(), 4);
        assert!(probe.latencies().iter().all(|l| l.as_millis().abs_diff(30) <= 1));
        let blank = I420::black(320, 240);
        assert_eq!(probe.decoded(&blank, at), None, "a camera picture has no stamp");
        assert_eq!(probe.freezes.load(Ordering::Relaxed), 0);
        for ms in [100, 600, 1101, 1200] {
            probe.decoded(&blank, at + Duration::from_millis(ms));
        }
        assert_eq!(probe.freezes.load(Ordering::Relaxed), 1, "only the 501 ms gap is a freeze");
    }
}
