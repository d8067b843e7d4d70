//! The safety windows: Report (reasons, optional words, optional chat lines), and the Safety
//! settings (blur, word masking and its list). Report and Block also sit in the control bar
//! (Ctrl+R, Ctrl+B); the blur over a new stranger's video is drawn by the stage.

use eframe::egui::{self, Color32, RichText};
use strangers_shared::ReportReason;
use strangers_shared::limits::{MAX_REPORT_CHAT_CHARS, MAX_REPORT_CHAT_LINES, MAX_REPORT_TEXT_CHARS};

use super::model::{Author, ChatLine};
use super::{StrangersApp, UiCommand};

/// The Report window's fields.
#[derive(Debug, Clone, Default)]
pub struct ReportForm {
    /// Shown.
    pub open: bool,
    /// The reason picked.
    pub reason: Option<ReportReason>,
    /// What happened, in the user's words.
    pub text: String,
    /// Attach the last chat lines.
    pub attach_chat: bool,
    /// Put the keyboard on the first reason when the window opens.
    pub focus: bool,
    /// The call it is about, and how many strangers had been matched when it opened: if a new
    /// one is matched meanwhile, the window closes rather than report them.
    pub call: Option<u64>,
    /// Strangers matched when it opened.
    pub matches: u64,
}

/// The last chat lines, as sent with a report: at most [`MAX_REPORT_CHAT_LINES`] lines and
/// [`MAX_REPORT_CHAT_CHARS`] characters, newest kept, each marked with who wrote it.
pub fn chat_for_report(chat: &[ChatLine]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut chars = 0;
    for line in chat.iter().rev() {
        let who = match &line.author {
            Author::Me => "me",
            Author::Them(_) => "stranger",
            Author::System => continue,
        };
        let text = format!("{who}: {}", line.text);
        let n = text.chars().count();
        if lines.len() == MAX_REPORT_CHAT_LINES || chars + n > MAX_REPORT_CHAT_CHARS {
            break;
        }
        chars += n;
        lines.push(text);
    }
    lines.reverse();
    lines
}

impl StrangersApp {
    /// Open the Report window with the keyboard on its first reason.
    pub(super) fn open_report(&mut self) {
        let form = &mut self.ui.report;
        (form.open, form.focus) = (true, true);
        (form.call, form.matches) = (self.model.safety.call, self.model.matches);
    }

    /// The Report window.
    pub(super) fn report_ui(&mut self, ctx: &egui::Context, cmds: &mut Vec<UiCommand>) {
        // Someone new arrived while the window was open: it was about the one before.
        if self.ui.report.open && self.ui.report.matches != self.model.matches {
            self.ui.report = ReportForm::default();
        }
        let mut open = self.ui.report.open;
        egui::Window::new("Report this stranger").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            ui.set_max_width(420.0);
            let form = &mut self.ui.report;
            ui.label("Why are you reporting them? (Tab moves, Space picks)");
            for reason in ReportReason::ALL {
                let radio = ui.radio_value(&mut form.reason, Some(reason), reason.label());
                if std::mem::take(&mut form.focus) {
                    radio.request_focus();
                }
            }
            ui.add(
                egui::TextEdit::multiline(&mut form.text)
                    .hint_text("What happened (optional)")
                    .char_limit(MAX_REPORT_TEXT_CHARS)
                    .desired_rows(3)
                    // Tab moves on to the next field rather than indenting.
                    .lock_focus(false),
            );
            ui.checkbox(&mut form.attach_chat, "Attach the last chat lines I saw (up to 20)");
            ui.label(
                RichText::new(
                    "Reporting also blocks this stranger and, during a chat, skips them. The server's \
                         moderators see the reason, your words and the chat lines if you attach them; never \
                         your address.",
                )
                .small()
                .weak(),
            );
            ui.horizontal(|ui| {
                if ui.add_enabled(form.reason.is_some(), egui::Button::new("⚑ Report and skip")).clicked() {
                    cmds.push(UiCommand::Report);
                }
                if ui.button("Cancel").clicked() {
                    form.open = false;
                }
            });
        });
        self.ui.report.open = open && self.ui.report.open;
    }

    /// The Safety settings window.
    pub(super) fn safety_settings_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.ui.show_safety;
        egui::Window::new("Safety").open(&mut open).collapsible(false).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.checkbox(&mut self.settings.blur_new, "Blur a new stranger's video until I click it");
            ui.checkbox(&mut self.settings.mask_words, "Mask offensive words in the stranger's chat");
            ui.label(RichText::new("Words to mask, one per line:").small());
            let edit = egui::TextEdit::multiline(&mut self.settings.masked_words).desired_rows(6).code_editor();
            if ui.add_enabled(self.settings.mask_words, edit).changed() {
                self.ui.masked = super::chat_filter::words(&self.settings.masked_words);
            }
            if ui.button("Restore the default list").clicked() {
                self.settings.masked_words = super::chat_filter::DEFAULT_WORDS.to_string();
                self.ui.masked = super::chat_filter::words(&self.settings.masked_words);
            }
            ui.separator();
            ui.label(
                RichText::new(
                    "Strangers does not scan video or chat. Blocks last 30 days; reports go to the server's \
                     moderators. See assets/TERMS.md.",
                )
                .small()
                .weak(),
            );
        });
        self.ui.show_safety = open;
    }

    /// While a ban is in force: say so plainly, with when it ends.
    pub(super) fn banned_line(&self) -> Option<String> {
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let until = self.model.safety.banned_until.filter(|u| *u > now)?;
        let left_min = (until - now).div_ceil(60_000);
        let when = super::model::local_time(until);
        Some(format!("⚠ After reports from several people you can't meet strangers until {when} ({left_min} min)."))
    }

    /// The blur over a new stranger's video: a button over the whole stage (so a click anywhere
    /// reveals; so do Ctrl+U and the button itself by Tab and Enter).
    pub(super) fn reveal_button(&self, ui: &mut egui::Ui, area: egui::Rect, cmds: &mut Vec<UiCommand>) {
        let button = egui::Button::new(
            RichText::new("The stranger's video is blurred.\nClick (or Ctrl+U) to show it.")
                .size(18.0)
                .color(Color32::WHITE),
        )
        .fill(Color32::from_black_alpha(120));
        let size = egui::vec2(320.0, 72.0).min(area.size());
        let rect = egui::Rect::from_center_size(area.center(), size);
        let whole = ui.interact(area, egui::Id::unique("blurred-stage"), egui::Sense::click());
        if ui.put(rect, button).clicked() || whole.clicked() {
            cmds.push(UiCommand::Reveal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(author: Author, text: &str) -> ChatLine {
        ChatLine { author, text: text.into(), time: "12:00".into() }
    }

    #[test]
    fn the_attached_chat_is_the_newest_lines_within_the_limits_without_system_lines() {
        let mut chat = vec![line(Author::System, "You're now chatting")];
        for i in 0..30 {
            chat.push(line(if i % 2 == 0 { Author::Me } else { Author::Them("Stranger".into()) }, &format!("l{i}")));
        }
        let lines = chat_for_report(&chat);
        assert_eq!(lines.len(), MAX_REPORT_CHAT_LINES);
        assert_eq!(lines.last().map(String::as_str), Some("stranger: l29"));
        assert_eq!(lines.first().map(String::as_str), Some("me: l10"));
        let long = vec![line(Author::Them("S".into()), &"x".repeat(3000)); 3];
        assert_eq!(chat_for_report(&long).len(), 1, "4,000 characters at most");
    }
}
