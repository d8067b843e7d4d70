//! UI tests: the real app (egui, driven by egui_kittest) with a real engine, against a real
//! signal server on 127.0.0.1:0, talking to a headless harness client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use strangers_client::app::model::{Author, Server};
use strangers_client::app::{Launch, StrangersApp};
use strangers_client::call::state::CallState;
use strangers_client::engine::Who;
use strangers_client::harness::analyser::ToneRegistry;
use strangers_client::harness::client::{ClientSpec, HarnessClient};
use strangers_shared::LeaveReason;

const CHAT_HINT: &str = "Type a message, Enter sends";

fn step_until(h: &mut Harness<'_, StrangersApp>, what: &str, pred: impl Fn(&StrangersApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !pred(h.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; status: {}",
            h.state().model().status(Instant::now())
        );
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Step the UI while waiting for the other client to see something.
fn until_other(
    h: &mut Harness<'_, StrangersApp>,
    other: &HarnessClient,
    what: &str,
    pred: impl Fn(&strangers_client::harness::client::View) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !other.view(&pred) {
        assert!(Instant::now() < deadline, "timed out waiting for the other client to see {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
}

#[test]
fn start_match_mute_camera_chat_and_next_through_the_real_ui() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(signal_server::start(signal_server::Config::local(([127, 0, 0, 1], 0).into()))).unwrap();
    let url = server.url();
    let launch = Launch { server: Some(url.clone()), fresh: true, synthetic: true, ..Launch::default() };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1180.0, 720.0))
        .build_eframe(|cc| StrangersApp::new(&cc.egui_ctx, None, &launch).expect("app starts"));
    assert_eq!(h.state().server_url(), url);
    step_until(&mut h, "the server connection", |app| matches!(app.model().server, Server::Online { .. }));

    // Start → Searching.
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "searching", |app| matches!(app.model().call, CallState::Searching { .. }));
    assert!(h.state().model().status(Instant::now()).starts_with("Looking for a stranger…"));

    // A second (headless) client arrives: both connect and the remote picture updates.
    let spec = ClientSpec {
        name: "other".into(),
        server_url: url.clone(),
        width: 320,
        height: 240,
        fps: 30.0,
        bitrate_bps: 400_000,
        tone_hz: 500.0,
    };
    let other = rt.block_on(async { HarnessClient::start(spec, Arc::new(ToneRegistry::default())) }).unwrap();
    other.start_video();
    step_until(&mut h, "connected", |app| app.model().call == CallState::Connected);
    step_until(&mut h, "remote video", |app| app.remote_uploads() >= 3);
    let uploads = h.state().remote_uploads();
    step_until(&mut h, "more remote video", |app| app.remote_uploads() >= uploads + 10);
    until_other(&mut h, &other, "our video", |v| {
        v.video_from(Who::Partner).is_some_and(|s| s.frames.load(std::sync::atomic::Ordering::Relaxed) > 5)
    });

    // Mute and camera: the partner sees the media state change.
    h.get_by_label("♪ Mute").click();
    until_other(&mut h, &other, "us muted", |v| v.media.get(&Who::Partner) == Some(&(false, true)));
    h.step(); // the accessibility tree describes the previous frame
    assert!(h.query_by_label("♪ Unmute").is_some(), "the button shows the muted state");
    h.get_by_label("Camera off").click();
    until_other(&mut h, &other, "our camera off", |v| v.media.get(&Who::Partner) == Some(&(false, false)));
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::M);
    until_other(&mut h, &other, "us unmuted by Ctrl+M", |v| v.media.get(&Who::Partner) == Some(&(true, false)));

    // Chat both ways; Enter sends.
    h.get_by(|n| n.placeholder() == Some(CHAT_HINT)).click();
    h.step();
    h.get_by(|n| n.placeholder() == Some(CHAT_HINT)).type_text("hello from the app");
    h.step();
    h.key_press(egui::Key::Enter);
    until_other(&mut h, &other, "our chat", |v| v.chats.iter().any(|c| c == "hello from the app"));
    other.send(strangers_client::engine::Command::Chat("hi app".into()));
    step_until(&mut h, "their chat", |app| {
        app.model().chat.iter().any(|l| l.author == Author::Them("Stranger".into()) && l.text == "hi app")
    });
    assert!(h.state().model().chat.iter().any(|l| l.author == Author::Me && l.text == "hello from the app"));

    // Next: the other side is told it was skipped.
    h.get_by_label("» Next").click();
    until_other(&mut h, &other, "partner_left skipped", |v| v.partner_left.contains(&LeaveReason::Skipped));
    step_until(&mut h, "searching again", |app| !app.model().in_call());

    drop(h);
    drop(other);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn keyboard_shortcuts_and_a_group_room_grid() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(signal_server::start(signal_server::Config::local(([127, 0, 0, 1], 0).into()))).unwrap();
    let url = server.url();
    let launch = Launch { server: Some(url.clone()), fresh: true, synthetic: true, ..Launch::default() };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1180.0, 720.0))
        .build_eframe(|cc| StrangersApp::new(&cc.egui_ctx, None, &launch).expect("app starts"));
    step_until(&mut h, "the server connection", |app| matches!(app.model().server, Server::Online { .. }));
    let spec = ClientSpec {
        name: "other".into(),
        server_url: url.clone(),
        width: 320,
        height: 240,
        fps: 30.0,
        bitrate_bps: 400_000,
        tone_hz: 500.0,
    };
    let other = rt.block_on(async { HarnessClient::start(spec, Arc::new(ToneRegistry::default())) }).unwrap();

    // F1 opens the help overlay with the shortcuts.
    h.key_press(egui::Key::F1);
    h.step();
    h.step();
    assert!(h.query_by_label("Keyboard shortcuts").is_some(), "F1 shows the help");
    h.key_press(egui::Key::Escape);
    h.step();
    h.step();
    assert!(h.query_by_label("Keyboard shortcuts").is_none(), "Esc closes it");

    // Ctrl+Enter starts; Esc twice skips (the first press only arms).
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::Enter);
    step_until(&mut h, "searching", |app| matches!(app.model().call, CallState::Searching { .. }));
    other.start_video();
    step_until(&mut h, "connected", |app| app.model().call == CallState::Connected);
    h.key_press(egui::Key::Escape);
    h.step();
    h.step();
    assert_eq!(h.state().model().call, CallState::Connected, "one Esc does not skip");
    assert!(h.query_by_label("Press Esc again to skip").is_some());
    h.key_press(egui::Key::Escape);
    until_other(&mut h, &other, "partner_left skipped", |v| v.partner_left.contains(&LeaveReason::Skipped));

    // A group room through the Room window; the other client joins and shows up in the grid.
    h.get_by_label("■ Stop").click();
    other.send(strangers_client::engine::Command::Stop);
    step_until(&mut h, "idle", |app| !app.model().busy());
    h.get_by_label("☎ Room…").click();
    h.step();
    h.step();
    h.get_by(|n| n.placeholder() == Some("room name")).click();
    h.step();
    h.get_by(|n| n.placeholder() == Some("room name")).type_text("book club");
    h.step();
    h.get_by_label("Group (up to 4)").click();
    h.step();
    h.get_by_label("Join").click();
    step_until(&mut h, "in the room", |app| app.model().room.is_some());
    other.send(strangers_client::engine::Command::JoinRoom {
        room: "book club".into(),
        name: "Bo".into(),
        capacity: Some(4),
    });
    step_until(&mut h, "Bo in the grid with video", |app| {
        app.model()
            .room
            .as_ref()
            .is_some_and(|(_, tiles)| tiles.len() == 1 && tiles[0].name == "Bo" && tiles[0].slot.is_some())
    });
    until_other(&mut h, &other, "our video in the room", |v| v.videos.iter().any(|s| matches!(s.from, Who::Member(_))));
    assert!(h.state().model().status(Instant::now()).contains("you and 1 other"));
    h.get_by_label("■ Stop").click();
    step_until(&mut h, "out of the room", |app| app.model().room.is_none());

    drop(h);
    drop(other);
    rt.block_on(server.shutdown()).unwrap();
}
