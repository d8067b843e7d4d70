//! The short chime played when a stranger is found (`assets/sounds/match.wav`).

use std::time::{Duration, Instant};

use crate::devices::speaker::AudioOut;
use crate::media::audio_source::FRAME_SAMPLES;

static MATCH_WAV: &[u8] = include_bytes!("../../../assets/sounds/match.wav");

/// Decode a 16-bit PCM mono WAV into samples in [-1, 1]; `None` if it is anything else.
pub fn decode_wav(bytes: &[u8]) -> Option<(u32, Vec<f32>)> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let (mut pos, mut rate, mut format_ok) = (12, 0u32, false);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = bytes.get(pos + 8..pos + 8 + len)?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let format = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                rate = u32::from_le_bytes(body[4..8].try_into().ok()?);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                format_ok = format == 1 && channels == 1 && bits == 16;
            }
            b"data" if format_ok => {
                let samples = body.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0);
                return Some((rate, samples.collect()));
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    None
}

/// Play the match chime on a short-lived thread (the UI never waits for it).
pub fn play_match(out: &AudioOut) {
    let Some((48_000, samples)) = decode_wav(MATCH_WAV) else {
        tracing::warn!("match.wav is not 48 kHz mono 16-bit; no chime");
        return;
    };
    let mut sink = out.sink();
    let spawned = std::thread::Builder::new().name("chime".into()).spawn(move || {
        let start = Instant::now();
        for (i, chunk) in samples.chunks(FRAME_SAMPLES).enumerate() {
            let due = start + Duration::from_millis(20 * i as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            sink.play(chunk, Instant::now());
        }
    });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no chime thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_chime_decodes_and_bad_files_are_refused() {
        let (rate, samples) = decode_wav(MATCH_WAV).unwrap();
        assert_eq!(rate, 48_000);
        assert!(samples.len() > 4_800 && samples.iter().any(|s| s.abs() > 0.1), "at least 100 ms, audible");
        assert!(decode_wav(b"RIFF....WAVEfmt ").is_none());
        assert!(decode_wav(&MATCH_WAV[..40]).is_none(), "truncated");
    }
}
