//! The Strangers signal server: matches strangers, hosts named rooms and relays WebRTC signaling
//! over WebSocket.
//!
//! The [`core`] is a sans-IO state machine (no sockets, clock, locks or tokio); the [`hub`] task
//! owns it and routes its outputs; [`net`] accepts connections, speaks HTTP and WebSocket, and
//! carries frames. [`run`] ties them together on an already-bound listener.

pub mod core;
