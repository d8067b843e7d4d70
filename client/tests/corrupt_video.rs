//! A corrupt H.264 bitstream over a real call: two peer links on loopback (real ICE, DTLS-SRTP,
//! RTP), the real send path (encoder → broadcast → pump → packetizer) carrying damaged access
//! units between real pictures, and the real receive path (assembler → decoder thread). The
//! receiver must survive it, send a PLI, and the sender's encoder must answer with a keyframe
//! after which pictures decode again.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use strangers_client::call::peer::{LinkConfig, LinkEvent, PeerLink};
use strangers_client::harness::stamps::StampProbe;
use strangers_client::media::probe::PictureProbe;
use strangers_client::media::receive::{RxStats, VideoOut, receive_video};
use strangers_client::media::send::{EncodedSample, MediaSender, SendConfig};
use strangers_client::media::video_source::SyntheticVideo;
use strangers_client::slot::FrameSlot;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

const WAIT: Duration = Duration::from_secs(10);

/// Wait until `pred` holds, failing with `what` after [`WAIT`].
async fn until(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Access units that parse as H.264 NAL units but are not a valid bitstream: a slice whose
/// header is nonsense, and a scrambled "IDR" that refers to parameter sets nobody sent.
fn garbage() -> Vec<Vec<u8>> {
    let mut idr = vec![0, 0, 0, 1, 0x65];
    idr.extend((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1));
    vec![
        vec![0, 0, 0, 1, 0x41, 0xff, 0x00, 0x13, 0xff, 0xee],
        idr,
        vec![0, 0, 0, 1, 0x41, 0x9a, 0x5c, 0x00, 0x01, 0xff],
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_bitstream_brings_a_pli_and_a_keyframe_and_decoding_resumes() {
    let cfg = LinkConfig { audio: false, ..LinkConfig::loopback() };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut a = PeerLink::new(1, &cfg, tx.clone()).await.unwrap();
    let mut b = PeerLink::new(2, &cfg, tx).await.unwrap();
    // No periodic keyframes, so any keyframe after the first answers a request.
    let send = SendConfig { keyframe_interval: Duration::from_secs(600), ..SendConfig::default() };
    let media = MediaSender::start(Some(Box::new(SyntheticVideo::new(320, 240, 30.0, "a"))), None, send).unwrap();
    // b sends video too, as every call does: a then holds a remote track as well as its own,
    // and a keyframe request from b must still reach a's encoder, not a's receiver.
    let media_b =
        MediaSender::start(Some(Box::new(SyntheticVideo::new(320, 240, 30.0, "b"))), None, SendConfig::default())
            .unwrap();
    let offer = a.offer().await.unwrap();
    let answer = b.answer(offer).await.unwrap();
    a.accept_answer(answer).await.unwrap();
    let stats = Arc::new(RxStats::default());
    let stamps = Arc::new(StampProbe::default());
    let mut receiver = None;
    let deadline = Instant::now() + WAIT;
    while stats.frames.load(Ordering::Relaxed) < 20 {
        assert!(Instant::now() < deadline, "no video: {} packets", stats.packets.load(Ordering::Relaxed));
        let Ok(Some((id, event))) = tokio::time::timeout(Duration::from_millis(20), rx.recv()).await else { continue };
        match event {
            LinkEvent::Candidate(c) => {
                let other = if id == 1 { &mut b } else { &mut a };
                other.add_candidate(Some(c)).await.unwrap();
            }
            LinkEvent::State(RTCPeerConnectionState::Connected) if id == 1 => {
                a.start_sending(Some(media.video.subscribe()), None, media.control.clone()).await.unwrap();
            }
            LinkEvent::State(RTCPeerConnectionState::Connected) if id == 2 => {
                b.start_sending(Some(media_b.video.subscribe()), None, media_b.control.clone()).await.unwrap();
            }
            LinkEvent::Track(track) if id == 2 => {
                let probe = Some(stamps.clone() as Arc<dyn PictureProbe>);
                let out = VideoOut { slot: FrameSlot::default(), rgba: true, stats: stats.clone(), probe };
                receiver = Some(tokio::spawn(receive_video(track, out)));
            }
            _ => {}
        }
    }
    let keyframes = media.stats.keyframes.load(Ordering::Relaxed);
    assert_eq!(keyframes, 1, "only the first picture so far");
    assert_eq!(stats.keyframe_requests.load(Ordering::Relaxed), 0, "a clean stream asks for nothing");

    // Damaged access units go out among the encoder's pictures, through the same pump and
    // packetizer as real ones.
    let hit = Instant::now();
    for data in garbage() {
        let sample =
            EncodedSample { data: Bytes::from(data), captured_at: Instant::now(), duration: Duration::from_millis(33) };
        media.video.send(sample).unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    until("a decode error", || stats.errors.load(Ordering::Relaxed) >= 1).await;
    until("a PLI from the receiver", || stats.keyframe_requests.load(Ordering::Relaxed) >= 1).await;
    until("a keyframe from the sender", || media.stats.keyframes.load(Ordering::Relaxed) > keyframes).await;
    println!("keyframe {:?} after the damage", hit.elapsed());
    // Decoding resumes from that keyframe, and the receive path is still alive.
    let decoded = stats.frames.load(Ordering::Relaxed);
    until("pictures after the keyframe", || stats.frames.load(Ordering::Relaxed) >= decoded + 10).await;
    assert!(receiver.as_ref().is_some_and(|r| !r.is_finished()), "the receive task survived");
    let stamped = stamps.stamped.load(Ordering::Relaxed);
    until("stamps read back again", || stamps.stamped.load(Ordering::Relaxed) >= stamped + 5).await;
    a.close().await;
    b.close().await;
}
