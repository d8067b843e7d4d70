//! The Strangers client engine (grows into signaling, WebRTC calls and media).
//!
//! For now it holds the reconnect policy the signaling client will use.

pub mod backoff;
