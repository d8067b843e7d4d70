use std::time::{Duration, Instant};

use strangers_shared::{LeaveReason, Member, Mode, PeerId, Role};

use super::upkeep::{CONFIRM_WINDOW, TYPING_REFRESH, TYPING_STALE};
use super::*;

fn matched(common: &[&str]) -> Event {
    Event::State(CallState::Matched {
        role: Role::Offerer,
        mode: Mode::Video,
        common: common.iter().map(|s| s.to_string()).collect(),
    })
}

fn chat(text: &str, mine: bool) -> Event {
    Event::Chat { from: Who::Partner, text: text.into(), ts: 0, mine }
}

#[test]
fn status_line_follows_the_server_and_the_call() {
    let t0 = Instant::now();
    let mut m = Model::default();
    assert_eq!(m.status(t0), "Connecting to the server…");
    m.apply(Event::ServerOnline { peer_id: PeerId(1), online: 3 }, t0, "10:00");
    assert_eq!(m.status(t0), "Press Start to meet a stranger.");
    m.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "10:00");
    m.apply(Event::Waiting { online: 12, searching: 3 }, t0, "10:00");
    assert_eq!(m.status(t0 + Duration::from_secs(67)), "Looking for a stranger… 12 online, 3 searching · 1:07");
    m.apply(matched(&["music", "films"]), t0, "10:01");
    m.apply(Event::State(CallState::Connected), t0, "10:01");
    assert_eq!(m.status(t0), "Connected. You both like music, films.");
    m.apply(Event::State(CallState::PartnerLeft { reason: LeaveReason::Skipped }), t0, "10:02");
    m.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "10:02");
    assert!(m.status(t0).starts_with("Stranger skipped you. Finding someone new…"), "{}", m.status(t0));
    m.apply(Event::ServerLost { reason: "connection refused".into(), retry_in: Duration::from_secs(4) }, t0, "10:03");
    assert_eq!(m.status(t0), "Server unreachable (connection refused). Reconnecting in 4 s…");
    m.apply(Event::ServerConnecting, t0, "10:03");
    assert!(m.status(t0).starts_with("Server unreachable"), "a retry does not hide the outage");
}

#[test]
fn chat_is_cleared_for_a_new_stranger_with_system_lines_for_connects_and_leaves() {
    let t0 = Instant::now();
    let mut m = Model::default();
    assert_eq!(m.apply(matched(&[]), t0, "10:00"), Some(Effect::MatchSound));
    m.apply(Event::State(CallState::Connected), t0, "10:00");
    m.apply(Event::Typing { from: Who::Partner, active: true }, t0, "10:00");
    assert!(m.typing);
    m.apply(chat("hi", false), t0, "10:01");
    assert!(!m.typing, "a message ends the typing indicator");
    m.apply(chat("hello", true), t0, "10:01");
    m.apply(Event::State(CallState::PartnerLeft { reason: LeaveReason::Disconnected }), t0, "10:02");
    let authors: Vec<_> = m.chat.iter().map(|l| l.author.clone()).collect();
    assert_eq!(authors, vec![Author::System, Author::Them("Stranger".into()), Author::Me, Author::System]);
    assert_eq!(m.chat[1].time, "10:01");
    assert!(m.chat[3].text.starts_with("Stranger disconnected."));
    m.apply(matched(&["cats"]), t0, "10:03");
    assert!(m.chat.is_empty(), "the old conversation is gone");
    m.apply(Event::State(CallState::Connected), t0, "10:03");
    assert_eq!(m.chat[0].text, "You're now chatting with a stranger. You both like cats.");
}

#[test]
fn partner_media_state_and_room_members_are_tracked() {
    let t0 = Instant::now();
    let mut m = Model::default();
    m.apply(Event::MediaState { from: Who::Partner, audio: false, video: true }, t0, "");
    assert_eq!(m.partner_media, (false, true));
    let ann = Member { id: PeerId(7), name: "Ann".into(), audio: true, video: true };
    m.apply(Event::RoomJoined { room: "book club".into(), you: PeerId(9), members: vec![ann] }, t0, "");
    assert_eq!(m.status(t0), "Connecting to the server…");
    m.apply(Event::ServerOnline { peer_id: PeerId(9), online: 2 }, t0, "");
    assert_eq!(m.status(t0), "Room \u{201c}book club\u{201d}: you and 1 other");
    m.apply(Event::MemberJoined(Member { id: PeerId(8), name: "Bo".into(), audio: true, video: false }), t0, "");
    m.apply(Event::MediaState { from: Who::Member(PeerId(7)), audio: false, video: false }, t0, "");
    m.apply(Event::Chat { from: Who::Member(PeerId(8)), text: "yo".into(), ts: 0, mine: false }, t0, "");
    let (_, tiles) = m.room.as_ref().unwrap();
    assert_eq!(
        tiles.iter().map(|t| (t.name.as_str(), t.audio, t.video)).collect::<Vec<_>>(),
        vec![("Ann", false, false), ("Bo", true, false)]
    );
    assert_eq!(m.chat.last().unwrap().author, Author::Them("Bo".into()));
    m.apply(Event::MemberLeft(PeerId(7)), t0, "");
    assert_eq!(m.room.as_ref().unwrap().1.len(), 1);
    assert_eq!(m.chat.last().unwrap().text, "Ann left.");
    assert!(m.busy());
    m.apply(Event::RoomLeft, t0, "");
    assert!(m.room.is_none() && !m.busy());
    assert_eq!(m.chat.last().unwrap().text, "You left room \u{201c}book club\u{201d}.");
}

#[test]
fn errors_are_kept_briefly() {
    let t0 = Instant::now();
    let mut m = Model::default();
    m.apply(Event::Error("room_full".into()), t0, "");
    m.apply(Event::Error("rate_limited".into()), t0 + ERROR_SHOWN_FOR * 2, "");
    assert_eq!(m.errors.len(), 1, "stale errors are dropped");
}

#[test]
fn errors_expire_without_a_new_one_and_then_need_no_repaint() {
    let t0 = Instant::now();
    let mut m = Model::default();
    assert_eq!(m.next_error_expiry(t0), None, "nothing shown, nothing to wake for");
    m.apply(Event::Error("room_full".into()), t0, "");
    let one_sec = Duration::from_secs(1);
    m.apply(Event::Error("rate_limited".into()), t0 + one_sec, "");
    // One wake-up when the oldest banner is due to go, not a steady tick.
    assert_eq!(m.next_error_expiry(t0 + one_sec), Some(ERROR_SHOWN_FOR - one_sec));
    m.expire_errors(t0 + ERROR_SHOWN_FOR);
    assert_eq!(m.errors.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(), vec!["rate_limited"]);
    assert_eq!(m.next_error_expiry(t0 + ERROR_SHOWN_FOR), Some(one_sec));
    m.expire_errors(t0 + ERROR_SHOWN_FOR + one_sec);
    assert!(m.errors.is_empty(), "the per-frame pump drops the last one too");
    assert_eq!(m.next_error_expiry(t0 + ERROR_SHOWN_FOR * 3), None, "and the app goes quiet again");
}

#[test]
fn leaving_a_chat_yourself_adds_a_system_line() {
    let t0 = Instant::now();
    let mut m = Model::default();
    m.apply(Event::ServerOnline { peer_id: PeerId(1), online: 2 }, t0, "");
    let searching = || Event::State(CallState::Searching { mode: Mode::Video });
    m.apply(searching(), t0, "10:00");
    assert!(m.chat.is_empty(), "starting a search is not leaving anything");
    // Next: straight from the call back to searching.
    m.apply(matched(&[]), t0, "10:00");
    m.apply(Event::State(CallState::Connected), t0, "10:00");
    m.apply(Event::Typing { from: Who::Partner, active: true }, t0, "10:01");
    m.apply(searching(), t0, "10:02");
    assert_eq!(
        m.chat.last().map(|l| (&l.author, l.text.as_str(), l.time.as_str())),
        Some((&Author::System, "You left the chat.", "10:02"))
    );
    assert!(!m.typing, "no typing indicator from someone who is gone");
    assert_eq!(m.matches, 1);
    // Stop during a call.
    m.apply(matched(&[]), t0, "10:03");
    m.apply(Event::State(CallState::Connected), t0, "10:03");
    m.apply(Event::State(CallState::Idle), t0, "10:04");
    assert_eq!(m.chat.last().unwrap().text, "You left the chat.");
    // Stop while merely searching, and a stranger who leaves: no such line.
    let lines = m.chat.len();
    m.apply(searching(), t0, "10:05");
    m.apply(Event::State(CallState::Idle), t0, "10:05");
    assert_eq!(m.chat.len(), lines);
    m.apply(searching(), t0, "10:06");
    m.apply(matched(&[]), t0, "10:06");
    m.apply(Event::State(CallState::Connected), t0, "10:06");
    m.apply(Event::State(CallState::PartnerLeft { reason: LeaveReason::Stopped }), t0, "10:07");
    m.apply(searching(), t0, "10:07");
    assert!(m.chat.iter().all(|l| l.text != "You left the chat."), "{:?}", m.chat);
    // The server dropping a call is not the user leaving it.
    m.apply(matched(&[]), t0, "10:08");
    m.apply(Event::State(CallState::Connected), t0, "10:08");
    m.apply(Event::ServerLost { reason: "reset".into(), retry_in: Duration::from_secs(1) }, t0, "10:09");
    m.apply(searching(), t0, "10:09");
    assert_eq!(m.chat.last().unwrap().text, "The connection to the server dropped; the chat ended.");
}

/// Online, and in a connected call with the `n`th stranger.
fn in_call(n: u64) -> Model {
    let t0 = Instant::now();
    let mut m = Model::default();
    m.apply(Event::ServerOnline { peer_id: PeerId(1), online: 2 }, t0, "");
    for _ in 0..n {
        m.apply(matched(&[]), t0, "");
        m.apply(Event::State(CallState::Connected), t0, "");
    }
    m
}

fn kinds(effects: &[Effect], pick: fn(&Effect) -> bool) -> Vec<Effect> {
    effects.iter().copied().filter(pick).collect()
}

#[test]
fn each_connected_call_is_logged_once() {
    let t0 = Instant::now();
    let mut u = Upkeep::default();
    let logged = |e: &Effect| matches!(e, Effect::CallConnected { .. });
    let mut m = Model::default();
    assert!(kinds(&u.tick(&m, Local::default(), t0), logged).is_empty(), "no call yet");
    m.apply(matched(&[]), t0, "");
    assert!(kinds(&u.tick(&m, Local::default(), t0), logged).is_empty(), "matched is not connected");
    m.apply(Event::State(CallState::Connected), t0, "");
    assert_eq!(kinds(&u.tick(&m, Local::default(), t0), logged), vec![Effect::CallConnected { calls: 1 }]);
    assert!(kinds(&u.tick(&m, Local::default(), t0), logged).is_empty(), "once per call, not per frame");
    m.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "");
    m.apply(matched(&[]), t0, "");
    m.apply(Event::State(CallState::Connected), t0, "");
    assert_eq!(kinds(&u.tick(&m, Local::default(), t0), logged), vec![Effect::CallConnected { calls: 2 }]);
}

#[test]
fn the_camera_captures_only_when_someone_sees_the_picture() {
    let t0 = Instant::now();
    let mut u = Upkeep::default();
    let preview = |e: &Effect| matches!(e, Effect::Preview(_));
    let idle = Model::default();
    let video = Local::default();
    assert_eq!(kinds(&u.tick(&idle, video, t0), preview), vec![Effect::Preview(false)], "told once at first");
    assert!(kinds(&u.tick(&idle, video, t0), preview).is_empty(), "then only changes");
    let open = Local { devices_open: true, ..video };
    assert_eq!(kinds(&u.tick(&idle, open, t0), preview), vec![Effect::Preview(true)], "the device settings show it");
    let mut searching = Model::default();
    searching.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "");
    assert!(kinds(&u.tick(&searching, video, t0), preview).is_empty(), "still on in a search");
    let text = Local { text_mode: true, ..video };
    assert_eq!(kinds(&u.tick(&searching, text, t0), preview), vec![Effect::Preview(false)], "text chats send none");
    assert_eq!(kinds(&u.tick(&searching, video, t0), preview), vec![Effect::Preview(true)]);
    let camera_off = Local { camera_off: true, ..video };
    assert_eq!(kinds(&u.tick(&searching, camera_off, t0), preview), vec![Effect::Preview(false)]);
    assert_eq!(u.preview, Some(false), "the self-view reads what was last asked for");
}

#[test]
fn the_self_view_wakes_the_ui_unless_remote_video_does_or_the_camera_is_off() {
    let t0 = Instant::now();
    let mut u = Upkeep::default();
    let wakes = |e: &Effect| matches!(e, Effect::SelfViewWakes(_));
    let mut m = in_call(1);
    assert_eq!(kinds(&u.tick(&m, Local::default(), t0), wakes), vec![Effect::SelfViewWakes(true)]);
    m.apply(Event::RemoteVideo { from: Who::Partner, slot: FrameSlot::default(), stats: Default::default() }, t0, "");
    assert_eq!(
        kinds(&u.tick(&m, Local::default(), t0), wakes),
        vec![Effect::SelfViewWakes(false)],
        "the stranger's frames drive the repaints"
    );
    m.apply(Event::MediaState { from: Who::Partner, audio: true, video: false }, t0, "");
    assert_eq!(kinds(&u.tick(&m, Local::default(), t0), wakes), vec![Effect::SelfViewWakes(true)], "their camera off");
    let camera_off = Local { camera_off: true, ..Local::default() };
    assert_eq!(kinds(&u.tick(&m, camera_off, t0), wakes), vec![Effect::SelfViewWakes(false)], "ours off");
    // In a room, any member's playing video drives the repaints.
    let mut room = Model::default();
    let bo = Member { id: PeerId(8), name: "Bo".into(), audio: true, video: true };
    room.apply(Event::RoomJoined { room: "r".into(), you: PeerId(9), members: vec![bo] }, t0, "");
    assert_eq!(kinds(&u.tick(&room, Local::default(), t0), wakes), vec![Effect::SelfViewWakes(true)]);
    let slot = FrameSlot::default();
    room.apply(Event::RemoteVideo { from: Who::Member(PeerId(8)), slot, stats: Default::default() }, t0, "");
    assert_eq!(kinds(&u.tick(&room, Local::default(), t0), wakes), vec![Effect::SelfViewWakes(false)]);
}

#[test]
fn the_typing_indicator_is_refreshed_while_typing_and_withdrawn_when_stale() {
    let t0 = Instant::now();
    let secs = Duration::from_secs;
    let mut u = Upkeep::default();
    assert_eq!(u.typing(false, t0), None, "nothing to withdraw");
    assert_eq!(u.typing(true, t0), Some(Effect::Typing(true)));
    assert_eq!(u.typing(true, t0 + secs(1)), None, "not on every keystroke");
    assert_eq!(u.typing(true, t0 + TYPING_REFRESH), Some(Effect::Typing(true)), "refreshed every few seconds");
    let sent = t0 + TYPING_REFRESH;
    let m = in_call(1);
    let typing = |e: &Effect| matches!(e, Effect::Typing(_));
    assert!(kinds(&u.tick(&m, Local::default(), sent + TYPING_STALE), typing).is_empty(), "not stale yet");
    let stale = sent + TYPING_STALE + Duration::from_millis(1);
    assert_eq!(kinds(&u.tick(&m, Local::default(), stale), typing), vec![Effect::Typing(false)]);
    assert!(kinds(&u.tick(&m, Local::default(), stale + secs(1)), typing).is_empty(), "withdrawn once");
    assert_eq!(u.typing(true, stale), Some(Effect::Typing(true)), "typing again says so at once");
    assert_eq!(u.typing(false, stale), Some(Effect::Typing(false)), "sending the message ends it");
}

#[test]
fn esc_arms_for_one_stranger_then_skips_and_an_unconfirmed_press_lapses() {
    let t0 = Instant::now();
    let secs = Duration::from_secs;
    let mut u = Upkeep::default();
    let mut m = Model::default();
    assert_eq!(u.escape(&m, true, t0), Escape::Ignored, "idle: nobody to skip");
    m.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "");
    assert_eq!(u.escape(&m, true, t0), Escape::Ignored, "searching already looks for the next");
    assert!(!u.armed(), "and nothing is asked");

    let mut m = in_call(1);
    assert_eq!(u.escape(&m, true, t0), Escape::Armed);
    assert!(u.armed());
    assert_eq!(u.escape(&m, true, t0 + secs(1)), Escape::Skip);
    assert!(!u.armed(), "the skip uses the arming up");
    assert_eq!(u.escape(&m, false, t0), Escape::Skip, "without confirmation one press skips");

    // A first press lapses after the confirmation window, in the frame's upkeep too.
    assert_eq!(u.escape(&m, true, t0), Escape::Armed);
    u.tick(&m, Local::default(), t0 + CONFIRM_WINDOW);
    assert!(u.armed(), "still waiting at the window's end");
    u.tick(&m, Local::default(), t0 + CONFIRM_WINDOW + Duration::from_millis(1));
    assert!(!u.armed(), "lapsed");
    assert_eq!(u.escape(&m, true, t0), Escape::Armed);
    assert_eq!(u.escape(&m, true, t0 + secs(4)), Escape::Armed, "a late second press arms again");

    // The arming belongs to the stranger it was pressed for.
    m.apply(matched(&[]), t0, "");
    u.tick(&m, Local::default(), t0 + secs(4));
    assert!(!u.armed(), "a new stranger is not skipped by the old press");
    assert_eq!(u.escape(&m, true, t0), Escape::Armed);
    m.apply(Event::State(CallState::Idle), t0, "");
    u.tick(&m, Local::default(), t0);
    assert!(!u.armed(), "nor is anyone once the call is over");
}

#[test]
fn the_window_repaints_by_itself_only_while_something_ticks() {
    let t0 = Instant::now();
    let mut u = Upkeep::default();
    let mut m = Model::default();
    assert_eq!(u.repaint_in(&m, t0), Some(Duration::from_millis(500)), "connecting to the server");
    m.apply(Event::ServerOnline { peer_id: PeerId(1), online: 2 }, t0, "");
    assert_eq!(u.repaint_in(&m, t0), None, "an idle app asks for nothing");
    m.apply(Event::State(CallState::Searching { mode: Mode::Video }), t0, "");
    assert_eq!(u.repaint_in(&m, t0), Some(Duration::from_millis(100)), "the search clock and spinner");
    let mut m = in_call(1);
    assert_eq!(u.repaint_in(&m, t0), None, "a call repaints with its frames");
    u.escape(&m, true, t0);
    assert_eq!(u.repaint_in(&m, t0), Some(Duration::from_millis(500)), "the Esc prompt lapses by itself");
    u.disarm();
    m.apply(Event::Error("room_full".into()), t0, "");
    let due = ERROR_SHOWN_FOR + Duration::from_millis(20);
    assert_eq!(u.repaint_in(&m, t0), Some(due), "one repaint when the banner goes");
    m.apply(Event::ServerLost { reason: "reset".into(), retry_in: Duration::from_secs(1) }, t0, "");
    assert_eq!(u.repaint_in(&m, t0), Some(Duration::from_millis(500)), "the sooner of the two");
}
