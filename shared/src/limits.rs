//! Size and count limits of the protocol. The server enforces each of them and answers a message
//! that breaks one with an `error` (the connection stays up); frames above [`MAX_FRAME_BYTES`] close
//! the connection with code 1009.

/// Largest WebSocket message the server accepts, in bytes (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest session description (`sdp`) in an offer or answer, in bytes.
pub const MAX_SDP_BYTES: usize = 48 * 1024;
/// Longest ICE candidate object, serialised, in bytes.
pub const MAX_CANDIDATE_BYTES: usize = 2 * 1024;
/// Longest chat message, in characters (Unicode scalar values).
pub const MAX_CHAT_CHARS: usize = 2000;
/// Most interest tags a search may carry.
pub const MAX_INTERESTS: usize = 10;
/// Longest interest tag after trimming, in characters.
pub const MAX_INTEREST_CHARS: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// Longest display name in a room, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;
/// Largest capacity a client may ask for when it creates a mesh room.
pub const MAX_ROOM_CAPACITY: u8 = 8;
/// Longest resume token a client may present, in bytes.
pub const MAX_RESUME_TOKEN_BYTES: usize = 256;
/// Longest text a report may carry, in characters.
pub const MAX_REPORT_TEXT_CHARS: usize = 500;
/// Most chat lines a report may attach.
pub const MAX_REPORT_CHAT_LINES: usize = 20;
/// Most characters of chat a report may attach, all lines together.
pub const MAX_REPORT_CHAT_CHARS: usize = 4000;
/// Length of an install id: 32 lowercase hex digits (128 random bits).
pub const INSTALL_ID_CHARS: usize = 32;
/// Longest terms version, in characters.
pub const MAX_TERMS_VERSION_CHARS: usize = 32;
