//! The receiving side of media. Video: RTP → [`H264Assembler`] → a decoder thread → the
//! latest-frame slot (and an optional [`PictureProbe`]). Audio: RTP → [`JitterBuffer`] → a 20 ms playout
//! clock → Opus decode with FEC/PLC → an [`AudioSink`]. Decode problems send a PLI so the
//! sender makes a keyframe.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::assemble::H264Assembler;
use super::audio_source::{AudioSink, FRAME_SAMPLES};
use super::h264::H264Decoder;
use super::jitter::{JitterBuffer, Playout};
use super::opus_codec::OpusDecoder;
use super::probe::PictureProbe;
use crate::slot::FrameSlot;

/// Counters of one received stream.
#[derive(Debug, Default)]
pub struct RxStats {
    /// RTP packets received.
    pub packets: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Pictures decoded (video) or packets played (audio).
    pub frames: AtomicU64,
    /// Pictures that could not be decoded, or frames concealed.
    pub errors: AtomicU64,
    /// Keyframe requests (PLI) sent.
    pub keyframe_requests: AtomicU64,
    /// Size of the latest decoded picture, `width << 32 | height` (0 before the first).
    size: AtomicU64,
    first_frame: Mutex<Option<Instant>>,
}

impl RxStats {
    /// When the first picture was decoded.
    pub fn first_frame(&self) -> Option<Instant> {
        *self.first_frame.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Size of the latest decoded picture.
    pub fn picture_size(&self) -> Option<(usize, usize)> {
        let packed = self.size.load(Ordering::Relaxed);
        (packed != 0).then_some(((packed >> 32) as usize, (packed & 0xffff_ffff) as usize))
    }

    fn frame_decoded(&self, size: (usize, usize), now: Instant) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.size.store(((size.0 as u64) << 32) | (size.1 as u64 & 0xffff_ffff), Ordering::Relaxed);
        self.first_frame.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(now);
    }
}

/// Where a received video stream goes.
#[derive(Clone, Debug)]
pub struct VideoOut {
    /// Decoded pictures for display.
    pub slot: FrameSlot,
    /// Convert to RGBA for the slot (off in the headless harness, which only reads stamps).
    pub rgba: bool,
    /// Counters.
    pub stats: Arc<RxStats>,
    /// Looks at every decoded picture (the harness's stamp reader); none in the app.
    pub probe: Option<Arc<dyn PictureProbe>>,
}

/// Read a remote video track until it ends, decoding on a thread of its own.
pub async fn receive_video(track: Arc<dyn TrackRemote>, out: VideoOut) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let want_key = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let decoder = {
        let (out, want_key) = (out.clone(), want_key.clone());
        std::thread::Builder::new().name("video-decode".into()).spawn(move || decode_loop(&rx, &out, &want_key))
    };
    let mut assembler = H264Assembler::default();
    let mut last_pli: Option<Instant> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
        out.stats.packets.fetch_add(1, Ordering::Relaxed);
        out.stats.bytes.fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        let h = &packet.header;
        assembler.insert(h.sequence_number, h.timestamp, h.marker, &packet.payload);
        // One packet can complete several pictures (a late one releases those held behind it);
        // each goes to the decoder on its own so that each is shown and counted.
        while let Some(picture) = assembler.pop() {
            if tx.try_send(picture).is_err() {
                want_key.store(true, Ordering::Relaxed); // decoder behind: skip ahead to a keyframe
            }
        }
        if assembler.take_losses() > 0 {
            want_key.store(true, Ordering::Relaxed);
        }
        let due = last_pli.is_none_or(|t| t.elapsed() > Duration::from_millis(250));
        if due && want_key.swap(false, Ordering::Relaxed) {
            last_pli = Some(Instant::now());
            out.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: ssrc };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    if let Ok(handle) = decoder {
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

fn decode_loop(rx: &std::sync::mpsc::Receiver<Vec<u8>>, out: &VideoOut, want_key: &AtomicBool) {
    let mut decoder = match H264Decoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "no video decoder");
            return;
        }
    };
    while let Ok(access_unit) = rx.recv() {
        match decoder.decode(&access_unit) {
            Ok(Some(pic)) => {
                let now = Instant::now();
                out.stats.frame_decoded((pic.width, pic.height), now);
                let captured_at = out.probe.as_ref().and_then(|p| p.decoded(&pic, now));
                if out.rgba {
                    out.slot.put(pic.width, pic.height, pic.to_rgba(), captured_at);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "video decode failed; asking for a keyframe");
                out.stats.errors.fetch_add(1, Ordering::Relaxed);
                want_key.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Read a remote audio track until it ends, playing it through `sink` on a 20 ms clock.
pub async fn receive_audio(track: Arc<dyn TrackRemote>, mut sink: Box<dyn AudioSink>, stats: Arc<RxStats>) {
    let jitter = Arc::new(Mutex::new(JitterBuffer::new(2, 25)));
    let done = Arc::new(AtomicBool::new(false));
    let playout = {
        let (jitter, done, stats) = (jitter.clone(), done.clone(), stats.clone());
        tokio::spawn(async move {
            let Ok(mut decoder) = OpusDecoder::new() else { return };
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pcm = [0f32; FRAME_SAMPLES];
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let next = jitter.lock().map(|mut j| j.pop()).unwrap_or(Playout::Empty);
                let result = match next {
                    Playout::Packet(p) => decoder.decode(&p, &mut pcm),
                    Playout::Lost { next: Some(p) } => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        decoder.recover(&p, &mut pcm)
                    }
                    Playout::Lost { next: None } => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        decoder.conceal(&mut pcm)
                    }
                    Playout::Empty => continue,
                };
                if result.is_ok() {
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    sink.play(&pcm, Instant::now());
                }
            }
        })
    };
    // Aborting this task (a link teardown) drops the guard, which stops the playout clock and
    // with it the sink and decoder; otherwise each ended call would leave a ticking task behind.
    let playout = AbortOnDrop(playout);
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
        stats.packets.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        if let Ok(mut j) = jitter.lock() {
            j.push(packet.header.sequence_number, packet.payload.to_vec());
        }
    }
    done.store(true, Ordering::Relaxed);
    drop(playout);
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::h264::H264Encoder;
    use crate::media::video_source::SyntheticVideo;

    #[test]
    fn a_corrupt_bitstream_asks_for_a_keyframe_and_decoding_recovers() {
        let out = VideoOut { slot: FrameSlot::default(), rgba: true, stats: Arc::new(RxStats::default()), probe: None };
        let want_key = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let worker = {
            let (out, want_key) = (out.clone(), want_key.clone());
            std::thread::spawn(move || decode_loop(&rx, &out, &want_key))
        };
        let src = SyntheticVideo::new(320, 240, 30.0, "t");
        let mut enc = H264Encoder::new(300_000, 30.0).unwrap();
        let key = enc.encode(&src.render(0, Instant::now())).unwrap().data;
        let mut garbage = key.clone();
        for (i, b) in garbage.iter_mut().enumerate().skip(8) {
            *b = b.wrapping_mul(31).wrapping_add(i as u8);
        }
        tx.send(garbage).unwrap();
        tx.send(vec![0, 0, 0, 1, 0x41, 0xff, 0x00, 0x13]).unwrap();
        tx.send(key).unwrap();
        drop(tx);
        worker.join().unwrap();
        assert!(out.stats.errors.load(Ordering::Relaxed) >= 1, "damage was noticed");
        assert!(want_key.load(Ordering::Relaxed), "a keyframe was requested");
        assert!(out.stats.frames.load(Ordering::Relaxed) >= 1, "the keyframe decoded afterwards");
        assert!(out.slot.latest().is_some());
    }
}
