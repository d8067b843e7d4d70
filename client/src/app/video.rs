//! Video on screen: a texture per stream that is re-uploaded only when its slot has a new frame,
//! drawn letterboxed into a rectangle, with placeholders and mute/camera badges.

use eframe::egui::{self, Color32, CornerRadius, Rect, TextureHandle, TextureOptions, vec2};

use crate::slot::FrameSlot;

/// One stream's texture; see the module docs.
#[derive(Default)]
pub struct VideoTexture {
    texture: Option<TextureHandle>,
    seq: u64,
    /// Frames uploaded so far (tests read it to see the picture change).
    pub uploads: u64,
}

impl VideoTexture {
    /// Upload the slot's latest frame if it is new. Returns whether a picture is available.
    pub fn update(&mut self, ctx: &egui::Context, name: &str, slot: Option<&FrameSlot>) -> bool {
        let Some(frame) = slot.and_then(FrameSlot::latest) else {
            self.texture = None;
            self.seq = 0;
            return false;
        };
        if frame.seq != self.seq || self.texture.is_none() {
            if frame.rgba.len() < frame.width * frame.height * 4 {
                return self.texture.is_some();
            }
            let image = egui::ColorImage::from_rgba_unmultiplied([frame.width, frame.height], &frame.rgba);
            match &mut self.texture {
                Some(t) => t.set(image, TextureOptions::LINEAR),
                None => self.texture = Some(ctx.load_texture(name, image, TextureOptions::LINEAR)),
            }
            self.seq = frame.seq;
            self.uploads += 1;
        }
        true
    }

    /// Draw the picture fitted into `rect` (letterboxed), or nothing if there is none.
    pub fn paint(&self, ui: &egui::Ui, rect: Rect, mirror: bool) -> bool {
        let Some(texture) = &self.texture else { return false };
        let size = texture.size_vec2();
        let scale = (rect.width() / size.x).min(rect.height() / size.y);
        let fitted = Rect::from_center_size(rect.center(), size * scale);
        let uv = if mirror {
            Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
        } else {
            Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
        };
        ui.painter().image(texture.id(), fitted, uv, Color32::WHITE);
        true
    }
}

/// A dark panel with a centred message (and an optional spinner) where video would be. The
/// message is also a label in the accessibility tree, so screen readers (and UI tests) see it.
pub fn placeholder(ui: &egui::Ui, rect: Rect, icon: &str, message: &str, spinner: bool) {
    let id = ui.scope_id().with(("placeholder", rect.min.x.to_bits(), rect.min.y.to_bits()));
    ui.ctx().accesskit_node_builder(id, |node| {
        node.set_role(egui::accesskit::Role::Label);
        node.set_value(message);
        node.set_bounds(egui::accesskit::Rect {
            x0: rect.min.x.into(),
            y0: rect.min.y.into(),
            x1: rect.max.x.into(),
            y1: rect.max.y.into(),
        });
    });
    let painter = ui.painter();
    painter.rect_filled(rect, CornerRadius::same(8), Color32::from_gray(24));
    let center = rect.center();
    painter.text(
        center - vec2(0.0, 28.0),
        egui::Align2::CENTER_CENTER,
        icon,
        egui::FontId::proportional(40.0),
        Color32::from_gray(140),
    );
    painter.text(
        center + vec2(0.0, 16.0),
        egui::Align2::CENTER_CENTER,
        message,
        egui::FontId::proportional(16.0),
        Color32::from_gray(200),
    );
    if spinner {
        let t = ui.input(|i| i.time) as f32;
        let r = 10.0;
        let c = center + vec2(0.0, 48.0);
        for k in 0..8 {
            let a = t * 4.0 + k as f32 * std::f32::consts::TAU / 8.0;
            let alpha = (40 + 25 * k) as u8;
            painter.circle_filled(c + vec2(a.cos(), a.sin()) * r, 2.5, Color32::from_white_alpha(alpha));
        }
    }
}

/// Small badges in a video's corner: muted microphone, camera off, a name.
pub fn badges(ui: &egui::Ui, rect: Rect, name: Option<&str>, audio: bool, video: bool) {
    let mut labels: Vec<String> = Vec::new();
    if let Some(name) = name {
        labels.push(name.to_string());
    }
    if !audio {
        labels.push("✕ muted".into());
    }
    if !video {
        labels.push("✕ camera off".into());
    }
    let painter = ui.painter();
    let mut x = rect.left() + 8.0;
    for label in labels {
        let galley = painter.layout_no_wrap(label, egui::FontId::proportional(13.0), Color32::WHITE);
        let badge = Rect::from_min_size(egui::pos2(x, rect.bottom() - 28.0), galley.size() + vec2(12.0, 6.0));
        painter.rect_filled(badge, CornerRadius::same(4), Color32::from_black_alpha(170));
        painter.galley(badge.min + vec2(6.0, 3.0), galley, Color32::WHITE);
        x = badge.right() + 6.0;
    }
}
