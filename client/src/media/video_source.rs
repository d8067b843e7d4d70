//! Where video comes from: the [`VideoSource`] trait, and the synthetic test card used on
//! machines without a camera (and by the harness). The camera source implements the same trait.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::frame::{I420, VideoFrame};
use super::pattern::{self, Stamp};

pub use super::error::SourceError;

/// A camera-like producer of pictures. `next_frame` blocks until the next picture is due (camera
/// pace, or the configured rate for synthetic sources), so it runs on a thread of its own.
pub trait VideoSource: Send {
    /// A name to show the user.
    fn name(&self) -> String;
    /// Width and height of the pictures it delivers.
    fn size(&self) -> (usize, usize);
    /// Block until the next picture and return it.
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError>;
}

/// The instant media timestamps count from (first use in the process), and the wall-clock time
/// at that instant in microseconds since the Unix epoch.
fn epochs() -> (Instant, u64) {
    static EPOCH: OnceLock<(Instant, u64)> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (Instant::now(), wall.as_micros() as u64)
    })
}

/// The instant media timestamps count from (first use in the process).
pub fn media_epoch() -> Instant {
    epochs().0
}

/// `t` as wall-clock microseconds, modulo 2³² (what a [`Stamp`] carries). Wall-clock based, so
/// two processes on one machine (the two ends of a call in separate network namespaces) read each
/// other's stamps: the process's monotonic clock after its start, the wall clock only once.
pub fn stamp_micros(t: Instant) -> u32 {
    let (epoch, wall) = epochs();
    let since = t.saturating_duration_since(epoch).as_micros() as u64;
    (wall.wrapping_add(since) & 0xffff_ffff) as u32
}

/// Time from a stamp's capture to `now`, if the stamp is plausible (from this machine, under a
/// minute old).
pub fn age_of(stamp: Stamp, now: Instant) -> Option<Duration> {
    let age = stamp_micros(now).wrapping_sub(stamp.micros);
    (age < 60_000_000).then(|| Duration::from_micros(u64::from(age)))
}

/// Colour bars (as on a broadcast test card) with a moving square and a [`Stamp`] strip carrying
/// the frame counter and capture time. Paced to its frame rate.
pub struct SyntheticVideo {
    background: I420,
    fps: f64,
    counter: u32,
    next_due: Option<Instant>,
    label: String,
    /// Luma grain frames (see [`SyntheticVideo::with_grain`]), used in turn.
    grain: Vec<Vec<i8>>,
}

/// How many different grain frames a grainy test card cycles through.
const GRAIN_FRAMES: usize = 8;

/// The bar colours, as (Y, U, V): white, yellow, cyan, green, magenta, red, blue.
pub const BARS_YUV: [(u8, u8, u8); 7] =
    [(235, 128, 128), (210, 16, 146), (170, 166, 16), (145, 54, 34), (106, 202, 222), (81, 90, 240), (41, 240, 110)];

impl SyntheticVideo {
    /// A test card of `width`×`height` at `fps` frames per second; `label` names it.
    pub fn new(width: usize, height: usize, fps: f64, label: &str) -> Self {
        let mut background = I420::black(width.max(64), height.max(48));
        let (w, h) = (background.width, background.height);
        for row in 0..h {
            for col in 0..w {
                background.y[row * w + col] = BARS_YUV[col * 7 / w].0;
            }
        }
        for row in 0..h / 2 {
            for col in 0..w / 2 {
                let (_, u, v) = BARS_YUV[col * 2 * 7 / w];
                background.u[row * (w / 2) + col] = u;
                background.v[row * (w / 2) + col] = v;
            }
        }
        let fps = if fps.is_finite() && fps > 0.0 { fps.min(120.0) } else { 30.0 };
        Self { background, fps, counter: 0, next_due: None, label: label.to_string(), grain: Vec::new() }
    }

    /// Add sensor-like grain of ±`amplitude` luma levels that changes every frame, so the
    /// encoder has to spend bits the way it does on a real camera (a clean test card compresses
    /// to a tenth of a call's usual bitrate). The stamp strip stays clean.
    pub fn with_grain(mut self, amplitude: u8) -> Self {
        let amplitude = i16::from(amplitude.min(64));
        if amplitude == 0 {
            self.grain.clear();
            return self;
        }
        let mut x: u32 = 0x9e37_79b9;
        let len = self.background.y.len();
        self.grain = (0..GRAIN_FRAMES)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        ((x >> 16) as i16 % (amplitude + 1)) as i8
                    })
                    .collect()
            })
            .collect();
        self
    }

    /// Render frame `counter` captured at `at`, without pacing (for tests and benchmarks).
    pub fn render(&self, counter: u32, at: Instant) -> I420 {
        let mut pic = self.background.clone();
        let (w, h) = (pic.width, pic.height);
        // A grey square that bounces left to right, so the picture really moves.
        let side = (h / 6) & !1;
        let top = pattern::strip_height(w) + (h - pattern::strip_height(w) - side) / 2;
        let span = (w - side) as u32;
        let pos = (counter * 8) % (2 * span.max(1));
        let left = (if pos > span { 2 * span - pos } else { pos }) as usize & !1;
        for row in top..top + side {
            pic.y[row * w + left..row * w + left + side].fill(128);
        }
        for row in top / 2..(top + side) / 2 {
            let start = row * (w / 2) + left / 2;
            pic.u[start..start + side / 2].fill(128);
            pic.v[start..start + side / 2].fill(128);
        }
        if let Some(grain) = self.grain.get(counter as usize % GRAIN_FRAMES.max(1)) {
            let below_strip = pattern::strip_height(w) * w;
            for (px, g) in pic.y.iter_mut().zip(grain).skip(below_strip) {
                *px = px.saturating_add_signed(*g);
            }
        }
        pattern::write(&mut pic, Stamp { counter, micros: stamp_micros(at) });
        pic
    }
}

impl VideoSource for SyntheticVideo {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn size(&self) -> (usize, usize) {
        (self.background.width, self.background.height)
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let interval = Duration::from_secs_f64(1.0 / self.fps);
        let now = Instant::now();
        let due = self.next_due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // After a stall, do not try to catch up with a burst.
        let captured_at = Instant::now();
        self.next_due = Some(if captured_at > due + interval { captured_at + interval } else { due + interval });
        let picture = self.render(self.counter, captured_at);
        self.counter = self.counter.wrapping_add(1);
        Ok(VideoFrame { picture, captured_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_increasing_counters_and_capture_times() {
        let mut src = SyntheticVideo::new(320, 240, 200.0, "test");
        let a = src.next_frame().unwrap();
        let b = src.next_frame().unwrap();
        let (sa, sb) = (pattern::read(&a.picture).unwrap(), pattern::read(&b.picture).unwrap());
        assert_eq!((sa.counter, sb.counter), (0, 1));
        assert!(b.captured_at >= a.captured_at + Duration::from_millis(4), "paced at 200 fps");
        assert!(age_of(sb, Instant::now()).is_some_and(|age| age < Duration::from_secs(1)));
    }

    #[test]
    fn grain_changes_every_frame_and_keeps_the_stamp_readable() {
        let src = SyntheticVideo::new(320, 240, 30.0, "test").with_grain(12);
        let now = Instant::now();
        let (a, b) = (src.render(0, now), src.render(1, now));
        let below = pattern::strip_height(320) * 320;
        let differing = a.y[below..].iter().zip(&b.y[below..]).filter(|(x, y)| x != y).count();
        assert!(differing > a.y.len() / 2, "grain differs between frames: {differing}");
        assert_eq!(pattern::read(&b).map(|s| s.counter), Some(1));
        let clean = SyntheticVideo::new(320, 240, 30.0, "test").render(1, now);
        let worst = b.y.iter().zip(&clean.y).map(|(x, y)| x.abs_diff(*y)).max();
        assert!(worst.is_some_and(|d| d <= 12), "{worst:?}");
    }

    #[test]
    fn the_picture_moves_and_shows_the_bars() {
        let src = SyntheticVideo::new(640, 480, 30.0, "test");
        let now = Instant::now();
        let (a, b) = (src.render(0, now), src.render(10, now));
        let below = pattern::strip_height(640) * 640;
        assert_ne!(a.y[below..], b.y[below..], "the square moved");
        let rgba = a.to_rgba();
        let px = |x: usize, y: usize| &rgba[(y * 640 + x) * 4..(y * 640 + x) * 4 + 3];
        let yellow = px(640 / 7 + 10, 470);
        assert!(yellow[0] > 200 && yellow[1] > 200 && yellow[2] < 60, "{yellow:?}");
        let blue = px(639, 470);
        assert!(blue[2] > 200 && blue[0] < 60, "{blue:?}");
    }
}
