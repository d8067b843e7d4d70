//! Two peer links in one process, wired directly (no signal server): real ICE, DTLS-SRTP, H.264
//! and Opus on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use strangers_client::call::peer::{LinkConfig, LinkEvent, PeerLink};
use strangers_client::harness::stamps::StampProbe;
use strangers_client::media::audio_source::{AudioSink, SyntheticTone};
use strangers_client::media::probe::PictureProbe;
use strangers_client::media::receive::{RxStats, VideoOut, receive_audio, receive_video};
use strangers_client::media::send::{MediaSender, SendConfig};
use strangers_client::media::video_source::SyntheticVideo;
use strangers_client::slot::FrameSlot;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

struct Null;
impl AudioSink for Null {
    fn play(&mut self, _samples: &[f32], _at: Instant) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_links_exchange_video_and_audio() {
    let cfg = LinkConfig::loopback();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = Instant::now();
    let mut a = PeerLink::new(1, &cfg, tx.clone()).await.unwrap();
    println!("PeerLink::new took {:?}", t.elapsed());
    let mut b = PeerLink::new(2, &cfg, tx).await.unwrap();
    let media_a = MediaSender::start(
        Some(Box::new(SyntheticVideo::new(640, 480, 30.0, "a"))),
        Some(Box::new(SyntheticTone::new(440.0, 1800.0, Duration::from_millis(500)))),
        // No periodic keyframes here, so the one a PLI triggers is unmistakable.
        SendConfig { keyframe_interval: Duration::from_secs(600), ..SendConfig::default() },
    )
    .unwrap();
    let started = Instant::now();
    let offer = a.offer().await.unwrap();
    let answer = b.answer(offer).await.unwrap();
    a.accept_answer(answer).await.unwrap();
    let video_stats = Arc::new(RxStats::default());
    let stamps = Arc::new(StampProbe::default());
    let audio_stats = Arc::new(RxStats::default());
    let mut connected = 0;
    let mut remote_video = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while video_stats.frames.load(Ordering::Relaxed) < 30 {
        assert!(tokio::time::Instant::now() < deadline, "no video after 10 s");
        let next = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await;
        let Ok(Some((id, event))) = next else {
            if next.is_err() {
                continue;
            }
            panic!(
                "timed out: video packets {} frames {} errors {} audio packets {} sent frames {} bytes {}",
                video_stats.packets.load(Ordering::Relaxed),
                video_stats.frames.load(Ordering::Relaxed),
                video_stats.errors.load(Ordering::Relaxed),
                audio_stats.packets.load(Ordering::Relaxed),
                media_a.stats.video_frames.load(Ordering::Relaxed),
                media_a.stats.video_bytes.load(Ordering::Relaxed),
            );
        };

        match event {
            LinkEvent::Candidate(c) => {
                let other = if id == 1 { &mut b } else { &mut a };
                other.add_candidate(Some(c)).await.unwrap();
            }
            LinkEvent::State(RTCPeerConnectionState::Connected) => {
                connected += 1;
                println!("link {id} connected after {:?}", started.elapsed());
                if id == 1 {
                    a.start_sending(
                        Some(media_a.video.subscribe()),
                        Some(media_a.audio.subscribe()),
                        media_a.control.clone(),
                    )
                    .await
                    .unwrap();
                }
            }
            LinkEvent::Track(track) if id == 2 => {
                let kind = webrtc::media_stream::Track::kind(track.as_ref()).await;
                if kind == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video {
                    remote_video = Some(track.clone());
                    let probe = Some(stamps.clone() as Arc<dyn PictureProbe>);
                    let out = VideoOut { slot: FrameSlot::default(), rgba: false, stats: video_stats.clone(), probe };
                    tokio::spawn(receive_video(track, out));
                } else {
                    tokio::spawn(receive_audio(track, Box::new(Null), audio_stats.clone()));
                }
            }
            _ => {}
        }
    }
    let latencies = stamps.latencies();
    println!(
        "first frame after {:?}; frames {}; latencies p50 {:?}",
        video_stats.first_frame().map(|t| t - started),
        video_stats.frames.load(Ordering::Relaxed),
        latencies.get(latencies.len() / 2)
    );
    assert_eq!(connected, 2);
    assert!(stamps.stamped.load(Ordering::Relaxed) >= 30);
    assert_eq!(stamps.out_of_order.load(Ordering::Relaxed), 0);
    assert!(audio_stats.packets.load(Ordering::Relaxed) > 10, "audio arrived");

    // The receiver asks for a keyframe (PLI); the sender's encoder makes one.
    let keyframes = media_a.stats.keyframes.load(Ordering::Relaxed);
    assert_eq!(keyframes, 1, "only the first picture so far");
    let track = remote_video.unwrap();
    let ssrc = webrtc::media_stream::Track::ssrcs(track.as_ref()).await[0];
    let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
        sender_ssrc: 0,
        media_ssrc: ssrc,
    };
    track.write_rtcp(vec![Box::new(pli)]).await.unwrap();
    let asked = Instant::now();
    while media_a.stats.keyframes.load(Ordering::Relaxed) == keyframes {
        assert!(asked.elapsed() < Duration::from_secs(2), "the PLI never produced a keyframe");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("keyframe {:?} after the PLI", asked.elapsed());
    a.close().await;
    b.close().await;
}

/// An unreachable STUN server must not hold an offer or answer (and with it the engine loop)
/// for the whole gathering wait: they go out as soon as the host candidates are in, and the
/// other side still connects on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_stun_server_does_not_delay_the_offer() {
    let black_hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let stun = strangers_shared::IceServer {
        urls: vec![format!("stun:{}", black_hole.local_addr().unwrap())],
        username: None,
        credential: None,
    };
    // Host candidates are kept from strangers when a server could give another address, but
    // this server never answers: they go out after all, or there would be nothing to try.
    let cfg = LinkConfig { ice_servers: vec![stun], hide_host: true, ..LinkConfig::loopback() };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut a = PeerLink::new(1, &cfg, tx.clone()).await.unwrap();
    let mut b = PeerLink::new(2, &cfg, tx).await.unwrap();
    let t = Instant::now();
    let offer = a.offer().await.unwrap();
    let answer = b.answer(offer.clone()).await.unwrap();
    let took = t.elapsed();
    // Each side waits for the server's answer a little (see `HIDDEN_GATHER_WAIT`), then shows
    // its host candidates.
    assert!(took < Duration::from_millis(1000), "offer and answer took {took:?}");
    for sdp in [&offer, &answer] {
        assert!(sdp.contains("typ host"), "host candidates are in the description:\n{sdp}");
    }
    a.accept_answer(answer).await.unwrap();
    // No candidate is trickled here: the descriptions alone are enough to connect.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut connected = 0;
    while connected < 2 {
        assert!(Instant::now() < deadline, "no connection");
        if let Ok(Some((_, LinkEvent::State(RTCPeerConnectionState::Connected)))) =
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            connected += 1;
        }
    }
    a.close().await;
    b.close().await;
}
