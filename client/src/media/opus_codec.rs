//! Opus at 48 kHz mono in 20 ms frames, with in-band FEC, and a decoder that conceals loss.

use super::audio_source::{FRAME_SAMPLES, SAMPLE_RATE};
use super::h264::CodecError;

/// Opus encoder for voice.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    out: Vec<u8>,
    /// Bitrate and expected loss last set.
    settings: (i32, i32),
}

impl OpusEncoder {
    /// An encoder at `bitrate_bps` with in-band FEC tuned for `expected_loss_pct` loss.
    pub fn new(bitrate_bps: i32, expected_loss_pct: i32) -> Result<Self, CodecError> {
        let init = |e: opus::Error| CodecError::Init(e.to_string());
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip).map_err(init)?;
        encoder.set_bitrate(opus::Bitrate::Bits(bitrate_bps)).map_err(init)?;
        encoder.set_inband_fec(true).map_err(init)?;
        encoder.set_packet_loss_perc(expected_loss_pct).map_err(init)?;
        Ok(Self { encoder, out: vec![0; 1500], settings: (bitrate_bps, expected_loss_pct) })
    }

    /// Set the bitrate and the loss the in-band FEC is tuned for (cheap; does nothing when
    /// neither changed).
    pub fn adapt(&mut self, bitrate_bps: i32, expected_loss_pct: i32) -> Result<(), CodecError> {
        let fail = |e: opus::Error| CodecError::Encode(e.to_string());
        if (bitrate_bps, expected_loss_pct) != self.settings {
            self.encoder.set_bitrate(opus::Bitrate::Bits(bitrate_bps)).map_err(fail)?;
            self.encoder.set_packet_loss_perc(expected_loss_pct).map_err(fail)?;
            self.settings = (bitrate_bps, expected_loss_pct);
        }
        Ok(())
    }

    /// Encode 20 ms (960 samples) of audio.
    pub fn encode(&mut self, samples: &[f32]) -> Result<Vec<u8>, CodecError> {
        if samples.len() != FRAME_SAMPLES {
            return Err(CodecError::Encode(format!("need {FRAME_SAMPLES} samples, got {}", samples.len())));
        }
        let n = self.encoder.encode_float(samples, &mut self.out).map_err(|e| CodecError::Encode(e.to_string()))?;
        Ok(self.out[..n].to_vec())
    }
}

/// Opus decoder with packet-loss concealment and FEC recovery.
pub struct OpusDecoder {
    decoder: opus::Decoder,
}

impl OpusDecoder {
    /// A fresh decoder.
    pub fn new() -> Result<Self, CodecError> {
        let decoder =
            opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(Self { decoder })
    }

    /// Decode one packet into 20 ms of audio.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32; FRAME_SAMPLES]) -> Result<(), CodecError> {
        self.run(packet, out, false)
    }

    /// Recover a lost frame from the FEC carried in the packet after it.
    pub fn recover(&mut self, next_packet: &[u8], out: &mut [f32; FRAME_SAMPLES]) -> Result<(), CodecError> {
        self.run(next_packet, out, true)
    }

    /// Conceal a lost frame (no data at all).
    pub fn conceal(&mut self, out: &mut [f32; FRAME_SAMPLES]) -> Result<(), CodecError> {
        self.run(&[], out, false)
    }

    fn run(&mut self, packet: &[u8], out: &mut [f32; FRAME_SAMPLES], fec: bool) -> Result<(), CodecError> {
        let n = self.decoder.decode_float(packet, out, fec).map_err(|e| CodecError::Decode(e.to_string()))?;
        out[n.min(FRAME_SAMPLES)..].fill(0.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::audio_source::SyntheticTone;
    use super::super::tone::has_tone;
    use super::*;

    #[test]
    fn a_tone_survives_opus_and_loss_is_concealed() {
        let mut src = SyntheticTone::new(440.0, 1800.0, Duration::from_secs(10));
        let mut enc = OpusEncoder::new(32_000, 10).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = [0f32; FRAME_SAMPLES];
        let mut packets = Vec::new();
        for _ in 0..10 {
            packets.push(enc.encode(&src.render(Instant::now()).samples).unwrap());
        }
        for p in &packets[..5] {
            dec.decode(p, &mut out).unwrap();
        }
        assert!(has_tone(&out, SAMPLE_RATE, 440.0));
        dec.recover(&packets[6], &mut out).unwrap(); // packet 5 lost, FEC from 6
        dec.decode(&packets[6], &mut out).unwrap();
        dec.conceal(&mut out).unwrap();
        assert!(enc.encode(&[0.0; 10]).is_err());
        assert!(dec.decode(&[0xff, 0xff, 0xff], &mut out).is_err() || out.iter().all(|s| s.is_finite()));
    }
}
