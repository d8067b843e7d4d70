//! H.264 through Cisco's OpenH264 (the `openh264` crate, built from source): a real-time
//! constrained-baseline encoder with keyframes on demand, and a decoder that never panics on a
//! damaged bitstream.

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, Profile, RateControlMode, UsageType,
};
use openh264::formats::YUVSource;

use super::frame::I420;

pub use super::error::CodecError;

impl YUVSource for I420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// One encoded picture: an Annex-B access unit.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    /// NAL units with start codes.
    pub data: Vec<u8>,
    /// Whether it is an IDR picture (decodable on its own).
    pub keyframe: bool,
}

/// Real-time H.264 encoder (constrained baseline, no frame skipping).
pub struct H264Encoder {
    encoder: Encoder,
    size: (usize, usize),
    config: EncoderConfig,
    keyframe_requested: bool,
}

impl H264Encoder {
    /// An encoder targeting `bitrate_bps` at up to `fps`. The size is taken from the first picture
    /// and the encoder restarts itself if the size changes (camera switch).
    pub fn new(bitrate_bps: u32, fps: f32) -> Result<Self, CodecError> {
        let config = Self::config(bitrate_bps, fps);
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(Self { encoder, size: (0, 0), config, keyframe_requested: true })
    }

    /// Change the target bitrate and frame rate. openh264 0.9 has no safe setter for them, so
    /// this builds a fresh encoder (a few milliseconds) and the next picture is a keyframe.
    pub fn retarget(&mut self, bitrate_bps: u32, fps: f32) -> Result<(), CodecError> {
        let config = Self::config(bitrate_bps, fps);
        self.encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| CodecError::Init(e.to_string()))?;
        self.config = config;
        self.size = (0, 0);
        self.keyframe_requested = true;
        Ok(())
    }

    fn config(bitrate_bps: u32, fps: f32) -> EncoderConfig {
        EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_bps))
            // The default (quality mode) treats the bitrate as a hint; calls need it held.
            .rate_control_mode(RateControlMode::Bitrate)
            .max_frame_rate(FrameRate::from_hz(fps))
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .complexity(Complexity::Low)
            .skip_frames(false)
    }

    /// Make the next picture a keyframe (on connect, periodically, and on the receiver's request).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Encode one picture.
    pub fn encode(&mut self, pic: &I420) -> Result<EncodedVideo, CodecError> {
        if self.size != (pic.width, pic.height) {
            if self.size != (0, 0) {
                self.encoder = Encoder::with_api_config(OpenH264API::from_source(), self.config)
                    .map_err(|e| CodecError::Init(e.to_string()))?;
            }
            self.size = (pic.width, pic.height);
            self.keyframe_requested = true;
        }
        if std::mem::take(&mut self.keyframe_requested) {
            self.encoder.force_intra_frame();
        }
        let out = self.encoder.encode(pic).map_err(|e| CodecError::Encode(e.to_string()))?;
        let keyframe = matches!(out.frame_type(), FrameType::IDR | FrameType::I);
        Ok(EncodedVideo { data: out.to_vec(), keyframe })
    }
}

/// H.264 decoder producing [`I420`] pictures.
pub struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    /// A fresh decoder.
    pub fn new() -> Result<Self, CodecError> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| CodecError::Init(e.to_string()))?;
        Ok(Self { decoder })
    }

    /// Decode one access unit (Annex-B). `Ok(None)` means the decoder needs more data.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420>, CodecError> {
        let decoded = self.decoder.decode(access_unit).map_err(|e| CodecError::Decode(e.to_string()))?;
        let Some(yuv) = decoded else { return Ok(None) };
        let (w, h) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let mut pic = I420::black(w, h);
        let (w, h) = (pic.width, pic.height);
        copy_plane(yuv.y(), sy, &mut pic.y, w, h);
        copy_plane(yuv.u(), su, &mut pic.u, w / 2, h / 2);
        copy_plane(yuv.v(), sv, &mut pic.v, w / 2, h / 2);
        Ok(Some(pic))
    }
}

fn copy_plane(src: &[u8], stride: usize, dst: &mut [u8], width: usize, height: usize) {
    for row in 0..height {
        let (s, d) = (row * stride, row * width);
        if let (Some(from), Some(to)) = (src.get(s..s + width), dst.get_mut(d..d + width)) {
            to.copy_from_slice(from);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::pattern;
    use super::super::video_source::SyntheticVideo;
    use super::*;

    #[test]
    fn stamps_survive_encode_and_decode() {
        let src = SyntheticVideo::new(640, 480, 30.0, "t");
        let mut enc = H264Encoder::new(800_000, 30.0).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut read = Vec::new();
        for i in 0..30 {
            let out = enc.encode(&src.render(i, Instant::now())).unwrap();
            assert_eq!(out.keyframe, i == 0, "only the first is a keyframe");
            if let Some(pic) = dec.decode(&out.data).unwrap() {
                read.push(pattern::read(&pic).map(|s| s.counter));
            }
        }
        assert_eq!(read, (0..30).map(Some).collect::<Vec<_>>());
        enc.request_keyframe();
        assert!(enc.encode(&src.render(30, Instant::now())).unwrap().keyframe);
    }

    /// A grey picture with fine pseudo-random grain: more detail than the target bitrates can
    /// carry, so what comes out is decided by rate control.
    fn noise(width: usize, height: usize, seed: u32) -> I420 {
        let mut pic = I420::black(width, height);
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        for b in pic.y.iter_mut().chain(pic.u.iter_mut()).chain(pic.v.iter_mut()) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = 112 + (x >> 27) as u8;
        }
        pic
    }

    #[test]
    fn the_bitrate_is_held_near_the_target() {
        let kbps = |target: u32| {
            let mut enc = H264Encoder::new(target, 30.0).unwrap();
            let mut bytes = 0;
            for i in 0..90 {
                let out = enc.encode(&noise(320, 240, i)).unwrap_or_else(|e| panic!("frame {i}: {e}"));
                if i >= 30 {
                    bytes += out.data.len(); // after the first second (keyframe, rate control settling)
                }
            }
            (bytes * 8) as f64 / 2.0 / 1000.0
        };
        let (low, high) = (kbps(300_000), kbps(1_200_000));
        assert!(low <= 300.0 * 1.5, "{low:.0} kbit/s for a 300 kbit/s target");
        assert!(high <= 1200.0 * 1.5, "{high:.0} kbit/s for a 1200 kbit/s target");
        assert!(high > low * 2.0, "the output follows the target: {low:.0} vs {high:.0} kbit/s");
    }

    #[test]
    fn retargeting_changes_the_rate_and_starts_with_a_keyframe() {
        let mut enc = H264Encoder::new(1_200_000, 30.0).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let rate = |enc: &mut H264Encoder, dec: &mut H264Decoder, w: usize, h: usize, from: u32| {
            let mut bytes = 0;
            for i in from..from + 60 {
                let out = enc.encode(&noise(w, h, i)).unwrap();
                if i == from {
                    assert!(out.keyframe, "a new target starts with a keyframe");
                }
                let pic = dec.decode(&out.data).unwrap().expect("decodable at once");
                assert_eq!((pic.width, pic.height), (w, h), "the decoder follows size changes");
                if i >= from + 30 {
                    bytes += out.data.len();
                }
            }
            (bytes * 8) as f64 / 1000.0
        };
        let high = rate(&mut enc, &mut dec, 640, 480, 0);
        enc.retarget(150_000, 15.0).unwrap();
        let low = rate(&mut enc, &mut dec, 320, 240, 100);
        assert!(low < high / 3.0, "{low:.0} vs {high:.0} kbit per second of frames");
    }

    #[test]
    fn a_corrupt_bitstream_is_an_error_not_a_crash() {
        let src = SyntheticVideo::new(320, 240, 30.0, "t");
        let mut enc = H264Encoder::new(300_000, 30.0).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let good = enc.encode(&src.render(0, Instant::now())).unwrap().data;
        let mut garbage = good.clone();
        for (i, b) in garbage.iter_mut().enumerate().skip(40) {
            *b ^= (i * 31) as u8;
        }
        let mut failures = 0;
        for input in [&garbage[..], &[0, 0, 0, 1, 0xff, 0xff][..], &[][..], &good[..good.len() / 3]] {
            if dec.decode(input).is_err() {
                failures += 1;
            }
        }
        assert!(failures >= 1, "damage is reported");
        // The decoder recovers with the next keyframe.
        enc.request_keyframe();
        let key = enc.encode(&src.render(1, Instant::now())).unwrap().data;
        let mut fresh = H264Decoder::new().unwrap();
        assert!(fresh.decode(&key).unwrap().is_some());
        let _ = dec.decode(&key);
    }
}
