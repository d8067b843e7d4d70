//! End-to-end: real signal server in-process on port 0, real engines with synthetic media, real
//! WebRTC on loopback. Then the failure cases.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{client, connected, heard, in_call, video_frames};
use futures_util::{SinkExt, StreamExt};
use signal_server::{Config, ServerHandle};
use strangers_client::call::state::CallState;
use strangers_client::engine::{CandidateKind, Command, Who};
use strangers_client::harness::analyser::ToneRegistry;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

/// The calls in this file run one at a time: on a 2-core machine, two media-heavy tests side by
/// side would measure CPU contention instead of the engine (the harness checks frame counts).
static CALLS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn server_on(addr: &str, stun: Vec<String>) -> ServerHandle {
    let mut cfg = Config::local(addr.parse().unwrap());
    cfg.stun = stun;
    signal_server::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_call_then_next_to_a_third_client() {
    let _turn = CALLS.lock().await;
    let srv = server_on("127.0.0.1:0", vec![]).await;
    let reg = Arc::new(ToneRegistry::default());
    let (a, b) = in_call(&srv.url(), &srv.url(), &reg, 30, WAIT).await;
    a.wait(WAIT, "b's tone", |v| heard(v, 660.0)).await.unwrap();
    b.wait(WAIT, "a's tone", |v| heard(v, 440.0)).await.unwrap();
    for c in [&a, &b] {
        let stamps = c.view(|v| v.stamps_from(Who::Partner).cloned()).unwrap();
        assert_eq!(stamps.out_of_order.load(Ordering::Relaxed), 0, "counters increase");
        assert!(stamps.stamped.load(Ordering::Relaxed) >= 30, "stamps read back from the pixels");
    }
    a.send(Command::Chat("hello b".into()));
    a.send(Command::Chat("how are you".into()));
    b.wait(WAIT, "chat", |v| v.chats.len() >= 2).await.unwrap();
    assert_eq!(b.view(|v| v.chats.clone()), ["hello b", "how are you"]);
    b.send(Command::Typing(true));
    a.wait(WAIT, "typing", |v| v.typing == Some(true)).await.unwrap();

    // Statistics arrive once a second: a direct path on one machine (host candidates, or a
    // peer-reflexive one when a connectivity check arrived before the trickled candidate),
    // frames flowing.
    a.wait(WAIT, "stats", |v| {
        v.stats.get(&Who::Partner).is_some_and(|s| {
            matches!(s.candidate, CandidateKind::Host | CandidateKind::Prflx) && s.rtt_ms.is_some() && s.fps_in > 10.0
        })
    })
    .await
    .unwrap();

    // Mute and camera off: the partner is told and the media stops; back on, it resumes.
    a.send(Command::SetMuted(true));
    a.send(Command::SetCameraOff(true));
    b.wait(WAIT, "a's media state", |v| v.media.get(&Who::Partner) == Some(&(false, false))).await.unwrap();
    let audio = b.view(|v| v.audios.last().map(|s| s.stats.clone())).unwrap();
    let (frames, packets) = (b.view(video_frames), audio.packets.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_millis(400)).await; // an absence can only be shown over time
    assert!(b.view(video_frames) <= frames + 2, "video kept coming with the camera off");
    assert!(audio.packets.load(Ordering::Relaxed) <= packets + 3, "audio kept coming while muted");
    a.send(Command::SetMuted(false));
    a.send(Command::SetCameraOff(false));
    b.wait(WAIT, "a's media back", |v| v.media.get(&Who::Partner) == Some(&(true, true))).await.unwrap();
    b.wait(WAIT, "video again", |v| video_frames(v) > frames + 5).await.unwrap();

    // A third client arrives; a presses Next and meets it (the skipper is re-queued first), b is
    // told and goes back to the queue.
    let old_stream = a.view(|v| v.video_from(Who::Partner).cloned()).unwrap();
    let old_tone = a.view(|v| v.tone_from(Who::Partner).cloned()).unwrap();
    assert_eq!((a.live_links(), b.live_links()), (1, 1), "one peer connection each");
    let c = client("c", &srv.url(), 880.0, &reg);
    c.start_video();
    c.wait(WAIT, "searching", |v| matches!(v.call, Some(CallState::Searching { .. }))).await.unwrap();
    a.send(Command::Next);
    b.wait(WAIT, "partner_left", |v| !v.partner_left.is_empty()).await.unwrap();
    a.wait(WAIT, "a new call", |v| v.calls == 2 && connected(v)).await.unwrap();
    a.wait(WAIT, "c's video", |v| video_frames(v) >= 10).await.unwrap();
    a.wait(WAIT, "c's tone", |v| heard(v, 880.0)).await.unwrap();
    assert!(a.view(|v| v.links_closed) >= 1, "the old peer connection was closed");
    // Torn down for real: b's peer connection is gone (it is alone in the queue now), a has only
    // the new one, and the old call's audio pipeline let go of its sink.
    b.wait(WAIT, "b's old peer connection closed", |_| b.live_links() == 0).await.unwrap();
    a.wait(WAIT, "only the new peer connection", |_| a.live_links() == 1).await.unwrap();
    // (Left: the view's reference and ours.)
    a.wait(WAIT, "the old audio sink dropped", |_| Arc::strong_count(&old_tone) == 2).await.unwrap();
    // Nothing arrives on the old stream any more.
    let frozen = old_stream.packets.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(old_stream.packets.load(Ordering::Relaxed), frozen, "old call still receiving");
    srv.shutdown().await.unwrap();
}

/// A raw protocol client standing in for a misbehaving partner.
async fn raw_partner(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text(r#"{"type":"find","mode":"video"}"#)).await.unwrap();
    ws
}

async fn next_of_type(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    ty: &str,
) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == ty {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_sdp_fails_the_call_cleanly_and_searching_resumes() {
    let _turn = CALLS.lock().await;
    let srv = server_on("127.0.0.1:0", vec![]).await;
    let reg = Arc::new(ToneRegistry::default());
    // The raw partner waits first, so it is the offerer.
    let mut bad = raw_partner(&srv.url()).await;
    next_of_type(&mut bad, "waiting").await;
    let a = client("a", &srv.url(), 440.0, &reg);
    a.start_video();
    assert_eq!(next_of_type(&mut bad, "matched").await["role"], "offerer");
    bad.send(Message::text(r#"{"type":"offer","sdp":"this is not SDP"}"#)).await.unwrap();
    a.wait(WAIT, "an error event", |v| v.errors.iter().any(|e| e.contains("call failed"))).await.unwrap();
    a.wait(WAIT, "failed then searching", |v| matches!(v.call, Some(CallState::Searching { .. }))).await.unwrap();
    // The engine sent `next`, so the bad partner is told.
    assert_eq!(next_of_type(&mut bad, "partner_left").await["reason"], "skipped");
    // And a proper partner still gets a working call.
    let b = client("b", &srv.url(), 660.0, &reg);
    bad.send(Message::text(r#"{"type":"stop"}"#)).await.unwrap();
    b.start_video();
    a.wait(WAIT, "a call with b", |v| connected(v) && video_frames(v) >= 5).await.unwrap();
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_vanishes_without_a_server_notice_is_noticed_within_8_s() {
    let _turn = CALLS.lock().await;
    use strangers_client::call::peer::{LinkConfig, LinkEvent, PeerLink};
    let srv = server_on("127.0.0.1:0", vec![]).await;
    let reg = Arc::new(ToneRegistry::default());
    let mut partner = raw_partner(&srv.url()).await;
    next_of_type(&mut partner, "waiting").await;
    let a = client("a", &srv.url(), 440.0, &reg);
    a.start_video();
    next_of_type(&mut partner, "matched").await;
    // The partner is a bare PeerLink on a runtime of its own, driven over the raw socket, so
    // that it can die like a crashed process while its signaling connection stays up.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let cfg = LinkConfig::loopback();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel::<(u64, LinkEvent)>();
    let (link, offer) = rt
        .spawn(async move {
            let link = PeerLink::new(1, &cfg, tx).await.unwrap();
            let offer = link.offer().await.unwrap();
            (link, offer)
        })
        .await
        .unwrap();
    partner.send(Message::text(serde_json::json!({"type":"offer","sdp":offer}).to_string())).await.unwrap();
    let answer = next_of_type(&mut partner, "answer").await["sdp"].as_str().unwrap().to_string();
    rt.spawn(async move {
        let mut link = link;
        link.accept_answer(answer).await.unwrap();
        let _keep = (link, events);
        std::future::pending::<()>().await;
    });
    a.wait(WAIT, "connected", connected).await.unwrap();
    // Now the partner's media vanishes, but its signaling connection stays up.
    rt.shutdown_background();
    let gone = Instant::now();
    // ICE notices in about 3 s and waits up to 3 s for the partner's ICE restart, which a
    // crashed client never sends.
    a.wait(Duration::from_secs(12), "partner left", |v| !v.partner_left.is_empty()).await.unwrap();
    assert!(gone.elapsed() < Duration::from_secs(8), "took {:?}", gone.elapsed());
    a.wait(WAIT, "searching again", |v| matches!(v.call, Some(CallState::Searching { .. }))).await.unwrap();
    drop(partner);
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_search_is_survived() {
    let _turn = CALLS.lock().await;
    let srv = server_on("127.0.0.1:0", vec![]).await;
    let addr = srv.addr().to_string();
    let url = srv.url();
    let reg = Arc::new(ToneRegistry::default());
    let a = client("a", &url, 440.0, &reg);
    a.start_video();
    a.wait(WAIT, "searching", |v| v.online && matches!(v.call, Some(CallState::Searching { .. }))).await.unwrap();
    srv.shutdown().await.unwrap();
    a.wait(WAIT, "the loss noticed", |v| v.server_lost >= 1).await.unwrap();
    let srv = server_on(&addr, vec![]).await;
    a.wait(WAIT, "reconnected", |v| v.online).await.unwrap();
    // It resumed searching on the new server: a newcomer meets it.
    let b = client("b", &url, 660.0, &reg);
    b.start_video();
    a.wait(WAIT, "a call after the restart", |v| connected(v) && video_frames(v) >= 5).await.unwrap();
    srv.shutdown().await.unwrap();
}

/// A server that signs resume tokens with a fixed secret, as every process of a deployment does.
async fn resuming_server_on(addr: &str) -> ServerHandle {
    let mut cfg = Config::local(addr.parse().unwrap());
    cfg.resume_secret = Some("e2e-deploy-secret".parse().unwrap());
    signal_server::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_call_does_not_end_the_call_or_stop_its_media() {
    let _turn = CALLS.lock().await;
    let srv = resuming_server_on("127.0.0.1:0").await;
    let (addr, url) = (srv.addr().to_string(), srv.url());
    let reg = Arc::new(ToneRegistry::default());
    let (a, b) = in_call(&url, &url, &reg, 20, WAIT).await;
    // A deploy: the process goes away, and a new one comes up on the same address a second later.
    srv.shutdown().await.unwrap();
    for c in [&a, &b] {
        c.wait(WAIT, "the loss noticed", |v| v.server_lost >= 1).await.unwrap();
    }
    let frames = a.view(video_frames);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.view(video_frames) > frames + 10, "video stopped while the server was down");
    let srv = resuming_server_on(&addr).await;
    for c in [&a, &b] {
        c.wait(WAIT, "reconnected", |v| v.online).await.unwrap();
    }
    // Signaling works again in the same call: chat goes through, and nobody was told anyone left.
    a.send(Command::Chat("still here after the deploy".into()));
    b.wait(WAIT, "chat after the restart", |v| v.chats.iter().any(|c| c.contains("after the deploy"))).await.unwrap();
    for c in [&a, &b] {
        assert!(c.view(|v| v.partner_left.is_empty()), "a partner_left reached a client");
        assert_eq!(c.view(|v| v.calls), 1, "a second call was set up instead of keeping the first");
        assert!(c.view(connected));
    }
    let frames = b.view(video_frames);
    b.wait(WAIT, "video still flowing", |v| video_frames(v) > frames + 10).await.unwrap();
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_stun_server_does_not_stall_the_call() {
    let _turn = CALLS.lock().await;
    // A UDP port that swallows everything: STUN requests never get an answer.
    let black_hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let stun = format!("stun:{}", black_hole.local_addr().unwrap());
    let srv = server_on("127.0.0.1:0", vec![stun]).await;
    let reg = Arc::new(ToneRegistry::default());
    let a = client("a", &srv.url(), 440.0, &reg);
    let b = client("b", &srv.url(), 660.0, &reg);
    a.start_video();
    b.start_video();
    let started = Instant::now();
    for c in [&a, &b] {
        c.wait(WAIT, "connected on host candidates", |v| connected(v) && video_frames(v) >= 1).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    srv.shutdown().await.unwrap();
}

async fn run_scenario(name: &str) -> strangers_client::harness::report::Report {
    use strangers_client::harness::scenarios::{self, Options};
    let srv = server_on("127.0.0.1:0", vec![]).await;
    let opts = Options {
        server_url: srv.url(),
        clients: 4,
        duration: Duration::from_secs(2),
        width: 320,
        height: 240,
        fps: 30.0,
        bitrate_bps: Some(300_000),
        grain: 0,
        net: Default::default(),
        tone_hz: None,
        partner_tone_hz: None,
        expect_outage: false,
        timeline: None,
    };
    let report = match name {
        "skip" => scenarios::skip(&opts, 4).await,
        "chat" => scenarios::chat(&opts, 5).await,
        "churn" => scenarios::churn(&opts, 3).await,
        "room" => scenarios::room(&opts).await,
        _ => scenarios::basic(&opts).await,
    }
    .unwrap();
    srv.shutdown().await.unwrap();
    println!("{}", report.table());
    assert!(report.passed(), "{}", report.table());
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_skip_rotates_partners_without_leaking() {
    let _turn = CALLS.lock().await;
    let r = run_scenario("skip").await;
    assert!(r.checks.iter().any(|(n, ok, _)| n == "no leak across calls" && *ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_chat_keeps_order() {
    let _turn = CALLS.lock().await;
    run_scenario("chat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_churn_survives_vanishing_visitors() {
    let _turn = CALLS.lock().await;
    run_scenario("churn").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_room_of_four_hears_and_sees_everyone() {
    let _turn = CALLS.lock().await;
    run_scenario("room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_basic_two_pairs() {
    let _turn = CALLS.lock().await;
    let r = run_scenario("basic").await;
    assert_eq!(r.calls, 2);
    assert!(!r.glass_ms.is_empty() && !r.audio_ms.is_empty());
}
