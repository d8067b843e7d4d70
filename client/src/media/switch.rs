//! Sources that can be swapped while a call runs (the user picks another camera or microphone,
//! or turns a device off). The engine's capture thread owns a [`SwitchedVideo`] /
//! [`SwitchedAudio`]; the UI keeps the matching [`Switch`] handle and hands it a new source. The
//! capture thread picks the new source up before its next frame, so the UI never waits for it.
//!
//! A device that fails is dropped and its error is kept for the UI to show; the call goes on
//! without that medium until another source is chosen.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::audio_source::{AudioFrame, AudioSource};
use super::frame::VideoFrame;
use super::video_source::{SourceError, VideoSource};

/// How long a capture thread with no source waits before it checks again for a new one (and
/// for its stop flag).
pub const IDLE_WAIT: Duration = Duration::from_millis(50);

struct SwitchState<S: ?Sized> {
    /// A replacement waiting to be picked up: `Some(None)` means "no device".
    pending: Option<Option<Box<S>>>,
    /// The name of the active source, or `None`.
    active: Option<String>,
    /// The last device failure, until the next switch.
    error: Option<String>,
}

/// The UI's end of a switchable source. Cheap to clone.
pub struct Switch<S: ?Sized>(Arc<Mutex<SwitchState<S>>>);

impl<S: ?Sized> Clone for Switch<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: ?Sized> Switch<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, SwitchState<S>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Use `source` from the next frame on (`None`: no device).
    ///
    /// A replacement that was never picked up is dropped after the lock is released: closing a
    /// device can take a while, and the UI reads this state every frame.
    pub fn set(&self, source: Option<Box<S>>) {
        let unused = {
            let mut shared = self.lock();
            shared.error = None;
            shared.pending.replace(source)
        };
        drop(unused);
    }

    /// The active source's name, if there is one.
    pub fn active(&self) -> Option<String> {
        self.lock().active.clone()
    }

    /// The last device failure since the last switch.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }
}

/// The capture-thread end, generic over the source kind.
struct Switched<S: ?Sized> {
    shared: Switch<S>,
    current: Option<Box<S>>,
}

impl<S: ?Sized> Switched<S> {
    /// Take a pending replacement, if any. The old source is closed after the lock is released,
    /// so the UI (which reads `active` and `error` every frame) never waits for a device to close.
    fn refresh(&mut self, name: impl Fn(&S) -> String) {
        let next = {
            let mut shared = self.shared.lock();
            let Some(next) = shared.pending.take() else { return };
            shared.active = next.as_deref().map(&name);
            next
        };
        let old = std::mem::replace(&mut self.current, next);
        drop(old);
    }

    /// The next frame of the current source. With no source, wait a little and report
    /// [`SourceError::Idle`]; a failing source is dropped and its error kept for the UI.
    fn pull<F>(
        &mut self,
        name: impl Fn(&S) -> String,
        next: impl FnOnce(&mut S) -> Result<F, SourceError>,
    ) -> Result<F, SourceError> {
        self.refresh(&name);
        let Some(source) = self.current.as_mut() else {
            std::thread::sleep(IDLE_WAIT);
            return Err(SourceError::Idle);
        };
        let label = name(source);
        next(source).map_err(|error| {
            tracing::warn!(source = %label, %error, "device failed; going on without it");
            let mut shared = self.shared.lock();
            shared.error = Some(error.to_string());
            shared.active = None;
            drop(shared);
            self.current = None;
            SourceError::Idle
        })
    }
}

/// A pair of ends for a video source.
pub fn video(initial: Option<Box<dyn VideoSource>>) -> (Switch<dyn VideoSource>, SwitchedVideo) {
    let active = initial.as_ref().map(|s| s.name());
    let shared = Switch(Arc::new(Mutex::new(SwitchState { pending: None, active, error: None })));
    (shared.clone(), SwitchedVideo(Switched { shared, current: initial }))
}

/// A pair of ends for an audio source.
pub fn audio(initial: Option<Box<dyn AudioSource>>) -> (Switch<dyn AudioSource>, SwitchedAudio) {
    let active = initial.as_ref().map(|s| s.name());
    let shared = Switch(Arc::new(Mutex::new(SwitchState { pending: None, active, error: None })));
    (shared.clone(), SwitchedAudio(Switched { shared, current: initial }))
}

/// A [`VideoSource`] whose device can be swapped; see the module docs.
pub struct SwitchedVideo(Switched<dyn VideoSource>);

impl VideoSource for SwitchedVideo {
    fn name(&self) -> String {
        self.0.current.as_ref().map_or_else(|| "no camera".to_string(), |s| s.name())
    }

    fn size(&self) -> (usize, usize) {
        self.0.current.as_ref().map_or((0, 0), |s| s.size())
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        self.0.pull(|s| s.name(), |s| s.next_frame())
    }
}

/// An [`AudioSource`] whose device can be swapped; see the module docs.
pub struct SwitchedAudio(Switched<dyn AudioSource>);

impl AudioSource for SwitchedAudio {
    fn name(&self) -> String {
        self.0.current.as_ref().map_or_else(|| "no microphone".to_string(), |s| s.name())
    }

    fn next_frame(&mut self) -> Result<AudioFrame, SourceError> {
        self.0.pull(|s| s.name(), |s| s.next_frame())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::media::video_source::SyntheticVideo;

    struct Broken;
    impl VideoSource for Broken {
        fn name(&self) -> String {
            "broken cam".into()
        }
        fn size(&self) -> (usize, usize) {
            (64, 48)
        }
        fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
            Err(SourceError::Failed("unplugged".into()))
        }
    }

    #[test]
    fn swaps_sources_between_frames_and_survives_a_failing_device() {
        let (switch, mut src) = video(None);
        assert_eq!(src.next_frame().err(), Some(SourceError::Idle), "no device: idle, not an error");
        assert_eq!(switch.active(), None);

        switch.set(Some(Box::new(SyntheticVideo::new(64, 48, 1000.0, "card A"))));
        let frame = src.next_frame().unwrap();
        assert_eq!((frame.picture.width, switch.active().as_deref()), (64, Some("card A")));

        switch.set(Some(Box::new(SyntheticVideo::new(128, 96, 1000.0, "card B"))));
        assert_eq!(src.next_frame().unwrap().picture.width, 128, "the new source from the next frame");

        switch.set(Some(Box::new(Broken)));
        assert_eq!(src.next_frame().err(), Some(SourceError::Idle));
        assert_eq!(switch.error().as_deref(), Some("device failed: unplugged"));
        assert_eq!(switch.active(), None, "the failed device is dropped");
        let started = Instant::now();
        assert_eq!(src.next_frame().err(), Some(SourceError::Idle));
        assert!(started.elapsed() >= IDLE_WAIT / 2, "an idle source does not spin");
    }

    /// A source that notes, as it is dropped, whether the switch's lock was free.
    struct Probe {
        switch: Switch<dyn VideoSource>,
        dropped_unlocked: Arc<std::sync::Mutex<Vec<bool>>>,
    }
    impl VideoSource for Probe {
        fn name(&self) -> String {
            "probe".into()
        }
        fn size(&self) -> (usize, usize) {
            (64, 48)
        }
        fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
            Err(SourceError::Idle)
        }
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            let free = self.switch.0.try_lock().is_ok();
            self.dropped_unlocked.lock().unwrap().push(free);
        }
    }

    #[test]
    fn old_sources_close_outside_the_lock() {
        let (switch, mut src) = video(None);
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let probe = || Box::new(Probe { switch: switch.clone(), dropped_unlocked: log.clone() });
        // Replaced before the capture thread picked it up.
        switch.set(Some(probe()));
        switch.set(Some(probe()));
        // Picked up, then replaced by the next switch.
        let _ = src.next_frame();
        switch.set(Some(Box::new(SyntheticVideo::new(64, 48, 1000.0, "card"))));
        let _ = src.next_frame();
        assert_eq!(*log.lock().unwrap(), vec![true, true], "both probes closed with the lock free");
    }
}
