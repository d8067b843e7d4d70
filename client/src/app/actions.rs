//! What the user asks for and what the model decides, carried out. The panels and dialogs only
//! draw and push [`UiCommand`]s while they do; the app runs the frame's list once, after drawing
//! ([`StrangersApp::run_cmds`], as `egui_demo_app`'s `wrap_app.rs` does with its `Command`), and
//! carries out the model's [`Effect`]s ([`StrangersApp::carry_out`]). This is the only place the
//! UI talks to the engine.

use std::time::Instant;

use eframe::egui;

use super::StrangersApp;
use super::model::Effect;
use super::session::Session;
use super::settings::{AudioChoice, VideoChoice};
use super::sound;
use crate::engine::Command;

/// Something the user asked for while a frame was drawn (a button, a shortcut, an edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiCommand {
    /// Look for a stranger with the mode and interests in the settings.
    Start,
    /// Skip the stranger (only a chat has someone to skip).
    Next,
    /// End the search, the call or the room.
    Stop,
    /// Mute or unmute the microphone.
    ToggleMute,
    /// Turn the camera off or on.
    ToggleCamera,
    /// The chat input changed: whether it now holds something (the user is typing).
    Typing(bool),
    /// Send the chat input.
    SendChat,
    /// Join the room named in the settings.
    JoinRoom,
    /// Look for devices (again) on a worker thread.
    ScanDevices,
    /// Use this camera (and save the choice).
    SetVideo(VideoChoice),
    /// Use this microphone (and save the choice).
    SetMic(AudioChoice),
    /// Use these speakers (and save the choice).
    SetSpeaker(AudioChoice),
    /// Relay all media (hide our IP address from strangers) from the next call on, and save it.
    SetRelayOnly(bool),
    /// Turn echo cancellation on or off.
    SetEchoCancellation(bool),
    /// The user confirmed 18+ and accepted the terms.
    AcceptTerms,
    /// Send the report in the Report window.
    Report,
    /// Block the current or last stranger.
    Block,
    /// Show this stranger's video unblurred.
    Reveal,
}

impl StrangersApp {
    /// Run the frame's commands, in the order they were pushed. What they change shows on the
    /// next frame, so one is asked for (a shortcut or a click does not always bring one).
    pub(super) fn run_cmds(&mut self, ctx: &egui::Context, cmds: Vec<UiCommand>) {
        if cmds.is_empty() {
            return;
        }
        for cmd in cmds {
            self.run_cmd(cmd);
        }
        ctx.request_repaint();
    }

    fn run_cmd(&mut self, cmd: UiCommand) {
        match cmd {
            UiCommand::Start => self.start(),
            UiCommand::Next => {
                self.upkeep.disarm();
                if self.model.in_call() {
                    self.session.send(Command::Next);
                }
            }
            UiCommand::Stop => {
                self.upkeep.disarm();
                self.session.send(Command::Stop);
            }
            UiCommand::ToggleMute => {
                self.ui.muted = !self.ui.muted;
                self.session.send(Command::SetMuted(self.ui.muted));
            }
            UiCommand::ToggleCamera => {
                self.ui.camera_off = !self.ui.camera_off;
                self.session.send(Command::SetCameraOff(self.ui.camera_off));
            }
            UiCommand::Typing(active) => self.set_typing(active),
            UiCommand::SendChat => {
                let text = self.ui.chat_input.trim().to_string();
                if text.is_empty() {
                    return;
                }
                self.session.send(Command::Chat(text));
                self.ui.chat_input.clear();
                self.set_typing(false);
            }
            UiCommand::JoinRoom => {
                let room = self.settings.room.trim().to_string();
                if room.is_empty() {
                    return;
                }
                let capacity = Some(if self.settings.group_room { 4 } else { 2 });
                let name = self.settings.name.trim().to_string();
                self.session.send(Command::JoinRoom { room, name, capacity });
                self.ui.show_room = false;
            }
            UiCommand::ScanDevices => self.scan_devices(),
            UiCommand::SetVideo(video) => {
                self.settings.video = Some(video.clone());
                self.ui.video = video.clone();
                self.session.set_video(video);
            }
            UiCommand::SetMic(mic) => {
                self.settings.mic = Some(mic.clone());
                self.ui.mic = mic.clone();
                self.session.set_mic(mic);
            }
            UiCommand::SetSpeaker(speaker) => {
                self.settings.speaker = Some(speaker.clone());
                self.ui.speaker = speaker.clone();
                self.session.set_speaker(speaker);
            }
            UiCommand::SetRelayOnly(on) => {
                self.settings.relay_only = on;
                self.apply_relay_only();
            }
            UiCommand::SetEchoCancellation(on) => {
                self.settings.echo_cancellation = on;
                self.session.set_echo_cancellation(on);
            }
            UiCommand::AcceptTerms => {
                self.settings.accepted_terms = super::terms::TERMS_VERSION.to_string();
                self.session.send(Command::AcceptTerms(self.settings.accepted_terms.clone()));
                if std::mem::take(&mut self.ui.start_after_terms) {
                    self.start();
                }
            }
            UiCommand::Report => {
                let form = std::mem::take(&mut self.ui.report);
                let Some(reason) = form.reason else { return };
                let chat = if form.attach_chat { super::safety::chat_for_report(&self.model.chat) } else { Vec::new() };
                self.upkeep.disarm();
                self.session.send(Command::Report { reason, text: Some(form.text), chat, call: form.call });
            }
            UiCommand::Block => {
                self.upkeep.disarm();
                self.session.send(Command::Block { call: self.model.safety.call });
            }
            UiCommand::Reveal => self.model.safety.revealed = true,
        }
    }

    /// Tell the engine whether to relay all media: the saved choice, or `--relay-only`.
    pub(super) fn apply_relay_only(&mut self) {
        self.session.send(Command::SetRelayOnly(self.settings.relay_only || self.ui.cli_relay_only));
    }

    /// Carry out one of the model's decisions.
    pub(super) fn carry_out(&mut self, effect: Effect) {
        match effect {
            Effect::MatchSound => {
                if self.settings.match_sound {
                    sound::play_match(&self.session.audio_out());
                }
            }
            Effect::CallConnected { calls } => tracing::info!(calls, "call connected"),
            Effect::Preview(on) => self.session.send(Command::SetPreview(on)),
            Effect::SelfViewWakes(on) => self.session.set_self_view_wakes(on),
            Effect::Typing(active) => self.session.send(Command::Typing(active)),
        }
    }

    /// Look for a stranger (also what `--demo` and `--start` do at launch).
    pub(super) fn start(&mut self) {
        // The terms come first; a launch with --demo or --start searches once they are accepted.
        if !self.settings.terms_accepted() {
            self.ui.start_after_terms = true;
            return;
        }
        // Banned: the server would refuse; Start is disabled, and Ctrl+Enter does nothing either.
        if self.banned_line().is_some() {
            return;
        }
        self.upkeep.disarm();
        let (mode, interests) = (self.settings.mode(), self.settings.interest_tags());
        self.session.follow_demo(mode, interests.clone());
        self.session.send(Command::Start { mode, interests });
    }

    fn set_typing(&mut self, active: bool) {
        if let Some(effect) = self.upkeep.typing(active, Instant::now()) {
            self.carry_out(effect);
        }
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
}
