//! The microphone as an [`AudioSource`]: a cpal input stream whose callback downmixes to mono,
//! records the level and pushes samples into a lock-free ring (it never blocks or allocates).
//! The capture thread drains the ring, resamples to 48 kHz and cuts 20 ms frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use cpal::SizedSample;
use cpal::traits::{DeviceTrait, StreamTrait};

use super::list::audio_device;
use super::{DeviceError, Level};
use crate::media::audio_source::{AudioFrame, AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use crate::media::resample::Resampler;
use crate::media::video_source::SourceError;

/// Ring capacity: half a second at 48 kHz, plenty for any device buffer.
const RING_SAMPLES: usize = 48_000 / 2;
/// Keep at most this many frames (200 ms) of backlog; older audio is dropped to bound latency.
const MAX_BACKLOG_FRAMES: usize = 10;
/// A microphone silent for this long (no callbacks at all) has failed.
const STALL: Duration = Duration::from_secs(3);

/// A cpal microphone; see the module docs.
pub struct MicSource {
    name: String,
    _stream: cpal::Stream,
    ring: rtrb::Consumer<f32>,
    resampler: Resampler,
    pending: Vec<f32>,
    waker: Arc<OnceLock<Thread>>,
    failed: Arc<AtomicBool>,
    last_data: Instant,
}

impl MicSource {
    /// Open the microphone `id` (or the default), reporting its level to `level`.
    pub fn open(id: Option<&str>, level: Level) -> Result<Self, DeviceError> {
        let device = audio_device(id, true)?;
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| "microphone".into());
        let refused = |source| DeviceError::Audio { device: name.clone(), source };
        let config = device.default_input_config().map_err(refused)?;
        let (producer, ring) = rtrb::RingBuffer::new(RING_SAMPLES);
        let waker = Arc::new(OnceLock::new());
        let failed = Arc::new(AtomicBool::new(false));
        let stream_config = super::low_latency(&config);
        let channels = usize::from(stream_config.channels.max(1));
        let parts = Parts { producer, level, waker: waker.clone(), failed: failed.clone(), channels };
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => build::<f32>(&device, stream_config, parts),
            cpal::SampleFormat::I16 => build::<i16>(&device, stream_config, parts),
            cpal::SampleFormat::I32 => build::<i32>(&device, stream_config, parts),
            cpal::SampleFormat::U16 => build::<u16>(&device, stream_config, parts),
            format => return Err(DeviceError::SampleFormat { device: name, format }),
        }
        .map_err(refused)?;
        stream.play().map_err(refused)?;
        Ok(Self {
            name,
            _stream: stream,
            ring,
            resampler: Resampler::new(stream_config.sample_rate, SAMPLE_RATE),
            pending: Vec::with_capacity(FRAME_SAMPLES * 4),
            waker,
            failed,
            last_data: Instant::now(),
        })
    }

    fn drain(&mut self) -> bool {
        let available = self.ring.slots();
        if available == 0 {
            return false;
        }
        if let Ok(chunk) = self.ring.read_chunk(available) {
            let (a, b) = chunk.as_slices();
            self.resampler.process(a, &mut self.pending);
            self.resampler.process(b, &mut self.pending);
            chunk.commit_all();
        }
        true
    }
}

struct Parts {
    producer: rtrb::Producer<f32>,
    level: Level,
    waker: Arc<OnceLock<Thread>>,
    failed: Arc<AtomicBool>,
    channels: usize,
}

fn build<T: SizedSample + Send + 'static>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    parts: Parts,
) -> Result<cpal::Stream, cpal::Error>
where
    f32: cpal::FromSample<T>,
{
    let Parts { mut producer, level, waker, failed, channels } = parts;
    let on_data = move |data: &[T], _: &cpal::InputCallbackInfo| {
        let mut peak = 0f32;
        for frame in data.chunks(channels) {
            let sum: f32 = frame.iter().map(|s| s.to_sample::<f32>()).sum();
            let mono = sum / channels as f32;
            peak = peak.max(mono.abs());
            // A full ring means the capture thread is behind: drop rather than block.
            let _ = producer.push(mono);
        }
        level.feed(peak);
        if let Some(thread) = waker.get() {
            thread.unpark();
        }
    };
    let on_error = move |e: cpal::Error| {
        tracing::warn!(error = %e, "microphone stream error");
        if !matches!(e.kind(), cpal::ErrorKind::Xrun) {
            failed.store(true, Ordering::Relaxed);
        }
    };
    device.build_input_stream::<T, _, _>(config, on_data, on_error, None)
}

impl AudioSource for MicSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        self.waker.get_or_init(std::thread::current);
        loop {
            if self.failed.load(Ordering::Relaxed) {
                return Err(SourceError::Failed(format!("{} stopped", self.name)));
            }
            if self.drain() {
                self.last_data = Instant::now();
            }
            let backlog = self.pending.len().saturating_sub(MAX_BACKLOG_FRAMES * FRAME_SAMPLES);
            self.pending.drain(..backlog);
            if self.pending.len() >= FRAME_SAMPLES {
                let samples: Vec<f32> = self.pending.drain(..FRAME_SAMPLES).collect();
                // The first sample is older than now by everything still buffered plus itself.
                let buffered = (self.pending.len() + FRAME_SAMPLES) as f64 / f64::from(SAMPLE_RATE);
                let captured_at =
                    Instant::now().checked_sub(Duration::from_secs_f64(buffered)).unwrap_or_else(Instant::now);
                return Ok(AudioFrame { samples, captured_at });
            }
            if self.last_data.elapsed() > STALL {
                return Err(SourceError::Failed(format!("{} delivers no audio", self.name)));
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}
