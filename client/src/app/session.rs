//! The app's engine side: a tokio runtime off the UI thread running the engine (and, with no
//! server given, an embedded server and optionally the demo stranger), the devices behind
//! switchable sources, and an event pump that wakes the UI only when something happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use strangers_shared::Mode;

use super::embedded::DemoBot;
use super::settings::{AudioChoice, VideoChoice};
use crate::devices::camera::CameraSource;
use crate::devices::mic::MicSource;
use crate::devices::speaker::AudioOut;
use crate::devices::{Level, list};
use crate::engine::{self, Command, EngineConfig, EngineHandle, Event};
use crate::media::audio_source::{AudioSource, SyntheticTone};
use crate::media::echo::{CleanMic, Stages};
use crate::media::send::{SendConfig, SendStats};
use crate::media::switch::{self, Switch};
use crate::media::video_source::{SyntheticVideo, VideoSource};
use crate::slot::FrameSlot;

/// How the session starts.
pub struct SessionConfig {
    /// Server URL; `None` uses (or starts) the local default.
    pub server: Option<String>,
    /// The install id and accepted terms every `hello` carries.
    pub identity: crate::signaling::Identity,
    /// Also start the demo stranger.
    pub demo: bool,
    /// The mode the demo stranger first searches in (it follows [`Session::follow_demo`] later).
    pub demo_mode: Mode,
    /// Interests for the demo stranger.
    pub demo_interests: Vec<String>,
    /// Camera.
    pub video: VideoChoice,
    /// Microphone.
    pub mic: AudioChoice,
    /// Speakers.
    pub speaker: AudioChoice,
    /// Called when an event arrives (the UI's repaint request).
    pub wake: Arc<dyn Fn() + Send + Sync>,
    /// Called when a new picture arrives: one repaint, where `wake` may ask for more (egui
    /// repaints twice after a plain request, which would draw every video frame twice).
    pub wake_frame: Arc<dyn Fn() + Send + Sync>,
}

/// Device problems to show the user, per device.
#[derive(Debug, Clone, Default)]
pub struct DeviceNotes {
    /// Camera.
    pub video: Option<String>,
    /// Microphone.
    pub mic: Option<String>,
    /// Speakers.
    pub speaker: Option<String>,
}

/// The running engine side; dropping it shuts everything down.
pub struct Session {
    engine: Option<EngineHandle>,
    /// Engine events for the UI thread.
    pub events: mpsc::Receiver<Event>,
    /// The server URL in use.
    pub server_url: String,
    /// The self-view.
    pub local_view: FrameSlot,
    /// Send-side counters.
    pub send_stats: Arc<SendStats>,
    /// The microphone level.
    pub mic_level: Level,
    /// Set by SIGTERM/SIGINT: the UI should close.
    pub quit: Arc<AtomicBool>,
    /// Device problems.
    pub notes: Arc<Mutex<DeviceNotes>>,
    /// Cancel the speakers' echo in the microphone (and suppress noise, control gain).
    echo_cancellation: Arc<AtomicBool>,
    video: Switch<dyn VideoSource>,
    audio: Switch<dyn AudioSource>,
    out: AudioOut,
    demo: Option<DemoBot>,
    wake_frame: Arc<dyn Fn() + Send + Sync>,
    _server: Option<signal_server::ServerHandle>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Session {
    /// Start the runtime, find the server and start the engine. Takes well under a second (a
    /// local probe); devices open in the background.
    pub fn start(cfg: SessionConfig) -> std::io::Result<Self> {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("engine").enable_all().build()?;
        let (server_url, server) = runtime.block_on(super::embedded::resolve_server(cfg.server.as_deref()));
        let (video, video_src) = switch::video(None);
        let (audio, audio_src) = switch::audio(None);
        let out = AudioOut::default();
        let sinks = {
            let out = out.clone();
            Arc::new(move |_| out.sink())
        };
        let _guard = runtime.enter();
        let mut engine = engine::start(EngineConfig {
            server_url: server_url.clone(),
            identity: cfg.identity.clone(),
            udp_bind: "0.0.0.0:0".into(),
            relay_only: false,
            video: Some(Box::new(video_src)),
            audio: Some(Box::new(audio_src)),
            send: SendConfig { self_view: true, ..SendConfig::default() },
            rgba: true,
            sinks,
        })?;
        let demo = if cfg.demo {
            Some(super::embedded::start_demo(server_url.clone(), cfg.demo_mode, cfg.demo_interests.clone())?)
        } else {
            None
        };
        let (tx, events) = mpsc::channel();
        let mut engine_events = std::mem::replace(&mut engine.events, tokio::sync::mpsc::unbounded_channel().1);
        let wake = cfg.wake.clone();
        let wake_frame = cfg.wake_frame.clone();
        runtime.spawn(async move {
            while let Some(event) = engine_events.recv().await {
                // Remote pictures wake the UI themselves, so video plays even with no other events.
                if let Event::RemoteVideo { slot, .. } = &event {
                    let wake = wake_frame.clone();
                    slot.set_notify(move || wake());
                }
                if tx.send(event).is_err() {
                    break;
                }
                wake();
            }
        });
        let quit = Arc::new(AtomicBool::new(false));
        runtime.spawn(watch_signals(quit.clone(), cfg.wake.clone()));
        let local_view = engine.local_view.clone();
        let session = Self {
            send_stats: engine.send_stats.clone(),
            engine: Some(engine),
            events,
            server_url,
            local_view,
            mic_level: Level::default(),
            quit,
            notes: Arc::default(),
            echo_cancellation: Arc::new(AtomicBool::new(true)),
            video,
            audio,
            out,
            demo,
            wake_frame: cfg.wake_frame.clone(),
            _server: server,
            runtime: Some(runtime),
        };
        session.set_self_view_wakes(true);
        session.set_video(cfg.video);
        session.set_mic(cfg.mic);
        session.set_speaker(cfg.speaker);
        Ok(session)
    }

    /// Send a command to the engine.
    pub fn send(&self, cmd: Command) {
        if let Some(engine) = &self.engine {
            engine.send(cmd);
        }
    }

    /// Have the demo stranger (if there is one) search in `mode` with `interests`, so the user
    /// meets it whichever mode they picked.
    pub fn follow_demo(&self, mode: Mode, interests: Vec<String>) {
        if let Some(demo) = &self.demo {
            demo.follow(mode, interests);
        }
    }

    /// Whether a new self-view picture wakes the UI. Off while the camera is off: the self-view
    /// then shows a placeholder, and 30 wake-ups a second would only burn CPU.
    pub fn set_self_view_wakes(&self, on: bool) {
        if on {
            let wake = self.wake_frame.clone();
            self.local_view.set_notify(move || wake());
        } else {
            self.local_view.set_notify(|| {});
        }
    }

    fn note(&self, f: impl FnOnce(&mut DeviceNotes)) {
        f(&mut self.notes.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Switch the camera. Opening happens on a worker thread; failures land in `notes`.
    pub fn set_video(&self, choice: VideoChoice) {
        let (switch, notes) = (self.video.clone(), self.notes.clone());
        self.note(|n| n.video = None);
        spawn_opener("open-camera", move || {
            let source: Option<Box<dyn VideoSource>> = match &choice {
                VideoChoice::Camera(id) => match CameraSource::open(id, 640, 480, 30) {
                    Ok(cam) => Some(Box::new(cam)),
                    Err(e) => {
                        set_note(&notes, |n| {
                            n.video = Some(format!(
                                "cannot open {}. Sending the test card instead.",
                                sentence(&e.to_string())
                            ))
                        });
                        Some(Box::new(SyntheticVideo::new(640, 480, 30.0, "Test card")))
                    }
                },
                VideoChoice::TestCard => Some(Box::new(SyntheticVideo::new(640, 480, 30.0, "Test card"))),
                VideoChoice::Off => None,
            };
            switch.set(source);
        });
    }

    /// Switch the microphone (on a worker thread).
    pub fn set_mic(&self, choice: AudioChoice) {
        let (switch, notes, level) = (self.audio.clone(), self.notes.clone(), self.mic_level.clone());
        let (far, echo) = (self.out.far_end(), self.echo_cancellation.clone());
        self.note(|n| n.mic = None);
        level.set(0.0);
        spawn_opener("open-mic", move || {
            let id = match &choice {
                AudioChoice::Device(id) => Some(id.as_str()),
                _ => None,
            };
            let source: Option<Box<dyn AudioSource>> = match choice {
                AudioChoice::Default | AudioChoice::Device(_) => match MicSource::open(id, level) {
                    // A real microphone hears the speakers: clean it against what they play.
                    Ok(mic) => Some(Box::new(CleanMic::new(Box::new(mic), far, Stages::ALL, echo))),
                    Err(e) => {
                        set_note(&notes, |n| {
                            n.mic = Some(format!(
                                "cannot open {}. You can still listen and chat.",
                                sentence(&e.to_string())
                            ))
                        });
                        None
                    }
                },
                AudioChoice::TestTone => {
                    Some(Box::new(SyntheticTone::new(440.0, 880.0, Duration::from_secs(2))) as Box<dyn AudioSource>)
                }
                AudioChoice::Off => None,
            };
            switch.set(source);
        });
    }

    /// Turn echo cancellation (with noise suppression and gain control) on or off; off is for
    /// headphones, where there is no echo. Takes effect at once.
    pub fn set_echo_cancellation(&self, on: bool) {
        self.echo_cancellation.store(on, Ordering::Relaxed);
    }

    /// Whether echo cancellation is on.
    pub fn echo_cancellation(&self) -> bool {
        self.echo_cancellation.load(Ordering::Relaxed)
    }

    /// Switch the speakers (on a worker thread).
    pub fn set_speaker(&self, choice: AudioChoice) {
        let (out, notes) = (self.out.clone(), self.notes.clone());
        self.note(|n| n.speaker = None);
        spawn_opener("open-speaker", move || {
            let (id, enabled) = match &choice {
                AudioChoice::Device(id) => (Some(id.as_str()), true),
                AudioChoice::Off => (None, false),
                _ => (None, true),
            };
            if let Err(e) = out.switch(id, enabled) {
                // A failed switch leaves the old speakers playing; say which, if any.
                let rest = match out.current() {
                    Some(name) => format!("Still playing through {name}."),
                    None => "Sound is off.".to_string(),
                };
                set_note(&notes, |n| n.speaker = Some(format!("{}. {rest}", sentence(&e.to_string()))));
            }
        });
    }

    /// The active camera/test card and microphone names, and their latest failures.
    pub fn active_devices(&self) -> (Option<String>, Option<String>, Option<String>, Option<String>) {
        (self.video.active(), self.audio.active(), self.video.error(), self.audio.error())
    }

    /// The speakers, for sounds the app plays itself.
    pub fn audio_out(&self) -> AudioOut {
        self.out.clone()
    }

    /// Look for devices on a worker thread; `done` gets the result.
    pub fn scan_devices(done: impl FnOnce(list::Devices) + Send + 'static) {
        spawn_opener("scan-devices", move || done(list::scan()));
    }
}

/// An error message without its trailing full stop, to continue it with another sentence.
fn sentence(s: &str) -> &str {
    s.trim_end().trim_end_matches('.')
}

fn set_note(notes: &Mutex<DeviceNotes>, f: impl FnOnce(&mut DeviceNotes)) {
    f(&mut notes.lock().unwrap_or_else(PoisonError::into_inner));
}

fn spawn_opener(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!(error = %e, "cannot start a device thread");
    }
}

async fn watch_signals(quit: Arc<AtomicBool>, wake: Arc<dyn Fn() + Send + Sync>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
    }
    tracing::info!("signal received; closing the window");
    quit.store(true, Ordering::Relaxed);
    wake();
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.send(Command::Shutdown);
            drop(engine);
        }
        self.video.set(None);
        self.audio.set(None);
        if let Some(rt) = self.runtime.take() {
            // Give the engine a moment to say goodbye to the server, then stop.
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(150)).await });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
