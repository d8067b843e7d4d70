//! The speakers as [`AudioSink`]s. One cpal output stream mixes a few lock-free rings, one per
//! remote audio stream (a mesh room has up to three), so the output callback never blocks or
//! allocates. [`AudioOut`] lets the user switch speakers mid-call: each sink notices the switch
//! on its next packet and moves its ring to the new stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::DeviceError;
use super::list::audio_device;
use crate::media::audio_source::{AudioSink, SAMPLE_RATE};
use crate::media::echo::FarEnd;
use crate::media::resample::Resampler;

/// Remote streams one output can mix.
const VOICES: usize = 4;

struct Speaker {
    _stream: cpal::Stream,
    /// Free ring producers; a sink takes one and gives it back when it drops.
    pool: Mutex<Vec<rtrb::Producer<f32>>>,
    rate: u32,
    name: String,
}

impl Speaker {
    fn open(id: Option<&str>, far: &FarEnd) -> Result<Self, DeviceError> {
        let device = audio_device(id, false)?;
        let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| "speakers".into());
        let refused = |source| DeviceError::Audio { device: name.clone(), source };
        let config = device.default_output_config().map_err(refused)?;
        let stream_config = super::low_latency(&config);
        let rate = stream_config.sample_rate.max(1);
        // 300 ms per voice; the callback keeps at most 120 ms queued, dropping the oldest.
        let ring = (rate as usize * 3) / 10;
        let (producers, consumers): (Vec<_>, Vec<_>) = (0..VOICES).map(|_| rtrb::RingBuffer::new(ring)).unzip();
        far.set_rate(rate);
        let mix = Mix {
            voices: consumers,
            channels: usize::from(stream_config.channels.max(1)),
            max_queue: rate as usize * 12 / 100,
            far: far.clone(),
            // Room for any callback a low-latency stream asks for, so the callback never grows it.
            played: Vec::with_capacity(rate as usize / 2),
        };
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => build::<f32>(&device, stream_config, mix),
            cpal::SampleFormat::I16 => build::<i16>(&device, stream_config, mix),
            cpal::SampleFormat::I32 => build::<i32>(&device, stream_config, mix),
            cpal::SampleFormat::U16 => build::<u16>(&device, stream_config, mix),
            format => return Err(DeviceError::SampleFormat { device: name, format }),
        }
        .map_err(refused)?;
        stream.play().map_err(refused)?;
        Ok(Self { _stream: stream, pool: Mutex::new(producers), rate, name })
    }

    fn take(&self) -> Option<rtrb::Producer<f32>> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn give_back(&self, producer: rtrb::Producer<f32>) {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner).push(producer);
    }
}

struct Mix {
    voices: Vec<rtrb::Consumer<f32>>,
    channels: usize,
    max_queue: usize,
    /// What was played goes to the echo canceller.
    far: FarEnd,
    played: Vec<f32>,
}

fn build<T: SizedSample + FromSample<f32> + Send + 'static>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut mix: Mix,
) -> Result<cpal::Stream, cpal::Error> {
    let on_data = move |out: &mut [T], _: &cpal::OutputCallbackInfo| {
        for voice in &mut mix.voices {
            let excess = voice.slots().saturating_sub(mix.max_queue);
            if let Ok(stale) = voice.read_chunk(excess) {
                stale.commit_all();
            }
        }
        mix.played.clear();
        for frame in out.chunks_mut(mix.channels) {
            let mut sum = 0f32;
            for voice in &mut mix.voices {
                sum += voice.pop().unwrap_or(0.0);
            }
            let sample = sum.clamp(-1.0, 1.0);
            frame.fill(T::from_sample(sample));
            if mix.played.len() < mix.played.capacity() {
                mix.played.push(sample);
            }
        }
        mix.far.push(&mix.played);
    };
    let on_error = |e: cpal::Error| tracing::warn!(error = %e, "speaker stream error");
    device.build_output_stream::<T, _, _>(config, on_data, on_error, None)
}

#[derive(Default)]
struct OutShared {
    current: Mutex<Option<Arc<Speaker>>>,
    generation: AtomicU64,
    far: FarEnd,
}

/// The app's audio output: a switchable speaker that hands out sinks. Cheap to clone.
#[derive(Clone, Default)]
pub struct AudioOut(Arc<OutShared>);

impl AudioOut {
    /// Play through speaker `id` (the default when `None`), or nowhere when `enabled` is false.
    /// Returns the device's name. When the new device cannot be opened, the current one keeps
    /// playing (see [`AudioOut::current`]).
    pub fn switch(&self, id: Option<&str>, enabled: bool) -> Result<Option<String>, DeviceError> {
        let speaker = if enabled { Some(Arc::new(Speaker::open(id, &self.0.far)?)) } else { None };
        let name = speaker.as_ref().map(|s| s.name.clone());
        // Close the old stream after the lock is released: sinks take it on every switch.
        let old = std::mem::replace(&mut *self.0.current.lock().unwrap_or_else(PoisonError::into_inner), speaker);
        self.0.generation.fetch_add(1, Ordering::Relaxed);
        drop(old);
        Ok(name)
    }

    /// The name of the speakers playing now, if any.
    pub fn current(&self) -> Option<String> {
        self.0.current.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|s| s.name.clone())
    }

    /// What the speakers play, for the microphone's echo canceller.
    pub fn far_end(&self) -> FarEnd {
        self.0.far.clone()
    }

    /// A sink for one remote audio stream.
    pub fn sink(&self) -> Box<dyn AudioSink> {
        Box::new(SpeakerSink { out: self.clone(), generation: u64::MAX, voice: None, resampler: None, buf: Vec::new() })
    }
}

struct SpeakerSink {
    out: AudioOut,
    generation: u64,
    voice: Option<(Arc<Speaker>, rtrb::Producer<f32>)>,
    resampler: Option<Resampler>,
    buf: Vec<f32>,
}

impl SpeakerSink {
    fn release(&mut self) {
        if let Some((speaker, producer)) = self.voice.take() {
            speaker.give_back(producer);
        }
    }

    fn follow_switch(&mut self) {
        let generation = self.out.0.generation.load(Ordering::Relaxed);
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        self.release();
        let current = self.out.0.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(speaker) = current {
            self.resampler = Some(Resampler::new(SAMPLE_RATE, speaker.rate));
            self.voice = speaker.take().map(|p| (speaker, p));
        }
    }
}

impl AudioSink for SpeakerSink {
    fn play(&mut self, samples: &[f32], _at: Instant) {
        self.follow_switch();
        let (Some((_, producer)), Some(resampler)) = (self.voice.as_mut(), self.resampler.as_mut()) else { return };
        self.buf.clear();
        resampler.process(samples, &mut self.buf);
        let n = self.buf.len().min(producer.slots());
        // What does not fit is dropped: the speaker is behind and more queue would only add delay.
        if let Ok(chunk) = producer.write_chunk_uninit(n) {
            chunk.fill_from_iter(self.buf.iter().copied());
        }
    }
}

impl Drop for SpeakerSink {
    fn drop(&mut self) {
        self.release();
    }
}
