//! DTLS datagrams that arrive before our ICE agent has chosen a path.
//!
//! webrtc-rs 0.21.1 hands a non-STUN datagram to DTLS only once its ICE agent has selected a
//! candidate pair; before that it drops it. A partner whose agent is satisfied first sends its
//! DTLS ClientHello while ours is still nominating: Chromium, as the controlled agent of a call
//! we offer, starts DTLS as soon as its own check succeeds. The hello was dropped and the
//! handshake waited for the partner's retransmission (about 60 ms in Chromium 156, a full second
//! in older browsers and in many other stacks).
//!
//! So each of a link's sockets has a [`Shelf`] (see `link_io`): until our agent reports a path,
//! a datagram in the DTLS range of RFC 7983's demultiplexing (first byte 20 to 63) is kept on it
//! instead of passed on, and once there is a path the kept ones are delivered first.
//! This covers direct paths (host, reflexive). Over a relay, DTLS arrives wrapped in TURN
//! ChannelData or Data indications, which webrtc-rs unwraps itself, so an early hello that came
//! through a relay is still dropped and retransmitted.
//!
//! A partner cannot use this to grow our memory: at most [`HELD_MAX`] datagrams and
//! [`HELD_BYTES`] bytes are kept per socket, later ones are dropped (as webrtc-rs would have
//! dropped them all), and what is kept is freed with the connection. What reaches DTLS once
//! there is a path is exactly what webrtc-rs lets through from then on (it does not check the
//! sender's address either): DTLS itself authenticates the handshake against the fingerprint in
//! the partner's description.

use std::collections::VecDeque;

use webrtc::runtime::RecvMeta;

/// The most datagrams one socket keeps before there is a path (a ClientHello is one or two; a
/// partner retransmits a few times before our agent has a path).
pub const HELD_MAX: usize = 8;
/// The most bytes one socket keeps before there is a path.
pub const HELD_BYTES: usize = 16 * 1024;

/// Whether a received message is DTLS by RFC 7983's first-byte rule. A GRO-coalesced message is
/// only DTLS if every datagram in it is.
pub fn is_dtls(data: &[u8], stride: usize) -> bool {
    !data.is_empty() && data.chunks(stride.max(1)).all(|d| matches!(d.first(), Some(20..=63)))
}

/// The early DTLS datagrams one socket has set aside, in arrival order.
#[derive(Debug, Default)]
pub struct Shelf {
    held: VecDeque<(Vec<u8>, RecvMeta)>,
    bytes: usize,
    dropped: u64,
}

impl Shelf {
    /// Keeps a datagram, or drops it (and counts it) when the shelf is full or already holds the
    /// same bytes (a retransmission: delivering both would only make DTLS answer twice).
    pub fn keep(&mut self, data: &[u8], meta: RecvMeta) {
        let full = self.held.len() >= HELD_MAX || self.bytes + data.len() > HELD_BYTES;
        if full || self.held.iter().any(|(kept, _)| kept == data) {
            self.dropped += 1;
            return;
        }
        self.bytes += data.len();
        self.held.push_back((data.to_vec(), meta));
    }

    /// Moves the oldest kept datagram into `buf` and `meta`; false when there is none.
    pub fn deliver(&mut self, buf: &mut [u8], meta: &mut RecvMeta) -> bool {
        let Some((data, kept)) = self.held.pop_front() else { return false };
        self.bytes -= data.len();
        let len = data.len().min(buf.len());
        buf[..len].copy_from_slice(&data[..len]);
        *meta = kept;
        meta.len = len;
        meta.stride = kept.stride.clamp(1, len.max(1));
        true
    }

    /// How many datagrams are kept.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many datagrams were not kept: the shelf was full, or held the same bytes already.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtls_is_told_by_its_first_byte() {
        assert!(is_dtls(&[22, 254, 253], 3));
        assert!(is_dtls(&[20], 1) && is_dtls(&[63], 1));
        assert!(!is_dtls(&[19], 1) && !is_dtls(&[64], 1), "STUN/ZRTP below, TURN channels above");
        assert!(!is_dtls(&[0, 1, 0, 0], 4), "STUN");
        assert!(!is_dtls(&[128, 96], 2), "RTP");
        assert!(!is_dtls(&[], 1));
        // GRO: two datagrams of 2 bytes in one message; DTLS only if both are.
        assert!(is_dtls(&[22, 1, 23, 1], 2));
        assert!(!is_dtls(&[22, 1, 0, 1], 2));
    }

    #[test]
    fn a_shelf_gives_back_in_order_and_frees_its_bytes() {
        let mut shelf = Shelf::default();
        let meta = RecvMeta::default();
        shelf.keep(&[22; 1000], meta);
        shelf.keep(&[23; 10], meta);
        let mut buf = [0u8; 2000];
        let mut out = RecvMeta::default();
        assert!(shelf.deliver(&mut buf, &mut out));
        assert_eq!((out.len, out.stride, buf[0]), (1000, 1, 22));
        assert!(shelf.deliver(&mut buf, &mut out));
        assert_eq!((out.len, buf[0]), (10, 23));
        assert!(!shelf.deliver(&mut buf, &mut out) && shelf.is_empty());
        // Emptied, it holds a full load again.
        for i in 0..HELD_MAX {
            let mut d = [22u8; 2000];
            d[1] = i as u8;
            shelf.keep(&d, meta);
        }
        assert_eq!((shelf.len(), shelf.dropped()), (HELD_MAX, 0));
        shelf.keep(&[22; 10], meta);
        assert_eq!(shelf.dropped(), 1);
    }

    #[test]
    fn a_repeat_is_kept_once() {
        let mut shelf = Shelf::default();
        shelf.keep(&[22, 1, 2], RecvMeta::default());
        shelf.keep(&[22, 1, 2], RecvMeta::default());
        shelf.keep(&[22, 1, 3], RecvMeta::default());
        assert_eq!((shelf.len(), shelf.dropped()), (2, 1));
    }
}
