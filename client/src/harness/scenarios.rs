//! The harness scenarios: `basic`, `skip`, `chat`, `churn` and `room`. Each drives real engines
//! through a real signal server and fills a [`Report`] with checks and measurements.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use strangers_shared::Mode;

use super::analyser::ToneRegistry;
use super::client::{ClientOptions, ClientSpec, HarnessClient, View};
use super::error::HarnessError;
use super::report::{Report, process_cpu, process_fds_and_threads, process_rss_kib};
use super::verify::{Mark, mark, verify_media};
use crate::call::state::CallState;
use crate::engine::{Command, Who};
use crate::media::audio_source::MarkerLog;

/// Settings shared by every scenario.
#[derive(Debug, Clone)]
pub struct Options {
    /// Signal server URL.
    pub server_url: String,
    /// How many clients.
    pub clients: usize,
    /// How long calls run.
    pub duration: Duration,
    /// Test-card width.
    pub width: usize,
    /// Test-card height.
    pub height: usize,
    /// Frames per second.
    pub fps: f64,
    /// A fixed H.264 bitrate; `None` adapts to the link (as the app does).
    pub bitrate_bps: Option<u32>,
    /// Grain on the test card, ±luma levels (0 for a clean card).
    pub grain: u8,
    /// How the clients reach the network.
    pub net: ClientOptions,
    /// The tone of the first client (the others' are 110 Hz apart); 440 Hz by default.
    pub tone_hz: Option<f64>,
    /// The partner's tone, when the partner is another process (`--clients 1`).
    pub partner_tone_hz: Option<f64>,
    /// The test cuts the media path during the call: wait for the engine to lose it and bring
    /// it back (ICE restart, same partner) before measuring.
    pub expect_outage: bool,
    /// `basic`: where to write the call's timeline (see [`super::timeline`]).
    pub timeline: Option<std::path::PathBuf>,
}

const SETUP: Duration = Duration::from_secs(20);
/// How long a test's cut of the media path may take, from the call's start to its recovery.
const OUTAGE: Duration = Duration::from_secs(45);

fn spawn(opts: &Options, n: usize, registry: &Arc<ToneRegistry>) -> Result<Vec<HarnessClient>, HarnessError> {
    (0..n)
        .map(|i| {
            let spec = ClientSpec {
                name: format!("client{i}"),
                server_url: opts.server_url.clone(),
                width: opts.width,
                height: opts.height,
                fps: opts.fps,
                bitrate_bps: opts.bitrate_bps,
                tone_hz: opts.tone_hz.unwrap_or(440.0) + 110.0 * i as f64,
            };
            HarnessClient::start_with(spec, registry.clone(), opts.grain, opts.net.clone()).map_err(HarnessError::Start)
        })
        .collect()
}

fn connected(v: &View) -> bool {
    v.call == Some(CallState::Connected)
}

/// Video from `who` decoded at least `n` pictures.
fn has_frames(v: &View, who: Who, n: u64) -> bool {
    v.video_from(who).is_some_and(|s| s.frames.load(Ordering::Relaxed) >= n)
}

/// Every client greets its partner by name; wait until each knows who it is talking to.
async fn greet(clients: &[HarnessClient]) -> Result<(), HarnessError> {
    for c in clients {
        c.send(Command::Chat(format!("{}{}", super::client::GREETING, c.spec.name)));
    }
    for c in clients {
        c.wait(SETUP, "the partner's greeting", |v| v.partner_name.is_some()).await?;
    }
    Ok(())
}

async fn stop_all(clients: &[HarnessClient]) {
    for c in clients {
        c.send(Command::Stop);
    }
}

/// `basic`: pairs call each other for the duration; media is verified and measured.
///
/// With one client (`--clients 1` against a shared server) the partner is another process, for
/// example in another network namespace: the client waits for it and verifies its media.
pub async fn basic(opts: &Options) -> Result<Report, HarnessError> {
    let n = if opts.clients == 1 { 1 } else { opts.clients.max(2) & !1 };
    let registry = Arc::new(ToneRegistry::default());
    if let Some(hz) = opts.partner_tone_hz {
        registry.add(hz, MarkerLog::default());
    }
    let rss_before = process_rss_kib();
    let clients = spawn(opts, n, &registry)?;
    let mut report = Report { scenario: "basic".into(), clients: n, ..Report::default() };
    for c in &clients {
        c.start_video();
    }
    for c in &clients {
        if let Err(e) = c.wait(SETUP, "a connected call", connected).await {
            // Say why, as the user would read it, before giving up.
            report.errors.extend(c.view(|v| v.errors.clone()));
            report.check(format!("{} call connected", c.spec.name), false, e.to_string());
            stop_all(&clients).await;
            return Ok(report);
        }
        c.wait(SETUP, "the first remote frame", |v| has_frames(v, Who::Partner, 1)).await?;
    }
    for c in &clients {
        let first = c.view(|v| {
            let first = v.video_from(Who::Partner).and_then(|s| s.first_frame());
            first.zip(v.matched_at).map(|(f, m)| f.saturating_duration_since(m))
        });
        report.first_frame_ms.extend(first.map(|d| d.as_secs_f64() * 1000.0));
        let conn = c.view(|v| v.connected_at.zip(v.matched_at).map(|(c, m)| c.saturating_duration_since(m)));
        report.connect_ms.extend(conn.map(|d| d.as_secs_f64() * 1000.0));
    }
    if opts.expect_outage {
        for c in &clients {
            c.wait(OUTAGE, "the media path lost and back", |v| v.recoveries >= 1).await?;
            // Measure once pictures flow again (the decoder waits for a keyframe first).
            let frames = c.view(|v| v.video_from(Who::Partner).map_or(0, |s| s.frames.load(Ordering::Relaxed)));
            c.wait(SETUP, "video after the outage", |v| has_frames(v, Who::Partner, frames + 5)).await?;
            let (left, calls, at) = c.view(|v| (v.partner_left.len(), v.calls, v.recovered_unix_ms));
            report.recovered_unix_ms.extend(at);
            report.check(
                format!("{} kept its partner", c.spec.name),
                left == 0 && calls == 1,
                format!("{calls} calls, {left} partners left through the outage"),
            );
        }
    }
    greet(&clients).await?;
    let marks: Vec<Mark> = clients.iter().map(|c| mark(&clients, c, Who::Partner)).collect();
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    super::timeline::record(&clients, opts.duration, opts.timeline.as_deref()).await?;
    let window = t0.elapsed();
    let cpu = process_cpu().zip(cpu0).map(|(a, b)| a.saturating_sub(b));
    report.calls = n.div_ceil(2);
    report.cpu_pct_per_call = cpu.map(|c| c.as_secs_f64() / window.as_secs_f64() * 100.0 / report.calls as f64);
    report.rss_per_client_kib = process_rss_kib().zip(rss_before).map(|(a, b)| (a - b) / n as f64);
    for (c, start) in clients.iter().zip(&marks) {
        verify_media(&mut report, &clients, c, Who::Partner, start, window);
        let (route, revealed) = c.view(|v| {
            let route = v.stats.get(&Who::Partner).map(|s| s.candidate.as_str().to_string());
            (route.unwrap_or_else(|| "unknown".into()), v.remote_candidate_types.iter().cloned().collect())
        });
        report.routes.push(route);
        report.remote_candidate_types.push(revealed);
        let s = c.send_stats();
        report.bytes_sent += s.video_bytes.load(Ordering::Relaxed) + s.audio_bytes.load(Ordering::Relaxed);
    }
    stop_all(&clients).await;
    Ok(report)
}

/// `skip`: four clients; in every pair one presses Next, so partners rotate. Each hop must reach
/// a new connected call, with a different partner and video, and the old peer connection must be
/// torn down.
pub async fn skip(opts: &Options, hops: usize) -> Result<Report, HarnessError> {
    let registry = Arc::new(ToneRegistry::default());
    let clients = spawn(opts, 4, &registry)?;
    let mut report = Report { scenario: "skip".into(), clients: 4, ..Report::default() };
    for c in &clients {
        c.start_video();
    }
    let mut baseline = (0, 0);
    let mut previous: Vec<String> = Vec::new();
    let mut hop_started: Option<Instant> = None;
    for hop in 0..=hops {
        for c in &clients {
            c.wait(SETUP, "a connected call", connected).await?;
        }
        greet(&clients).await?;
        for c in &clients {
            c.wait(SETUP, "video in the call", |v| has_frames(v, Who::Partner, 5)).await?;
        }
        let partners: Vec<String> =
            clients.iter().map(|c| c.view(|v| v.partner_name.clone().unwrap_or_default())).collect();
        if let Some(started) = hop_started {
            let elapsed = started.elapsed();
            report.first_frame_ms.push(elapsed.as_secs_f64() * 1000.0);
            // Nobody meets the stranger they just skipped (or were skipped by) while others wait.
            let fresh = partners.iter().zip(&previous).all(|(now, before)| now != before);
            report.check(
                format!("hop {hop}"),
                fresh,
                format!("Next → all four seeing new partners' video in {elapsed:?}: {previous:?} → {partners:?}"),
            );
        }
        if hop == 0 {
            baseline = process_fds_and_threads();
        }
        if hop == hops {
            break;
        }
        let before: Vec<(usize, usize)> = clients.iter().map(|c| c.view(|v| (v.calls, v.links_closed))).collect();
        hop_started = Some(Instant::now());
        // One side of each pair presses Next.
        for (i, c) in clients.iter().enumerate() {
            if clients.iter().position(|o| o.spec.name == partners[i]).is_some_and(|p| i < p) {
                c.send(Command::Next);
            }
        }
        for (i, c) in clients.iter().enumerate() {
            let (calls, closed) = before[i];
            c.wait(SETUP, "a new call after Next", |v| {
                v.calls > calls && connected(v) && v.links_closed > closed && v.video_from(Who::Partner).is_some()
            })
            .await?;
        }
        previous = partners;
    }
    // Measure the last call once it has settled (its first second carries the keyframe and
    // the DTLS handshake), over the scenario's duration.
    for c in &clients {
        c.wait(SETUP, "the last call settled", |v| has_frames(v, Who::Partner, 30)).await?;
    }
    let marks: Vec<Mark> = clients.iter().map(|c| mark(&clients, c, Who::Partner)).collect();
    let t0 = Instant::now();
    tokio::time::sleep(opts.duration.max(Duration::from_secs(1))).await;
    let window = t0.elapsed();
    let (fds, threads) = process_fds_and_threads();
    let live: Vec<usize> = clients.iter().map(HarnessClient::live_links).collect();
    report.check(
        "no leak across calls",
        fds <= baseline.0 + 8 && threads <= baseline.1 + 4 && live.iter().all(|&n| n == 1),
        format!(
            "after the first call {} fds / {} threads; after {} more {fds} / {threads}; live peer connections {live:?}",
            baseline.0, baseline.1, hops
        ),
    );
    for (c, start) in clients.iter().zip(&marks) {
        let (calls, closed, told) = c.view(|v| (v.calls, v.links_closed, v.partner_left.len()));
        report.calls += calls;
        report.check(
            format!("{} calls", c.spec.name),
            calls > hops && closed >= hops,
            format!("{calls} calls, {closed} peer connections torn down, told of {told} skips"),
        );
        verify_media(&mut report, &clients, c, Who::Partner, start, window);
    }
    stop_all(&clients).await;
    Ok(report)
}

/// `chat`: two clients in text mode exchange lines with typing indicators; order must hold.
pub async fn chat(opts: &Options, lines: usize) -> Result<Report, HarnessError> {
    let registry = Arc::new(ToneRegistry::default());
    let clients = spawn(opts, 2, &registry)?;
    let mut report = Report { scenario: "chat".into(), clients: 2, ..Report::default() };
    for c in &clients {
        c.send(Command::Start { mode: Mode::Text, interests: vec!["harness".into()] });
    }
    for c in &clients {
        c.wait(SETUP, "a text chat", connected).await?;
    }
    report.calls = 1;
    for (i, c) in clients.iter().enumerate() {
        let other = &clients[1 - i];
        c.send(Command::Typing(true));
        other.wait(SETUP, "typing shown", |v| v.typing == Some(true)).await?;
        for n in 0..lines {
            c.send(Command::Chat(format!("{} line {n}", c.spec.name)));
        }
        c.send(Command::Typing(false));
        other.wait(SETUP, "all lines", |v| v.chats.len() >= lines).await?;
        let got = other.view(|v| v.chats.clone());
        let want: Vec<String> = (0..lines).map(|n| format!("{} line {n}", c.spec.name)).collect();
        report.check(
            format!("{} → {}", c.spec.name, other.spec.name),
            got == want,
            format!("{} lines in order", got.len()),
        );
    }
    stop_all(&clients).await;
    Ok(report)
}

/// `churn`: rounds of clients that join, call, and vanish without saying goodbye; the survivors
/// must hear of it and find new partners.
pub async fn churn(opts: &Options, rounds: usize) -> Result<Report, HarnessError> {
    let registry = Arc::new(ToneRegistry::default());
    let mut report = Report { scenario: "churn".into(), clients: 2, ..Report::default() };
    let stayer = spawn(opts, 1, &registry)?.remove(0);
    stayer.start_video();
    for round in 0..rounds {
        let calls = stayer.view(|v| v.calls);
        let visitor = spawn(opts, 1, &registry)?.remove(0);
        visitor.start_video();
        stayer.wait(SETUP, "a call with the visitor", |v| v.calls > calls && connected(v)).await?;
        stayer.wait(SETUP, "the visitor's video", |v| has_frames(v, Who::Partner, 5)).await?;
        let left = stayer.view(|v| v.partner_left.len());
        let gone = Instant::now();
        visitor.send(Command::Abort);
        drop(visitor);
        stayer.wait(SETUP, "the visitor's departure", |v| v.partner_left.len() > left).await?;
        let noticed = gone.elapsed();
        report.check(
            format!("round {}", round + 1),
            noticed < Duration::from_secs(5),
            format!("departure noticed in {noticed:?}"),
        );
        report.calls += 1;
    }
    let searching =
        stayer.wait(SETUP, "searching again", |v| matches!(v.call, Some(CallState::Searching { .. }))).await.is_ok();
    report.check("stayer searching again", searching, "back in the queue after the last visitor");
    stop_all(&[stayer]).await;
    Ok(report)
}

/// `room`: 3–4 clients in one mesh room; everyone must receive everyone else's video and audio.
pub async fn room(opts: &Options) -> Result<Report, HarnessError> {
    let n = opts.clients.clamp(3, 4);
    let registry = Arc::new(ToneRegistry::default());
    let clients = spawn(opts, n, &registry)?;
    let mut report = Report { scenario: "room".into(), clients: n, ..Report::default() };
    let room = format!("harness-{}", rand::random::<u32>());
    for c in &clients {
        c.send(Command::JoinRoom { room: room.clone(), name: c.spec.name.clone(), capacity: Some(n as u8) });
        c.wait(SETUP, "joining the room", |v| v.room.is_some()).await?;
    }
    let others = n - 1;
    for c in &clients {
        c.wait(SETUP, "everyone's video", |v| {
            v.members.len() == others
                && v.members.iter().all(|m| has_frames(v, Who::Member(*m), 10))
                && v.tones.iter().filter(|(_, t)| t.detected_hz().is_some()).count() >= others
        })
        .await?;
    }
    report.calls = n * others / 2;
    let marks: Vec<Vec<(Who, Mark)>> = clients
        .iter()
        .map(|c| {
            let members = c.view(|v| v.members.clone());
            members.into_iter().map(|m| (Who::Member(m), mark(&clients, c, Who::Member(m)))).collect()
        })
        .collect();
    let t0 = Instant::now();
    tokio::time::sleep(opts.duration.max(Duration::from_secs(1))).await;
    let window = t0.elapsed();
    for (c, marks) in clients.iter().zip(&marks) {
        let (members, hz) =
            c.view(|v| (v.members.clone(), v.tones.iter().filter_map(|(_, t)| t.detected_hz()).collect::<Vec<f64>>()));
        let own = hz.iter().any(|h| (h - c.spec.tone_hz).abs() < 1.0);
        let mut distinct = hz.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        report.check(
            format!("{} hears everyone", c.spec.name),
            !own && distinct.len() == others,
            format!("tones {distinct:?} Hz from {} members", members.len()),
        );
        report.check(format!("{} sees everyone", c.spec.name), marks.len() == members.len(), format!("{members:?}"));
        for (who, start) in marks {
            verify_media(&mut report, &clients, c, *who, start, window);
        }
    }
    // One member leaves mid-call: the others are told and drop that link.
    let (leaver, stayers) = clients.split_last().ok_or(HarnessError::Usage("the room scenario needs clients"))?;
    let leaver_id = leaver.view(|v| v.peer_id);
    let closed_before: Vec<usize> = stayers.iter().map(|c| c.view(|v| v.links_closed)).collect();
    leaver.send(Command::Stop);
    for (c, closed) in stayers.iter().zip(closed_before) {
        c.wait(SETUP, "the member's departure", |v| v.members.len() == others - 1 && v.links_closed > closed).await?;
        let still = c.view(|v| v.members.iter().any(|m| Some(*m) == leaver_id));
        report.check(format!("{} saw the leaver go", c.spec.name), !still, format!("{} members left", others - 1));
    }
    stop_all(&clients).await;
    Ok(report)
}
