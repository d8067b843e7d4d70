//! The real audio device code (cpal microphone and speakers) against real-time devices: a
//! user-space PulseAudio daemon with a null sink, reached through cpal's PulseAudio host. What
//! the speakers play comes back through the sink's monitor, which is the default microphone.
//! (ALSA's own `null` device is not paced in real time, so it cannot stand in.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use strangers_client::devices::Level;
use strangers_client::devices::mic::MicSource;
use strangers_client::devices::speaker::AudioOut;
use strangers_client::media::audio_source::{AudioSource, FRAME_SAMPLES};
use strangers_client::media::tone::has_tone;

struct Pulse {
    dir: PathBuf,
}

impl Pulse {
    /// Start a private PulseAudio daemon. This test binary holds one test, so setting the
    /// environment here affects nothing else.
    fn start() -> Pulse {
        let dir = std::env::temp_dir().join(format!("strangers-pulse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("null.pa");
        std::fs::write(
            &config,
            "load-module module-native-protocol-unix\n\
             load-module module-null-sink sink_name=vsink rate=48000 channels=2\n\
             set-default-sink vsink\n\
             set-default-source vsink.monitor\n",
        )
        .unwrap();
        let status = Command::new("pulseaudio")
            .env("XDG_RUNTIME_DIR", &dir)
            .args(["--daemonize=yes", "--exit-idle-time=-1", "-n", "-F"])
            .arg(&config)
            .status()
            .expect("pulseaudio is installed (scripts/setup.sh installs it)");
        assert!(status.success(), "pulseaudio failed to start: {status}");
        Pulse { dir }
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = Command::new("pulseaudio").env("XDG_RUNTIME_DIR", &self.dir).arg("--kill").status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn what_the_speakers_play_the_microphone_hears() {
    let pulse = Pulse::start();
    // cpal's ALSA backend finds the daemon through XDG_RUNTIME_DIR, which must be set before
    // cpal starts. Run the loopback in a child process with it set, rather than mutating this
    // process's environment (unsafe with threads).
    let out = Command::new(std::env::current_exe().unwrap())
        .env("XDG_RUNTIME_DIR", &pulse.dir)
        .env("STRANGERS_PULSE_CHILD", "1")
        .args(["--exact", "child_loopback", "--nocapture", "--include-ignored"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    println!("{text}");
}

/// The loopback itself; run by the test above in a child process with the daemon's environment.
#[test]
#[ignore = "run by what_the_speakers_play_the_microphone_hears"]
fn child_loopback() {
    assert!(std::env::var_os("STRANGERS_PULSE_CHILD").is_some(), "run through the parent test");
    let level = Level::default();
    let mut mic = MicSource::open(None, level.clone()).expect("the default microphone opens");
    let out = AudioOut::default();
    let speaker = out.switch(None, true).expect("the default speakers open");
    println!("speaker {speaker:?}, microphone {}", mic.name());

    // Play 1 kHz for two seconds on a thread, in 20 ms packets as the engine does.
    let player = std::thread::spawn(move || {
        let mut sink = out.sink();
        let start = Instant::now();
        for i in 0..100u64 {
            let samples: Vec<f32> = (0..FRAME_SAMPLES)
                .map(|n| {
                    let t = (i as usize * FRAME_SAMPLES + n) as f32 / 48_000.0;
                    0.4 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                })
                .collect();
            std::thread::sleep((start + Duration::from_millis(20 * i)).saturating_duration_since(Instant::now()));
            sink.play(&samples, Instant::now());
        }
    });
    let (mut frames, mut with_tone) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut paced = Vec::new();
    while Instant::now() < deadline {
        let frame = mic.next_frame().expect("the microphone delivers");
        assert_eq!(frame.samples.len(), FRAME_SAMPLES);
        paced.push(Instant::now());
        frames += 1;
        if has_tone(&frame.samples, 48_000, 1000.0) {
            with_tone += 1;
        }
    }
    player.join().unwrap();
    println!("{frames} microphone frames, {with_tone} with the tone, level {:.2}", level.get());
    assert!(frames >= 80, "about 100 frames in 2 s, got {frames}");
    assert!(with_tone >= 40, "the speakers' tone came back through the monitor in {with_tone} frames");
    assert!(level.get() > 0.05, "the level meter moved");
}
