//! The desktop app: an eframe/egui face on the engine. The UI thread only draws the [`Model`]
//! and sends [`Command`](crate::engine::Command)s; the engine runs on its own runtime
//! ([`session`]) and wakes the UI when an event or a new picture arrives, so an idle app does
//! not repaint at all.
//!
//! Each frame: engine events are folded into the model, the model's [`Upkeep`] decides what the
//! state and the clock call for, the panels and dialogs draw and collect the user's commands,
//! and those run once at the end (`actions.rs`), which carries out the decisions too.

mod actions;
mod chat_filter;
mod dialogs;
pub mod embedded;
mod frames;
pub mod model;
mod panels;
mod safety;
pub mod session;
pub mod settings;
mod sound;
mod terms;
mod video;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actions::UiCommand;
use eframe::egui;
use strangers_shared::PeerId;

use crate::devices::list::Devices;
pub use frames::FrameTimes;
use model::{Local, Model, Upkeep};
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
    /// Relay all media for this run (`--relay-only`), whatever the saved setting says.
    pub relay_only: bool,
}

/// UI-only state that is not persisted.
struct UiState {
    chat_input: String,
    muted: bool,
    camera_off: bool,
    show_help: bool,
    show_devices: bool,
    show_room: bool,
    devices: Option<Devices>,
    scanning: bool,
    /// The devices in use this run (the saved choice, or what the app picked without one).
    video: VideoChoice,
    mic: AudioChoice,
    speaker: AudioChoice,
    /// `--server` for this run, which the saved setting does not see.
    cli_server: Option<String>,
    /// `--relay-only` for this run.
    cli_relay_only: bool,
    /// The first-run terms screen.
    terms: terms::TermsForm,
    /// `--demo` or `--start` waits for the terms.
    start_after_terms: bool,
    /// The Report window.
    report: safety::ReportForm,
    /// The Safety settings window.
    show_safety: bool,
    /// The words masked in the stranger's chat (parsed from the settings).
    masked: Vec<String>,
}

impl Default for UiState {
    fn default() -> Self {
        Self {
            chat_input: String::new(),
            muted: false,
            camera_off: false,
            show_help: false,
            show_devices: false,
            show_room: false,
            devices: None,
            scanning: false,
            video: VideoChoice::TestCard,
            mic: AudioChoice::Off,
            speaker: AudioChoice::Off,
            cli_server: None,
            cli_relay_only: false,
            terms: terms::TermsForm::default(),
            start_after_terms: false,
            report: safety::ReportForm::default(),
            show_safety: false,
            masked: Vec::new(),
        }
    }
}

/// The app; see the module docs.
pub struct StrangersApp {
    settings: Settings,
    session: Session,
    model: Model,
    /// The model's standing decisions and what was last asked for.
    upkeep: Upkeep,
    ui: UiState,
    remote: VideoTexture,
    local: VideoTexture,
    tiles: HashMap<PeerId, VideoTexture>,
    frames: FrameTimes,
    scan_rx: Option<std::sync::mpsc::Receiver<Devices>>,
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
        let mut settings = settings;
        settings.ensure_install_id();
        let masked = chat_filter::words(&settings.masked_words);
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
            identity: settings.identity(),
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
            upkeep: Upkeep::default(),
            ui: UiState {
                video,
                mic,
                speaker,
                cli_server,
                cli_relay_only: launch.relay_only,
                masked,
                ..UiState::default()
            },
            remote: VideoTexture::default(),
            local: VideoTexture::default(),
            tiles: HashMap::new(),
            frames: FrameTimes::default(),
            scan_rx: None,
            remote_drawn: false,
            persist: !launch.fresh,
        };
        app.apply_relay_only();
        app.session.set_echo_cancellation(app.settings.echo_cancellation);
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

    /// Whether the microphone is being cleaned of the speakers' echo right now.
    pub fn echo_cancellation(&self) -> bool {
        self.session.echo_cancellation()
    }

    /// Whether the stranger's video is blurred now (a new stranger, not clicked yet).
    pub fn remote_blurred(&self) -> bool {
        self.settings.blur_new && !self.model.safety.revealed
    }

    /// Whether the last frame showed the stranger's picture (not a placeholder).
    pub fn remote_shown(&self) -> bool {
        self.remote_drawn
    }

    /// Self-view frames uploaded to the GPU so far.
    pub fn local_uploads(&self) -> u64 {
        self.local.uploads
    }

    /// Drain engine events into the model and carry out what it decides (never blocks).
    fn pump(&mut self, ctx: &egui::Context, now: Instant) {
        let time = chrono::Local::now().format("%H:%M").to_string();
        while let Ok(event) = self.session.events.try_recv() {
            if let Some(effect) = self.model.apply(event, now, &time) {
                self.carry_out(effect);
            }
        }
        if let Some(rx) = &self.scan_rx
            && let Ok(devices) = rx.try_recv()
        {
            self.ui.devices = Some(devices);
            self.ui.scanning = false;
            self.scan_rx = None;
        }
        self.model.expire_errors(now);
        if self.session.quit.load(Ordering::Relaxed) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        let local = Local {
            camera_off: self.ui.camera_off,
            text_mode: self.settings.text_mode,
            devices_open: self.ui.show_devices,
        };
        for effect in self.upkeep.tick(&self.model, local, now) {
            self.carry_out(effect);
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
        self.pump(&ctx, started);
        let mut cmds = Vec::new();
        self.shortcuts(&ctx, started, &mut cmds);
        self.top_bar_ui(ui, &mut cmds);
        self.status_bar_ui(ui);
        self.chat_panel_ui(ui, &mut cmds);
        self.stage_ui(ui, &mut cmds);
        self.dialogs(&ctx, &mut cmds);
        self.report_ui(&ctx, &mut cmds);
        self.safety_settings_ui(&ctx);
        self.terms_ui(&ctx, &mut cmds);
        self.run_cmds(&ctx, cmds);
        // Things that change with time rather than events (the search clock, the Esc prompt,
        // error banners) repaint only while they are shown.
        if let Some(due) = self.upkeep.repaint_in(&self.model, Instant::now()) {
            ctx.request_repaint_after(due);
        }
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
