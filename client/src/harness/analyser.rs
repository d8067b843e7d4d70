//! The harness's audio sink: finds which client's tone is arriving (Goertzel), counts the
//! frames that carry it, and measures audio latency from the markers' capture times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::media::audio_source::{AudioSink, MarkerLog, SAMPLE_RATE};
use crate::media::tone::{MarkerDetector, goertzel, has_tone};

/// Frequency of the markers every synthetic tone carries.
pub const MARKER_HZ: f64 = 1800.0;

/// Every tone in the harness, with its source's marker log.
#[derive(Debug, Default)]
pub struct ToneRegistry(Mutex<Vec<(f64, MarkerLog)>>);

impl ToneRegistry {
    /// Register a source.
    pub fn add(&self, hz: f64, log: MarkerLog) {
        if let Ok(mut v) = self.0.lock() {
            v.push((hz, log));
        }
    }

    fn all(&self) -> Vec<(f64, MarkerLog)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// What one analyser found.
#[derive(Debug, Default)]
pub struct ToneCheck {
    /// 20 ms frames played.
    pub frames: AtomicU64,
    /// Frames in which the identified tone was present.
    pub with_tone: AtomicU64,
    detected: Mutex<Option<f64>>,
    latencies: Mutex<Vec<Duration>>,
    /// Summed power of the identified tone and of the listener's own tone (its echo, coming
    /// back from the partner's room).
    powers: Mutex<(f64, f64)>,
}

impl ToneCheck {
    /// The tone frequency identified, if any.
    pub fn detected_hz(&self) -> Option<f64> {
        self.detected.lock().ok().and_then(|d| *d)
    }

    /// How far the listener's own tone (echoed back by the partner's room) is below the
    /// partner's, in dB: high means little echo. `None` before anything was heard.
    pub fn echo_below_db(&self) -> Option<f64> {
        let (partner, own) = self.powers.lock().map(|p| *p).unwrap_or_default();
        (partner > 0.0).then(|| 10.0 * (partner / own.max(1e-15)).log10())
    }

    /// Marker latencies measured so far.
    pub fn latencies(&self) -> Vec<Duration> {
        self.latencies.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// See the module docs.
pub struct ToneAnalyser {
    registry: Arc<ToneRegistry>,
    check: Arc<ToneCheck>,
    /// The registry's tones, refreshed now and then (clients may join later).
    tones: Vec<(f64, MarkerLog)>,
    /// Frames in which each of `tones` was the strongest tone present.
    counts: Vec<u64>,
    frames_since_refresh: u32,
    markers: MarkerDetector,
    /// The listener's own tone, whose echo is measured.
    own_hz: Option<f64>,
}

impl ToneAnalyser {
    /// A new analyser and the check it fills.
    /// `own_hz` is the listening client's own tone, if it has one (its echo is measured).
    pub fn new(registry: Arc<ToneRegistry>, own_hz: Option<f64>) -> (Self, Arc<ToneCheck>) {
        let check = Arc::new(ToneCheck::default());
        let a = Self {
            registry,
            check: check.clone(),
            tones: Vec::new(),
            counts: Vec::new(),
            frames_since_refresh: u32::MAX,
            markers: MarkerDetector::new(MARKER_HZ, SAMPLE_RATE),
            own_hz,
        };
        (a, check)
    }
}

impl AudioSink for ToneAnalyser {
    fn play(&mut self, samples: &[f32], at: Instant) {
        self.check.frames.fetch_add(1, Ordering::Relaxed);
        if self.frames_since_refresh >= 50 {
            self.tones = self.registry.all();
            self.counts.resize(self.tones.len(), 0);
            self.frames_since_refresh = 0;
        }
        self.frames_since_refresh += 1;
        // The strongest registered tone in this frame, if any is clearly there. The identified
        // source is whichever wins most frames, so a transient at the start (codec warm-up,
        // concealment) cannot fix the choice on the wrong tone.
        let strongest = self
            .tones
            .iter()
            .enumerate()
            .filter(|(_, (hz, _))| has_tone(samples, SAMPLE_RATE, *hz))
            .map(|(i, (hz, _))| (i, goertzel(samples, SAMPLE_RATE, *hz)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        if let Some(i) = strongest {
            self.counts[i] += 1;
        }
        let Some((best, &count)) = self.counts.iter().enumerate().max_by_key(|(_, c)| **c) else { return };
        if count == 0 {
            return;
        }
        let (hz, log) = &self.tones[best];
        if let (Some(own), Ok(mut p)) = (self.own_hz.filter(|own| own != hz), self.check.powers.lock()) {
            p.0 += goertzel(samples, SAMPLE_RATE, *hz);
            p.1 += goertzel(samples, SAMPLE_RATE, own);
        }
        if let Ok(mut d) = self.check.detected.lock() {
            *d = Some(*hz);
        }
        self.check.with_tone.store(count, Ordering::Relaxed);
        if self.markers.feed(samples)
            && strongest == Some(best)
            && let Some(sent) = log.latest_before(at)
            && let Ok(mut l) = self.check.latencies.lock()
        {
            l.push(at - sent);
        }
    }
}
