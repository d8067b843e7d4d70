//! UI tests: the real app (egui, driven by egui_kittest) with a real engine, against a real
//! signal server on 127.0.0.1:0, talking to a headless harness client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::Queryable;
use strangers_client::app::Launch;
use strangers_client::app::embedded::DEMO_HELLO;
use strangers_client::app::model::{Author, Server};
use strangers_client::call::state::CallState;
use strangers_client::engine::Command;
use strangers_client::engine::Who;
use strangers_shared::{LeaveReason, Mode};

mod ui_common;

use ui_common::*;

const CHAT_HINT: &str = "Type a message, Enter sends";
const INTERESTS_HINT: &str = "interests, comma separated";

#[test]
fn start_match_mute_camera_chat_and_next_through_the_real_ui() {
    let (rt, server) = real_server();
    let url = server.url();
    let launch = Launch { server: Some(url.clone()), fresh: true, synthetic: true, ..Launch::default() };
    let mut h = app_window(&launch);
    assert_eq!(h.state().server_url(), url);
    assert_eq!(h.state().settings().server_url, "", "--server is for this run, not saved as the default");
    step_until(&mut h, "the server connection", |app| matches!(app.model().server, Server::Online { .. }));

    // Start → Searching. Next has nobody to skip yet.
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "searching", |app| matches!(app.model().call, CallState::Searching { .. }));
    assert!(h.state().model().status(Instant::now()).starts_with("Looking for a stranger…"));
    settle(&mut h);
    assert!(disabled(&h, "» Next"), "Next is disabled while searching");

    // A second (headless) client arrives: both connect and the remote picture updates.
    let other = other_client(&rt, &url);
    other.start_video();
    step_until(&mut h, "connected", |app| app.model().call == CallState::Connected);
    step_until(&mut h, "remote video", |app| app.remote_uploads() >= 3);
    let uploads = h.state().remote_uploads();
    step_until(&mut h, "more remote video", |app| app.remote_uploads() >= uploads + 10);
    until_other(&mut h, &other, "our video", |v| {
        v.video_from(Who::Partner).is_some_and(|s| s.frames.load(std::sync::atomic::Ordering::Relaxed) > 5)
    });
    assert!(h.state().remote_shown());
    settle(&mut h);
    assert!(!disabled(&h, "» Next"), "Next is enabled in a call");

    // The stranger turns the camera off: a placeholder, not their last picture frozen.
    other.send(Command::SetCameraOff(true));
    step_until(&mut h, "the stranger's camera off", |app| !app.model().partner_media.1);
    settle(&mut h);
    assert!(!h.state().remote_shown(), "the last remote frame is not drawn");
    assert!(h.query_by_label("The stranger's camera is off").is_some(), "the camera-off placeholder shows");
    other.send(Command::SetCameraOff(false));
    step_until(&mut h, "the stranger's picture back", |app| app.model().partner_media.1 && app.remote_shown());
    settle(&mut h);
    assert!(h.query_by_label("The stranger's camera is off").is_none());

    // The stats overlay shows the codec and frame rates.
    h.get_by_label("Stats").click();
    step_until(&mut h, "call statistics", |app| {
        app.model().stats.get(&Who::Partner).is_some_and(|s| !s.codec.is_empty())
    });
    settle(&mut h);
    let codec = h.state().model().stats[&Who::Partner].codec.clone();
    let overlay = format!("stranger: {codec}");
    assert!(h.query_by_label_contains(&overlay).is_some(), "the overlay names the codec ({codec})");
    assert!(h.query_by_label_contains("fps in").is_some(), "the overlay shows frame rates");
    assert!(h.query_by_label_contains("route: ").is_some(), "the overlay shows the route");
    h.get_by_label("Stats").click();
    settle(&mut h);
    assert!(h.query_by_label_contains("fps in").is_none(), "the toggle hides it again");

    // Mute and camera: the partner sees the media state change.
    h.get_by_label("♪ Mute").click();
    until_other(&mut h, &other, "us muted", |v| v.media.get(&Who::Partner) == Some(&(false, true)));
    h.step(); // the accessibility tree describes the previous frame
    assert!(h.query_by_label("♪ Unmute").is_some(), "the button shows the muted state");
    h.get_by_label("Camera off").click();
    until_other(&mut h, &other, "our camera off", |v| v.media.get(&Who::Partner) == Some(&(false, false)));
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::M);
    until_other(&mut h, &other, "us unmuted by Ctrl+M", |v| v.media.get(&Who::Partner) == Some(&(true, false)));
    // While the camera is off the self-view is a placeholder: no pictures are uploaded for it.
    settle(&mut h);
    let local = h.state().local_uploads();
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
    assert_eq!(h.state().local_uploads(), local, "no self-view uploads with the camera off");
    assert!(h.query_by_label("Camera off").is_some(), "the self-view says the camera is off");
    // Ctrl+E turns it back on, and the partner sees that too.
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::E);
    until_other(&mut h, &other, "our camera on by Ctrl+E", |v| v.media.get(&Who::Partner) == Some(&(true, true)));
    settle(&mut h);
    assert!(h.query_by_label("Camera off").is_some(), "the button offers to turn it off again");
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::E);
    until_other(&mut h, &other, "our camera off by Ctrl+E", |v| v.media.get(&Who::Partner) == Some(&(true, false)));

    // Chat both ways; Enter sends.
    h.get_by(|n| n.placeholder() == Some(CHAT_HINT)).click();
    h.step();
    h.get_by(|n| n.placeholder() == Some(CHAT_HINT)).type_text("hello from the app");
    h.step();
    h.key_press(egui::Key::Enter);
    until_other(&mut h, &other, "our chat", |v| v.chats.iter().any(|c| c == "hello from the app"));
    other.send(Command::Chat("hi app".into()));
    step_until(&mut h, "their chat", |app| {
        app.model().chat.iter().any(|l| l.author == Author::Them("Stranger".into()) && l.text == "hi app")
    });
    assert!(h.state().model().chat.iter().any(|l| l.author == Author::Me && l.text == "hello from the app"));

    // Next: the other side is told it was skipped, and we look for someone new (the server
    // keeps the two of us apart for a few seconds, so we stay searching).
    h.get_by_label("» Next").click();
    until_other(&mut h, &other, "partner_left skipped", |v| v.partner_left.contains(&LeaveReason::Skipped));
    step_until(&mut h, "searching again", |app| !app.model().in_call());
    assert!(
        matches!(h.state().model().call, CallState::Searching { mode: Mode::Video }),
        "the skipper searches: {:?}",
        h.state().model().call
    );
    assert_eq!(h.state().model().chat.last().map(|l| l.text.as_str()), Some("You left the chat."));
    assert!(h.state().model().status(Instant::now()).starts_with("Looking for a stranger…"));

    drop(h);
    drop(other);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn keyboard_shortcuts_and_a_group_room_grid() {
    let (rt, server) = real_server();
    let url = server.url();
    let mut h = online_app(&url);
    let other = other_client(&rt, &url);

    // Idle, Esc has nobody to skip: it neither starts anything nor asks for a second press.
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert_eq!(h.state().model().call, CallState::Idle);
    assert!(h.query_by_label("Press Esc again to skip").is_none(), "no confirmation prompt when idle");
    assert!(disabled(&h, "» Next"));

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
    h.key_press(egui::Key::Escape);
    settle(&mut h);
    assert!(h.query_by_label("Press Esc again to skip").is_none(), "nor while searching");
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
    other.send(Command::Stop);
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
    other.send(Command::JoinRoom { room: "book club".into(), name: "Bo".into(), capacity: Some(4) });
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

#[test]
fn text_mode_with_a_shared_interest() {
    let (rt, server) = real_server();
    let url = server.url();
    let mut h = online_app(&url);
    let other = other_client(&rt, &url);

    // Text mode and an interest, picked in the control bar.
    h.get_by_label("Text").click();
    h.get_by(|n| n.placeholder() == Some(INTERESTS_HINT)).click();
    h.step();
    h.get_by(|n| n.placeholder() == Some(INTERESTS_HINT)).type_text("cats, films");
    settle(&mut h);
    assert_eq!(h.state().settings().interest_tags(), vec!["cats", "films"]);
    assert!(h.state().settings().text_mode);
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "searching text", |app| app.model().call == CallState::Searching { mode: Mode::Text });

    other.send(Command::Start { mode: Mode::Text, interests: vec!["cats".into(), "dogs".into()] });
    step_until(&mut h, "connected", |app| app.model().call == CallState::Connected);
    assert_eq!(h.state().model().status(Instant::now()), "Connected. You both like cats.");
    assert_eq!(
        h.state().model().chat.first().map(|l| l.text.as_str()),
        Some("You're now chatting with a stranger. You both like cats.")
    );
    settle(&mut h);
    assert!(h.query_by_label("Text chat").is_some(), "the stage says it is a text chat");
    assert!(h.query_by_label("Text mode: no video").is_some(), "the self-view does not promise a preview");
    assert!(h.query_by_label("Preview starts with Start").is_none());

    other.send(Command::Chat("meow".into()));
    step_until(&mut h, "their chat", |app| app.model().chat.iter().any(|l| l.text == "meow"));

    drop(h);
    drop(other);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn the_demo_stranger_follows_the_apps_mode() {
    let (rt, server) = real_server();
    let url = server.url();
    let launch = Launch { server: Some(url.clone()), demo: true, fresh: true, synthetic: true, ..Launch::default() };
    let mut h = app_window(&launch);

    // --demo searches at once, in video, and meets the demo stranger.
    step_until(&mut h, "a video call with the demo stranger", |app| {
        app.model().call == CallState::Connected && app.model().chat.iter().any(|l| l.text == DEMO_HELLO)
    });

    // Stop, switch to text and start again: the demo stranger follows into the text queue.
    h.get_by_label("■ Stop").click();
    step_until(&mut h, "idle", |app| !app.model().busy());
    assert_eq!(h.state().model().chat.last().map(|l| l.text.as_str()), Some("You left the chat."));
    settle(&mut h);
    h.get_by_label("Text").click();
    settle(&mut h);
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "a text chat with the demo stranger", |app| {
        app.model().call == CallState::Connected && app.model().chat.iter().any(|l| l.text == DEMO_HELLO)
    });
    settle(&mut h);
    assert!(h.query_by_label("Text chat").is_some(), "a text chat this time");

    drop(h);
    rt.block_on(server.shutdown()).unwrap();
}

/// Privacy in Devices: "Hide my IP address" is saved and reaches the engine. Against a server
/// with no TURN relay, Start then says plainly that it cannot work instead of searching.
#[test]
fn hiding_the_ip_address_is_a_setting_that_the_engine_follows() {
    let (_rt, server) = real_server();
    let url = server.url();
    let mut h = online_app(&url);
    h.get_by_label("⚙ Devices…").click();
    settle(&mut h);
    let label = "Hide my IP address from strangers (relay all media)";
    h.get_by_label(label).click();
    settle(&mut h);
    assert!(h.state().settings().relay_only, "the choice is kept in the settings");
    h.key_press(egui::Key::Escape);
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "the reason", |app| app.model().errors.iter().any(|(_, e)| e.contains("TURN relay")));
    assert!(
        !matches!(h.state().model().call, CallState::Searching { .. }),
        "it searched although no call could connect"
    );
    // Off again: searching works.
    h.get_by_label("⚙ Devices…").click();
    settle(&mut h);
    h.get_by_label(label).click();
    settle(&mut h);
    assert!(!h.state().settings().relay_only);
    h.key_press(egui::Key::Escape);
    h.get_by_label("▶ Start").click();
    step_until(&mut h, "searching", |app| matches!(app.model().call, CallState::Searching { .. }));
}

/// Echo cancellation is on for a new install, and the switch in Devices turns it off (for
/// headphones) at once and keeps the choice.
#[test]
fn echo_cancellation_is_on_by_default_and_switches_off() {
    let (_rt, server) = real_server();
    let url = server.url();
    let mut h = online_app(&url);
    assert!(h.state().settings().echo_cancellation && h.state().echo_cancellation());
    h.get_by_label("⚙ Devices…").click();
    settle(&mut h);
    h.get_by_label("Echo cancellation").click();
    settle(&mut h);
    assert!(!h.state().settings().echo_cancellation, "the choice is kept in the settings");
    assert!(!h.state().echo_cancellation(), "the microphone path follows at once");
    h.get_by_label("Echo cancellation").click();
    settle(&mut h);
    assert!(h.state().settings().echo_cancellation && h.state().echo_cancellation());
}
