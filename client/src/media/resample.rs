//! Sample-rate conversion for devices that do not run at 48 kHz (44.1 kHz microphones, 16 kHz
//! headsets): a small windowed-sinc interpolator, streaming, mono.

use std::f64::consts::PI;

/// Taps on each side of the interpolation point.
const HALF_TAPS: usize = 8;

/// Converts a stream of mono samples from one rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples relative to `history[0]`.
    pos: f64,
    /// The last input samples kept for the filter.
    history: Vec<f32>,
    /// Low-pass cutoff as a fraction of the input Nyquist (below 1 when downsampling).
    cutoff: f64,
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz`. Equal rates pass samples through unchanged.
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from, to) = (f64::from(from_hz.max(1)), f64::from(to_hz.max(1)));
        Self { step: from / to, pos: HALF_TAPS as f64, history: vec![0.0; 2 * HALF_TAPS], cutoff: (to / from).min(1.0) }
    }

    /// Whether this resampler changes anything.
    pub fn is_passthrough(&self) -> bool {
        (self.step - 1.0).abs() < f64::EPSILON
    }

    /// Feed input samples; appends the converted ones to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.is_passthrough() {
            out.extend_from_slice(input);
            return;
        }
        self.history.extend_from_slice(input);
        while self.pos + (HALF_TAPS as f64) < self.history.len() as f64 {
            out.push(self.sample_at(self.pos));
            self.pos += self.step;
        }
        // Drop what the filter no longer needs.
        let keep_from = (self.pos as usize).saturating_sub(HALF_TAPS);
        self.history.drain(..keep_from);
        self.pos -= keep_from as f64;
    }

    fn sample_at(&self, pos: f64) -> f32 {
        let centre = pos.floor() as isize;
        let frac = pos - pos.floor();
        let mut acc = 0.0f64;
        let mut norm = 0.0f64;
        for k in -(HALF_TAPS as isize) + 1..=HALF_TAPS as isize {
            let idx = centre + k;
            let Some(&x) = usize::try_from(idx).ok().and_then(|i| self.history.get(i)) else { continue };
            let t = k as f64 - frac;
            let sinc = if t.abs() < 1e-9 { 1.0 } else { (PI * t * self.cutoff).sin() / (PI * t * self.cutoff) };
            let window = 0.5 + 0.5 * (PI * t / HALF_TAPS as f64).cos();
            let w = sinc * window * self.cutoff;
            acc += f64::from(x) * w;
            norm += w;
        }
        if norm.abs() > 1e-9 { (acc / norm) as f32 } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tone::has_tone;
    use super::*;

    fn sine(hz: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (0.3 * (2.0 * PI * hz * i as f64 / f64::from(rate)).sin()) as f32).collect()
    }

    #[test]
    fn rates_convert_and_keep_the_pitch() {
        for from in [44_100u32, 16_000, 96_000] {
            let mut r = Resampler::new(from, 48_000);
            let mut out = Vec::new();
            // Feed in uneven chunks, as device callbacks do.
            let input = sine(440.0, from, from as usize);
            for chunk in input.chunks(441) {
                r.process(chunk, &mut out);
            }
            let expected = 48_000.0;
            assert!((out.len() as f64 - expected).abs() < 64.0, "{from}: {} samples", out.len());
            let tail = &out[out.len() - 960..];
            assert!(has_tone(tail, 48_000, 440.0), "{from} Hz input keeps a 440 Hz tone");
        }
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut r = Resampler::new(48_000, 48_000);
        let mut out = Vec::new();
        r.process(&[0.1, 0.2], &mut out);
        assert_eq!(out, [0.1, 0.2]);
        assert!(r.is_passthrough());
    }
}
