//! A speech-like test signal for the echo canceller's tests and benchmark: a voiced source with
//! a gliding pitch and six harmonics over a little broadband noise (breath, fricatives), shaped
//! into syllables with short pauses. Deterministic: the same parameters give the same samples.
//! (The harness's steady tones suit identification, not echo cancellation: see
//! [`super::echo`].)

use std::f64::consts::PI;

use super::audio_source::{FRAME_SAMPLES, SAMPLE_RATE};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct SpeechLike {
    noise: u32,
    phase: f64,
    t: f64,
    pitch: f64,
    syllable_hz: f64,
}

impl SpeechLike {
    /// A talker with a mean pitch of `pitch_hz` speaking `syllable_hz` syllables a second.
    pub fn new(pitch_hz: f64, syllable_hz: f64) -> Self {
        Self { noise: pitch_hz.to_bits() as u32 | 1, phase: 0.0, t: 0.0, pitch: pitch_hz, syllable_hz }
    }

    /// The next 20 ms (48 kHz mono).
    pub fn frame(&mut self) -> Vec<f32> {
        let rate = f64::from(SAMPLE_RATE);
        (0..FRAME_SAMPLES)
            .map(|_| {
                self.t += 1.0 / rate;
                let f0 = self.pitch * (1.0 + 0.15 * (2.0 * PI * 0.7 * self.t).sin());
                self.phase += 2.0 * PI * f0 / rate;
                let voiced: f64 = (1..=6).map(|h| (self.phase * f64::from(h)).sin() / f64::from(h)).sum();
                let envelope = (2.0 * PI * self.syllable_hz * self.t).sin().max(0.0).powf(0.7);
                self.noise ^= self.noise << 13;
                self.noise ^= self.noise >> 17;
                self.noise ^= self.noise << 5;
                let hiss = f64::from(self.noise) / f64::from(u32::MAX) - 0.5;
                ((0.08 * voiced + 0.05 * hiss) * envelope) as f32
            })
            .collect()
    }
}
