//! Decoding with validation, and encoding. Every failure is a typed [`DecodeError`]; nothing here
//! panics on any input.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::RoomName;
use crate::limits::{
    INSTALL_ID_CHARS, MAX_CANDIDATE_BYTES, MAX_CHAT_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_INTEREST_CHARS, MAX_INTERESTS,
    MAX_REPORT_CHAT_CHARS, MAX_REPORT_CHAT_LINES, MAX_REPORT_TEXT_CHARS, MAX_RESUME_TOKEN_BYTES, MAX_ROOM_CAPACITY,
    MAX_ROOM_NAME_CHARS, MAX_SDP_BYTES, MAX_TERMS_VERSION_CHARS,
};
use crate::msg::{ClientMsg, ErrorCode, Relay, ServerMsg};

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Not JSON, or not a JSON object.
    #[error("message is not a JSON object: {0}")]
    Malformed(String),
    /// A JSON object without a string `type` field.
    #[error("message has no string \"type\" field")]
    MissingType,
    /// A `type` this protocol does not have.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known type whose fields are missing or of the wrong JSON type.
    #[error("invalid {ty:?} message: {detail}")]
    BadFields {
        /// The message type.
        ty: &'static str,
        /// What serde said.
        detail: String,
    },
    /// A field is over its limit.
    #[error("{field} is too long (at most {max})")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Its limit, in the unit the limit is documented in.
        max: usize,
    },
    /// A field's value is not allowed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    /// The `error` code the server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Malformed(_) | DecodeError::MissingType | DecodeError::BadFields { .. } => {
                ErrorCode::Malformed
            }
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::TooLong { .. } => ErrorCode::FieldTooLong,
            DecodeError::Invalid { .. } => ErrorCode::InvalidField,
        }
    }
}

/// Only the tag, for classifying a frame that failed to decode.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type")]
    ty: Option<serde_json::Value>,
}

fn classify(text: &str, known: &[&'static str], err: serde_json::Error) -> DecodeError {
    let probe: TypeProbe = match serde_json::from_str(text) {
        Ok(probe) => probe,
        Err(e) => return DecodeError::Malformed(e.to_string()),
    };
    match probe.ty {
        Some(serde_json::Value::String(ty)) => match known.iter().find(|k| **k == ty) {
            Some(k) => DecodeError::BadFields { ty: k, detail: err.to_string() },
            None => DecodeError::UnknownType(ty.chars().take(32).collect()),
        },
        _ => DecodeError::MissingType,
    }
}

/// Decode and validate one client frame. Interests come back normalised.
pub fn decode_client(text: &str) -> Result<ClientMsg, DecodeError> {
    require_object(text)?;
    let mut msg = parse_client(text).map_err(|e| classify(text, &ClientMsg::TYPES, e))?;
    match &mut msg {
        ClientMsg::Find { interests, .. } => *interests = normalize_interests(interests)?,
        ClientMsg::Join { room, name, capacity } => {
            check_room(room)?;
            if let Some(n) = name {
                let trimmed = n.trim();
                check_text("name", trimmed, MAX_DISPLAY_NAME_CHARS)?;
                if trimmed.is_empty() {
                    return Err(DecodeError::Invalid { field: "name", reason: "is empty" });
                }
                *n = trimmed.to_owned();
            }
            if capacity.is_some_and(|c| !(2..=MAX_ROOM_CAPACITY).contains(&c)) {
                return Err(DecodeError::Invalid { field: "capacity", reason: "must be an integer from 2 to 8" });
            }
        }
        ClientMsg::Offer(relay) | ClientMsg::Answer(relay) => {
            check_relay(relay)?;
            if relay.sdp.as_ref().is_some_and(|s| s.len() > MAX_SDP_BYTES) {
                return Err(DecodeError::TooLong { field: "sdp", max: MAX_SDP_BYTES });
            }
        }
        ClientMsg::Candidate(relay) => {
            check_relay(relay)?;
            if text.len() > MAX_CANDIDATE_BYTES {
                return Err(DecodeError::TooLong { field: "candidate", max: MAX_CANDIDATE_BYTES });
            }
        }
        ClientMsg::Chat { text } => {
            if text.chars().count() > MAX_CHAT_CHARS {
                return Err(DecodeError::TooLong { field: "text", max: MAX_CHAT_CHARS });
            }
            if text.trim().is_empty() {
                return Err(DecodeError::Invalid { field: "text", reason: "is empty" });
            }
        }
        ClientMsg::Hello { resume, terms, install, .. } => {
            check_hello(resume.as_deref(), terms.as_deref(), install.as_deref())?
        }
        ClientMsg::Report { text, chat, .. } => check_report(text.as_deref(), chat)?,
        ClientMsg::Next { .. }
        | ClientMsg::Block { .. }
        | ClientMsg::Stop
        | ClientMsg::Leave
        | ClientMsg::Typing { .. }
        | ClientMsg::MediaState { .. } => {}
    }
    Ok(msg)
}

fn check_hello(resume: Option<&str>, terms: Option<&str>, install: Option<&str>) -> Result<(), DecodeError> {
    if resume.is_some_and(|t| t.len() > MAX_RESUME_TOKEN_BYTES) {
        return Err(DecodeError::TooLong { field: "resume", max: MAX_RESUME_TOKEN_BYTES });
    }
    if let Some(terms) = terms {
        check_text("terms", terms, MAX_TERMS_VERSION_CHARS)?;
    }
    if install.is_some_and(|id| !is_install_id(id)) {
        return Err(DecodeError::Invalid { field: "install", reason: "must be 32 lowercase hex digits" });
    }
    Ok(())
}

/// Whether `s` is a well-formed install id: [`INSTALL_ID_CHARS`] lowercase hex digits.
pub fn is_install_id(s: &str) -> bool {
    s.len() == INSTALL_ID_CHARS && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_report(text: Option<&str>, chat: &[String]) -> Result<(), DecodeError> {
    if text.is_some_and(|t| t.chars().count() > MAX_REPORT_TEXT_CHARS) {
        return Err(DecodeError::TooLong { field: "text", max: MAX_REPORT_TEXT_CHARS });
    }
    if chat.len() > MAX_REPORT_CHAT_LINES {
        return Err(DecodeError::TooLong { field: "chat", max: MAX_REPORT_CHAT_LINES });
    }
    if chat.iter().map(|l| l.chars().count()).sum::<usize>() > MAX_REPORT_CHAT_CHARS {
        return Err(DecodeError::TooLong { field: "chat", max: MAX_REPORT_CHAT_CHARS });
    }
    Ok(())
}

/// Messages are JSON objects. serde would also take the array form of a tagged enum
/// (`["offer", 3, "room", …]`, fields by position), which no client sends and the protocol does
/// not have; the fuzzer found it.
fn require_object(text: &str) -> Result<(), DecodeError> {
    if text.trim_start().starts_with('{') {
        Ok(())
    } else {
        Err(DecodeError::Malformed("expected a JSON object".into()))
    }
}

/// The `type` when it is the first field (as every client sends it), without parsing the rest.
fn leading_tag(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix("\"type\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let tag = &rest[..rest.find('"')?];
    (!tag.contains('\\')).then_some(tag)
}

/// Parse a client frame. Relays, the big and frequent messages, go straight into [`Relay`]
/// (serde's internally tagged enums buffer the whole object, session description included, before
/// choosing the variant); everything else takes the derived path.
fn parse_client(text: &str) -> Result<ClientMsg, serde_json::Error> {
    match leading_tag(text) {
        Some("offer") => serde_json::from_str(text).map(ClientMsg::Offer),
        Some("answer") => serde_json::from_str(text).map(ClientMsg::Answer),
        Some("candidate") => serde_json::from_str(text).map(ClientMsg::Candidate),
        _ => serde_json::from_str(text),
    }
}

const SERVER_TYPES: [&str; 16] = [
    "welcome",
    "waiting",
    "matched",
    "partner_left",
    "partner_resumed",
    "offer",
    "answer",
    "candidate",
    "chat",
    "typing",
    "media_state",
    "ready",
    "joined",
    "peer_joined",
    "peer_left",
    "error",
];

/// Decode one server frame (used by clients). Relayed frames from random partners carry no
/// `from`; unknown extra fields are ignored.
pub fn decode_server(text: &str) -> Result<ServerMsg, DecodeError> {
    require_object(text)?;
    serde_json::from_str(text).map_err(|e| classify(text, &SERVER_TYPES, e))
}

/// Encode any protocol message as the JSON text of one frame.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // Serialising these types cannot fail (all map keys are strings); if it ever did, the peer
    // still gets a well-formed error rather than a half-written frame.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        let err =
            ServerMsg::Error { code: ErrorCode::Malformed, message: e.to_string(), retry_in_ms: None, until_ms: None };
        serde_json::to_string(&err).unwrap_or_default()
    })
}

/// Trim, lowercase and deduplicate interest tags, dropping empty ones, and check the limits.
pub fn normalize_interests(tags: &[String]) -> Result<Vec<String>, DecodeError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len().min(MAX_INTERESTS));
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || out.contains(&tag) {
            continue;
        }
        check_text("interests", &tag, MAX_INTEREST_CHARS)?;
        if out.len() == MAX_INTERESTS {
            return Err(DecodeError::TooLong { field: "interests", max: MAX_INTERESTS });
        }
        out.push(tag);
    }
    Ok(out)
}

fn check_relay(relay: &Relay) -> Result<(), DecodeError> {
    match &relay.room {
        Some(room) => check_room(room),
        None => Ok(()),
    }
}

fn check_room(room: &RoomName) -> Result<(), DecodeError> {
    if room.0.is_empty() {
        return Err(DecodeError::Invalid { field: "room", reason: "is empty" });
    }
    check_text("room", &room.0, MAX_ROOM_NAME_CHARS)
}

fn check_text(field: &'static str, s: &str, max_chars: usize) -> Result<(), DecodeError> {
    if s.chars().count() > max_chars {
        return Err(DecodeError::TooLong { field, max: max_chars });
    }
    if s.chars().any(char::is_control) {
        return Err(DecodeError::Invalid { field, reason: "contains control characters" });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
