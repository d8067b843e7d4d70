//! `aec`: what the microphone's clean-up costs per call. 60 s of speech-like far end comes back
//! into the microphone 60 ms later at -6 dB, with a near-end talker from the half-way point;
//! every 20 ms frame goes through the app's `CleanMic` (AEC3 + noise suppression + adaptive
//! gain, as the app runs it) and, as a baseline in the same run, through the canceller alone.
//! Prints, per configuration and as the median of RUNS runs: microseconds per 10 ms block
//! (median and p99 of the per-frame times) and the share of one core that is per call.
//!
//!   cargo run --release -p strangers-bench --bin aec            # RUNS=5 by default

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use strangers_client::media::audio_source::{AudioFrame, AudioSource, SAMPLE_RATE};
use strangers_client::media::echo::{CleanMic, FarEnd, Stages};
use strangers_client::media::speech::SpeechLike;
use strangers_client::media::video_source::SourceError;

const FRAMES: usize = 3_000; // 60 s

/// Never read: the benchmark hands frames to `CleanMic::process` itself.
struct Unused;

impl AudioSource for Unused {
    fn name(&self) -> String {
        "unused".into()
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        Err(SourceError::Idle)
    }
}

/// One run: per-frame processing times in microseconds.
fn run(stages: Stages) -> Vec<f64> {
    let far = FarEnd::default();
    let mut mic = CleanMic::new(Box::new(Unused), far.clone(), stages, Arc::new(AtomicBool::new(true)));
    let (mut speaker, mut near) = (SpeechLike::new(120.0, 4.1), SpeechLike::new(210.0, 3.3));
    let mut room: VecDeque<f32> = std::iter::repeat_n(0.0, SAMPLE_RATE as usize * 60 / 1000).collect();
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let played = speaker.frame();
        far.push(&played);
        room.extend(played.iter().map(|s| s * 0.5));
        let talk = near.frame();
        let mut frame: Vec<f32> =
            talk.iter().map(|t| room.pop_front().unwrap_or(0.0) + if i >= FRAMES / 2 { *t } else { 0.0 }).collect();
        let started = Instant::now();
        mic.process(&mut frame);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize).copied().unwrap_or(0.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let configs = [
        ("AEC3 + NS + AGC2 (the app)", Stages::ALL),
        ("AEC3 alone (baseline)", Stages { echo: true, noise: false, gain: false }),
    ];
    println!("| configuration | µs per 10 ms block, p50 | p99 | % of one core per call |");
    println!("|---|---:|---:|---:|");
    for (name, stages) in configs {
        let (mut p50s, mut p99s, mut shares) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            // Each frame is two 10 ms blocks; a call processes 50 frames a second.
            let times = run(stages);
            p50s.push(pct(&times, 50.0) / 2.0);
            p99s.push(pct(&times, 99.0) / 2.0);
            shares.push(times.iter().sum::<f64>() / (FRAMES as f64 * 20_000.0) * 100.0);
        }
        println!("| {name} | {:.0} | {:.0} | {:.2} |", median(&mut p50s), median(&mut p99s), median(&mut shares));
    }
}
