//! The microphone's clean-up: acoustic echo cancellation against what the speakers play, noise
//! suppression and automatic gain, by WebRTC's audio processing module (AEC3, NS, AGC2) as ported
//! to Rust by `sonora`.
//!
//! Two halves meet here. The speakers' output callback copies what it plays into a [`FarEnd`]
//! (a short, bounded buffer; the callback never blocks on it). [`CleanMic`] wraps the
//! microphone's [`AudioSource`]: for every 20 ms it takes the far end played since the last
//! frame (resampled to 48 kHz), gives it to the canceller as the reference, then processes the
//! microphone's frame. AEC3 finds the delay between the two itself (tested from 60 to 400 ms).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, NoiseSuppression, NoiseSuppressionLevel, TransparentModeType,
};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::audio_source::{AudioFrame, AudioSource, SAMPLE_RATE};
use super::resample::Resampler;
use super::video_source::SourceError;

/// The processor's block: 10 ms at 48 kHz. sonora panics on a shorter block in release builds,
/// so nothing else is ever handed to it.
const BLOCK: usize = SAMPLE_RATE as usize / 100;

/// Most far-end audio kept while nobody reads it (half a second).
const FAR_END_LIMIT_SECS: f32 = 0.5;

#[derive(Debug)]
struct FarEndBuf {
    rate: u32,
    samples: VecDeque<f32>,
}

/// What the speakers played, for the echo canceller to subtract. Cheap to clone; the writer is
/// the speakers' real-time callback, which only ever tries the lock.
#[derive(Debug, Clone)]
pub struct FarEnd(Arc<Mutex<FarEndBuf>>);

impl Default for FarEnd {
    fn default() -> Self {
        Self::new(SAMPLE_RATE)
    }
}

impl FarEnd {
    /// A far end played at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let cap = (rate as f32 * FAR_END_LIMIT_SECS) as usize;
        Self(Arc::new(Mutex::new(FarEndBuf { rate: rate.max(1), samples: VecDeque::with_capacity(cap) })))
    }

    /// The output now plays at `rate` Hz (a new speaker): what was buffered is dropped.
    pub fn set_rate(&self, rate: u32) {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if buf.rate != rate {
            buf.rate = rate.max(1);
            buf.samples.clear();
        }
    }

    /// Append mono samples just played. Never blocks: if the reader holds the lock this block is
    /// skipped (the canceller copes with a gap far better than the speaker with a stall).
    pub fn push(&self, samples: &[f32]) {
        let Ok(mut buf) = self.0.try_lock() else { return };
        let limit = (buf.rate as f32 * FAR_END_LIMIT_SECS) as usize;
        let held = buf.samples.len();
        let excess = (held + samples.len()).saturating_sub(limit);
        buf.samples.drain(..excess.min(held));
        buf.samples.extend(samples.iter().rev().take(limit).rev());
    }

    /// Take everything buffered into `into`; returns the rate it was played at.
    pub fn take_into(&self, into: &mut Vec<f32>) -> u32 {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        into.extend(buf.samples.drain(..));
        buf.rate
    }
}

/// Which stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// Acoustic echo cancellation.
    pub echo: bool,
    /// Noise suppression.
    pub noise: bool,
    /// Automatic (adaptive digital) gain.
    pub gain: bool,
}

impl Stages {
    /// All three, as the app runs them.
    pub const ALL: Stages = Stages { echo: true, noise: true, gain: true };

    fn config(self) -> Config {
        Config {
            echo_canceller: self.echo.then(|| EchoCanceller {
                // Quickly transparent when nothing echoes (headphones): the near end is not cut.
                transparent_mode: TransparentModeType::Hmm,
                ..EchoCanceller::default()
            }),
            noise_suppression: self
                .noise
                .then(|| NoiseSuppression { level: NoiseSuppressionLevel::Moderate, ..NoiseSuppression::default() }),
            gain_controller2: self.gain.then(|| GainController2 {
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            }),
            ..Config::default()
        }
    }
}

/// The microphone, cleaned; see the module docs. When `enabled` is off (headphones: there is no
/// echo to cancel) audio passes untouched, and the far end is still drained.
pub struct CleanMic {
    inner: Box<dyn AudioSource>,
    apm: AudioProcessing,
    far: FarEnd,
    enabled: Arc<AtomicBool>,
    resampler: Option<(u32, Resampler)>,
    far_raw: Vec<f32>,
    /// Far-end samples at 48 kHz not yet a full block.
    far_pending: Vec<f32>,
    out: Vec<f32>,
}

impl CleanMic {
    /// Clean `inner` against `far`, running `stages` while `enabled` is on.
    pub fn new(inner: Box<dyn AudioSource>, far: FarEnd, stages: Stages, enabled: Arc<AtomicBool>) -> Self {
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm =
            AudioProcessing::builder().config(stages.config()).capture_config(stream).render_config(stream).build();
        Self {
            inner,
            apm,
            far,
            enabled,
            resampler: None,
            far_raw: Vec::new(),
            far_pending: Vec::new(),
            out: vec![0.0; BLOCK],
        }
    }

    /// Feed the far end played since the last frame to the canceller, in whole blocks.
    fn render(&mut self) {
        self.far_raw.clear();
        let rate = self.far.take_into(&mut self.far_raw);
        // Straight through at 48 kHz (the resampler passes equal rates unchanged).
        let resampler = match &mut self.resampler {
            Some((r, resampler)) if *r == rate => resampler,
            slot => &mut slot.insert((rate, Resampler::new(rate, SAMPLE_RATE))).1,
        };
        resampler.process(&self.far_raw, &mut self.far_pending);
        let whole = self.far_pending.len() / BLOCK * BLOCK;
        for block in self.far_pending[..whole].chunks_exact(BLOCK) {
            if let Err(e) = self.apm.process_render_f32(&[block], &mut [&mut self.out[..]]) {
                tracing::debug!(error = %e, "far end refused");
            }
        }
        self.far_pending.drain(..whole);
    }

    /// Process one microphone frame in place (whole blocks; a ragged tail passes untouched).
    pub fn process(&mut self, samples: &mut [f32]) {
        self.render();
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        for block in samples.chunks_exact_mut(BLOCK) {
            match self.apm.process_capture_f32(&[&block[..]], &mut [&mut self.out[..]]) {
                Ok(()) => block.copy_from_slice(&self.out),
                Err(e) => tracing::debug!(error = %e, "capture block refused"),
            }
        }
    }
}

impl AudioSource for CleanMic {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        let mut frame = self.inner.next_frame()?;
        self.process(&mut frame.samples);
        Ok(frame)
    }
}
