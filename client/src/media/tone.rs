//! Audio analysis for tests and the harness: a Goertzel filter to measure the power of one
//! frequency, and a marker detector that finds the onsets of the synthetic source's markers.

use std::f64::consts::PI;

/// Power of `freq_hz` in `samples` (normalised to the block length), by the Goertzel algorithm.
pub fn goertzel(samples: &[f32], sample_rate: u32, freq_hz: f64) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let n = samples.len() as f64;
    let k = (0.5 + n * freq_hz / f64::from(sample_rate)).floor();
    let w = 2.0 * PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (n * n / 4.0)
}

/// Whether `samples` carry a clear tone at `freq_hz`: its power dominates nearby frequencies.
pub fn has_tone(samples: &[f32], sample_rate: u32, freq_hz: f64) -> bool {
    let p = goertzel(samples, sample_rate, freq_hz);
    let off: f64 = [0.6, 0.8, 1.25, 1.6].iter().map(|m| goertzel(samples, sample_rate, freq_hz * m)).sum();
    p > 0.001 && p > 4.0 * off
}

/// Finds rising edges of a marker frequency in a stream of blocks.
#[derive(Debug, Clone)]
pub struct MarkerDetector {
    freq_hz: f64,
    sample_rate: u32,
    active: bool,
}

impl MarkerDetector {
    /// A detector for markers at `freq_hz`.
    pub fn new(freq_hz: f64, sample_rate: u32) -> Self {
        Self { freq_hz, sample_rate, active: false }
    }

    /// Feed one block; returns true on the block where a marker starts.
    pub fn feed(&mut self, block: &[f32]) -> bool {
        let on =
            has_tone(block, self.sample_rate, self.freq_hz) || goertzel(block, self.sample_rate, self.freq_hz) > 0.01;
        let onset = on && !self.active;
        self.active = on;
        onset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, n: usize) -> Vec<f32> {
        (0..n).map(|i| (0.3 * (2.0 * PI * freq * i as f64 / 48_000.0).sin()) as f32).collect()
    }

    #[test]
    fn goertzel_finds_the_right_frequency() {
        let s = sine(440.0, 960);
        assert!(has_tone(&s, 48_000, 440.0));
        assert!(!has_tone(&s, 48_000, 660.0));
        assert!(!has_tone(&vec![0.0; 960], 48_000, 440.0));
        assert_eq!(goertzel(&[], 48_000, 440.0), 0.0);
    }

    #[test]
    fn marker_onsets_are_reported_once() {
        let mut d = MarkerDetector::new(1800.0, 48_000);
        let quiet = sine(440.0, 960);
        let mut marked = sine(440.0, 960);
        for (m, t) in marked.iter_mut().zip(sine(1800.0, 960)) {
            *m = *m * 0.5 + t;
        }
        assert!(!d.feed(&quiet));
        assert!(d.feed(&marked));
        assert!(!d.feed(&marked));
        assert!(!d.feed(&quiet));
        assert!(d.feed(&marked));
    }
}
