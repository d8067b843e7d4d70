//! The main window's panels: the control bar, the status line, the chat and the video stage.
//! They draw; what the user asks for goes on the frame's [`UiCommand`] list.

use std::time::Instant;

use eframe::egui::{self, Color32, Key, RichText, vec2};

use super::model::Author;
use super::video::{badges, placeholder};
use super::{StrangersApp, UiCommand};
use crate::call::state::CallState;
use crate::engine::Who;

/// A side or top panel's frame without its fill. The window is cleared to the panel colour (see
/// `clear_color`), so filling every panel again would only paint the same pixels twice, and under
/// software rendering each full-window fill costs real CPU at 30 repaints a second.
fn bare_panel(ui: &egui::Ui) -> egui::Frame {
    egui::Frame::side_top_panel(ui.style()).fill(Color32::TRANSPARENT)
}

impl StrangersApp {
    pub(super) fn top_bar_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
        egui::Panel::top("controls").frame(bare_panel(ui)).show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal_wrapped(|ui| {
                ui.heading(RichText::new("Strangers").strong());
                ui.separator();
                let busy = self.model.busy();
                let barred = self.banned_line().is_some() || !self.settings.terms_accepted();
                let start = egui::Button::new("▶ Start");
                if ui.add_enabled(!busy && !barred, start).on_hover_text("Ctrl+Enter").clicked() {
                    cmds.push(UiCommand::Start);
                }
                // Only a chat has someone to skip; a search already looks for the next stranger.
                let can_next = self.model.in_call();
                let next_label = if self.upkeep.armed() { "» Really?" } else { "» Next" };
                if ui.add_enabled(can_next, egui::Button::new(next_label)).on_hover_text("Esc").clicked() {
                    cmds.push(UiCommand::Next);
                }
                if ui.add_enabled(busy, egui::Button::new("■ Stop")).clicked() {
                    cmds.push(UiCommand::Stop);
                }
                let can_act = self.model.safety.can_act() && self.model.room.is_none();
                let report = egui::Button::new("⚑ Report");
                if ui.add_enabled(can_act, report).on_hover_text("Ctrl+R: report, block and skip").clicked() {
                    self.open_report();
                }
                if ui.add_enabled(can_act, egui::Button::new("⊘ Block")).on_hover_text("Ctrl+B").clicked() {
                    cmds.push(UiCommand::Block);
                }
                ui.separator();
                let mute = if self.ui.muted { "♪ Unmute" } else { "♪ Mute" };
                if ui.selectable_label(self.ui.muted, mute).on_hover_text("Ctrl+M").clicked() {
                    cmds.push(UiCommand::ToggleMute);
                }
                let cam = if self.ui.camera_off { "Camera on" } else { "Camera off" };
                if ui.selectable_label(self.ui.camera_off, cam).on_hover_text("Ctrl+E").clicked() {
                    cmds.push(UiCommand::ToggleCamera);
                }
                ui.separator();
                ui.add_enabled_ui(!busy, |ui| {
                    ui.selectable_value(&mut self.settings.text_mode, false, "Video");
                    ui.selectable_value(&mut self.settings.text_mode, true, "Text");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.settings.interests)
                            .hint_text("interests, comma separated")
                            .desired_width(200.0),
                    );
                });
                ui.separator();
                if ui.button("☎ Room…").clicked() {
                    self.ui.show_room = true;
                }
                if ui.button("⚙ Devices…").clicked() {
                    self.ui.show_devices = true;
                    cmds.push(UiCommand::ScanDevices);
                }
                if ui.button("⚑ Safety…").clicked() {
                    self.ui.show_safety = true;
                }
                ui.toggle_value(&mut self.settings.show_stats, "Stats");
                if ui.button("⌨ Keys").on_hover_text("Keyboard shortcuts (F1)").clicked() {
                    self.ui.show_help = true;
                }
            });
            ui.add_space(4.0);
        });
    }

    pub(super) fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        egui::Panel::bottom("status").frame(bare_panel(ui)).show(ui, |ui| {
            ui.add_space(3.0);
            ui.horizontal(|ui| {
                let online = matches!(self.model.server, super::model::Server::Online { .. });
                let (dot, color) = if online {
                    ("●", Color32::from_rgb(80, 200, 120))
                } else {
                    ("●", Color32::from_rgb(230, 160, 60))
                };
                ui.label(RichText::new(dot).color(color));
                ui.label(self.model.status(now));
                if self.upkeep.armed() {
                    ui.label(RichText::new("Press Esc again to skip").color(Color32::YELLOW));
                }
            });
            if let Some(banned) = self.banned_line() {
                ui.label(RichText::new(banned).strong().color(Color32::from_rgb(240, 110, 100)));
            }
            let fresh: Vec<String> = self
                .model
                .errors
                .iter()
                .filter(|(at, _)| now.duration_since(*at) < super::model::ERROR_SHOWN_FOR)
                .map(|(_, e)| e.clone())
                .collect();
            let notes = self.session.notes.lock().map(|n| n.clone()).unwrap_or_default();
            // Devices that failed mid-call, not only at opening: the user may never open Devices.
            let (_, _, video_failed, mic_failed) = self.session.active_devices();
            let failed = [
                video_failed.map(|e| format!("The camera stopped: {e}. Pick another in Devices…")),
                mic_failed.map(|e| format!("The microphone stopped: {e}. Pick another in Devices…")),
            ];
            for note in [notes.video, notes.mic, notes.speaker].into_iter().chain(failed).flatten() {
                ui.label(RichText::new(format!("⚠ {note}")).small().color(Color32::from_rgb(230, 180, 90)));
            }
            for error in fresh.iter().rev().take(2) {
                ui.label(RichText::new(format!("⚠ {error}")).color(Color32::from_rgb(240, 110, 100)));
            }
            ui.add_space(3.0);
        });
    }

    pub(super) fn chat_panel_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
        egui::Panel::right("chat").frame(bare_panel(ui)).default_size(320.0).min_size(240.0).resizable(true).show(
            ui,
            |ui| {
                ui.add_space(6.0);
                ui.label(RichText::new("Chat").strong());
                ui.separator();
                let input_height = 64.0;
                egui::ScrollArea::vertical()
                    .max_height((ui.available_height() - input_height).max(40.0))
                    .stick_to_bottom(true)
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        for line in &self.model.chat {
                            let (who, color) = match &line.author {
                                Author::Me => ("You".to_string(), Color32::from_rgb(110, 170, 255)),
                                Author::Them(name) => (name.clone(), Color32::from_rgb(255, 120, 110)),
                                Author::System => (String::new(), Color32::GRAY),
                            };
                            ui.horizontal_wrapped(|ui| {
                                ui.label(RichText::new(&line.time).small().weak());
                                if who.is_empty() {
                                    ui.label(RichText::new(&line.text).italics().color(color));
                                } else {
                                    ui.label(RichText::new(format!("{who}:")).strong().color(color));
                                    let mask = self.settings.mask_words && matches!(line.author, Author::Them(_));
                                    if mask {
                                        ui.label(super::chat_filter::mask(&line.text, &self.ui.masked).as_ref());
                                    } else {
                                        ui.label(&line.text);
                                    }
                                }
                            });
                        }
                    });
                ui.label(if self.model.typing {
                    RichText::new("Stranger is typing…").italics().weak()
                } else {
                    RichText::new(" ")
                });
                let can_chat = self.model.in_call() || self.model.room.is_some();
                ui.horizontal(|ui| {
                    let edit = egui::TextEdit::singleline(&mut self.ui.chat_input)
                        .hint_text(if can_chat {
                            "Type a message, Enter sends"
                        } else {
                            "Chat opens when you meet someone"
                        })
                        .char_limit(strangers_shared::limits::MAX_CHAT_CHARS)
                        .desired_width(ui.available_width() - 56.0);
                    let response = ui.add_enabled(can_chat, edit);
                    if response.changed() {
                        cmds.push(UiCommand::Typing(!self.ui.chat_input.trim().is_empty()));
                    }
                    let enter = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter) && !i.modifiers.ctrl);
                    if (ui.add_enabled(can_chat, egui::Button::new("Send")).clicked() || enter) && can_chat {
                        cmds.push(UiCommand::SendChat);
                        response.request_focus();
                    }
                });
            },
        );
    }

    /// The central area: the stranger (or the room grid) with the self-view on top.
    pub(super) fn stage_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Vec<UiCommand>) {
        let ctx = ui.ctx().clone();
        egui::CentralPanel::default().frame(egui::Frame::central_panel(ui.style()).fill(Color32::TRANSPARENT)).show(
            ui,
            |ui| {
                let area = ui.available_rect_before_wrap();
                if self.model.room.is_some() {
                    self.remote_drawn = false;
                    self.room_grid(ui, area);
                } else {
                    let blur = self.remote_blurred();
                    self.remote.set_blur(blur);
                    let has_picture = self.remote.update(&ctx, "remote", self.model.remote.as_ref(), area.size());
                    let (audio, video) = self.model.partner_media;
                    // A stranger who turned the camera off leaves their last picture in the slot:
                    // show the placeholder, not a frozen frame (as room tiles do).
                    self.remote_drawn = video && self.remote.paint(ui, area, false).is_some();
                    if !self.remote_drawn {
                        let (icon, text, spin) = self.stage_placeholder(has_picture, video);
                        placeholder(ui, area, icon, &text, spin);
                    }
                    if self.model.call == CallState::Connected {
                        badges(ui, area, Some("Stranger"), audio, video);
                    }
                    if blur && self.remote_drawn {
                        self.reveal_button(ui, area, cmds);
                    }
                }
                self.self_view(ui, area);
                if self.settings.show_stats {
                    self.stats_overlay(ui, area);
                }
            },
        );
    }

    fn stage_placeholder(&self, has_picture: bool, partner_video: bool) -> (&'static str, String, bool) {
        match &self.model.call {
            CallState::Idle | CallState::Failed { .. } => ("☺", "Press Start to meet a stranger".into(), false),
            CallState::Searching { .. } | CallState::PartnerLeft { .. } => {
                ("…", "Looking for a stranger…".into(), true)
            }
            CallState::Matched { .. } | CallState::Connecting => ("☎", "Connecting…".into(), true),
            CallState::Connected if self.settings.text_mode => ("✉", "Text chat".into(), false),
            CallState::Connected if !partner_video => ("✕", "The stranger's camera is off".into(), false),
            CallState::Connected if !has_picture => ("…", "Waiting for the stranger's video…".into(), true),
            CallState::Connected => ("", String::new(), false),
        }
    }

    fn self_view(&mut self, ui: &egui::Ui, area: egui::Rect) {
        let ctx = ui.ctx().clone();
        let w = (area.width() * 0.24).clamp(120.0, 320.0);
        let rect = egui::Rect::from_min_size(area.right_bottom() - vec2(w + 12.0, w * 0.75 + 12.0), vec2(w, w * 0.75));
        ui.painter().rect_filled(rect.expand(2.0), 6, Color32::from_gray(60));
        // With the camera off the picture is not shown, so it is not uploaded either.
        let has = !self.ui.camera_off && self.local.update(&ctx, "local", Some(&self.session.local_view), rect.size());
        let paused = self.upkeep.preview == Some(false);
        if self.ui.camera_off || paused || !has || self.local.paint(ui, rect, true).is_none() {
            let text = if self.ui.camera_off {
                "Camera off"
            } else if self.settings.text_mode {
                "Text mode: no video"
            } else if paused {
                "Preview starts with Start"
            } else {
                "No camera"
            };
            placeholder(ui, rect, "✕", text, false);
        }
        badges(ui, rect, Some("You"), !self.ui.muted, !self.ui.camera_off);
    }

    fn room_grid(&mut self, ui: &egui::Ui, area: egui::Rect) {
        let ctx = ui.ctx().clone();
        let Some((_, tiles)) = &self.model.room else { return };
        if tiles.is_empty() {
            placeholder(ui, area, "☰", "Waiting for others to join the room…", true);
            return;
        }
        let cols = if tiles.len() == 1 { 1 } else { 2 };
        let rows = tiles.len().div_ceil(cols);
        let cell = vec2(area.width() / cols as f32, area.height() / rows as f32);
        for (i, tile) in tiles.iter().enumerate() {
            let min = area.min + vec2((i % cols) as f32 * cell.x, (i / cols) as f32 * cell.y);
            let rect = egui::Rect::from_min_size(min, cell).shrink(4.0);
            let texture = self.tiles.entry(tile.id).or_default();
            let has = texture.update(&ctx, &format!("member-{}", tile.id), tile.slot.as_ref(), rect.size());
            if !tile.video || !has || texture.paint(ui, rect, false).is_none() {
                let text = if tile.video { "Connecting…" } else { "Camera off" };
                placeholder(ui, rect, "☺", text, false);
            }
            badges(ui, rect, Some(&tile.name), tile.audio, tile.video);
        }
        self.tiles.retain(|id, _| tiles.iter().any(|t| t.id == *id));
    }

    /// The statistics, in an area of its own over the video (so screen readers and tests see
    /// the text too).
    fn stats_overlay(&self, ui: &egui::Ui, area: egui::Rect) {
        let mut lines = Vec::new();
        for (who, s) in &self.model.stats {
            let name = match who {
                Who::Partner => "stranger".to_string(),
                Who::Member(id) => format!("member {id}"),
            };
            let res = s.resolution.map_or_else(|| "-".into(), |(w, h)| format!("{w}x{h}"));
            let rtt = s.rtt_ms.map_or_else(|| "-".into(), |r| format!("{r:.0} ms"));
            lines.push(format!(
                "{name}: {} {res}\nfps in {:.0} / out {:.0}\nkbit/s in {:.0} / out {:.0}\nRTT {rtt}, loss {:.1}%, route: {}",
                s.codec,
                s.fps_in,
                s.fps_out,
                s.kbps_in,
                s.kbps_out,
                s.loss * 100.0,
                s.candidate.as_str()
            ));
            lines.push(adaptation_line(s));
        }
        lines.push(format!("frames: {}", self.frames.summary()));
        let text = lines.join("\n\n");
        egui::Area::new(egui::Id::unique("stats-overlay"))
            .fixed_pos(area.min + vec2(10.0, 10.0))
            .order(egui::Order::Foreground)
            .interactable(false)
            .show(ui.ctx(), |ui| {
                egui::Frame::new()
                    .fill(Color32::from_black_alpha(190))
                    .corner_radius(6)
                    .inner_margin(egui::Margin::symmetric(8, 6))
                    .show(ui, |ui| {
                        ui.set_max_width(360.0);
                        ui.label(RichText::new(text).monospace().size(12.0).color(Color32::WHITE));
                    });
            });
    }
}

/// How the call adapts to the link: the congestion controller's estimate, the ladder step video
/// is sent at, the queueing delay and what the partner loses of our media.
fn adaptation_line(s: &crate::engine::CallStats) -> String {
    let estimate = s.estimate_bps.map_or_else(|| "-".into(), |e| format!("{:.0} kbit/s", f64::from(e) / 1000.0));
    let step = match s.ladder_step {
        0 => format!("fixed {:.0}k", s.video_target_kbps),
        n => match crate::media::ladder::LADDER.get(n as usize - 1) {
            Some(step) => format!(
                "step {n}/{} ({} px @{} fps, {:.0}k)",
                crate::media::ladder::LADDER.len(),
                step.width,
                step.fps,
                s.video_target_kbps
            ),
            None => format!("step {n}"),
        },
    };
    let queue = s.queue_ms.map_or_else(|| "-".into(), |q| format!("{q:.0} ms"));
    format!("estimate {estimate}, {step}\nqueue {queue}, loss out {:.1}%", s.loss_out * 100.0)
}
