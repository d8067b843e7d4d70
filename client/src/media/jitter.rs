//! A small audio jitter buffer: reorders RTP packets by sequence number, holds a couple of
//! frames to absorb network jitter, and tells the playout clock when a frame is lost (so it can be
//! recovered from FEC or concealed) or when the buffer ran dry.

use std::collections::BTreeMap;

/// How many packets past the target may queue before playout skips ahead to the target.
const CATCH_UP_SLACK: usize = 4;

/// What the playout clock gets for one 20 ms slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The frame's packet.
    Packet(Vec<u8>),
    /// The packet is missing; `next` is the following packet if it is here (for FEC).
    Lost {
        /// The next packet, which may carry FEC for the lost one.
        next: Option<Vec<u8>>,
    },
    /// Nothing to play (not started, or ran dry and re-buffering).
    Empty,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    packets: BTreeMap<u64, Vec<u8>>,
    /// Extended sequence number of the next slot to play.
    next: Option<u64>,
    /// Highest extended sequence number seen (for unwrapping 16-bit numbers).
    highest: Option<u64>,
    target: usize,
    max: usize,
    playing: bool,
}

impl JitterBuffer {
    /// A buffer that starts playing once `target` packets are queued and never holds more than
    /// `max` (the oldest are dropped).
    pub fn new(target: usize, max: usize) -> Self {
        let target = target.max(1);
        Self { packets: BTreeMap::new(), next: None, highest: None, target, max: max.max(target + 1), playing: false }
    }

    fn extend(&self, seq: u16) -> u64 {
        let Some(high) = self.highest else { return u64::from(seq) + (1 << 16) };
        let base = high & !0xffff;
        let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
        candidates
            .into_iter()
            .map(|b| b | u64::from(seq))
            .min_by_key(|c| c.abs_diff(high))
            .unwrap_or(base | u64::from(seq))
    }

    /// Add a received packet. Late and duplicate packets are dropped.
    pub fn push(&mut self, seq: u16, payload: Vec<u8>) {
        let ext = self.extend(seq);
        if self.next.is_some_and(|n| ext < n) {
            return;
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.packets.entry(ext).or_insert(payload);
        while self.packets.len() > self.max {
            if let Some((first, _)) = self.packets.pop_first() {
                self.next = Some(first + 1);
            }
        }
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Take what plays in the next 20 ms slot.
    pub fn pop(&mut self) -> Playout {
        if !self.playing {
            if self.packets.len() < self.target {
                return Playout::Empty;
            }
            self.playing = true;
            self.next = self.packets.keys().next().copied();
        }
        // Drift control: a burst (or a playout clock that fell behind) leaves more queued than
        // the target; skip the oldest so that latency does not creep up for the rest of the call.
        if self.packets.len() > self.target + CATCH_UP_SLACK {
            while self.packets.len() > self.target {
                self.packets.pop_first();
            }
            self.next = self.packets.keys().next().copied();
        }
        let Some(next) = self.next else { return Playout::Empty };
        if let Some(p) = self.packets.remove(&next) {
            self.next = Some(next + 1);
            return Playout::Packet(p);
        }
        if self.packets.is_empty() {
            // Ran dry: wait to re-buffer rather than conceal forever.
            self.playing = false;
            return Playout::Empty;
        }
        self.next = Some(next + 1);
        Playout::Lost { next: self.packets.get(&(next + 1)).cloned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Vec<u8> {
        vec![n]
    }

    #[test]
    fn reorders_buffers_and_reports_loss() {
        let mut jb = JitterBuffer::new(2, 10);
        jb.push(11, p(11));
        assert_eq!(jb.pop(), Playout::Empty, "buffering");
        jb.push(10, p(10));
        assert_eq!(jb.pop(), Playout::Packet(p(10)));
        assert_eq!(jb.pop(), Playout::Packet(p(11)));
        jb.push(14, p(14));
        jb.push(13, p(13));
        assert_eq!(jb.pop(), Playout::Lost { next: Some(p(13)) }, "12 never came");
        assert_eq!(jb.pop(), Playout::Packet(p(13)));
        jb.push(12, p(12));
        assert_eq!(jb.len(), 1, "too late: dropped");
        assert_eq!(jb.pop(), Playout::Packet(p(14)));
        assert_eq!(jb.pop(), Playout::Empty, "dry: re-buffer");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut jb = JitterBuffer::new(1, 10);
        for seq in [65534u16, 65535, 0, 1] {
            jb.push(seq, vec![seq as u8]);
        }
        let order: Vec<Playout> = (0..4).map(|_| jb.pop()).collect();
        assert_eq!(order, [254u8, 255, 0, 1].map(|b| Playout::Packet(vec![b])));
    }

    #[test]
    fn a_backlog_is_skipped_so_latency_does_not_creep() {
        let mut jb = JitterBuffer::new(2, 25);
        jb.push(0, p(0));
        jb.push(1, p(1));
        assert_eq!(jb.pop(), Playout::Packet(p(0)));
        // The playout clock stalled while 12 more arrived: play resumes near the newest.
        for seq in 2..14u16 {
            jb.push(seq, p(seq as u8));
        }
        assert_eq!(jb.pop(), Playout::Packet(p(12)));
        assert_eq!(jb.pop(), Playout::Packet(p(13)));
        // A small excess (within the slack) is kept and played in order.
        for seq in 14..19u16 {
            jb.push(seq, p(seq as u8));
        }
        assert_eq!(jb.pop(), Playout::Packet(p(14)));
    }

    #[test]
    fn a_flood_is_bounded() {
        let mut jb = JitterBuffer::new(2, 5);
        for seq in 0..100u16 {
            jb.push(seq, p(seq as u8));
        }
        assert_eq!(jb.len(), 5);
        assert_eq!(jb.pop(), Playout::Packet(p(95)));
    }
}
