//! Identifier newtypes: peers and room names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A connection's identity, chosen by the server and announced in `welcome`.
///
/// It is a JSON number on the wire. Clients only ever use ids the server gave them (room members),
/// and the server checks every id a client names against the sender's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// The name of a room, as the users typed it (1 to [`crate::limits::MAX_ROOM_NAME_CHARS`]
/// characters, no control characters). Names are case-sensitive, as in the simple `ws` servers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomName(pub String);

impl RoomName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
