//! A hook on decoded pictures, for whoever wants to look at them without being part of every
//! call: the headless harness installs one that reads the test card's stamps (frame counter and
//! capture time) to verify and time calls; the app installs none, so a camera call pays nothing.

use std::fmt::Debug;
use std::time::Instant;

use super::frame::I420;

/// Looks at each decoded picture of one remote video stream, on its decode thread.
pub trait PictureProbe: Send + Sync + Debug {
    /// A picture was decoded at `now`. Returns when it was captured, if the probe can tell.
    fn decoded(&self, picture: &I420, now: Instant) -> Option<Instant>;
}
