//! The latest-frame slot: the decoder (or camera) writes, the UI reads. A new frame replaces the
//! old one, so a slow reader never builds a queue, and an optional callback (the UI's
//! `request_repaint`) fires on every write.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A decoded picture ready to show.
#[derive(Debug, Clone)]
pub struct RgbaFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes.
    pub rgba: Arc<Vec<u8>>,
    /// Increases with every frame written to the slot.
    pub seq: u64,
    /// When the picture was captured at its source (for latency), if known.
    pub captured_at: Option<Instant>,
}

type Notify = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    frame: Option<RgbaFrame>,
    seq: u64,
    notify: Option<Notify>,
}

/// See the module docs. Cheap to clone; clones share the slot.
#[derive(Clone, Default)]
pub struct FrameSlot(Arc<Mutex<Inner>>);

impl std::fmt::Debug for FrameSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSlot").field("seq", &self.lock().seq).finish()
    }
}

impl FrameSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Call `f` after every write (for example the UI's repaint request).
    pub fn set_notify(&self, f: impl Fn() + Send + Sync + 'static) {
        self.lock().notify = Some(Arc::new(f));
    }

    /// Replace the frame.
    pub fn put(&self, width: usize, height: usize, rgba: Vec<u8>, captured_at: Option<Instant>) {
        let notify = {
            let mut inner = self.lock();
            inner.seq += 1;
            let seq = inner.seq;
            inner.frame = Some(RgbaFrame { width, height, rgba: Arc::new(rgba), seq, captured_at });
            inner.notify.clone()
        };
        if let Some(f) = notify {
            f();
        }
    }

    /// Empty the slot (partner gone, camera off).
    pub fn clear(&self) {
        let notify = {
            let mut inner = self.lock();
            inner.frame = None;
            inner.notify.clone()
        };
        if let Some(f) = notify {
            f();
        }
    }

    /// The latest frame, if any.
    pub fn latest(&self) -> Option<RgbaFrame> {
        self.lock().frame.clone()
    }

    /// How many frames were ever written.
    pub fn writes(&self) -> u64 {
        self.lock().seq
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn keeps_only_the_latest_and_notifies() {
        let slot = FrameSlot::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        slot.set_notify(move || {
            h.fetch_add(1, Ordering::Relaxed);
        });
        assert!(slot.latest().is_none());
        slot.put(2, 1, vec![0; 8], None);
        slot.put(2, 1, vec![9; 8], None);
        let f = slot.latest().unwrap();
        assert_eq!((f.seq, f.rgba[0]), (2, 9));
        slot.clear();
        assert!(slot.latest().is_none());
        assert_eq!((hits.load(Ordering::Relaxed), slot.writes()), (3, 2));
    }
}
