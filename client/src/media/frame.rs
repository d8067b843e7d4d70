//! Video frames and pixel-format conversion: camera formats (RGB, YUYV) → I420 for the encoder,
//! and I420 → RGBA for display.

use std::time::Instant;

/// A planar YUV 4:2:0 picture (BT.601, limited range), the encoder's input and decoder's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `(width/2) * (height/2)` bytes.
    pub u: Vec<u8>,
    /// Red-difference chroma, `(width/2) * (height/2)` bytes.
    pub v: Vec<u8>,
}

impl I420 {
    /// A black picture. Odd sizes are rounded down to even.
    pub fn black(width: usize, height: usize) -> Self {
        let (width, height) = (width & !1, height & !1);
        let chroma = (width / 2) * (height / 2);
        Self { width, height, y: vec![16; width * height], u: vec![128; chroma], v: vec![128; chroma] }
    }

    /// Convert packed 8-bit RGB (`width * height * 3` bytes) to I420. Returns `None` if the buffer
    /// is too small.
    pub fn from_rgb(width: usize, height: usize, rgb: &[u8]) -> Option<Self> {
        Self::from_packed(width, height, rgb, 3)
    }

    /// Convert packed 8-bit RGBA to I420.
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Option<Self> {
        Self::from_packed(width, height, rgba, 4)
    }

    fn from_packed(width: usize, height: usize, px: &[u8], stride: usize) -> Option<Self> {
        if px.len() < width.checked_mul(height)?.checked_mul(stride)? {
            return None;
        }
        let mut out = Self::black(width, height);
        let (w, h) = (out.width, out.height);
        for row in 0..h {
            for col in 0..w {
                let i = (row * width + col) * stride;
                let (r, g, b) = (i32::from(px[i]), i32::from(px[i + 1]), i32::from(px[i + 2]));
                out.y[row * w + col] = clamp(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
            }
        }
        for row in 0..h / 2 {
            for col in 0..w / 2 {
                // Average the 2×2 block for chroma.
                let (mut r, mut g, mut b) = (0i32, 0i32, 0i32);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = ((row * 2 + dy) * width + col * 2 + dx) * stride;
                    r += i32::from(px[i]);
                    g += i32::from(px[i + 1]);
                    b += i32::from(px[i + 2]);
                }
                let (r, g, b) = (r / 4, g / 4, b / 4);
                let c = row * (w / 2) + col;
                out.u[c] = clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
                out.v[c] = clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
            }
        }
        Some(out)
    }

    /// Convert packed YUYV 4:2:2 (the common webcam format) to I420. Returns `None` if the buffer
    /// is too small.
    pub fn from_yuyv(width: usize, height: usize, yuyv: &[u8]) -> Option<Self> {
        if yuyv.len() < width.checked_mul(height)?.checked_mul(2)? || width < 2 {
            return None;
        }
        let mut out = Self::black(width, height);
        let (w, h) = (out.width, out.height);
        for row in 0..h {
            let line = &yuyv[row * width * 2..];
            for col in 0..w {
                out.y[row * w + col] = line[col * 2];
            }
            if row % 2 == 0 {
                for col in 0..w / 2 {
                    let c = (row / 2) * (w / 2) + col;
                    out.u[c] = line[col * 4 + 1];
                    out.v[c] = line[col * 4 + 3];
                }
            }
        }
        Some(out)
    }

    /// Convert to packed RGBA for display.
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut out = vec![255u8; self.width * self.height * 4];
        self.write_rgba(&mut out);
        out
    }

    /// Convert to packed RGBA at 1/`factor` of the size in each direction (nearest pixel), for
    /// small views such as the self-view; returns the width, the height and the pixels.
    pub fn to_rgba_scaled(&self, factor: usize) -> (usize, usize, Vec<u8>) {
        let factor = factor.max(1);
        let (w, h) = (self.width / factor, self.height / factor);
        let cw = self.width / 2;
        let mut out = vec![255u8; w * h * 4];
        for (i, px) in out.chunks_exact_mut(4).enumerate() {
            let (row, col) = ((i / w.max(1)) * factor, (i % w.max(1)) * factor);
            let c = (row / 2) * cw + col / 2;
            let y = (i32::from(self.y[row * self.width + col]) - 16) * 298;
            let u = i32::from(self.u[c]) - 128;
            let v = i32::from(self.v[c]) - 128;
            px[0] = clamp((y + 409 * v + 128) >> 8);
            px[1] = clamp((y - 100 * u - 208 * v + 128) >> 8);
            px[2] = clamp((y + 516 * u + 128) >> 8);
        }
        (w, h, out)
    }

    /// Convert into an RGBA buffer of `width * height * 4` bytes (shorter buffers are filled
    /// as far as they go).
    pub fn write_rgba(&self, out: &mut [u8]) {
        let cw = self.width / 2;
        for (i, px) in out.chunks_exact_mut(4).take(self.width * self.height).enumerate() {
            let (row, col) = (i / self.width, i % self.width);
            let c = (row / 2) * cw + col / 2;
            let y = (i32::from(self.y[i]) - 16) * 298;
            let u = i32::from(self.u[c]) - 128;
            let v = i32::from(self.v[c]) - 128;
            px[0] = clamp((y + 409 * v + 128) >> 8);
            px[1] = clamp((y - 100 * u - 208 * v + 128) >> 8);
            px[2] = clamp((y + 516 * u + 128) >> 8);
            px[3] = 255;
        }
    }
}

fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// One captured picture, with when it was captured.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// The picture.
    pub picture: I420,
    /// Capture time (glass-to-glass latency starts here).
    pub captured_at: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trips_within_rounding() {
        let (w, h) = (8, 2);
        let colours: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        let mut rgb = Vec::new();
        for row in 0..h {
            for col in 0..w {
                // 2×2 blocks of one colour, so chroma subsampling loses nothing.
                let _ = row;
                rgb.extend_from_slice(&colours[col / 2]);
            }
        }
        let yuv = I420::from_rgb(w, h, &rgb).unwrap();
        let back = yuv.to_rgba();
        for (i, px) in rgb.chunks(3).enumerate() {
            for ch in 0..3 {
                let d = i32::from(px[ch]) - i32::from(back[i * 4 + ch]);
                assert!(d.abs() <= 6, "pixel {i} channel {ch}: {} vs {}", px[ch], back[i * 4 + ch]);
            }
        }
    }

    #[test]
    fn a_scaled_conversion_is_the_full_one_sampled() {
        let src = crate::media::video_source::SyntheticVideo::new(640, 480, 30.0, "t");
        let pic = src.render(3, Instant::now());
        let full = pic.to_rgba();
        let (w, h, half) = pic.to_rgba_scaled(2);
        assert_eq!((w, h, half.len()), (320, 240, 320 * 240 * 4));
        for (row, col) in [(0, 0), (100, 37), (239, 319), (120, 160)] {
            let (a, b) = ((row * 320 + col) * 4, ((row * 2) * 640 + col * 2) * 4);
            assert_eq!(half[a..a + 4], full[b..b + 4], "pixel ({row}, {col})");
        }
        assert_eq!(pic.to_rgba_scaled(1).2, full);
    }

    #[test]
    fn yuyv_keeps_luma_and_takes_chroma_from_even_rows() {
        let yuyv = [10, 100, 20, 200, 30, 101, 40, 201, 50, 102, 60, 202, 70, 103, 80, 203];
        let f = I420::from_yuyv(4, 2, &yuyv).unwrap();
        assert_eq!(f.y, [10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!((f.u.clone(), f.v.clone()), (vec![100, 101], vec![200, 201]));
    }

    #[test]
    fn short_buffers_are_refused_not_read_past() {
        assert!(I420::from_rgb(4, 4, &[0; 10]).is_none());
        assert!(I420::from_yuyv(4, 4, &[0; 10]).is_none());
        assert!(I420::from_rgb(usize::MAX, 2, &[]).is_none());
    }
}
