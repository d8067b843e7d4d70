//! Picture scaling for the bitrate ladder: a bilinear resize of an I420 picture, plane by plane,
//! in 16.16 fixed point (no floats in the inner loop).

use super::frame::I420;

impl I420 {
    /// This picture resized to `width` × `height` (rounded down to even) by bilinear
    /// interpolation. A picture that already has that size is returned as a copy.
    pub fn scaled(&self, width: usize, height: usize) -> I420 {
        let mut out = I420::black(width, height);
        self.scale_into(&mut out);
        out
    }

    /// Resize into `out`, at `out`'s size (its planes are reused: the sender scales every
    /// picture of a call into the same one).
    pub fn scale_into(&self, out: &mut I420) {
        let (width, height) = (out.width, out.height);
        if (width, height) == (self.width, self.height) {
            out.clone_from(self);
            return;
        }
        if self.width == 0 || self.height == 0 {
            return;
        }
        resize_plane(&self.y, self.width, self.height, &mut out.y, width, height);
        let (cw, ch, dw, dh) = (self.width / 2, self.height / 2, width / 2, height / 2);
        resize_plane(&self.u, cw, ch, &mut out.u, dw, dh);
        resize_plane(&self.v, cw, ch, &mut out.v, dw, dh);
    }
}

/// Source position (16.16) of each destination coordinate, sampling at pixel centres, with the
/// index of the next source pixel clamped to the edge.
fn positions(src: usize, dst: usize) -> Vec<(usize, usize, u32)> {
    let step = ((src as u64) << 16) / dst.max(1) as u64;
    (0..dst)
        .map(|i| {
            let centre = (i as u64 * step + step / 2).saturating_sub(1 << 15);
            let (whole, frac) = ((centre >> 16) as usize, (centre & 0xffff) as u32);
            let first = whole.min(src - 1);
            (first, (first + 1).min(src - 1), frac)
        })
        .collect()
}

fn resize_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    if sw == 0 || sh == 0 || src.len() < sw * sh || dst.len() < dw * dh {
        return;
    }
    let xs = positions(sw, dw);
    let ys = positions(sh, dh);
    for (row, &(y0, y1, fy)) in dst.chunks_exact_mut(dw.max(1)).zip(ys.iter()) {
        let (top, bottom) = (&src[y0 * sw..y0 * sw + sw], &src[y1 * sw..y1 * sw + sw]);
        for (out, &(x0, x1, fx)) in row.iter_mut().zip(xs.iter()) {
            let lerp = |a: u8, b: u8, f: u32| (u32::from(a) * (0x1_0000 - f) + u32::from(b) * f) >> 8;
            let t = lerp(top[x0], top[x1], fx);
            let b = lerp(bottom[x0], bottom[x1], fx);
            *out = ((t * (0x1_0000 - fy) + b * fy + (1 << 23)) >> 24) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::pattern;
    use super::super::video_source::SyntheticVideo;
    use super::*;

    #[test]
    fn every_ladder_size_keeps_the_stamp_readable() {
        let src = SyntheticVideo::new(640, 480, 30.0, "t").render(77, Instant::now());
        for (w, h) in [(480, 360), (320, 240), (160, 120)] {
            let pic = src.scaled(w, h);
            assert_eq!((pic.width, pic.height, pic.y.len(), pic.u.len()), (w, h, w * h, w * h / 4));
            assert_eq!(pattern::read(&pic).map(|s| s.counter), Some(77), "{w}x{h}");
        }
        // Scaling into a picture used before gives the same pixels as a fresh one.
        let mut reused = src.scaled(320, 240);
        let other = SyntheticVideo::new(640, 480, 30.0, "t").render(78, Instant::now());
        other.scale_into(&mut reused);
        assert_eq!(reused, other.scaled(320, 240));
    }

    #[test]
    fn flat_pictures_stay_flat_and_odd_or_empty_sizes_are_safe() {
        let mut grey = I420::black(64, 48);
        grey.y.fill(100);
        let small = grey.scaled(31, 17);
        assert_eq!((small.width, small.height), (30, 16));
        assert!(small.y.iter().all(|&p| p == 100), "{:?}", &small.y[..8]);
        assert!(small.u.iter().all(|&p| p == 128));
        let up = grey.scaled(128, 96);
        assert!(up.y.iter().all(|&p| p == 100));
        assert_eq!(I420::black(0, 0).scaled(32, 32).y.len(), 32 * 32);
        assert!(grey.scaled(0, 0).y.is_empty());
    }
}
