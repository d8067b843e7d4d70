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
//! Over a relay, DTLS arrives wrapped in TURN ChannelData or a Data indication (RFC 8656), which
//! webrtc-rs unwraps itself; a wrapped datagram counts as DTLS by what it carries. That case
//! matters most: our agent waits before nominating a relayed pair, and Chromium sent its hello
//! three times in the 240 ms before our path was chosen, then waited 140 ms more to send it again.
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

/// STUN's magic cookie (RFC 8489), in every STUN message after the type and length.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// A TURN Data indication's message type.
const DATA_INDICATION: [u8; 2] = [0x01, 0x15];
/// The DATA attribute, which carries the relayed datagram.
const DATA_ATTRIBUTE: [u8; 2] = [0x00, 0x13];

/// Whether a received message is DTLS, or a TURN message carrying DTLS. A GRO-coalesced message
/// counts only if every datagram in it does.
pub fn is_dtls(data: &[u8], stride: usize) -> bool {
    !data.is_empty() && data.chunks(stride.max(1)).all(carries_dtls)
}

/// RFC 7983's first-byte rule (20 to 63 is DTLS), looking inside TURN ChannelData (64 to 79) and
/// Data indications. Anything malformed is not DTLS.
fn carries_dtls(datagram: &[u8]) -> bool {
    let dtls = |payload: &[u8]| matches!(payload.first(), Some(20..=63));
    match datagram.first() {
        Some(20..=63) => true,
        // ChannelData: channel number (2 bytes), length (2), the datagram.
        Some(64..=79) => {
            let Some(&[h, l]) = datagram.get(2..4) else { return false };
            datagram.get(4..4 + usize::from(u16::from_be_bytes([h, l]))).is_some_and(dtls)
        }
        Some(0 | 1) => data_indication_payload(datagram).is_some_and(dtls),
        _ => false,
    }
}

/// The DATA attribute's value of a TURN Data indication, if `message` is one.
fn data_indication_payload(message: &[u8]) -> Option<&[u8]> {
    if message.get(0..2)? != DATA_INDICATION || message.get(4..8)? != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([*message.get(2)?, *message.get(3)?]));
    let mut attributes = message.get(20..20 + length)?;
    while attributes.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([attributes[2], attributes[3]]));
        let value = attributes.get(4..4 + len)?;
        if attributes[0..2] == DATA_ATTRIBUTE {
            return Some(value);
        }
        // Attributes are padded to a multiple of four bytes.
        attributes = attributes.get((4 + len).next_multiple_of(4)..)?;
    }
    None
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

    /// A TURN Data indication relaying `payload`, after an XOR-PEER-ADDRESS attribute.
    fn data_indication(payload: &[u8]) -> Vec<u8> {
        let mut attrs = vec![0x00, 0x12, 0x00, 0x08, 0, 1, 0x12, 0x34, 1, 2, 3, 4];
        attrs.extend_from_slice(&[0x00, 0x13]);
        attrs.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        attrs.extend_from_slice(payload);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x01, 0x15];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn dtls_through_a_relay_is_told_by_what_it_carries() {
        let hello = [22u8, 254, 253, 0, 0];
        let rtp = [128u8, 96, 0, 1];
        // ChannelData on channel 0x4001.
        let channel = |payload: &[u8]| {
            let mut m = vec![0x40, 0x01];
            m.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            m.extend_from_slice(payload);
            m
        };
        assert!(is_dtls(&channel(&hello), 1000));
        assert!(!is_dtls(&channel(&rtp), 1000));
        assert!(!is_dtls(&channel(&[]), 1000));
        assert!(!is_dtls(&channel(&hello)[..6], 1000), "cut short");
        assert!(!is_dtls(&[0x40, 0x01, 0xff], 1000));
        // Data indications.
        assert!(is_dtls(&data_indication(&hello), 1000));
        assert!(!is_dtls(&data_indication(&rtp), 1000));
        let mut binding = data_indication(&hello);
        binding[1] = 0x01; // a binding request, not a Data indication
        assert!(!is_dtls(&binding, 1000));
        let mut bad_cookie = data_indication(&hello);
        bad_cookie[4] = 0;
        assert!(!is_dtls(&bad_cookie, 1000));
        // Lengths that run past the end, anywhere: not DTLS, and no panic.
        let whole = data_indication(&hello);
        for cut in 0..whole.len() {
            let _ = is_dtls(&whole[..cut], 1000);
        }
        let mut long_attr = whole.clone();
        long_attr[22] = 0xff; // the first attribute's length
        assert!(!is_dtls(&long_attr, 1000));
        let mut long_msg = whole;
        long_msg[2] = 0xff;
        assert!(!is_dtls(&long_msg, 1000));
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
