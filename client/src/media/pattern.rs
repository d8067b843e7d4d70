//! A machine-readable stamp in the picture: a frame counter and a capture timestamp written as a
//! strip of large black and white blocks across the top of the luma plane. Blocks of 16 pixels
//! survive H.264 at any sensible bitrate, so the receiver can read back exactly which frame it
//! decoded and when that frame was captured, and measure loss and glass-to-glass latency.

use super::frame::I420;

/// Blocks per row of the strip.
const BLOCKS_PER_ROW: usize = 40;
/// Payload bits: 32-bit counter, 32-bit timestamp, 8-bit checksum.
const BITS: usize = 72;
const ROWS: usize = BITS.div_ceil(BLOCKS_PER_ROW);
const BLACK: u8 = 16;
const WHITE: u8 = 235;

/// What the strip carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number from the source.
    pub counter: u32,
    /// Capture time, microseconds since the process's media epoch, modulo 2³².
    pub micros: u32,
}

fn checksum(counter: u32, micros: u32) -> u8 {
    let mut x = u64::from(counter) << 32 | u64::from(micros);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    (x & 0xff) as u8 ^ 0xa5
}

fn bits(stamp: Stamp) -> [bool; BITS] {
    let sum = checksum(stamp.counter, stamp.micros);
    let mut out = [false; BITS];
    for (i, bit) in out.iter_mut().enumerate() {
        *bit = match i {
            0..32 => stamp.counter >> (31 - i) & 1 == 1,
            32..64 => stamp.micros >> (63 - i) & 1 == 1,
            _ => sum >> (71 - i) & 1 == 1,
        };
    }
    out
}

/// The block edge for a picture of this width (16 px at 640).
fn block_size(width: usize) -> usize {
    (width / BLOCKS_PER_ROW).max(2) & !1
}

/// Height of the strip in pixels; content below it is free for the picture.
pub fn strip_height(width: usize) -> usize {
    block_size(width) * ROWS
}

/// Write `stamp` into the top of `pic`.
pub fn write(pic: &mut I420, stamp: Stamp) {
    let b = block_size(pic.width);
    if pic.height < b * ROWS {
        return;
    }
    for (i, bit) in bits(stamp).iter().enumerate() {
        let (bx, by) = (i % BLOCKS_PER_ROW, i / BLOCKS_PER_ROW);
        let value = if *bit { WHITE } else { BLACK };
        for row in by * b..(by + 1) * b {
            let start = row * pic.width + bx * b;
            pic.y[start..start + b].fill(value);
        }
        // Neutral chroma under the strip keeps it colourless.
        let cw = pic.width / 2;
        for row in (by * b) / 2..((by + 1) * b) / 2 {
            let start = row * cw + (bx * b) / 2;
            pic.u[start..start + b / 2].fill(128);
            pic.v[start..start + b / 2].fill(128);
        }
    }
}

/// Read a stamp from the top of `pic`; `None` if the checksum does not match (not our pattern,
/// or damaged).
pub fn read(pic: &I420) -> Option<Stamp> {
    let b = block_size(pic.width);
    if pic.height < b * ROWS || pic.y.len() < pic.width * pic.height {
        return None;
    }
    let mut bits = [false; BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (bx, by) = (i % BLOCKS_PER_ROW, i / BLOCKS_PER_ROW);
        // Average the inner half of the block, away from edges the codec blurs.
        let (x0, y0) = (bx * b + b / 4, by * b + b / 4);
        let mut sum = 0u32;
        let mut n = 0u32;
        for row in y0..y0 + b / 2 {
            for col in x0..x0 + b / 2 {
                sum += u32::from(pic.y[row * pic.width + col]);
                n += 1;
            }
        }
        *bit = sum / n.max(1) > u32::from(BLACK / 2 + WHITE / 2);
    }
    let word = |range: std::ops::Range<usize>| bits[range].iter().fold(0u32, |acc, b| acc << 1 | u32::from(*b));
    let (counter, micros, sum) = (word(0..32), word(32..64), word(64..72) as u8);
    (checksum(counter, micros) == sum).then_some(Stamp { counter, micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_damage_is_detected() {
        let mut pic = I420::black(640, 480);
        let stamp = Stamp { counter: 123_456, micros: 0xdead_beef };
        write(&mut pic, stamp);
        assert_eq!(read(&pic), Some(stamp));
        // Flip one block: the checksum catches it.
        let b = block_size(640);
        for row in 0..b {
            for col in 0..b {
                let px = &mut pic.y[row * 640 + col];
                *px = if *px > 128 { BLACK } else { WHITE };
            }
        }
        assert_eq!(read(&pic), None);
        assert_eq!(read(&I420::black(640, 480)), None, "a blank picture has no stamp");
    }

    #[test]
    fn stamps_survive_noise_and_other_sizes() {
        for (w, h) in [(320, 240), (640, 480), (1280, 720)] {
            let mut pic = I420::black(w, h);
            let stamp = Stamp { counter: 7, micros: 99 };
            write(&mut pic, stamp);
            for (i, px) in pic.y.iter_mut().enumerate() {
                let noise = (i * 7919 % 41) as i16 - 20;
                *px = (i16::from(*px) + noise).clamp(0, 255) as u8;
            }
            assert_eq!(read(&pic), Some(stamp), "{w}x{h}");
        }
        assert_eq!(read(&I420::black(16, 16)), None, "too small to carry a stamp");
    }
}
