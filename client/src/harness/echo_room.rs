//! The harness's room acoustics: what a client "plays" comes back into its microphone, delayed
//! and attenuated, as from laptop speakers (`harness --echo-path 60`). The sink side copies what
//! is played to the echo canceller's far end and into the room; the microphone side adds the
//! room's delayed copy to the synthetic tone. The echo canceller ([`crate::media::echo`]) then
//! has a real echo to remove, and the partner's analyser measures how much of its own tone came
//! back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::audio_source::{AudioFrame, AudioSink, AudioSource, SAMPLE_RATE};
use crate::media::echo::FarEnd;
use crate::media::video_source::SourceError;

/// How much of what is played reaches the microphone (-6 dB, close laptop speakers).
pub const ECHO_GAIN: f32 = 0.5;

/// A sink that also hands what it plays to the canceller's far end and to the room.
pub struct EchoTap {
    /// Where the audio really goes (the harness's analyser).
    pub inner: Box<dyn AudioSink>,
    /// The canceller's reference.
    pub far: Option<FarEnd>,
    /// The room the microphone hears.
    pub room: Option<FarEnd>,
}

impl AudioSink for EchoTap {
    fn play(&mut self, samples: &[f32], at: Instant) {
        for tap in [&self.far, &self.room].into_iter().flatten() {
            tap.push(samples);
        }
        self.inner.play(samples, at);
    }
}

/// A microphone in the room: the source's audio plus what was played `delay` ago, at
/// [`ECHO_GAIN`].
pub struct EchoRoom {
    source: Box<dyn AudioSource>,
    room: FarEnd,
    delay_line: VecDeque<f32>,
    lag: usize,
    drained: Vec<f32>,
}

impl EchoRoom {
    /// `source` in a room that returns what `room` collects after `delay`.
    pub fn new(source: Box<dyn AudioSource>, room: FarEnd, delay: Duration) -> Self {
        let lag = (delay.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
        Self { source, room, delay_line: std::iter::repeat_n(0.0, lag).collect(), lag, drained: Vec::new() }
    }
}

impl AudioSource for EchoRoom {
    fn name(&self) -> String {
        format!("{} in an echoing room", self.source.name())
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        let mut frame = self.source.next_frame()?;
        self.drained.clear();
        self.room.take_into(&mut self.drained);
        self.delay_line.extend(self.drained.iter().map(|s| s * ECHO_GAIN));
        for s in &mut frame.samples {
            // Nothing played yet (or a gap): silence, not a stall.
            *s += self.delay_line.pop_front().unwrap_or(0.0);
        }
        // A burst of late playout must not leave the echo further and further behind.
        let most = self.lag + SAMPLE_RATE as usize / 5;
        if self.delay_line.len() > most {
            let excess = self.delay_line.len() - most;
            self.delay_line.drain(..excess);
        }
        Ok(frame)
    }
}
