//! The message enums and the small types they carry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{PeerId, RoomName};

/// A chat mode: each has its own queue, and strangers only meet others in the same mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Camera and microphone, plus text chat.
    Video,
    /// Text chat only.
    Text,
}

impl Mode {
    /// Both modes, in a fixed order (for metrics and iteration).
    pub const ALL: [Mode; 2] = [Mode::Video, Mode::Text];

    /// The mode's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Video => "video",
            Mode::Text => "text",
        }
    }
}

/// Why a client skips when it is not the user's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextReason {
    /// The call never connected, or its partner stopped responding: meeting again would fail
    /// again.
    Failed,
}

/// Which side creates the WebRTC offer. The server picks, so there is never glare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Creates the offer.
    Offerer,
    /// Waits for the offer and answers it.
    Answerer,
}

/// Why a partner is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The partner pressed Next.
    Skipped,
    /// The partner pressed Stop or left the room.
    Stopped,
    /// The partner's connection closed, failed or stopped answering heartbeats.
    Disconnected,
}

/// One STUN or TURN server, in the shape of the browser's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// Server URLs, e.g. `stun:stun.example.org:3478`.
    pub urls: Vec<String>,
    /// TURN user name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A member of a mesh room, as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's peer id (the `to` of signaling addressed to it).
    pub id: PeerId,
    /// The display name the member joined with.
    pub name: String,
    /// Whether the member's microphone is on.
    pub audio: bool,
    /// Whether the member's camera is on.
    pub video: bool,
}

/// The body of `offer`, `answer` and `candidate`.
///
/// Between random partners and in mesh rooms the shapes are the browser's: `sdp` carries the
/// session description of an `RTCSessionDescriptionInit`, and `candidate` an `RTCIceCandidateInit`
/// object (or `null`/absent for end-of-candidates). In a mesh room `to` names the member it is for.
/// In a simple two-person room (`join` without a name) the server relays the frame verbatim, so
/// clients of the simple `ws` servers may carry their payload in `offer`/`answer` fields as they
/// always did; only `room` is read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Relay {
    /// The mesh-room member this is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<PeerId>,
    /// The simple room this is for (simple `ws` clients always send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
    /// The session description (offer and answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp: Option<String>,
    /// The ICE candidate (candidate); `None` means end-of-candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// States the client's protocol version, which must equal [`crate::PROTOCOL_VERSION`]; answered
    /// with `welcome`. Clients of the simple room protocol never send it.
    Hello {
        /// The version the client speaks.
        version: u32,
        /// A resume token from an earlier `welcome` or `matched`: a client whose connection
        /// broke mid-call (or whose server restarted) gets its call back with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// The version of the terms (and the 18+ confirmation) the user accepted, if any. A
        /// server started with `--require-terms V` refuses `find` and `join` unless it is `V`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terms: Option<String>,
        /// The app's random install id (32 lowercase hex digits), kept with its settings. The
        /// server only ever stores a keyed hash of it, for blocks and bans.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        install: Option<String>,
    },
    /// Look for a random stranger. Legal when idle or already searching (it updates preferences).
    Find {
        /// The queue to join.
        mode: Mode,
        /// Interest tags; normalised by the decoder (trimmed, lowercased, deduplicated).
        #[serde(default)]
        interests: Vec<String>,
    },
    /// Skip the current partner and search again with the same preferences.
    Next {
        /// Why, when it is not the user's choice: `failed` says the call could not be connected
        /// (or its partner stopped responding), and the server keeps the two apart for
        /// `--failed-cooldown` (5 min) even when nobody else is searching.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<NextReason>,
    },
    /// Stop searching, leave the current pair or room, and stay idle.
    Stop,
    /// Join a named room. Without `name` or `capacity` it is a simple two-person room that speaks
    /// the plain `ws` room protocol (`ready` when both are in); with them it is a mesh room.
    Join {
        /// The room's name.
        room: RoomName,
        /// Display name shown to other members (mesh rooms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Capacity asked for when this join creates a mesh room (2 to the server's maximum).
        /// Any JSON value is accepted here so that a bad one (`256`, `-1`, `2.5`, `"4"`) is
        /// refused by the decoder's validation as `invalid_field`, not as `malformed`.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "any_capacity")]
        capacity: Option<u8>,
    },
    /// Leave the current room.
    Leave,
    /// A WebRTC offer for the partner or a room member.
    Offer(Relay),
    /// A WebRTC answer.
    Answer(Relay),
    /// A trickled ICE candidate.
    Candidate(Relay),
    /// A chat line.
    Chat {
        /// The text, at most [`crate::limits::MAX_CHAT_CHARS`] characters.
        text: String,
    },
    /// The typing indicator started (`true`) or stopped (`false`).
    Typing {
        /// Whether the user is typing.
        active: bool,
    },
    /// The sender's microphone and camera state.
    MediaState {
        /// Microphone on.
        audio: bool,
        /// Camera on.
        video: bool,
    },
    /// Report the current random partner (or, after a call, the last one). It also blocks them
    /// and, during a call, skips them (as `next`). Answered with `reported`.
    Report {
        /// Why.
        reason: ReportReason,
        /// What happened, in the reporter's words (at most
        /// [`crate::limits::MAX_REPORT_TEXT_CHARS`] characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The last chat lines the reporter saw, if they chose to attach them (at most
        /// [`crate::limits::MAX_REPORT_CHAT_LINES`] lines).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chat: Vec<String>,
        /// The `call` of the `matched` this report is about: if the reporter has been matched
        /// with someone else since, the report is refused rather than landing on them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// Block the current random partner (or the last one): the two are never matched again.
    /// During a call it also skips them. Answered with `blocked`.
    Block {
        /// The `call` of the `matched` this block is about (see `report`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
}

/// Why a stranger is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// Nudity or sexual content.
    Sexual,
    /// Harassment or hate.
    Harassment,
    /// Spam or a scam.
    Spam,
    /// The stranger appears to be under 18.
    Underage,
    /// Something else (the text says what).
    Other,
}

impl ReportReason {
    /// Every reason, in a fixed order (for metrics and the app's dialog).
    pub const ALL: [ReportReason; 5] = [
        ReportReason::Sexual,
        ReportReason::Harassment,
        ReportReason::Spam,
        ReportReason::Underage,
        ReportReason::Other,
    ];

    /// The reason's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Sexual => "sexual",
            ReportReason::Harassment => "harassment",
            ReportReason::Spam => "spam",
            ReportReason::Underage => "underage",
            ReportReason::Other => "other",
        }
    }

    /// The reason as the app shows it.
    pub fn label(self) -> &'static str {
        match self {
            ReportReason::Sexual => "Nudity or sexual content",
            ReportReason::Harassment => "Harassment or hate",
            ReportReason::Spam => "Spam or scam",
            ReportReason::Underage => "Appears to be under 18",
            ReportReason::Other => "Something else",
        }
    }
}

impl ClientMsg {
    /// The wire name of this message's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Hello { .. } => "hello",
            ClientMsg::Find { .. } => "find",
            ClientMsg::Next { .. } => "next",
            ClientMsg::Stop => "stop",
            ClientMsg::Join { .. } => "join",
            ClientMsg::Leave => "leave",
            ClientMsg::Offer(_) => "offer",
            ClientMsg::Answer(_) => "answer",
            ClientMsg::Candidate(_) => "candidate",
            ClientMsg::Chat { .. } => "chat",
            ClientMsg::Typing { .. } => "typing",
            ClientMsg::MediaState { .. } => "media_state",
            ClientMsg::Report { .. } => "report",
            ClientMsg::Block { .. } => "block",
        }
    }

    /// Every client message type, as named on the wire.
    pub const TYPES: [&'static str; 14] = [
        "hello",
        "find",
        "next",
        "stop",
        "join",
        "leave",
        "offer",
        "answer",
        "candidate",
        "chat",
        "typing",
        "media_state",
        "report",
        "block",
    ];
}

/// Machine-readable error codes carried by `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or a field has the wrong type.
    Malformed,
    /// The `type` is not one this server knows.
    UnknownType,
    /// A field is longer or larger than its limit.
    FieldTooLong,
    /// A field's value is not allowed (empty room name, control characters, bad capacity…).
    InvalidField,
    /// The message is not legal in the sender's current state.
    WrongState,
    /// A relay, chat, typing or media message was sent with nobody to receive it.
    NotPaired,
    /// The message names a room the sender is not in.
    NotInRoom,
    /// `to` is missing or names someone who is not in the sender's room.
    UnknownPeer,
    /// The room already has as many members as it can hold.
    RoomFull,
    /// The room exists with the other kind (simple versus mesh).
    RoomKindMismatch,
    /// Too many messages too fast; this one was dropped.
    RateLimited,
    /// Binary frames are not part of the protocol.
    BinaryUnsupported,
    /// The client's protocol version is not supported.
    VersionUnsupported,
    /// A resume token was refused (malformed, forged, expired or already used); the
    /// connection goes on as a new one.
    ResumeRefused,
    /// Next pressed faster than a person can look at a stranger: searching is paused for the
    /// time in `retry_in_ms`.
    SlowDown,
    /// The server requires accepting its terms (and confirming 18+) before `find` or `join`:
    /// the `hello` did not carry the version in `welcome`'s `terms`.
    TermsRequired,
    /// The client is banned after reports from several people; `until_ms` says when it ends.
    Banned,
    /// The server cannot match anyone right now (its cluster's shared queue is unreachable);
    /// calls in progress go on. Try again shortly.
    Unavailable,
}

impl ErrorCode {
    /// Every code, in a fixed order (for metrics).
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::Malformed,
        ErrorCode::UnknownType,
        ErrorCode::FieldTooLong,
        ErrorCode::InvalidField,
        ErrorCode::WrongState,
        ErrorCode::NotPaired,
        ErrorCode::NotInRoom,
        ErrorCode::UnknownPeer,
        ErrorCode::RoomFull,
        ErrorCode::RoomKindMismatch,
        ErrorCode::RateLimited,
        ErrorCode::BinaryUnsupported,
        ErrorCode::VersionUnsupported,
        ErrorCode::ResumeRefused,
        ErrorCode::SlowDown,
        ErrorCode::TermsRequired,
        ErrorCode::Banned,
        ErrorCode::Unavailable,
    ];

    /// The code's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::FieldTooLong => "field_too_long",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::WrongState => "wrong_state",
            ErrorCode::NotPaired => "not_paired",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::RoomKindMismatch => "room_kind_mismatch",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::VersionUnsupported => "version_unsupported",
            ErrorCode::ResumeRefused => "resume_refused",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::TermsRequired => "terms_required",
            ErrorCode::Banned => "banned",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// A message from the server to a client.
///
/// `offer`, `answer` and `candidate` between random partners and in simple rooms are relayed
/// verbatim as the partner sent them (see [`Relay`]); the variants here are what the server itself
/// writes for mesh rooms, with `from` set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to `hello`.
    Welcome {
        /// The id the server gave this connection.
        peer_id: PeerId,
        /// The server's protocol version.
        version: u32,
        /// Connections online now.
        online: u64,
        /// STUN/TURN servers to use for WebRTC.
        ice_servers: Vec<IceServer>,
        /// The token to present in `hello` to resume this session on a new connection (absent
        /// when the server does not resume sessions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// The `hello` carried a resume token and the call it names goes on (on a restarted
        /// server, as soon as the partner is back too).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
        /// The terms version this server requires before `find` or `join` (absent: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terms: Option<String>,
    },
    /// Sent on entering the queue and periodically while searching.
    Waiting {
        /// The queue the client is in.
        mode: Mode,
        /// Connections online now.
        online: u64,
        /// Clients searching in this mode, including the receiver.
        searching: u64,
    },
    /// A stranger was found.
    Matched {
        /// Whether the receiver makes the offer.
        role: Role,
        /// The mode of the call.
        mode: Mode,
        /// Interests both sides gave (may be empty).
        common_interests: Vec<String>,
        /// A resume token that names this call (see `welcome`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// This call's number, to name it in `report` and `block`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// The random partner is gone; the receiver is back in the queue unless it was idle.
    PartnerLeft {
        /// Why.
        reason: LeaveReason,
    },
    /// The random partner's signaling connection was lost and it is back on a new one (it
    /// presented its resume token): anything sent to it or by it in between may be lost, so an
    /// ICE restart in progress should be offered again.
    PartnerResumed,
    /// A WebRTC offer from a mesh-room member.
    Offer {
        /// The sender (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// The session description.
        sdp: String,
    },
    /// A WebRTC answer from a mesh-room member.
    Answer {
        /// The sender (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// The session description.
        sdp: String,
    },
    /// A trickled ICE candidate; `null` or absent is end-of-candidates.
    Candidate {
        /// The sender (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// The `RTCIceCandidateInit` object.
        #[serde(default)]
        candidate: Option<Value>,
    },
    /// A chat line, stamped by the server.
    Chat {
        /// The sender in a room (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// The text.
        text: String,
        /// Server time, milliseconds since the Unix epoch.
        ts: u64,
    },
    /// The partner's typing indicator.
    Typing {
        /// The sender in a room (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// Whether they are typing.
        active: bool,
    },
    /// The partner's microphone and camera state.
    MediaState {
        /// The sender in a room (absent for random partners).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<PeerId>,
        /// Microphone on.
        audio: bool,
        /// Camera on.
        video: bool,
    },
    /// Simple room protocol: both members are present.
    Ready {
        /// The room.
        room: RoomName,
    },
    /// Mesh room: the receiver joined.
    Joined {
        /// The room.
        room: RoomName,
        /// The receiver's own id.
        you: PeerId,
        /// The room's capacity.
        capacity: u8,
        /// The other members, oldest first.
        members: Vec<Member>,
    },
    /// A member joined the room (mesh), or the other member arrived (simple rooms get `ready`).
    PeerJoined {
        /// The room.
        room: RoomName,
        /// The new member.
        peer: Member,
    },
    /// A member left the room.
    PeerLeft {
        /// The room.
        room: RoomName,
        /// Who left.
        peer: PeerId,
        /// Why.
        reason: LeaveReason,
    },
    /// Something the client sent was refused. The connection stays up.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// When the refused action may be tried again, milliseconds from now (`slow_down`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
        /// When a ban ends, milliseconds since the Unix epoch (`banned`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_ms: Option<u64>,
    },
    /// A `report` was taken (the stranger is also blocked).
    Reported,
    /// A `block` was taken: the two are not matched again.
    Blocked,
}

/// A capacity of any JSON value: an integer is kept (saturated at 255), `null` is none, and
/// anything else becomes 0, which the decoder's range check refuses.
fn any_capacity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_u64().map_or(0, |n| u8::try_from(n).unwrap_or(u8::MAX))),
        _ => Some(0),
    })
}
