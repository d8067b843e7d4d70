//! The first-run screen: confirm 18+ and accept the terms (`assets/TERMS.md`) before Start. The
//! accepted version is saved and told to the server in every `hello`. Everything works by
//! keyboard: Tab moves between the boxes and the button, Space ticks, Enter continues.

use eframe::egui::{self, RichText};

use super::{StrangersApp, UiCommand};

/// The version of the terms this app ships; servers started with `--require-terms` should ask
/// for this one.
pub const TERMS_VERSION: &str = "2026-12";

/// The terms, as shipped.
pub const TERMS_TEXT: &str = include_str!("../../../assets/TERMS.md");

/// The screen's two boxes.
#[derive(Debug, Clone, Default)]
pub struct TermsForm {
    /// "I am 18 or older".
    pub adult: bool,
    /// "I accept the terms".
    pub agree: bool,
}

impl StrangersApp {
    /// Show the terms over everything until they are accepted.
    pub(super) fn terms_ui(&mut self, ctx: &egui::Context, cmds: &mut Vec<UiCommand>) {
        if self.settings.terms_accepted() {
            return;
        }
        egui::Modal::new(egui::Id::unique("terms")).show(ctx, |ui| {
            ui.set_max_width(520.0);
            ui.heading("Welcome to Strangers");
            ui.label(
                "Strangers connects you by video and text with people you don't know. It is for adults \
                 only. Be decent, and report anyone who isn't: reporting ends the chat and blocks them.",
            );
            ui.add_space(6.0);
            egui::CollapsingHeader::new("Read the terms (assets/TERMS.md)").show(ui, |ui| {
                egui::ScrollArea::vertical().max_height(260.0).show(ui, |ui| {
                    ui.label(RichText::new(TERMS_TEXT).small());
                });
            });
            ui.add_space(6.0);
            let form = &mut self.ui.terms;
            let adult = ui.checkbox(&mut form.adult, "I am 18 or older");
            ui.checkbox(&mut form.agree, "I accept the terms of use");
            ui.add_space(6.0);
            let ready = form.adult && form.agree;
            let go = ui.add_enabled(ready, egui::Button::new("Continue"));
            if go.clicked() {
                cmds.push(UiCommand::AcceptTerms);
            }
            // Focus starts on the first box, so the keyboard needs no mouse to begin.
            if !ui.ctx().memory(|m| m.focused().is_some()) {
                adult.request_focus();
            }
            if !ready {
                ui.label(RichText::new("Tick both boxes to continue.").small().weak());
            }
        });
    }
}
