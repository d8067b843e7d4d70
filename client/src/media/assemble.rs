//! RTP → H.264 access units, through a small reorder window.
//!
//! Packets are put back in sequence-number order (16-bit numbers extended across wraps) before
//! they are depacketized, so a reordered packet or a NACK retransmission that arrives within
//! the window completes its picture instead of spoiling it. Packets of one picture share an RTP
//! timestamp and the last carries the marker bit, so a picture is handed on the moment it is
//! complete and everything before it has been handed on (no waiting for the next picture, as a
//! generic sample builder would).
//!
//! A hole in the sequence is waited for until the packets held behind it span more than
//! [`REORDER_WINDOW_TICKS`] of media time (or [`MAX_HELD_PACKETS`] packets). Only then is it
//! given up on: that counts as a loss (the caller asks the sender for a keyframe), and the
//! pictures after it are withheld until a keyframe arrives, since they refer to what was lost.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

/// How much media time (90 kHz RTP ticks; 200 ms) may queue up behind a missing packet before
/// it is given up on. NACKs go out every 100 ms, so this covers one NACK round on most paths.
pub const REORDER_WINDOW_TICKS: u32 = 18_000;

/// At most this many packets are held behind a missing one (bounds memory at any bitrate).
pub const MAX_HELD_PACKETS: usize = 512;

/// This many packets in a row from before the window means the sender started over with new
/// sequence numbers: follow it.
const RESYNC_AFTER: u32 = 64;

/// Extended sequence numbers start here, so going back from the first packet never underflows.
const SEQ_BASE: u64 = 1 << 32;

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const IDR: u8 = 5;
const SPS: u8 = 7;

#[derive(Debug)]
struct Held {
    timestamp: u32,
    marker: bool,
    payload: Bytes,
}

/// The picture being put together from in-order packets.
#[derive(Debug, Default)]
struct Picture {
    timestamp: Option<u32>,
    buf: Vec<u8>,
    /// Something of it is missing or would not depacketize.
    broken: bool,
    /// Its damage has already been counted (as part of a gap given up on).
    counted: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct H264Assembler {
    depacketizer: H264Packet,
    /// Packets not yet assembled, by extended sequence number.
    held: BTreeMap<u64, Held>,
    /// Extended sequence number of the next packet to assemble.
    next: Option<u64>,
    picture: Picture,
    /// The picture that starts after a gap lost its head.
    head_lost: bool,
    /// The decoder has what the next picture may refer to (false before the first keyframe
    /// and after a loss, when pictures wait for a keyframe).
    decodable: bool,
    ready: VecDeque<Vec<u8>>,
    stale_run: u32,
    lost: u64,
}

impl H264Assembler {
    /// Feed one RTP packet; complete pictures then wait in [`Self::pop`].
    pub fn insert(&mut self, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) {
        let next = *self.next.get_or_insert_with(|| {
            // The first packet says where the stream starts; older ones count as late.
            self.head_lost = !starts_nal(payload);
            SEQ_BASE + u64::from(seq)
        });
        let ext = next.wrapping_add_signed(i64::from(seq.wrapping_sub(next as u16) as i16));
        if ext < next {
            // Late (already assembled or given up on) or a duplicate.
            self.stale_run += 1;
            if self.stale_run >= RESYNC_AFTER {
                self.resync();
                self.insert(seq, timestamp, marker, payload);
            }
            return;
        }
        self.stale_run = 0;
        self.held.entry(ext).or_insert_with(|| Held { timestamp, marker, payload: payload.clone() });
        self.release();
    }

    /// The next complete picture, in order.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.ready.pop_front()
    }

    /// Pictures lost since the last call: gaps given up on, pictures that were damaged, and
    /// pictures withheld while waiting for a keyframe. Non-zero: ask the sender for a keyframe.
    pub fn take_losses(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Assemble whatever is in order, giving up on a gap once too much waits behind it.
    fn release(&mut self) {
        while let Some(next) = self.next {
            if let Some(packet) = self.held.remove(&next) {
                self.next = Some(next + 1);
                self.assemble(packet);
                continue;
            }
            let (Some((&first, oldest)), Some((&newest, newest_packet))) =
                (self.held.first_key_value(), self.held.last_key_value())
            else {
                break;
            };
            let span = newest_packet.timestamp.wrapping_sub(oldest.timestamp) as i32;
            let too_far = newest - next >= MAX_HELD_PACKETS as u64 || self.held.len() >= MAX_HELD_PACKETS;
            if !too_far && span <= REORDER_WINDOW_TICKS as i32 {
                break; // keep waiting for the missing packet
            }
            let (timestamp, starts_nal) = (oldest.timestamp, starts_nal(&oldest.payload));
            self.give_up_gap(timestamp, starts_nal);
            self.next = Some(first);
        }
    }

    /// The packets before the first held one (at `timestamp`) are not coming: spoil what they
    /// belonged to, and wait for a keyframe.
    fn give_up_gap(&mut self, timestamp: u32, starts_nal: bool) {
        tracing::debug!(timestamp, "giving up on missing video packets");
        self.lost += 1;
        self.decodable = false;
        let continues_picture = self.picture.timestamp == Some(timestamp);
        if self.picture.timestamp.is_some() {
            self.picture.broken = true;
            self.picture.counted = true;
        }
        // Unless it plainly starts a NAL unit of a new picture, the first held packet's picture
        // is missing its beginning.
        self.head_lost = !continues_picture && !starts_nal;
    }

    fn assemble(&mut self, packet: Held) {
        if self.picture.timestamp != Some(packet.timestamp) {
            if self.picture.timestamp.is_some() {
                self.drop_picture(); // it never saw its marker
            }
            self.depacketizer = H264Packet::default();
            self.picture = Picture {
                timestamp: Some(packet.timestamp),
                buf: Vec::new(),
                broken: self.head_lost,
                counted: self.head_lost,
            };
            self.head_lost = false;
        }
        match depacketize(&mut self.depacketizer, &packet.payload) {
            Some(nal) => self.picture.buf.extend_from_slice(&nal),
            None => self.picture.broken = true,
        }
        if packet.marker {
            self.finish_picture();
        }
    }

    /// The marker arrived: hand the picture on if it is whole and decodable from here.
    fn finish_picture(&mut self) {
        if self.picture.broken || self.picture.buf.is_empty() {
            self.drop_picture();
            return;
        }
        let picture = std::mem::take(&mut self.picture);
        if !self.decodable && !is_keyframe(&picture.buf) {
            self.lost += 1; // it refers to pictures the decoder does not have
        } else {
            self.decodable = true;
            self.ready.push_back(picture.buf);
        }
    }

    fn drop_picture(&mut self) {
        let picture = std::mem::take(&mut self.picture);
        if !picture.counted {
            self.lost += 1;
        }
        self.decodable = false;
    }

    /// Forget everything and follow the sender's new sequence numbers.
    fn resync(&mut self) {
        tracing::debug!("video sequence numbers jumped back; starting over");
        let lost = self.lost + 1;
        *self = Self { lost, ..Self::default() };
    }
}

/// Depacketize one payload, refusing what would make the depacketizer index out of bounds (a
/// STAP-A whose sizes do not add up to its length).
fn depacketize(depacketizer: &mut H264Packet, payload: &Bytes) -> Option<Bytes> {
    if payload.first().is_some_and(|b| b & 0x1f == STAP_A) {
        let mut offset = 1;
        while offset < payload.len() {
            let size = match payload.get(offset..offset + 2) {
                Some(&[hi, lo]) => usize::from(hi) << 8 | usize::from(lo),
                _ => return None,
            };
            offset += 2 + size;
        }
        if offset != payload.len() {
            return None;
        }
    }
    depacketizer.depacketize(payload).ok()
}

/// Whether a payload begins a NAL unit (anything but the middle or end of a fragmented one).
fn starts_nal(payload: &Bytes) -> bool {
    match payload.first().map(|b| b & 0x1f) {
        Some(FU_A) => payload.get(1).is_some_and(|b| b & 0x80 != 0),
        Some(_) => true,
        None => false,
    }
}

/// Whether an Annex-B access unit holds an IDR slice or a sequence parameter set (so the
/// decoder can start from it).
fn is_keyframe(annexb: &[u8]) -> bool {
    annexb.windows(4).any(|w| w[..3] == [0, 0, 1] && matches!(w[3] & 0x1f, IDR | SPS))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl H264Assembler {
        /// Feed one packet and take every picture it completes, as one buffer of consecutive
        /// access units.
        fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) -> Option<Vec<u8>> {
            self.insert(seq, timestamp, marker, payload);
            let mut out = self.pop()?;
            while let Some(more) = self.pop() {
                out.extend_from_slice(&more);
            }
            Some(out)
        }
    }

    /// One RTP packet: sequence number, timestamp, marker, payload.
    type Packet = (u16, u32, bool, Bytes);

    const FRAME_TICKS: u32 = 3000; // 30 fps

    /// A stream of `pictures` pictures from `seq`/`ts`: every `key_every`-th is a keyframe in
    /// three FU-A fragments, the others are P pictures of two single-NAL slices.
    fn stream(seq: u16, ts: u32, pictures: usize, key_every: usize) -> Vec<Packet> {
        let mut out = Vec::new();
        let mut seq = seq;
        for i in 0..pictures {
            let ts = ts.wrapping_add(i as u32 * FRAME_TICKS);
            let b = i as u8;
            let payloads: Vec<Vec<u8>> = if i % key_every == 0 {
                vec![vec![0x7c, 0x85, b, 1], vec![0x7c, 0x05, b, 2], vec![0x7c, 0x45, b, 3]]
            } else {
                vec![vec![0x41, b, 1], vec![0x41, b, 2]]
            };
            let n = payloads.len();
            for (j, p) in payloads.into_iter().enumerate() {
                out.push((seq, ts, j + 1 == n, Bytes::from(p)));
                seq = seq.wrapping_add(1);
            }
        }
        out
    }

    fn feed(a: &mut H264Assembler, packets: &[Packet]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (seq, ts, marker, payload) in packets {
            a.insert(*seq, *ts, *marker, payload);
            out.extend(std::iter::from_fn(|| a.pop()));
        }
        out
    }

    fn in_order(packets: &[Packet]) -> Vec<Vec<u8>> {
        let mut a = H264Assembler::default();
        let out = feed(&mut a, packets);
        assert_eq!(a.take_losses(), 0);
        out
    }

    #[test]
    fn pictures_complete_on_the_marker() {
        let mut a = H264Assembler::default();
        let idr = |b: u8| Bytes::from(vec![0x65, b, b]);
        assert_eq!(a.push(1, 100, false, &idr(1)), None);
        assert_eq!(a.push(2, 100, true, &idr(2)), Some(vec![0, 0, 0, 1, 0x65, 1, 1, 0, 0, 0, 1, 0x65, 2, 2]));
        let key = stream(0, 0, 1, 1);
        assert!(is_keyframe(&in_order(&key)[0]), "FU-A fragments make one IDR NAL");
        assert_eq!(a.take_losses(), 0);
    }

    #[test]
    fn reordered_packets_give_the_same_pictures_as_in_order() {
        let packets = stream(100, 0, 12, 6);
        let expected = in_order(&packets);
        assert_eq!(expected.len(), 12);
        let mut shuffled = packets.clone();
        for pair in shuffled[1..].chunks_mut(2) {
            pair.reverse(); // every pair after the first packet swapped, also across pictures
        }
        let late = shuffled.remove(3);
        shuffled.insert(9, late); // and one packet six places late
        let mut a = H264Assembler::default();
        assert_eq!(feed(&mut a, &shuffled), expected);
        assert_eq!(a.take_losses(), 0, "a reorder is not a loss");
        // Duplicates change nothing.
        assert!(feed(&mut a, &packets[..4]).is_empty());
        assert_eq!(a.take_losses(), 0);
    }

    #[test]
    fn a_retransmission_within_the_window_repairs_the_picture() {
        let packets = stream(7, 0, 8, 8);
        let expected = in_order(&packets);
        let mut a = H264Assembler::default();
        let (missing, rest) = (packets[4].clone(), [&packets[..4], &packets[5..]].concat());
        // Everything up to the hole comes out; nothing after it (about 130 ms of media waits).
        let before = feed(&mut a, &rest);
        assert_eq!(before, expected[..1]);
        assert_eq!(a.take_losses(), 0, "still waiting, not yet a loss");
        // The NACKed packet arrives: the picture is whole and the held ones follow in order.
        let (seq, ts, marker, payload) = missing;
        assert_eq!(a.push(seq, ts, marker, &payload), Some(expected[1..].concat()), "released together");
        assert_eq!(a.take_losses(), 0);
    }

    #[test]
    fn a_real_gap_is_a_loss_and_decoding_resumes_at_the_next_keyframe() {
        let packets = stream(1, 0, 16, 10); // keyframes at 0 and 10
        let expected = in_order(&packets);
        let lost = packets[5].clone(); // in picture 2
        let mut a = H264Assembler::default();
        let mut out = feed(&mut a, &packets[..5]);
        assert_eq!(out, expected[..2]);
        // Pictures keep coming; after 200 ms of media the hole is given up on.
        let mut given_up_at = None;
        for (i, (seq, ts, marker, payload)) in packets.iter().enumerate().skip(6) {
            a.insert(*seq, *ts, *marker, payload);
            out.extend(std::iter::from_fn(|| a.pop()));
            if given_up_at.is_none() && a.take_losses() > 0 {
                given_up_at = Some(*ts);
                assert!(ts - lost.1 > REORDER_WINDOW_TICKS, "given up at {i}: too early");
                assert!(ts - lost.1 <= REORDER_WINDOW_TICKS + FRAME_TICKS, "given up at {i}: too late");
            }
        }
        assert!(given_up_at.is_some(), "the gap was reported as a loss");
        // Nothing between the hole and the next keyframe is handed to the decoder.
        assert_eq!(out, [&expected[..2], &expected[10..]].concat());
        assert!(a.take_losses() > 0, "withheld pictures count, so the keyframe request repeats");
        // The retransmission, too late now, changes nothing.
        a.insert(lost.0, lost.1, lost.2, &lost.3);
        assert_eq!(a.pop(), None);
        let more = stream(packets.len() as u16 + 1, 16 * FRAME_TICKS, 2, 10);
        assert_eq!(feed(&mut a, &more).len(), 2);
        assert_eq!(a.take_losses(), 0);
    }

    #[test]
    fn sequence_numbers_and_timestamps_wrap() {
        let packets = stream(65_530, u32::MAX - 4 * FRAME_TICKS, 10, 5);
        assert!(packets.iter().any(|p| p.0 == 0) && packets.iter().any(|p| p.1 < FRAME_TICKS));
        let expected = in_order(&packets);
        assert_eq!(expected.len(), 10);
        let mut shuffled = packets.clone();
        let wrap = shuffled.iter().position(|p| p.0 == 0).unwrap();
        shuffled.swap(wrap - 1, wrap + 1); // 65535 and 1 change places across the wrap
        let mut a = H264Assembler::default();
        assert_eq!(feed(&mut a, &shuffled), expected);
        assert_eq!(a.take_losses(), 0);
        // A hole across the wrap is still found and given up on.
        let mut a = H264Assembler::default();
        let with_hole: Vec<Packet> = packets.iter().filter(|p| p.0 != 65_535).cloned().collect();
        let out = feed(&mut a, &with_hole);
        assert!(a.take_losses() > 0);
        assert_eq!(out.last(), expected.last(), "the keyframe after the wrap decodes");
    }

    #[test]
    fn damaged_payloads_and_missing_markers_are_losses_not_panics() {
        let mut a = H264Assembler::default();
        let key = stream(1, 0, 1, 1);
        assert_eq!(feed(&mut a, &key).len(), 1);
        // A STAP-A whose sizes overrun by one byte would make the depacketizer index past the end.
        assert_eq!(a.push(4, 3000, true, &Bytes::from_static(&[0x18, 0, 1, 0x41, 0xaa])), None);
        assert_eq!(a.take_losses(), 1);
        assert_eq!(a.push(5, 6000, true, &Bytes::new()), None, "empty payload");
        assert_eq!(a.push(6, 9000, true, &Bytes::from_static(&[0x1e, 1, 2])), None, "unknown NAL type");
        // A picture without its marker shows up when the next one starts.
        a.insert(7, 12_000, false, &Bytes::from_static(&[0x65, 1, 1]));
        assert_eq!(feed(&mut a, &stream(8, 15_000, 2, 1)).len(), 2, "keyframes decode again");
        assert_eq!(a.take_losses(), 3);
    }

    #[test]
    fn a_sender_that_starts_over_is_followed() {
        let mut a = H264Assembler::default();
        assert_eq!(feed(&mut a, &stream(40_000, 0, 3, 3)).len(), 3);
        // New sequence numbers far behind: late packets at first, then the assembler follows.
        let restarted = stream(1_000, 90_000, 60, 20);
        let out = feed(&mut a, &restarted);
        assert!(!out.is_empty() && is_keyframe(&out[0]), "picked up at a keyframe");
        assert!(a.take_losses() > 0);
    }
}
