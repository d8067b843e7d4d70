//! How long each UI frame takes: the app's own `ui()` time (building the interface and
//! uploading new video) and eframe's whole-frame CPU time (which adds tessellation and painting).

use std::time::Duration;

/// Frames kept for the percentiles.
const WINDOW: usize = 1024;

/// Recent frame timings; see the module docs.
#[derive(Debug, Default, Clone)]
pub struct FrameTimes {
    ui: Vec<Duration>,
    cpu: Vec<Duration>,
    next: usize,
    /// Frames recorded since start.
    pub frames: u64,
    /// Frames whose `ui()` took over 8 ms, since start.
    pub over_budget: u64,
    /// The slowest `ui()` since start.
    pub worst: Duration,
}

/// The UI-work budget per frame.
pub const BUDGET: Duration = Duration::from_millis(8);

impl FrameTimes {
    /// Record one frame: our `ui()` time and eframe's CPU time of the previous frame.
    pub fn record(&mut self, ui: Duration, cpu_seconds: Option<f32>) {
        self.frames += 1;
        // The first frames load fonts and build atlases; they are not steady state.
        if self.frames <= 3 {
            return;
        }
        if ui > BUDGET {
            self.over_budget += 1;
        }
        self.worst = self.worst.max(ui);
        let cpu = cpu_seconds.map_or(Duration::ZERO, |s| Duration::from_secs_f32(s.clamp(0.0, 10.0)));
        if self.ui.len() < WINDOW {
            self.ui.push(ui);
            self.cpu.push(cpu);
        } else {
            self.ui[self.next] = ui;
            self.cpu[self.next] = cpu;
            self.next = (self.next + 1) % WINDOW;
        }
    }

    /// (p50, p99) of `ui()` time over the recent window.
    pub fn ui_percentiles(&self) -> (Duration, Duration) {
        percentiles(&self.ui)
    }

    /// (p50, p99) of whole-frame CPU time over the recent window.
    pub fn cpu_percentiles(&self) -> (Duration, Duration) {
        percentiles(&self.cpu)
    }

    /// One line for logs and the stats overlay.
    pub fn summary(&self) -> String {
        let (u50, u99) = self.ui_percentiles();
        let (c50, c99) = self.cpu_percentiles();
        format!(
            "ui p50 {:.2} ms p99 {:.2} ms max {:.2} ms, over 8 ms: {} of {}; frame cpu p50 {:.2} ms p99 {:.2} ms",
            ms(u50),
            ms(u99),
            ms(self.worst),
            self.over_budget,
            self.frames.saturating_sub(3),
            ms(c50),
            ms(c99)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentiles(samples: &[Duration]) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_budget_skip_the_warm_up_frames() {
        let mut t = FrameTimes::default();
        for _ in 0..3 {
            t.record(Duration::from_millis(50), None);
        }
        for i in 1..=70u64 {
            t.record(Duration::from_micros(100 * i), Some(0.002));
        }
        t.record(Duration::from_millis(9), None);
        assert_eq!((t.over_budget, t.worst), (1, Duration::from_millis(9)), "warm-up frames are not counted");
        let (p50, p99) = t.ui_percentiles();
        assert_eq!(p50, Duration::from_micros(3600));
        assert_eq!(p99, Duration::from_micros(7000));
    }
}
