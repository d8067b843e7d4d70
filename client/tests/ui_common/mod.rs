//! Helpers shared by the UI tests: the real app in a kittest window, a real server, a headless
//! stranger, and stepping until something happens.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use strangers_client::app::model::Server;
use strangers_client::app::{Launch, StrangersApp};
use strangers_client::harness::analyser::ToneRegistry;
use strangers_client::harness::client::{ClientOptions, ClientSpec, HarnessClient};

pub fn other_spec(url: &str) -> ClientSpec {
    ClientSpec {
        name: "other".into(),
        server_url: url.to_string(),
        width: 320,
        height: 240,
        fps: 30.0,
        bitrate_bps: Some(400_000),
        tone_hz: 500.0,
    }
}

/// A real signal server on 127.0.0.1:0, on a runtime of its own.
pub fn real_server() -> (tokio::runtime::Runtime, signal_server::ServerHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(signal_server::start(signal_server::Config::local(([127, 0, 0, 1], 0).into()))).unwrap();
    (rt, server)
}

/// The app in a test window of the default size.
pub fn app_window(launch: &Launch) -> Harness<'static, StrangersApp> {
    let mut h = terms_window(launch);
    accept_terms_by_keyboard(&mut h);
    h
}

/// The app as it first opens, with the terms screen up.
pub fn terms_window(launch: &Launch) -> Harness<'static, StrangersApp> {
    Harness::builder()
        .with_size(egui::vec2(1180.0, 720.0))
        .build_eframe(|cc| StrangersApp::new(&cc.egui_ctx, None, launch).expect("app starts"))
}

/// Get past the first-run screen with the keyboard only: Space ticks "18 or older" (focused
/// first), Tab and Space tick the terms, Tab and Enter continue.
pub fn accept_terms_by_keyboard(h: &mut Harness<'_, StrangersApp>) {
    settle(h);
    assert!(h.query_by_label("I am 18 or older").is_some(), "the terms screen comes first");
    for key in [egui::Key::Space, egui::Key::Tab, egui::Key::Space, egui::Key::Tab, egui::Key::Enter] {
        h.key_press(key);
        h.step();
    }
    settle(h);
    assert!(h.state().settings().terms_accepted(), "accepted by keyboard");
    assert!(h.query_by_label("I am 18 or older").is_none(), "the terms screen is gone");
}

/// The app with fresh settings and the test card, against `url`, once the server welcomed it.
pub fn online_app(url: &str) -> Harness<'static, StrangersApp> {
    let launch = Launch { server: Some(url.to_string()), fresh: true, synthetic: true, ..Launch::default() };
    let mut h = app_window(&launch);
    step_until(&mut h, "the server connection", |app| matches!(app.model().server, Server::Online { .. }));
    h
}

/// The headless stranger on the other side.
pub fn other_client(rt: &tokio::runtime::Runtime, url: &str) -> HarnessClient {
    rt.block_on(async { HarnessClient::start(other_spec(url), Arc::new(ToneRegistry::default())) }).unwrap()
}

/// A headless stranger with its own network options (terms, relay).
pub fn other_client_with(rt: &tokio::runtime::Runtime, url: &str, net: ClientOptions) -> HarnessClient {
    let registry = Arc::new(ToneRegistry::default());
    rt.block_on(async { HarnessClient::start_with(other_spec(url), registry, 0, net) }).unwrap()
}

/// Whether the widget with `label` is shown disabled (as of the previous frame).
pub fn disabled(h: &Harness<'_, StrangersApp>, label: &str) -> bool {
    h.get_by_label(label).accesskit_node().is_disabled()
}

/// Step a few frames (the accessibility tree describes the previous one).
pub fn settle(h: &mut Harness<'_, StrangersApp>) {
    for _ in 0..3 {
        h.step();
    }
}

pub fn step_until(h: &mut Harness<'_, StrangersApp>, what: &str, pred: impl Fn(&StrangersApp) -> bool) {
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
pub fn until_other(
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
