//! TURN credentials for each connection, in the "REST API for TURN" scheme that coturn checks
//! with `use-auth-secret` / `static-auth-secret`: the user name is `EXPIRY:PEERID` (Unix seconds
//! when it stops working, and who it was given to), the credential is
//! `base64(HMAC-SHA1(secret, user name))`. The TURN server needs only the shared secret to check
//! them, and a leaked credential expires on its own.

use std::fmt;
use std::time::Duration;

use ring::hmac;
use strangers_shared::{IceServer, PeerId};

/// The TURN servers to announce and the secret shared with them.
#[derive(Clone)]
pub struct TurnConfig {
    /// TURN URLs, e.g. `turn:turn.example.org:3478?transport=udp`.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (never logged: see the `Debug` impl).
    secret: hmac::Key,
    /// How long a credential is valid.
    pub ttl: Duration,
}

impl TurnConfig {
    /// TURN servers sharing `secret`, with credentials valid for `ttl`.
    pub fn new(urls: Vec<String>, secret: &[u8], ttl: Duration) -> Self {
        Self { urls, secret: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret), ttl }
    }

    /// The `welcome` entry for `peer` at `now_unix_secs`.
    pub fn ice_server(&self, peer: PeerId, now_unix_secs: u64) -> IceServer {
        let username = format!("{}:{}", now_unix_secs.saturating_add(self.ttl.as_secs()), peer.0);
        let credential = self.credential(&username);
        IceServer { urls: self.urls.clone(), username: Some(username), credential: Some(credential) }
    }

    /// `base64(HMAC-SHA1(secret, username))`.
    pub fn credential(&self, username: &str) -> String {
        base64(hmac::sign(&self.secret, username.as_bytes()).as_ref())
    }
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn credentials_are_hmac_sha1_in_base64() {
        // RFC 2202 test case 2 (HMAC-SHA1, key "Jefe"): effcdf6a…259a7c79.
        let rfc = TurnConfig::new(vec![], b"Jefe", Duration::ZERO);
        assert_eq!(rfc.credential("what do ya want for nothing?"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
        // The scheme's own shape, checked against Python's hmac/base64 for secret "abcd".
        let turn = TurnConfig::new(vec!["turn:t.example:3478".into()], b"abcd", Duration::from_secs(3600));
        let server = turn.ice_server(PeerId(42), 1_700_000_000);
        assert_eq!(server.username.as_deref(), Some("1700003600:42"), "expiry (now + ttl) : peer id");
        assert_eq!(server.credential.as_deref(), Some("U+bXXj4xqnqmmXixA+QT6cAYkvE="));
        assert_eq!(server.urls, ["turn:t.example:3478"]);
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let turn = TurnConfig::new(vec![], b"hunter2-secret", Duration::from_secs(1));
        let shown = format!("{turn:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
