//! The desktop app: an eframe/egui face on the engine. The UI thread only draws the [`Model`]
//! and sends [`Command`]s; the engine runs on its own runtime ([`session`]) and wakes the UI
//! when an event or a new picture arrives, so an idle app does not repaint at all.

mod dialogs;
pub mod embedded;
mod frames;
pub mod model;
mod panels;
pub mod session;
pub mod settings;
mod sound;
mod video;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eframe::egui;
use strangers_shared::PeerId;

use crate::call::state::CallState;
use crate::devices::list::Devices;
use crate::engine::Command;
pub use frames::FrameTimes;
use model::{Effect, Model};
use session::{Session, SessionConfig};
use settings::{AudioChoice, Settings, VideoChoice};
use video::VideoTexture;

/// How the app was launched.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Server URL for this run (overrides the saved one without replacing it).
    pub server: Option<String>,
    /// Start the demo stranger and search at once.
    pub demo: bool,
    /// Search at once.
    pub start: bool,
    /// Ignore saved settings (tests).
    pub fresh: bool,
    /// Force the synthetic test card and no audio devices (tests, machines without devices).
    pub synthetic: bool,
}

/// UI-only state that is not persisted.
struct UiState {
    chat_input: String,
    typing_sent: Option<Instant>,
    muted: bool,
    camera_off: bool,
    show_help: bool,
    show_devices: bool,
    show_room: bool,
    /// First Esc press (and which stranger it was for), waiting for the confirming second one.
    next_armed: Option<(Instant, u64)>,
    devices: Option<Devices>,
    scanning: bool,
    /// The preview state last sent to the engine.
    preview: Option<bool>,
    /// Whether self-view pictures wake the UI, as last set.
    self_view_wakes: Option<bool>,
    /// The devices in use this run (the saved choice, or what the app picked without one).
    video: VideoChoice,
    mic: AudioChoice,
    speaker: AudioChoice,
    /// `--server` for this run, which the saved setting does not see.
    cli_server: Option<String>,
}

impl Default for UiState {
    fn default() -> Self {
        Self {
            chat_input: String::new(),
            typing_sent: None,
            muted: false,
            camera_off: false,
            show_help: false,
            show_devices: false,
            show_room: false,
            next_armed: None,
            devices: None,
            scanning: false,
            preview: None,
            self_view_wakes: None,
            video: VideoChoice::TestCard,
            mic: AudioChoice::Off,
            speaker: AudioChoice::Off,
            cli_server: None,
        }
    }
}

/// The app; see the module docs.
pub struct StrangersApp {
    settings: Settings,
    session: Session,
    model: Model,
    ui: UiState,
    remote: VideoTexture,
    local: VideoTexture,
    tiles: HashMap<PeerId, VideoTexture>,
    frames: FrameTimes,
    scan_rx: Option<std::sync::mpsc::Receiver<Devices>>,
    logged_connected: u64,
    /// Whether the last frame drew the stranger's picture (rather than a placeholder).
    remote_drawn: bool,
    /// Save settings on exit (not with `--fresh`).
    persist: bool,
}

impl StrangersApp {
    /// Build the app: load settings, start the engine side, search at once for `--demo`.
    pub fn new(ctx: &egui::Context, storage: Option<&dyn eframe::Storage>, launch: &Launch) -> std::io::Result<Self> {
        let settings: Settings = if launch.fresh {
            Settings::default()
        } else {
            storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default()
        };
        // `--server` is for this run only: the saved URL stays what the user typed in Devices.
        let cli_server = launch.server.clone().filter(|s| !s.trim().is_empty());
        let server = cli_server.clone().or_else(|| Some(settings.server_url.clone()).filter(|s| !s.trim().is_empty()));
        let (video, mic, speaker) = if launch.synthetic {
            (VideoChoice::TestCard, AudioChoice::Off, AudioChoice::Off)
        } else {
            (
                settings.video.clone().unwrap_or_else(auto_video),
                settings.mic.clone().unwrap_or(AudioChoice::Default),
                settings.speaker.clone().unwrap_or(AudioChoice::Default),
            )
        };
        install_fonts(ctx);
        let repaint = ctx.clone();
        let repaint_frame = ctx.clone();
        let session = Session::start(SessionConfig {
            server,
            demo: launch.demo,
            demo_mode: settings.mode(),
            demo_interests: settings.interest_tags(),
            video: video.clone(),
            mic: mic.clone(),
            speaker: speaker.clone(),
            wake: Arc::new(move || repaint.request_repaint()),
            // A delay, however short, asks egui for exactly one pass (a zero one for two).
            wake_frame: Arc::new(move || repaint_frame.request_repaint_after(Duration::from_nanos(1))),
        })?;
        let mut app = Self {
            settings,
            session,
            model: Model::default(),
            ui: UiState { video, mic, speaker, cli_server, ..UiState::default() },
            remote: VideoTexture::default(),
            local: VideoTexture::default(),
            tiles: HashMap::new(),
            frames: FrameTimes::default(),
            scan_rx: None,
            logged_connected: 0,
            remote_drawn: false,
            persist: !launch.fresh,
        };
        if launch.demo || launch.start {
            app.start();
        }
        Ok(app)
    }

    /// The model (tests read it).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Remote video frames uploaded to the GPU so far.
    pub fn remote_uploads(&self) -> u64 {
        self.remote.uploads
    }

    /// UI frame timings.
    pub fn frame_times(&self) -> &FrameTimes {
        &self.frames
    }

    /// The URL of the server in use.
    pub fn server_url(&self) -> &str {
        &self.session.server_url
    }

    /// The settings as they would be saved.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether the last frame showed the stranger's picture (not a placeholder).
    pub fn remote_shown(&self) -> bool {
        self.remote_drawn
    }

    /// Self-view frames uploaded to the GPU so far.
    pub fn local_uploads(&self) -> u64 {
        self.local.uploads
    }

    fn start(&mut self) {
        self.ui.next_armed = None;
        let (mode, interests) = (self.settings.mode(), self.settings.interest_tags());
        self.session.follow_demo(mode, interests.clone());
        self.session.send(Command::Start { mode, interests });
    }

    /// Skip the stranger. Only a chat has someone to skip: searching already looks for the next
    /// one, and a room is left with Stop.
    fn next(&mut self) {
        self.ui.next_armed = None;
        if self.model.in_call() {
            self.session.send(Command::Next);
        }
    }

    fn stop(&mut self) {
        self.ui.next_armed = None;
        self.session.send(Command::Stop);
    }

    fn toggle_mute(&mut self) {
        self.ui.muted = !self.ui.muted;
        self.session.send(Command::SetMuted(self.ui.muted));
    }

    fn toggle_camera(&mut self) {
        self.ui.camera_off = !self.ui.camera_off;
        self.session.send(Command::SetCameraOff(self.ui.camera_off));
    }

    fn send_chat(&mut self) {
        let text = self.ui.chat_input.trim().to_string();
        if text.is_empty() {
            return;
        }
        self.session.send(Command::Chat(text));
        self.ui.chat_input.clear();
        self.set_typing(false);
    }

    fn set_typing(&mut self, active: bool) {
        let now = Instant::now();
        match (active, self.ui.typing_sent) {
            // Refresh the indicator every few seconds while typing goes on.
            (true, Some(at)) if now.duration_since(at) < Duration::from_secs(3) => {}
            (true, _) => {
                self.ui.typing_sent = Some(now);
                self.session.send(Command::Typing(true));
            }
            (false, Some(_)) => {
                self.ui.typing_sent = None;
                self.session.send(Command::Typing(false));
            }
            (false, None) => {}
        }
    }

    fn join_room(&mut self) {
        let room = self.settings.room.trim().to_string();
        if room.is_empty() {
            return;
        }
        let capacity = Some(if self.settings.group_room { 4 } else { 2 });
        self.session.send(Command::JoinRoom { room, name: self.settings.name.trim().to_string(), capacity });
        self.ui.show_room = false;
    }

    fn scan_devices(&mut self) {
        if self.ui.scanning {
            return;
        }
        self.ui.scanning = true;
        let (tx, rx) = std::sync::mpsc::channel();
        self.scan_rx = Some(rx);
        Session::scan_devices(move |d| {
            let _ = tx.send(d);
        });
    }

    /// Drain engine events into the model (never blocks).
    fn pump(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        let time = chrono::Local::now().format("%H:%M").to_string();
        while let Ok(event) = self.session.events.try_recv() {
            if let Some(Effect::MatchSound) = self.model.apply(event, now, &time)
                && self.settings.match_sound
            {
                sound::play_match(&self.session.audio_out());
            }
        }
        if self.model.calls > self.logged_connected && self.model.call == CallState::Connected {
            self.logged_connected = self.model.calls;
            tracing::info!(calls = self.model.calls, "call connected");
        }
        if let Some(rx) = &self.scan_rx
            && let Ok(devices) = rx.try_recv()
        {
            self.ui.devices = Some(devices);
            self.ui.scanning = false;
            self.scan_rx = None;
        }
        self.model.expire_errors(now);
        // An armed Esc belongs to the stranger it was pressed for.
        if self.ui.next_armed.is_some_and(|(_, matches)| !self.model.in_call() || matches != self.model.matches) {
            self.ui.next_armed = None;
        }
        if self.session.quit.load(Ordering::Relaxed) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Capture only when someone will see it: in a search, call or room, or while the user
        // looks at the device settings. An idle window then costs (almost) nothing.
        // With the camera off nobody sees the picture, so capture idles then too.
        let preview = (self.model.busy() && !self.settings.text_mode && !self.ui.camera_off) || self.ui.show_devices;
        if self.ui.preview != Some(preview) {
            self.ui.preview = Some(preview);
            self.session.send(Command::SetPreview(preview));
        }
        // While remote video plays, its frames drive the repaints (30 a second) and the
        // self-view is drawn with them; letting the self-view wake the UI too would double the
        // repaints, and with software rendering each one costs milliseconds.
        let remote_plays =
            self.model.call == CallState::Connected && self.model.remote.is_some() && self.model.partner_media.1
                || self.model.room.as_ref().is_some_and(|(_, tiles)| tiles.iter().any(|t| t.video && t.slot.is_some()));
        let wakes = !self.ui.camera_off && !remote_plays;
        if self.ui.self_view_wakes != Some(wakes) {
            self.ui.self_view_wakes = Some(wakes);
            self.session.set_self_view_wakes(wakes);
        }
        // Stale typing indicator: stop after 5 s without a keystroke.
        if self.ui.typing_sent.is_some_and(|at| now.duration_since(at) > Duration::from_secs(5)) {
            self.set_typing(false);
        }
    }

    /// Things that change with time rather than events: the search clock, the spinner, the
    /// Esc confirmation and error banners. Ask for a slow repaint only while they are visible,
    /// and for an error banner only once, when it is due to go.
    fn schedule_repaint(&self, ctx: &egui::Context) {
        let searching =
            matches!(self.model.call, CallState::Searching { .. } | CallState::Matched { .. } | CallState::Connecting);
        let lost = matches!(self.model.server, model::Server::Lost { .. } | model::Server::Connecting);
        if searching || lost || self.ui.next_armed.is_some() {
            ctx.request_repaint_after(Duration::from_millis(if searching { 100 } else { 500 }));
        }
        if let Some(due) = self.model.next_error_expiry(Instant::now()) {
            ctx.request_repaint_after(due + Duration::from_millis(20));
        }
    }
}

/// DejaVu Sans as a fallback font: it has the symbols the controls use (▶ » ■ ♪ ☎ ⚙ ⚠).
fn install_fonts(ctx: &egui::Context) {
    use egui::{FontInsert, FontPriority, InsertFontFamily};
    static DEJAVU: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
    ctx.add_font(FontInsert::new(
        "DejaVuSans",
        egui::FontData::from_static(DEJAVU),
        vec![InsertFontFamily { family: egui::FontFamily::Proportional, priority: FontPriority::Lowest }],
    ));
}

fn auto_video() -> VideoChoice {
    // Opening the camera decides; with none, the session falls back to the test card.
    VideoChoice::Camera("0".into())
}

impl eframe::App for StrangersApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        self.pump(&ctx);
        self.shortcuts(&ctx);
        self.top_bar(ui);
        self.status_bar(ui);
        self.chat_panel(ui);
        self.stage(ui);
        self.dialogs(&ctx);
        self.schedule_repaint(&ctx);
        self.frames.record(started.elapsed(), frame.info().cpu_usage);
    }

    /// The panels are drawn unfilled over this (see `panels::bare_panel`), so it must be the
    /// panel colour.
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.persist {
            eframe::set_value(storage, eframe::APP_KEY, &self.settings);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        tracing::info!(frames = %self.frames.summary(), "ui frame times");
    }
}
