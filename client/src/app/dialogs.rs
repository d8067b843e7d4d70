//! Keyboard shortcuts and the windows over the main view: help, devices and rooms. Like the
//! panels, they put what the user asks for on the frame's [`UiCommand`] list.

use std::time::{Duration, Instant};

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers, RichText};

use super::model::Escape;
use super::settings::{AudioChoice, VideoChoice};
use super::{StrangersApp, UiCommand};
use crate::devices::list::DeviceInfo;

/// The shortcuts, as shown in the help overlay.
pub const SHORTCUTS: [(&str, &str); 9] = [
    ("Ctrl+Enter", "Start looking for a stranger"),
    ("Esc", "Next stranger, during a chat (press twice unless confirmation is off)"),
    ("Ctrl+R", "Report the stranger (also blocks and skips them)"),
    ("Ctrl+B", "Block the stranger (also skips them)"),
    ("Ctrl+U", "Show the stranger's blurred video"),
    ("Ctrl+M", "Mute or unmute the microphone"),
    ("Ctrl+E", "Turn the camera off or on"),
    ("F1", "Show this help"),
    ("Enter", "Send the chat message"),
];

impl StrangersApp {
    /// The keyboard shortcuts (see [`SHORTCUTS`]); windows open and close at once, the rest is
    /// pushed to `cmds`.
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context, now: Instant, cmds: &mut Vec<UiCommand>) {
        let consume = |m, k| ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(m, k)));
        if consume(Modifiers::CTRL, Key::Enter) && !self.model.busy() {
            cmds.push(UiCommand::Start);
        }
        if consume(Modifiers::CTRL, Key::R) && self.model.safety.can_act() {
            self.open_report();
        }
        if consume(Modifiers::CTRL, Key::B) && self.model.safety.can_act() {
            cmds.push(UiCommand::Block);
        }
        if consume(Modifiers::CTRL, Key::U) && self.model.in_call() {
            cmds.push(UiCommand::Reveal);
        }
        if consume(Modifiers::CTRL, Key::M) {
            cmds.push(UiCommand::ToggleMute);
        }
        if consume(Modifiers::CTRL, Key::E) {
            cmds.push(UiCommand::ToggleCamera);
        }
        if consume(Modifiers::NONE, Key::F1) {
            self.ui.show_help = !self.ui.show_help;
        }
        let any_window = self.ui.show_help
            || self.ui.show_devices
            || self.ui.show_room
            || self.ui.report.open
            || self.ui.show_safety;
        if consume(Modifiers::NONE, Key::Escape) {
            if any_window {
                (self.ui.show_help, self.ui.show_devices, self.ui.show_room) = (false, false, false);
                (self.ui.report.open, self.ui.show_safety) = (false, false);
            } else if self.upkeep.escape(&self.model, self.settings.confirm_next, now) == Escape::Skip {
                cmds.push(UiCommand::Next);
            }
        }
    }

    /// The help, room and devices windows.
    pub(super) fn dialogs(&mut self, ctx: &egui::Context, cmds: &mut Vec<UiCommand>) {
        let mut open = self.ui.show_help;
        egui::Window::new("Keyboard shortcuts").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            egui::Grid::new("keys").num_columns(2).spacing([24.0, 6.0]).show(ui, |ui| {
                for (key, what) in SHORTCUTS {
                    ui.label(RichText::new(key).monospace().strong());
                    ui.label(what);
                    ui.end_row();
                }
            });
            ui.separator();
            ui.checkbox(&mut self.settings.confirm_next, "Esc needs a second press to skip");
        });
        self.ui.show_help = open;

        let mut open = self.ui.show_room;
        egui::Window::new("Join a room").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            ui.label("Meet a friend who knows the room's name, or a group of up to 4.");
            ui.horizontal(|ui| {
                ui.label("Room");
                ui.add(egui::TextEdit::singleline(&mut self.settings.room).hint_text("room name"));
            });
            ui.horizontal(|ui| {
                ui.label("Your name");
                ui.add(egui::TextEdit::singleline(&mut self.settings.name).hint_text("your name"));
            });
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.settings.group_room, false, "Private call (2)");
                ui.radio_value(&mut self.settings.group_room, true, "Group (up to 4)");
            });
            let ready = !self.settings.room.trim().is_empty();
            if ui.add_enabled(ready, egui::Button::new("Join")).clicked() {
                cmds.push(UiCommand::JoinRoom);
            }
        });
        self.ui.show_room = open && self.ui.show_room;

        let mut open = self.ui.show_devices;
        egui::Window::new("Devices and settings")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| self.devices_ui(ui, cmds));
        self.ui.show_devices = open;
    }

    fn devices_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
        let (active_video, active_mic, video_error, mic_error) = self.session.active_devices();
        let notes = self.session.notes.lock().map(|n| n.clone()).unwrap_or_default();
        let devices = self.ui.devices.clone().unwrap_or_default();
        if self.ui.scanning {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for devices…");
            });
        }
        if devices.cameras.is_empty() && !self.ui.scanning {
            ui.label(RichText::new("No camera found. You can send a test card or receive only.").italics());
        }
        // What this run uses: the saved choice, or the first camera when there is none.
        let current = self.ui.video.clone();
        let mut video = current.clone();
        egui::ComboBox::from_label("Camera").selected_text(video_label(&video, &devices.cameras)).show_ui(ui, |ui| {
            for cam in &devices.cameras {
                ui.selectable_value(&mut video, VideoChoice::Camera(cam.id.clone()), &cam.name);
            }
            ui.selectable_value(&mut video, VideoChoice::TestCard, "Test card (synthetic)");
            ui.selectable_value(&mut video, VideoChoice::Off, "None: receive only");
        });
        if video != current {
            cmds.push(UiCommand::SetVideo(video));
        }
        show_state(ui, active_video.as_deref(), notes.video.as_deref().or(video_error.as_deref()));

        let mic_now = self.ui.mic.clone();
        let mut mic = mic_now.clone();
        audio_combo(ui, "Microphone", &mut mic, &devices.microphones, true);
        if mic != mic_now {
            cmds.push(UiCommand::SetMic(mic));
        }
        show_state(ui, active_mic.as_deref(), notes.mic.as_deref().or(mic_error.as_deref()));
        let level = self.session.mic_level.get();
        ui.add(egui::ProgressBar::new(level.sqrt()).desired_width(220.0).text("level"));
        if active_mic.is_some() {
            ui.ctx().request_repaint_after(Duration::from_millis(50));
        }

        let spk_now = self.ui.speaker.clone();
        let mut spk = spk_now.clone();
        audio_combo(ui, "Speakers", &mut spk, &devices.speakers, false);
        if spk != spk_now {
            cmds.push(UiCommand::SetSpeaker(spk));
        }
        if let Some(problem) = &notes.speaker {
            ui.colored_label(egui::Color32::from_rgb(240, 110, 100), problem);
        }
        for problem in &devices.problems {
            ui.colored_label(egui::Color32::GRAY, problem);
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Server");
            ui.add(
                egui::TextEdit::singleline(&mut self.settings.server_url).hint_text(self.session.server_url.clone()),
            );
        });
        let note = match &self.ui.cli_server {
            Some(url) => format!("This run uses --server {url}; the URL above is saved for runs without it."),
            None => "A new server URL is used from the next launch.".to_string(),
        };
        ui.label(RichText::new(note).small().weak());
        ui.checkbox(&mut self.settings.match_sound, "Play a sound when a stranger is found");
        let mut echo = self.settings.echo_cancellation;
        if ui.checkbox(&mut echo, "Echo cancellation").changed() {
            cmds.push(UiCommand::SetEchoCancellation(echo));
        }
        ui.label(
            RichText::new(
                "Keeps the stranger from hearing themselves through your speakers, and evens out noise \
                 and loudness. You can turn it off when you wear headphones.",
            )
            .small()
            .weak(),
        );
        ui.separator();
        ui.label(RichText::new("Privacy").strong());
        let mut relay = self.settings.relay_only || self.ui.cli_relay_only;
        let toggle = ui.add_enabled(
            !self.ui.cli_relay_only,
            egui::Checkbox::new(&mut relay, "Hide my IP address from strangers (relay all media)"),
        );
        if toggle.changed() {
            cmds.push(UiCommand::SetRelayOnly(relay));
        }
        let note = if self.ui.cli_relay_only {
            "This run uses --relay-only."
        } else {
            "Media goes through the server's TURN relay, so a call may take a little longer to \
             start. Applies from the next stranger."
        };
        ui.label(RichText::new(note).small().weak());
        if ui.button("Look for devices again").clicked() {
            cmds.push(UiCommand::ScanDevices);
        }
    }
}

fn video_label(choice: &VideoChoice, cameras: &[DeviceInfo]) -> String {
    match choice {
        VideoChoice::Camera(id) => {
            cameras.iter().find(|c| &c.id == id).map_or_else(|| format!("Camera {id}"), |c| c.name.clone())
        }
        VideoChoice::TestCard => "Test card (synthetic)".into(),
        VideoChoice::Off => "None: receive only".into(),
    }
}

fn audio_combo(ui: &mut egui::Ui, label: &str, choice: &mut AudioChoice, list: &[DeviceInfo], input: bool) {
    let text = match &*choice {
        AudioChoice::Default => "System default".to_string(),
        AudioChoice::Device(id) => list.iter().find(|d| &d.id == id).map_or_else(|| id.clone(), |d| d.name.clone()),
        AudioChoice::TestTone => "Test tone (synthetic)".into(),
        AudioChoice::Off => "None".into(),
    };
    egui::ComboBox::from_label(label).selected_text(text).show_ui(ui, |ui| {
        ui.selectable_value(choice, AudioChoice::Default, "System default");
        for d in list {
            ui.selectable_value(choice, AudioChoice::Device(d.id.clone()), &d.name);
        }
        if input {
            ui.selectable_value(choice, AudioChoice::TestTone, "Test tone (synthetic)");
        }
        ui.selectable_value(choice, AudioChoice::Off, "None");
    });
}

fn show_state(ui: &mut egui::Ui, active: Option<&str>, problem: Option<&str>) {
    if let Some(problem) = problem {
        ui.colored_label(egui::Color32::from_rgb(240, 110, 100), format!("⚠ {problem}"));
    }
    match active {
        Some(name) => ui.label(RichText::new(format!("In use: {name}")).small().weak()),
        None => ui.label(RichText::new("Not sending").small().weak()),
    };
}
