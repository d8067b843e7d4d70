//! Video on screen: a texture per stream that is re-uploaded only when its slot has a new frame,
//! drawn letterboxed into a rectangle (enlarged at most [`MAX_SCALE`] times), with placeholders
//! and mute/camera badges.
//!
//! Uploads are cheap on purpose, since software rendering (Mesa's llvmpipe) is common: the
//! pictures are opaque, so their bytes go into the texture as they are (no premultiply); a
//! picture shown much smaller than it is (the self-view) is shrunk by a whole factor first; and
//! a texture of the same size is updated in place rather than reallocated.

use eframe::egui::{self, Color32, CornerRadius, Rect, TextureHandle, TextureOptions, Vec2, vec2};

use crate::slot::{FrameSlot, RgbaFrame};

/// The most a picture is enlarged (screen pixels per picture pixel). Video fills its area, as
/// people expect, but past twice its size a bilinear upscale adds only blur, and with software
/// rendering every pixel it covers costs CPU (filling the stage of the default window instead of
/// showing 640x480 at its own size: 33% -> 37% of a core under llvmpipe).
pub const MAX_SCALE: f32 = 2.0;

/// One stream's texture; see the module docs.
#[derive(Default)]
pub struct VideoTexture {
    texture: Option<TextureHandle>,
    seq: u64,
    /// The texture's size and filter, as last uploaded.
    size: [usize; 2],
    /// The size of the picture it was made from (larger when shrunk or blurred).
    source: Vec2,
    options: Option<TextureOptions>,
    /// Frames uploaded so far (tests read it to see the picture change).
    pub uploads: u64,
    /// Upload the picture blurred: shrunk to about [`BLUR_WIDTH`] pixels across and stretched
    /// back, so nothing finer than that ever reaches the screen.
    blur: bool,
}

/// How many pixels across a blurred picture keeps.
pub const BLUR_WIDTH: usize = 24;

impl VideoTexture {
    /// Blur the picture (or not) from the next upload on; a change re-uploads the current frame.
    pub fn set_blur(&mut self, blur: bool) {
        if self.blur != blur {
            self.blur = blur;
            self.seq = 0;
        }
    }

    /// Upload the slot's latest frame if it is new, for showing fitted into a rectangle of
    /// `target` points. Returns whether a picture is available.
    pub fn update(&mut self, ctx: &egui::Context, name: &str, slot: Option<&FrameSlot>, target: Vec2) -> bool {
        let Some(frame) = slot.and_then(FrameSlot::latest) else {
            self.texture = None;
            self.seq = 0;
            return false;
        };
        if frame.seq != self.seq || self.texture.is_none() {
            if frame.rgba.len() < frame.width * frame.height * 4 || frame.width == 0 || frame.height == 0 {
                return self.texture.is_some();
            }
            let ppp = ctx.pixels_per_point();
            let fit = (target.x * ppp / frame.width as f32).min(target.y * ppp / frame.height as f32).min(MAX_SCALE);
            // Shrink by the largest whole factor that keeps the picture at least as large as it
            // is shown: the self-view then uploads (and samples) a ninth of the pixels.
            let mut factor = if fit > 0.0 { ((1.0 / fit).floor() as usize).clamp(1, 8) } else { 1 };
            if self.blur {
                // By the longer side, so a tall or tiny picture is blurred as much as any.
                factor = frame.width.max(frame.height).div_ceil(BLUR_WIDTH).max(factor).max(2);
                factor = factor.min(frame.width.min(frame.height)).max(1);
            }
            let image = to_image(&frame, factor);
            // At (about) its own size a picture looks the same sampled nearest, which costs
            // software rendering a quarter of the texel reads of bilinear filtering.
            let shown = fit * factor as f32;
            let own_size = (shown - 1.0).abs() < 0.02 && !self.blur;
            let options = if own_size { TextureOptions::NEAREST } else { TextureOptions::LINEAR };
            let size = image.size;
            match &mut self.texture {
                Some(t) if self.size == size && self.options == Some(options) => t.set_partial([0, 0], image, options),
                Some(t) => t.set(image, options),
                None => self.texture = Some(ctx.load_texture(name, image, options)),
            }
            self.size = size;
            self.source = vec2(frame.width as f32, frame.height as f32);
            self.options = Some(options);
            self.seq = frame.seq;
            self.uploads += 1;
        }
        true
    }

    /// Draw the picture fitted into `rect` (letterboxed), or nothing if there is none. Returns
    /// where it was drawn.
    pub fn paint(&self, ui: &egui::Ui, rect: Rect, mirror: bool) -> Option<Rect> {
        let texture = self.texture.as_ref()?;
        // Fitted as the picture it came from: a blurred texture of a few pixels still fills the
        // stage the sharp picture would.
        let size = if self.source.x > 0.0 { self.source } else { texture.size_vec2() };
        let scale = (rect.width() / size.x).min(rect.height() / size.y).min(MAX_SCALE / ui.ctx().pixels_per_point());
        let mut fitted = Rect::from_center_size(rect.center(), size * scale);
        if self.options == Some(TextureOptions::NEAREST) {
            // Drawn at its own size: on whole pixels, so each texel lands on one pixel.
            let ppp = ui.ctx().pixels_per_point();
            let min = (fitted.min.to_vec2() * ppp).round() / ppp;
            fitted = Rect::from_min_size(min.to_pos2(), fitted.size());
        }
        let uv = if mirror {
            Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
        } else {
            Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
        };
        ui.painter().image(texture.id(), fitted, uv, Color32::WHITE);
        Some(fitted)
    }
}

/// The frame as an image, shrunk `factor` times (each pixel the average of a square of them).
/// The pictures are opaque (alpha 255), so their bytes are already premultiplied.
fn to_image(frame: &RgbaFrame, factor: usize) -> egui::ColorImage {
    let (w, h) = (frame.width, frame.height);
    let rgba = &frame.rgba[..w * h * 4];
    if factor <= 1 {
        return egui::ColorImage::from_rgba_premultiplied([w, h], rgba);
    }
    let (ow, oh) = (w / factor, h / factor);
    let n = (factor * factor) as u32;
    let mut pixels = Vec::with_capacity(ow * oh);
    let mut sums = vec![[0u32; 3]; ow];
    for oy in 0..oh {
        sums.fill([0; 3]);
        for y in oy * factor..(oy + 1) * factor {
            let row = &rgba[y * w * 4..(y * w + ow * factor) * 4];
            for (sum, block) in sums.iter_mut().zip(row.chunks_exact(4 * factor)) {
                for p in block.chunks_exact(4) {
                    sum[0] += u32::from(p[0]);
                    sum[1] += u32::from(p[1]);
                    sum[2] += u32::from(p[2]);
                }
            }
        }
        let avg = |v: u32| ((v + n / 2) / n) as u8;
        pixels.extend(sums.iter().map(|s| Color32::from_rgb(avg(s[0]), avg(s[1]), avg(s[2]))));
    }
    egui::ColorImage::new([ow, oh], pixels)
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
