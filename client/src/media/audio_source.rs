//! Where audio comes from: the [`AudioSource`] trait (48 kHz mono, 20 ms frames), and the
//! synthetic tone with periodic markers used without a microphone and by the harness.

use std::collections::VecDeque;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::video_source::SourceError;

/// The engine's audio rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = 960;

/// 20 ms of mono audio.
#[derive(Debug, Clone)]
pub struct AudioFrame {
    /// [`FRAME_SAMPLES`] samples in [-1, 1].
    pub samples: Vec<f32>,
    /// When the first sample was captured.
    pub captured_at: Instant,
}

/// A microphone-like producer of 20 ms frames at 48 kHz mono. `next_frame` blocks until the
/// next frame is ready, so it runs on a thread of its own.
pub trait AudioSource: Send {
    /// A name to show the user.
    fn name(&self) -> String;
    /// Block until the next 20 ms frame and return it.
    fn next_frame(&mut self) -> Result<AudioFrame, SourceError>;
}

/// A consumer of decoded audio (speakers in the app, an analyser in the harness).
pub trait AudioSink: Send {
    /// Take 20 ms of decoded audio that became ready at `at`.
    fn play(&mut self, samples: &[f32], at: Instant);
}

/// Capture times of the markers a tone source emitted (most recent last), shared with whoever
/// measures audio latency in the same process.
#[derive(Debug, Clone, Default)]
pub struct MarkerLog(Arc<Mutex<VecDeque<Instant>>>);

impl MarkerLog {
    fn push(&self, t: Instant) {
        let mut log = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() == 256 {
            log.pop_front();
        }
        log.push_back(t);
    }

    /// The latest marker emitted at or before `t`.
    pub fn latest_before(&self, t: Instant) -> Option<Instant> {
        let log = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        log.iter().rev().find(|m| **m <= t).copied()
    }
}

/// A steady sine tone with a short marker burst at another frequency every `marker_every`.
pub struct SyntheticTone {
    freq_hz: f64,
    marker_hz: f64,
    phase: f64,
    marker_phase: f64,
    frame_index: u64,
    frames_per_marker: u64,
    next_due: Option<Instant>,
    markers: MarkerLog,
}

/// Marker bursts last this many 20 ms frames.
const MARKER_FRAMES: u64 = 2;

impl SyntheticTone {
    /// A tone at `freq_hz` with markers at `marker_hz` every `marker_every`.
    pub fn new(freq_hz: f64, marker_hz: f64, marker_every: Duration) -> Self {
        let frames_per_marker = (marker_every.as_millis() / 20).max(MARKER_FRAMES as u128 + 1) as u64;
        Self {
            freq_hz,
            marker_hz,
            phase: 0.0,
            marker_phase: 0.0,
            frame_index: 0,
            frames_per_marker,
            next_due: None,
            markers: MarkerLog::default(),
        }
    }

    /// The log of marker capture times, for latency measurement.
    pub fn markers(&self) -> MarkerLog {
        self.markers.clone()
    }

    /// The next frame without pacing (for tests and benchmarks).
    pub fn render(&mut self, captured_at: Instant) -> AudioFrame {
        let in_marker = self.frame_index % self.frames_per_marker < MARKER_FRAMES;
        if self.frame_index.is_multiple_of(self.frames_per_marker) {
            self.markers.push(captured_at);
        }
        let step = 2.0 * PI * self.freq_hz / f64::from(SAMPLE_RATE);
        let mstep = 2.0 * PI * self.marker_hz / f64::from(SAMPLE_RATE);
        let mut samples = Vec::with_capacity(FRAME_SAMPLES);
        for _ in 0..FRAME_SAMPLES {
            let mut x = 0.25 * self.phase.sin();
            if in_marker {
                x += 0.25 * self.marker_phase.sin();
            }
            samples.push(x as f32);
            self.phase = (self.phase + step) % (2.0 * PI);
            self.marker_phase = (self.marker_phase + mstep) % (2.0 * PI);
        }
        self.frame_index += 1;
        AudioFrame { samples, captured_at }
    }
}

impl AudioSource for SyntheticTone {
    fn name(&self) -> String {
        format!("Test tone {:.0} Hz", self.freq_hz)
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        let interval = Duration::from_millis(20);
        let now = Instant::now();
        let due = self.next_due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        let at = Instant::now();
        self.next_due = Some(if at > due + interval * 5 { at + interval } else { due + interval });
        Ok(self.render(at))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tone::{MarkerDetector, has_tone};
    use super::*;

    #[test]
    fn the_tone_is_steady_and_markers_are_logged_and_detectable() {
        let mut src = SyntheticTone::new(440.0, 1800.0, Duration::from_millis(200));
        let mut det = MarkerDetector::new(1800.0, SAMPLE_RATE);
        let t0 = Instant::now();
        let mut onsets = Vec::new();
        for i in 0..30u32 {
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            let f = src.render(at);
            assert_eq!(f.samples.len(), FRAME_SAMPLES);
            assert!(has_tone(&f.samples, SAMPLE_RATE, 440.0));
            if det.feed(&f.samples) {
                onsets.push(at);
            }
        }
        assert_eq!(onsets.len(), 3, "one marker per 200 ms over 600 ms");
        let log = src.markers();
        for at in onsets {
            assert_eq!(log.latest_before(at), Some(at));
        }
    }
}
