//! The Strangers wire protocol.
//!
//! Every message is one JSON object in a WebSocket text frame, tagged by a `"type"` field in
//! `snake_case`. [`ClientMsg`] travels from a client to the signal server and [`ServerMsg`] from the
//! server to a client. [`decode_client`] and [`decode_server`] validate as they parse and return a
//! typed [`DecodeError`]; they never panic. [`limits`] documents every size limit.
//!
//! This crate does no IO and pulls in no runtime, so the server, the client engine, the tests and
//! the fuzzers all share one definition of the protocol.

mod codec;
mod ids;
pub mod limits;
mod msg;
mod unique;

pub use codec::{DecodeError, decode_client, decode_server, encode, is_install_id, normalize_interests};
pub use ids::{PeerId, RoomName};
pub use msg::{
    ClientMsg, ErrorCode, IceServer, LeaveReason, Member, Mode, NextReason, Relay, ReportReason, Role, ServerMsg,
};
pub use unique::check_unique_keys;

/// The protocol version this crate speaks: one integer, with no major/minor parts. The server
/// accepts exactly this version: a client that says `hello` with any other gets an `error` with
/// code `version_unsupported` (and the connection stays up).
pub const PROTOCOL_VERSION: u32 = 1;
