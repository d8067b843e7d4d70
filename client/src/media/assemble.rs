//! RTP → H.264 access units. Packets of one picture share an RTP timestamp and the last carries
//! the marker bit, so a picture is handed on the moment its last packet arrives (no waiting for
//! the next picture, as a generic sample builder would). A gap in sequence numbers spoils the
//! picture, and the caller asks the sender for a keyframe.

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;

/// See the module docs.
#[derive(Debug, Default)]
pub struct H264Assembler {
    depacketizer: H264Packet,
    buf: Vec<u8>,
    timestamp: Option<u32>,
    last_seq: Option<u16>,
    broken: bool,
    lost: u64,
}

impl H264Assembler {
    /// Feed one RTP packet's header fields and payload; returns a complete, undamaged picture
    /// (Annex-B) when this packet finishes one.
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) -> Option<Vec<u8>> {
        let gap = match self.last_seq {
            Some(last) if seq == last.wrapping_add(1) => false,
            // Late or duplicate: ignore.
            Some(last) if seq == last || seq.wrapping_sub(last) > 0x8000 => return None,
            Some(_) => true,
            None => false,
        };
        self.last_seq = Some(seq);
        if self.timestamp != Some(timestamp) {
            if self.timestamp.is_some() {
                self.lost += 1; // the previous picture never saw its marker
            }
            self.buf.clear();
            self.broken = gap;
            self.timestamp = Some(timestamp);
        } else if gap {
            self.broken = true;
        }
        match self.depacketizer.depacketize(payload) {
            Ok(nal) => self.buf.extend_from_slice(&nal),
            Err(_) => self.broken = true,
        }
        if !marker {
            return None;
        }
        self.timestamp = None;
        let picture = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.broken) || picture.is_empty() {
            self.lost += 1;
            return None;
        }
        Some(picture)
    }

    /// Pictures lost or damaged since the last call (ask the sender for a keyframe if non-zero).
    pub fn take_losses(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single-NAL packet (type 5, IDR slice).
    fn nal(body: u8) -> Bytes {
        Bytes::from(vec![0x65, body, body])
    }

    #[test]
    fn pictures_complete_on_the_marker() {
        let mut a = H264Assembler::default();
        assert_eq!(a.push(1, 100, false, &nal(1)), None);
        assert_eq!(a.push(2, 100, true, &nal(2)), Some(vec![0, 0, 0, 1, 0x65, 1, 1, 0, 0, 0, 1, 0x65, 2, 2]));
        assert_eq!(a.take_losses(), 0);
    }

    #[test]
    fn gaps_and_missing_markers_are_losses() {
        let mut a = H264Assembler::default();
        a.push(1, 100, false, &nal(1));
        assert_eq!(a.push(3, 100, true, &nal(3)), None, "packet 2 missing");
        assert_eq!(a.take_losses(), 1);
        assert!(a.push(4, 200, true, &nal(4)).is_some());
        // A missing marker shows up when the next picture starts.
        a.push(5, 300, false, &nal(5));
        assert!(a.push(6, 400, true, &nal(6)).is_some());
        assert_eq!(a.take_losses(), 1);
        // Late and duplicate packets are ignored.
        assert_eq!(a.push(2, 100, true, &nal(2)), None);
        assert_eq!(a.push(6, 400, true, &nal(6)), None);
        assert_eq!(a.take_losses(), 0);
        assert_eq!(a.push(7, 500, true, &Bytes::new()), None, "empty payload");
        assert_eq!(a.take_losses(), 1);
    }
}
