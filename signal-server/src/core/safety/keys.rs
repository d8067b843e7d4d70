//! Keys for blocks, reports and bans: an HMAC-SHA256 (with the server's secret) of a client's
//! network prefix (/24 for IPv4, /64 for IPv6) or of its install id, cut to 128 bits. Neither an
//! address nor an id is ever kept, written or logged; only these keys are, and without the secret
//! nobody can tell which address or id one belongs to.

use std::fmt;
use std::net::IpAddr;

use ring::hmac;
use serde::{Deserialize, Serialize};

/// An opaque 128-bit key (see the module docs). Shown and stored as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Key(pub [u8; 16]);

impl Key {
    /// The key from its 32 hex digits.
    pub fn parse(text: &str) -> Option<Key> {
        if text.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Key(out))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

impl From<Key> for String {
    fn from(k: Key) -> String {
        k.to_string()
    }
}

impl TryFrom<String> for Key {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Key, &'static str> {
        Key::parse(&s).ok_or("a key is 32 hex digits")
    }
}

/// Makes keys with the server's secret.
#[derive(Clone)]
pub struct Keyer {
    key: hmac::Key,
}

impl fmt::Debug for Keyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyer(..)")
    }
}

impl Keyer {
    /// A keyer with `secret` (give every node of one deployment the same one).
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn key(&self, domain: &[u8], data: &[u8]) -> Key {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain);
        ctx.update(data);
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        Key(out)
    }

    /// The key of the network an address belongs to: its /24 (IPv4) or /64 (IPv6). An IPv4
    /// address mapped into IPv6 counts as IPv4.
    pub fn net(&self, ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => self.key(b"net4\0", &v4.octets()[..3]),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.key(b"net4\0", &v4.octets()[..3]),
                None => self.key(b"net6\0", &v6.octets()[..8]),
            },
        }
    }

    /// The key of an install id.
    pub fn install(&self, id: &str) -> Key {
        self.key(b"id\0", id.as_bytes())
    }

    /// A key for a connection that gave no install id: good for that connection only.
    pub fn connection(&self, peer: u64) -> Key {
        self.key(b"conn\0", &peer.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_prefix_shares_one_key_and_secrets_differ() {
        let k = Keyer::new(b"secret");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(k.net(ip("203.0.113.7")), k.net(ip("203.0.113.250")), "one /24");
        assert_ne!(k.net(ip("203.0.113.7")), k.net(ip("203.0.114.7")));
        assert_eq!(k.net(ip("2001:db8:1:2::1")), k.net(ip("2001:db8:1:2:ffff::9")), "one /64");
        assert_ne!(k.net(ip("2001:db8:1:2::1")), k.net(ip("2001:db8:1:3::1")));
        assert_eq!(k.net(ip("::ffff:203.0.113.9")), k.net(ip("203.0.113.1")), "mapped IPv4 is IPv4");
        assert_ne!(Keyer::new(b"other").net(ip("203.0.113.7")), k.net(ip("203.0.113.7")));
        assert_ne!(k.install("00"), k.net(ip("0.0.0.0")), "domains are separate");
    }

    #[test]
    fn keys_print_and_parse_as_hex_without_the_input_in_them() {
        let key = Keyer::new(b"s").install("0123456789abcdef0123456789abcdef");
        let text = key.to_string();
        assert_eq!(text.len(), 32);
        assert_ne!(text, "0123456789abcdef0123456789abcdef");
        assert_eq!(Key::parse(&text), Some(key));
        assert_eq!(Key::parse("zz"), None);
        assert_eq!(Key::parse(&"g".repeat(32)), None);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{text}\""));
    }
}
