//! Calls: the peer connection to each partner and the call state machine.

pub mod early_dtls;
pub mod error;
pub mod keyframe;
pub mod link_io;
pub mod peer;
pub mod privacy;
mod setup;
pub mod state;
