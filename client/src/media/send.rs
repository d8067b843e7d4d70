//! The sending side of media: a capture thread per source that encodes (H.264 or Opus) and
//! publishes each encoded frame on a broadcast channel that every connected peer subscribes to,
//! so one encode serves a whole mesh room. Nothing is encoded while nobody listens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::audio_source::AudioSource;
use super::h264::H264Encoder;
use super::ladder;
use super::opus_codec::OpusEncoder;
use super::video_rate::VideoRate;
use super::video_source::{SourceError, VideoSource};
use crate::slot::FrameSlot;

/// One encoded frame, ready to packetize.
#[derive(Debug, Clone)]
pub struct EncodedSample {
    /// Annex-B H.264 or one Opus packet.
    pub data: Bytes,
    /// Capture time of the frame.
    pub captured_at: Instant,
    /// How long the frame lasts.
    pub duration: Duration,
}

/// Settings of the send side.
#[derive(Debug, Clone, Copy)]
pub struct SendConfig {
    /// Follow the congestion controller's estimate along the [`ladder`] (picture size, frame
    /// rate, bitrate; Opus bitrate and FEC). Off, video is sent at the fixed rate below.
    pub adaptive: bool,
    /// H.264 target bitrate when not adaptive.
    pub video_bitrate_bps: u32,
    /// The source's frame rate (the most the encoder is given).
    pub video_fps: f32,
    /// A keyframe at least this often.
    pub keyframe_interval: Duration,
    /// Opus bitrate.
    pub audio_bitrate_bps: i32,
    /// Convert captured frames to RGBA for a self-view.
    pub self_view: bool,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            adaptive: true,
            video_bitrate_bps: 800_000,
            video_fps: 30.0,
            keyframe_interval: Duration::from_secs(2),
            audio_bitrate_bps: 32_000,
            self_view: false,
        }
    }
}

/// Counters of the send side (read by stats and the harness).
#[derive(Debug, Default)]
pub struct SendStats {
    /// Video frames encoded.
    pub video_frames: AtomicU64,
    /// H.264 bytes produced.
    pub video_bytes: AtomicU64,
    /// Keyframes produced.
    pub keyframes: AtomicU64,
    /// Opus packets produced.
    pub audio_packets: AtomicU64,
    /// Opus bytes produced.
    pub audio_bytes: AtomicU64,
    /// Microseconds spent encoding video.
    pub video_encode_micros: AtomicU64,
    /// The ladder step video is sent at, plus one (0: a fixed rate, not adapting).
    pub ladder_step: AtomicU32,
    /// The video encoder's current target, bits per second.
    pub video_target_bps: AtomicU32,
    /// The Opus encoder's current bitrate, bits per second.
    pub audio_target_bps: AtomicU32,
}

/// Shared switches between the engine and the capture threads.
#[derive(Debug, Default)]
pub struct SendControl {
    /// Microphone muted: nothing is sent.
    pub muted: AtomicBool,
    /// Camera off: no video is sent.
    pub camera_off: AtomicBool,
    /// Make the next video frame a keyframe.
    pub keyframe: AtomicBool,
    /// Stop the capture threads.
    pub stop: AtomicBool,
    /// Capture even while no peer listens (for the self-view). Off, and with nobody
    /// listening, the capture threads idle and the device's frames are not even read.
    pub preview: AtomicBool,
    /// The congestion controller's estimate for the worst link, bits per second (0: none yet).
    pub estimate_bps: AtomicU32,
    /// Packet loss the partners report for what we send, percent (the worst link).
    pub loss_pct: AtomicU32,
}

/// The running send side. Dropping it stops the capture threads.
pub struct MediaSender {
    /// Encoded video, for peers to subscribe to.
    pub video: broadcast::Sender<EncodedSample>,
    /// Encoded audio, for peers to subscribe to.
    pub audio: broadcast::Sender<EncodedSample>,
    /// Switches.
    pub control: Arc<SendControl>,
    /// Counters.
    pub stats: Arc<SendStats>,
    /// The self-view (filled when `self_view` is on).
    pub local_view: FrameSlot,
    threads: Vec<JoinHandle<()>>,
}

impl MediaSender {
    /// Start capture threads for whichever sources are given.
    pub fn start(
        video: Option<Box<dyn VideoSource>>,
        audio: Option<Box<dyn AudioSource>>,
        cfg: SendConfig,
    ) -> std::io::Result<Self> {
        let (video_tx, _) = broadcast::channel(8);
        let (audio_tx, _) = broadcast::channel(16);
        let control = Arc::new(SendControl { preview: AtomicBool::new(true), ..SendControl::default() });
        let stats = Arc::new(SendStats::default());
        let local_view = FrameSlot::default();
        let mut threads = Vec::new();
        if let Some(src) = video {
            let (tx, ctl, st, view) = (video_tx.clone(), control.clone(), stats.clone(), local_view.clone());
            threads.push(std::thread::Builder::new().name("video-capture".into()).spawn(move || {
                video_loop(src, cfg, &tx, &ctl, &st, &view);
            })?);
        }
        if let Some(src) = audio {
            let (tx, ctl, st) = (audio_tx.clone(), control.clone(), stats.clone());
            threads.push(std::thread::Builder::new().name("audio-capture".into()).spawn(move || {
                audio_loop(src, cfg, &tx, &ctl, &st);
            })?);
        }
        Ok(Self { video: video_tx, audio: audio_tx, control, stats, local_view, threads })
    }

    /// Ask for a keyframe on the next video frame.
    pub fn request_keyframe(&self) {
        self.control.keyframe.store(true, Ordering::Relaxed);
    }
}

impl Drop for MediaSender {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// With no preview and nobody listening there is nothing to capture for: wait a little (the
/// caller then checks its stop flag again). Returns whether it waited.
fn idle(ctl: &SendControl, tx: &broadcast::Sender<EncodedSample>) -> bool {
    if ctl.preview.load(Ordering::Relaxed) || tx.receiver_count() > 0 {
        return false;
    }
    std::thread::sleep(Duration::from_millis(50));
    true
}

fn video_loop(
    mut src: Box<dyn VideoSource>,
    cfg: SendConfig,
    tx: &broadcast::Sender<EncodedSample>,
    ctl: &SendControl,
    stats: &SendStats,
    view: &FrameSlot,
) {
    let mut rate = VideoRate::new(cfg);
    let mut encoder = match H264Encoder::new(rate.bitrate_bps(), rate.fps()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "no video encoder");
            return;
        }
    };
    rate.publish(stats);
    let mut last_key = Instant::now();
    let mut listeners = 0;
    while !ctl.stop.load(Ordering::Relaxed) {
        if idle(ctl, tx) {
            continue;
        }
        let frame = match src.next_frame() {
            Ok(f) => f,
            Err(SourceError::Idle) => continue,
            Err(e) => {
                tracing::warn!(source = %src.name(), error = %e, "video source failed");
                return;
            }
        };
        let camera_off = ctl.camera_off.load(Ordering::Relaxed);
        // With the camera off nobody sees the self-view either: skip its conversion.
        if cfg.self_view && !camera_off {
            // The self-view is a small inset: convert at most about 320 pixels wide.
            let pic = &frame.picture;
            let (w, h, rgba) = pic.to_rgba_scaled(pic.width / SELF_VIEW_WIDTH);
            view.put(w, h, rgba, Some(frame.captured_at));
        }
        let now_listening = tx.receiver_count();
        if now_listening == 0 || camera_off {
            listeners = 0;
            continue;
        }
        if rate.follow(ctl, frame.captured_at) {
            if let Err(e) = encoder.retarget(rate.bitrate_bps(), rate.fps()) {
                tracing::warn!(error = %e, "video encoder could not change rate");
            }
            rate.publish(stats);
        }
        // A keyframe request is answered with the next picture, whatever the step's frame rate
        // would skip: the receiver is frozen until it comes.
        if !rate.take_frame(ctl.keyframe.load(Ordering::Relaxed)) {
            continue;
        }
        // Someone new is listening: they need a keyframe to start decoding.
        if now_listening > listeners || last_key.elapsed() >= cfg.keyframe_interval {
            encoder.request_keyframe();
        }
        listeners = now_listening;
        if ctl.keyframe.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let started = Instant::now();
        let picture = rate.picture(&frame.picture);
        match encoder.encode(picture) {
            Ok(out) => {
                stats.video_encode_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                if out.data.is_empty() {
                    continue;
                }
                if out.keyframe {
                    last_key = Instant::now();
                    stats.keyframes.fetch_add(1, Ordering::Relaxed);
                }
                stats.video_frames.fetch_add(1, Ordering::Relaxed);
                stats.video_bytes.fetch_add(out.data.len() as u64, Ordering::Relaxed);
                let sample = EncodedSample {
                    data: Bytes::from(out.data),
                    captured_at: frame.captured_at,
                    duration: rate.frame_time(),
                };
                let _ = tx.send(sample);
            }
            Err(e) => tracing::warn!(error = %e, "video encode failed"),
        }
    }
}

/// About how wide the self-view picture is made (the app shows it as a small inset).
const SELF_VIEW_WIDTH: usize = 320;

fn audio_loop(
    mut src: Box<dyn AudioSource>,
    cfg: SendConfig,
    tx: &broadcast::Sender<EncodedSample>,
    ctl: &SendControl,
    stats: &SendStats,
) {
    let mut encoder = match OpusEncoder::new(cfg.audio_bitrate_bps, 10) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "no audio encoder");
            return;
        }
    };
    while !ctl.stop.load(Ordering::Relaxed) {
        if idle(ctl, tx) {
            continue;
        }
        let frame = match src.next_frame() {
            Ok(f) => f,
            Err(SourceError::Idle) => continue,
            Err(e) => {
                tracing::warn!(source = %src.name(), error = %e, "audio source failed");
                return;
            }
        };
        if tx.receiver_count() == 0 || ctl.muted.load(Ordering::Relaxed) {
            continue;
        }
        if cfg.adaptive {
            follow_estimate(&mut encoder, ctl, stats);
        }
        match encoder.encode(&frame.samples) {
            Ok(packet) => {
                stats.audio_packets.fetch_add(1, Ordering::Relaxed);
                stats.audio_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                let sample = EncodedSample {
                    data: Bytes::from(packet),
                    captured_at: frame.captured_at,
                    duration: Duration::from_millis(20),
                };
                let _ = tx.send(sample);
            }
            Err(e) => tracing::warn!(error = %e, "audio encode failed"),
        }
    }
}

/// Opus follows the estimate (16–32 kbit/s, see [`ladder::audio_bitrate`]) and tunes its in-band
/// FEC to the loss the partners report.
fn follow_estimate(encoder: &mut OpusEncoder, ctl: &SendControl, stats: &SendStats) {
    let estimate = ctl.estimate_bps.load(Ordering::Relaxed);
    let bitrate = ladder::audio_bitrate(if estimate == 0 { ladder::INITIAL_ESTIMATE_BPS } else { estimate });
    let loss = ctl.loss_pct.load(Ordering::Relaxed).min(30) as i32;
    if let Err(e) = encoder.adapt(bitrate as i32, loss) {
        tracing::debug!(error = %e, "opus rate change refused");
    }
    stats.audio_target_bps.store(bitrate, Ordering::Relaxed);
}
