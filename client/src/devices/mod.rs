//! Real devices: the camera (nokhwa), the microphone and the speakers (cpal). Each is an
//! implementation of the engine's source and sink traits, so the same pipeline serves real and
//! synthetic media. Opening a device never panics: a missing or busy device is an error the UI
//! shows, and the user can fall back to the test card or tone.

pub mod camera;
mod error;
pub mod list;
pub mod mic;
pub mod speaker;

pub use error::DeviceError;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The device's configuration with a 10 ms buffer when the device allows one (the default can be
/// hundreds of milliseconds through some backends, which is latency a call cannot afford).
pub(crate) fn low_latency(config: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut stream = config.config();
    if let cpal::SupportedBufferSize::Range { min, max } = *config.buffer_size() {
        let want = stream.sample_rate / 100;
        if min <= want && want <= max {
            stream.buffer_size = cpal::BufferSize::Fixed(want);
        }
    }
    stream
}

/// A live signal level (peak, 0..1) written by an audio callback and read by the UI meter.
/// Lock-free, so the audio callback never blocks.
#[derive(Debug, Clone, Default)]
pub struct Level(Arc<AtomicU32>);

impl Level {
    /// Record the peak of the latest buffer.
    pub fn set(&self, peak: f32) {
        self.0.store(peak.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Record a buffer's peak with a falling meter: a quiet buffer lowers the level gradually,
    /// so a meter read a few times a second still shows speech.
    pub fn feed(&self, peak: f32) {
        self.set(peak.max(self.get() * 0.85));
    }

    /// The latest peak.
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}
