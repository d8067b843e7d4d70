//! The Strangers signal server: matches strangers, hosts named rooms and relays WebRTC signaling
//! over WebSocket.
//!
//! The [`core`] is a sans-IO state machine (no sockets, clock, locks or tokio); the [`hub`] task
//! owns it and routes its outputs; [`net`] accepts connections, speaks HTTP and WebSocket, and
//! carries frames. [`start`] binds and serves in the background; [`run`] serves on a listener
//! that is already bound.

pub mod cluster;
pub mod config;
pub mod core;
pub mod hub;
pub mod metrics;
pub mod net;
pub mod store;

pub use config::Config;
pub use net::{ServerHandle, run, start};
