//! Resume tokens: how a client whose signaling connection broke (or whose server was restarted)
//! gets its call back without the server having to remember anything across processes.
//!
//! A token names a session (16 bytes no one can guess), its generation (each use makes a new
//! one, so an old token cannot be replayed), when it expires, and for a client in a random call
//! the partner's session and the call's mode. It is signed with HMAC-SHA256 under
//! `--resume-secret`, so a server process that never saw it (after a deploy) can still trust what
//! it says, and a client can neither forge one nor edit the partner in it.
//!
//! Text form: `r1.` + hex(payload) + `.` + hex(MAC). The payload is
//! `sid (16) | generation (4, BE) | expiry in Unix seconds (8, BE) | mode (1: 0 none, 1 video,
//! 2 text) | partner sid (16, only with a mode) | holder's and partner's peer ids (8 + 8, BE,
//! only with a mode, and only from a node of a cluster, where they say where to look)`.

use std::fmt;
use std::time::Duration;

use ring::hmac;
use serde::{Deserialize, Serialize};
use strangers_shared::{Mode, PeerId};

/// A session's identity, as carried in resume tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sid(pub [u8; 16]);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// The session it resumes.
    pub sid: Sid,
    /// Which use of the session this is; the server accepts only the latest.
    pub generation: u32,
    /// Unix seconds after which it is refused.
    pub expires: u64,
    /// The random call the session was in: its mode and the partner's session.
    pub call: Option<(Mode, Sid)>,
    /// In a cluster, with a call: the session's and the partner's peer ids when it was issued
    /// (their nodes are in their top bits).
    pub at: Option<(PeerId, PeerId)>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a token of this format.
    #[error("the resume token is malformed")]
    Malformed,
    /// The signature does not match: forged, edited, or signed with another secret.
    #[error("the resume token's signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("the resume token has expired")]
    Expired,
    /// An older generation than the session's: it was used already.
    #[error("the resume token was already used")]
    Replayed,
}

/// The secret and timings of resumption.
#[derive(Clone)]
pub struct ResumeConfig {
    key: hmac::Key,
    /// How long a disconnected client's call is kept for it (and how long a client resuming
    /// after a restart waits for its partner).
    pub window: Duration,
    /// How long a token is valid after it was issued.
    pub ttl: Duration,
    /// Mixed into session ids so that two processes never make the same one.
    node: [u8; 16],
}

/// HMAC-SHA256's output.
const MAC_LEN: usize = 32;
const PREFIX: &str = "r1.";

impl ResumeConfig {
    /// Resumption signed with `secret`; `node` must differ between processes (random).
    pub fn new(secret: &[u8], window: Duration, ttl: Duration, node: [u8; 16]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), window, ttl, node }
    }

    /// The session id of connection number `peer` on this process: unguessable without the
    /// secret, different on every process.
    pub fn sid_for(&self, peer: u64) -> Sid {
        let mut input = [0u8; 28];
        input[..4].copy_from_slice(b"sid:");
        input[4..20].copy_from_slice(&self.node);
        input[20..].copy_from_slice(&peer.to_be_bytes());
        let tag = hmac::sign(&self.key, &input);
        let mut sid = [0u8; 16];
        sid.copy_from_slice(&tag.as_ref()[..16]);
        Sid(sid)
    }

    /// A signed token for `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = encode_payload(claims);
        let tag = hmac::sign(&self.key, &payload);
        format!("{PREFIX}{}.{}", hex(&payload), hex(tag.as_ref()))
    }

    /// Check a token's form, signature and expiry at `now_unix_secs`.
    pub fn verify(&self, token: &str, now_unix_secs: u64) -> Result<Claims, Refused> {
        let rest = token.strip_prefix(PREFIX).ok_or(Refused::Malformed)?;
        let (payload, tag) = rest.split_once('.').ok_or(Refused::Malformed)?;
        let payload = unhex(payload).ok_or(Refused::Malformed)?;
        let tag = unhex(tag).ok_or(Refused::Malformed)?;
        if tag.len() != MAC_LEN {
            return Err(Refused::Malformed);
        }
        // ring compares in constant time: a difference in the first byte takes as long as one
        // in the last.
        hmac::verify(&self.key, &payload, &tag).map_err(|_| Refused::BadSignature)?;
        let claims = decode_payload(&payload).ok_or(Refused::Malformed)?;
        if claims.expires <= now_unix_secs {
            return Err(Refused::Expired);
        }
        Ok(claims)
    }
}

impl fmt::Debug for ResumeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeConfig")
            .field("secret", &"<redacted>")
            .field("window", &self.window)
            .field("ttl", &self.ttl)
            .finish()
    }
}

fn encode_payload(c: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(45);
    out.extend_from_slice(&c.sid.0);
    out.extend_from_slice(&c.generation.to_be_bytes());
    out.extend_from_slice(&c.expires.to_be_bytes());
    match c.call {
        None => out.push(0),
        Some((mode, partner)) => {
            out.push(match mode {
                Mode::Video => 1,
                Mode::Text => 2,
            });
            out.extend_from_slice(&partner.0);
            if let Some((holder, partner)) = c.at {
                out.extend_from_slice(&holder.0.to_be_bytes());
                out.extend_from_slice(&partner.0.to_be_bytes());
            }
        }
    }
    out
}

fn decode_payload(p: &[u8]) -> Option<Claims> {
    let sid = Sid(p.get(..16)?.try_into().ok()?);
    let generation = u32::from_be_bytes(p.get(16..20)?.try_into().ok()?);
    let expires = u64::from_be_bytes(p.get(20..28)?.try_into().ok()?);
    let id = |at: usize| Some(PeerId(u64::from_be_bytes(p.get(at..at + 8)?.try_into().ok()?)));
    let (call, at) = match (p.get(28)?, p.len()) {
        (0, 29) => (None, None),
        (1 | 2, 45 | 61) => {
            let mode = if p[28] == 1 { Mode::Video } else { Mode::Text };
            let at = if p.len() == 61 { Some((id(45)?, id(53)?)) } else { None };
            (Some((mode, Sid(p.get(29..45)?.try_into().ok()?))), at)
        }
        _ => return None,
    };
    Some(Claims { sid, generation, expires, call, at })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cfg(secret: &[u8], node: u8) -> ResumeConfig {
        ResumeConfig::new(secret, Duration::from_secs(15), Duration::from_secs(3600), [node; 16])
    }

    fn claims(cfg: &ResumeConfig) -> Claims {
        let call = Some((Mode::Video, cfg.sid_for(2)));
        Claims { sid: cfg.sid_for(1), generation: 3, expires: 2_000, call, at: Some((PeerId(7), PeerId(1 << 48 | 9))) }
    }

    #[test]
    fn a_token_round_trips_and_another_process_with_the_secret_accepts_it() {
        let (a, b) = (cfg(b"s3cret", 1), cfg(b"s3cret", 2));
        let c = claims(&a);
        let token = a.issue(&c);
        assert!(token.starts_with("r1."), "{token}");
        assert_eq!(b.verify(&token, 1_999), Ok(c));
        let lone = Claims { call: None, at: None, ..c };
        assert_eq!(b.verify(&a.issue(&lone), 0), Ok(lone));
        // A single server's token (no peer ids) still reads.
        let single = Claims { at: None, ..c };
        assert_eq!(b.verify(&a.issue(&single), 0), Ok(single));
        assert_ne!(a.sid_for(1), b.sid_for(1), "processes make different session ids");
        assert_ne!(a.sid_for(1), a.sid_for(2));
    }

    #[test]
    fn expired_forged_and_edited_tokens_are_refused() {
        let a = cfg(b"s3cret", 1);
        let token = a.issue(&claims(&a));
        assert_eq!(a.verify(&token, 2_000), Err(Refused::Expired));
        assert_eq!(cfg(b"other", 1).verify(&token, 0), Err(Refused::BadSignature));
        // Every single-character edit of the payload or the tag is caught.
        for i in PREFIX.len()..token.len() {
            let mut bytes = token.clone().into_bytes();
            if bytes[i] == b'.' {
                continue;
            }
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(bytes).unwrap();
            assert!(a.verify(&edited, 0).is_err(), "edit at {i} accepted");
        }
        for junk in ["", "r1.", "r1..", "r2.00.00", "r1.zz.00", "r1.0.0", &"r1.".repeat(100), "r1.ÿÿ.ÿÿ"] {
            assert_eq!(a.verify(junk, 0), Err(Refused::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn a_signed_payload_of_the_wrong_shape_is_malformed_not_a_panic() {
        let a = cfg(b"k", 1);
        for len in [0, 16, 28, 30, 44, 46] {
            let payload = vec![1u8; len];
            let tag = hmac::sign(&a.key, &payload);
            let token = format!("r1.{}.{}", hex(&payload), hex(tag.as_ref()));
            assert_eq!(a.verify(&token, 0), Err(Refused::Malformed), "payload of {len} bytes");
        }
    }
}
