//! Maps keyed by peer id, with a hash that suits them.
//!
//! Peer ids are handed out by the server in sequence and never chosen by a client, so no client
//! can flood these maps with colliding keys, and SipHash's protection against that (the standard
//! maps' default, still used for room names, which users do choose) would buy nothing here. One
//! multiplication spreads sequential ids over the table instead.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use strangers_shared::PeerId;

/// A map from peer ids; see the module docs.
pub type PeerMap<V> = HashMap<PeerId, V, BuildHasherDefault<PeerIdHasher>>;

/// Fibonacci hashing of a peer id (`PeerId` hashes as one `u64`).
#[derive(Debug, Default, Clone, Copy)]
pub struct PeerIdHasher(u64);

/// 2^64 divided by the golden ratio, odd: multiplying by it mixes every bit of the id into the
/// high bits and keeps consecutive ids apart in the low ones.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for PeerIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `PeerId`, which writes one u64; any other input still hashes correctly.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(GOLDEN);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_the_low_and_high_bits() {
        let hash = |n: u64| {
            let mut h = PeerIdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        let low: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) & 1023).collect();
        assert_eq!(low.len(), 1024, "no two of 1024 consecutive ids share a bucket of 1024");
        let top: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) >> 57).collect();
        assert_eq!(top.len(), 128, "the 7 control bits take every value");
        let mut map = PeerMap::default();
        for n in 1..=100 {
            map.insert(PeerId(n), n);
        }
        assert!((1..=100).all(|n| map.get(&PeerId(n)) == Some(&n)));
    }
}
