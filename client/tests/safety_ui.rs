//! Safety in the real app (egui_kittest) against a real server and a headless stranger: the
//! first-run terms screen in front of Start (and a server that requires it), the blur over a new
//! stranger's video, masked words in the chat, Report and Block from the keyboard, and a ban
//! shown plainly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod ui_common;

use std::time::{Duration, Instant};

use eframe::egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use strangers_client::app::model::Server;
use strangers_client::app::{Launch, StrangersApp};
use strangers_client::call::state::CallState;
use strangers_client::engine::Command;
use strangers_client::harness::client::ClientOptions;
use strangers_shared::{LeaveReason, Mode, ReportReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ui_common::*;

const TERMS: &str = "2026-12";

fn server_with(
    tweak: impl FnOnce(&mut signal_server::Config),
) -> (tokio::runtime::Runtime, signal_server::ServerHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut cfg = signal_server::Config::local(([127, 0, 0, 1], 0).into());
    tweak(&mut cfg);
    let server = rt.block_on(signal_server::start(cfg)).unwrap();
    (rt, server)
}

/// One metric's value from the server's `/metrics`.
fn metric(rt: &tokio::runtime::Runtime, server: &signal_server::ServerHandle, name: &str) -> f64 {
    let addr = server.addr();
    let body = rt.block_on(async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = String::new();
        tcp.read_to_string(&mut buf).await.unwrap();
        buf
    });
    body.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(-1.0)
}

fn keys(h: &mut Harness<'_, StrangersApp>, keys: &[Key]) {
    for key in keys {
        h.key_press(*key);
        h.step();
    }
}

fn searching(app: &StrangersApp) -> bool {
    matches!(app.model().call, CallState::Searching { .. })
}

#[test]
fn the_terms_come_first_and_a_server_that_requires_them_matches_once_accepted() {
    let (rt, server) = server_with(|cfg| cfg.safety.require_terms = Some(TERMS.into()));
    let url = server.url();
    let launch = Launch { server: Some(url.clone()), start: true, fresh: true, synthetic: true, ..Launch::default() };
    let mut h = terms_window(&launch);
    step_until(&mut h, "the server connection", |app| matches!(app.model().server, Server::Online { .. }));
    settle(&mut h);
    assert!(disabled(&h, "Continue"), "nothing is accepted yet");
    assert!(!h.state().model().busy(), "--start waits for the terms");
    // The first box alone is not enough.
    keys(&mut h, &[Key::Space, Key::Tab, Key::Tab, Key::Enter]);
    settle(&mut h);
    assert!(!h.state().settings().terms_accepted());
    assert!(disabled(&h, "Continue"));
    keys(&mut h, &[Key::Tab, Key::Tab, Key::Space, Key::Tab, Key::Enter]);
    step_until(&mut h, "the search --start asked for", searching);
    assert_eq!(h.state().settings().accepted_terms, TERMS);

    // The stranger accepted the same terms: the server lets both search, and they meet.
    let net = ClientOptions { terms: Some(TERMS.into()), ..ClientOptions::default() };
    let other = other_client_with(&rt, &url, net);
    other.send(Command::Start { mode: Mode::Video, interests: Vec::new() });
    step_until(&mut h, "a call", |app| app.model().call == CallState::Connected);
    drop(h);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn blur_reveal_masked_chat_and_a_report_made_with_the_keyboard() {
    let (rt, server) = server_with(|_| {});
    let url = server.url();
    let mut h = online_app(&url);
    assert!(h.state().settings().blur_new, "on for a new install");
    h.get_by_label("▶ Start").click();
    let other = other_client(&rt, &url);
    other.start_video();
    step_until(&mut h, "connected", |app| app.model().call == CallState::Connected);
    step_until(&mut h, "the stranger's picture", |app| app.remote_uploads() >= 3 && app.remote_shown());
    settle(&mut h);
    assert!(h.state().remote_blurred());
    let reveal = "The stranger's video is blurred.\nClick (or Ctrl+U) to show it.";
    assert!(h.query_by_label(reveal).is_some());
    h.key_press_modifiers(Modifiers::CTRL, Key::U);
    settle(&mut h);
    assert!(!h.state().remote_blurred(), "Ctrl+U reveals (the smoke test clicks)");
    assert!(h.query_by_label(reveal).is_none());

    other.send(Command::Chat("what the fuck is this".into()));
    step_until(&mut h, "the stranger's line", |app| app.model().chat.iter().any(|l| l.text.contains("fuck")));
    settle(&mut h);
    assert!(h.query_by_label("what the f*** is this").is_some(), "shown masked");

    // Ctrl+R opens Report on the first reason; Tab Space picks the second (harassment); five
    // Tabs reach "attach the chat", Space ticks it, Tab Enter sends.
    h.key_press_modifiers(Modifiers::CTRL, Key::R);
    settle(&mut h);
    keys(&mut h, &[Key::Tab, Key::Space, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Space]);
    keys(&mut h, &[Key::Tab, Key::Enter]);
    step_until(&mut h, "the thanks", |app| app.model().chat.iter().any(|l| l.text.starts_with("Thanks.")));
    assert!(searching(h.state()), "reporting skipped the stranger");
    until_other(&mut h, &other, "being skipped", |v| v.partner_left.contains(&LeaveReason::Skipped));
    assert_eq!(metric(&rt, &server, "strangers_reports_total{reason=\"harassment\"}"), 1.0);
    // Blocked: alone together in the queue past the rematch cooldown, they do not meet again.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(searching(h.state()), "a reported stranger is never met again");
    drop(h);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn block_from_the_keyboard_and_a_ban_shown_plainly() {
    // One report bans here, so that one stranger's report is enough to see what a ban looks like.
    let (rt, server) = server_with(|cfg| cfg.safety.ban_reports = 1);
    let url = server.url();
    let mut h = online_app(&url);
    h.get_by_label("Text").click();
    settle(&mut h);
    h.get_by_label("▶ Start").click();
    let other = other_client(&rt, &url);
    other.send(Command::Start { mode: Mode::Text, interests: Vec::new() });
    step_until(&mut h, "a text chat", |app| app.model().call == CallState::Connected);
    h.key_press_modifiers(Modifiers::CTRL, Key::B);
    step_until(&mut h, "blocked", |app| app.model().chat.iter().any(|l| l.text.starts_with("Blocked.")));
    until_other(&mut h, &other, "being skipped", |v| v.partner_left.contains(&LeaveReason::Skipped));
    settle(&mut h);
    assert!(disabled(&h, "⚑ Report"), "this stranger was dealt with");

    // The stranger reports us back (its last partner): we are banned, told so, and idle.
    other.send(Command::Report { reason: ReportReason::Spam, text: None, chat: Vec::new(), call: None });
    step_until(&mut h, "the ban", |app| app.model().safety.banned_until.is_some());
    step_until(&mut h, "idle", |app| !app.model().busy());
    settle(&mut h);
    let shown = h
        .query_all_by(|n| {
            let text = n.label().or_else(|| n.value()).unwrap_or_default();
            text.contains("can't meet strangers until")
        })
        .count();
    assert!(shown >= 1, "the ban is shown in words");
    assert!(disabled(&h, "▶ Start"), "Start waits for the ban to end");
    h.key_press_modifiers(Modifiers::CTRL, Key::Enter);
    settle(&mut h);
    assert!(!h.state().model().busy(), "nor does Ctrl+Enter search");
    drop(h);
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn the_safety_settings_turn_blur_and_masking_off_and_are_kept() {
    let (_rt, server) = server_with(|_| {});
    let mut h = online_app(&server.url());
    h.get_by_label("⚑ Safety…").click();
    settle(&mut h);
    h.get_by_label("Blur a new stranger's video until I click it").click();
    h.get_by_label("Mask offensive words in the stranger's chat").click();
    settle(&mut h);
    let s = h.state().settings();
    assert!(!s.blur_new && !s.mask_words, "both kept in the settings");
    assert!(!h.state().remote_blurred());
    // Esc closes the window, as every other.
    h.key_press(Key::Escape);
    settle(&mut h);
    assert!(h.query_by_label("Restore the default list").is_none());
}
