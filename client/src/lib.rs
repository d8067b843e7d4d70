//! The Strangers client engine: signaling, WebRTC calls and media. The desktop app and the
//! headless harness are faces on it.

pub mod app;
pub mod backoff;
pub mod call;
pub mod devices;
pub mod engine;
pub mod harness;
pub mod media;
pub mod signaling;
pub mod slot;
