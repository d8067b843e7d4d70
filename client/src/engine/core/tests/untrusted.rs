//! What a stranger can make the core do through the relay: nothing outside its own pair, and
//! nothing that grows without bound. (A partner once could add `"from": N` to a relayed offer and
//! have the engine open a new peer connection per forged member: 300 offers, 300 connections.)

use std::time::Instant;

use serde_json::json;
use strangers_shared::{Member, Mode, PeerId, Role, RoomName, ServerMsg};

use crate::engine::core::{EngineCore, Input, LinkInput, Now, Output};
use crate::engine::{Command, Event, Who};

fn now() -> Now {
    Now { mono: Instant::now(), unix_ms: 0 }
}

fn drain(core: &mut EngineCore) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

fn feed(core: &mut EngineCore, msg: ServerMsg) -> Vec<Output> {
    core.handle(now(), Input::Server(msg));
    drain(core)
}

fn opened(out: &[Output]) -> usize {
    out.iter().filter(|o| matches!(o, Output::OpenLink { .. })).count()
}

/// A core in a random video call with the given role.
fn in_call(role: Role) -> EngineCore {
    let mut core = EngineCore::new(now());
    core.handle(
        now(),
        Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: vec![], resume: None, resumed: false },
    );
    core.handle(now(), Input::Command(Command::Start { mode: Mode::Video, interests: vec![] }));
    let out = feed(
        &mut core,
        ServerMsg::Matched { role, mode: Mode::Video, common_interests: vec![], resume: None, call: None },
    );
    assert_eq!(opened(&out), 1);
    core
}

/// A TURN server this engine can relay through (UDP), with credentials.
fn turn_server() -> strangers_shared::IceServer {
    strangers_shared::IceServer {
        urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
        username: Some("u".into()),
        credential: Some("c".into()),
    }
}

fn member(id: u64) -> Member {
    Member { id: PeerId(id), name: format!("m{id}"), audio: true, video: true }
}

/// A core in mesh room "r" of capacity 4 with member 5 (we are 1, so we offer to everyone).
fn in_room() -> EngineCore {
    let mut core = EngineCore::new(now());
    core.handle(
        now(),
        Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: vec![], resume: None, resumed: false },
    );
    core.handle(now(), Input::Command(Command::JoinRoom { room: "r".into(), name: "me".into(), capacity: None }));
    let joined =
        ServerMsg::Joined { room: RoomName("r".into()), you: PeerId(1), capacity: 4, members: vec![member(5)] };
    assert_eq!(opened(&feed(&mut core, joined)), 1);
    core
}

#[test]
fn a_forged_from_between_random_partners_opens_nothing() {
    let mut core = in_call(Role::Answerer);
    for n in 0..300 {
        let out = feed(&mut core, ServerMsg::Offer { from: Some(PeerId(100 + n)), sdp: "v=0".into() });
        assert!(out.is_empty(), "a forged offer did something: {out:?}");
        let out = feed(&mut core, ServerMsg::Candidate { from: Some(PeerId(100 + n)), candidate: Some(json!({})) });
        assert!(out.is_empty());
        let out = feed(&mut core, ServerMsg::Chat { from: Some(PeerId(n)), text: "hi".into(), ts: 0 });
        assert!(out.is_empty(), "a chat line passed off as a room member's");
    }
    assert_eq!(core.links().count(), 1, "still the one link to the partner");
    // The partner itself is heard.
    let out = feed(&mut core, ServerMsg::Offer { from: None, sdp: "v=0".into() });
    assert!(matches!(out.as_slice(), [Output::ApplyOffer { .. }]), "{out:?}");
}

#[test]
fn in_a_room_only_listed_members_are_heard_and_never_more_than_it_holds() {
    let mut core = in_room();
    let out = feed(&mut core, ServerMsg::Offer { from: Some(PeerId(0)), sdp: "v=0".into() });
    assert!(out.is_empty(), "an offer from a non-member: {out:?}");
    let out = feed(&mut core, ServerMsg::Offer { from: None, sdp: "v=0".into() });
    assert!(out.is_empty(), "an offer from no one in a room");
    for id in 6..20 {
        feed(&mut core, ServerMsg::PeerJoined { room: RoomName("r".into()), peer: member(id) });
    }
    assert_eq!(core.members().count(), 3, "a room of 4 holds us and three others");
    assert_eq!(core.links().count(), 3);
    let joined_twice = ServerMsg::PeerJoined { room: RoomName("r".into()), peer: member(5) };
    assert!(feed(&mut core, joined_twice).is_empty(), "a member announced twice is one member");
}

#[test]
fn offers_go_only_to_the_answering_side_so_there_is_no_glare() {
    let mut core = in_call(Role::Offerer);
    let out = feed(&mut core, ServerMsg::Offer { from: None, sdp: "v=0".into() });
    assert!(out.is_empty(), "the offerer took an offer: {out:?}");
    let mut core = in_call(Role::Answerer);
    let out = feed(&mut core, ServerMsg::Answer { from: None, sdp: "v=0".into() });
    assert!(out.is_empty(), "the answerer took an answer: {out:?}");
    // In a room the lower id offers: we are 1, so member 5's offer is refused.
    let mut core = in_room();
    assert!(feed(&mut core, ServerMsg::Offer { from: Some(PeerId(5)), sdp: "v=0".into() }).is_empty());
}

#[test]
fn server_messages_for_a_state_we_are_not_in_are_ignored() {
    let mut core = EngineCore::new(now());
    core.handle(
        now(),
        Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: vec![], resume: None, resumed: false },
    );
    drain(&mut core);
    let out = feed(
        &mut core,
        ServerMsg::Matched {
            role: Role::Offerer,
            mode: Mode::Video,
            common_interests: vec![],
            resume: None,
            call: None,
        },
    );
    assert!(out.is_empty(), "matched while idle: {out:?}");
    let joined =
        ServerMsg::Joined { room: RoomName("x".into()), you: PeerId(1), capacity: 4, members: vec![member(2)] };
    assert!(feed(&mut core, joined).is_empty(), "joined a room we never asked for");
    let mut core = in_call(Role::Answerer);
    let out = feed(
        &mut core,
        ServerMsg::PeerLeft {
            room: RoomName("r".into()),
            peer: PeerId(9),
            reason: strangers_shared::LeaveReason::Stopped,
        },
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Event(Event::MemberLeft(_)) | Output::CloseLink { .. })));
    assert!(core.links().any(|(w, _, _)| w == Who::Partner));
}

/// A stranger never gets our host candidates when a STUN or TURN server gives us another
/// address to show; without one they are all there is. Room members are not strangers.
#[test]
fn host_candidates_are_kept_from_strangers_when_a_server_gives_another_address() {
    let stun = strangers_shared::IceServer {
        urls: vec!["stun:stun.example.org:3478".into()],
        username: None,
        credential: None,
    };
    for (servers, hidden) in [(vec![stun.clone()], true), (vec![], false)] {
        let mut core = EngineCore::new(now());
        let up = Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: servers, resume: None, resumed: false };
        core.handle(now(), up);
        core.handle(now(), Input::Command(Command::Start { mode: Mode::Video, interests: vec![] }));
        let out = feed(
            &mut core,
            ServerMsg::Matched {
                role: Role::Offerer,
                mode: Mode::Video,
                common_interests: vec![],
                resume: None,
                call: None,
            },
        );
        let hide = out.iter().find_map(|o| match o {
            Output::OpenLink { hide_host, .. } => Some(*hide_host),
            _ => None,
        });
        assert_eq!(hide, Some(hidden));
    }
    let mut core = EngineCore::new(now());
    let up = Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: vec![stun], resume: None, resumed: false };
    core.handle(now(), up);
    core.handle(now(), Input::Command(Command::JoinRoom { room: "r".into(), name: "a".into(), capacity: Some(4) }));
    let joined =
        ServerMsg::Joined { room: RoomName("r".into()), you: PeerId(1), capacity: 4, members: vec![member(5)] };
    let out = feed(&mut core, joined);
    assert!(
        out.iter().any(|o| matches!(o, Output::OpenLink { hide_host: false, .. })),
        "a room member sees host paths"
    );
}

/// Relay-only: with a TURN server every new link is told to relay; without one, Start says why it
/// cannot work instead of failing call after call.
#[test]
fn relay_only_needs_a_turn_server_and_applies_to_new_links() {
    let turn = turn_server();
    for (servers, works) in [(vec![turn], true), (vec![], false)] {
        let mut core = EngineCore::new(now());
        let up = Input::ServerUp { peer_id: PeerId(1), online: 2, ice_servers: servers, resume: None, resumed: false };
        core.handle(now(), up);
        core.handle(now(), Input::Command(Command::SetRelayOnly(true)));
        core.handle(now(), Input::Command(Command::Start { mode: Mode::Video, interests: vec![] }));
        let out = drain(&mut core);
        let searched = out.iter().any(|o| matches!(o, Output::Signal(strangers_shared::ClientMsg::Find { .. })));
        assert_eq!(searched, works);
        let said = out.iter().any(|o| matches!(o, Output::Event(Event::Error(e)) if e.contains("TURN")));
        assert_eq!(said, !works, "{out:?}");
        if works {
            let matched = ServerMsg::Matched {
                role: Role::Offerer,
                mode: Mode::Video,
                common_interests: vec![],
                resume: None,
                call: None,
            };
            let out = feed(&mut core, matched);
            assert!(out.iter().any(|o| matches!(o, Output::OpenLink { relay_only: true, .. })));
        }
    }
}

/// A call that finds no path says why when the TURN relay gave us nothing: the relay refused our
/// credentials or did not answer. With a relay candidate in hand the failure is the usual one.
#[test]
fn a_failed_call_blames_the_relay_when_it_gave_us_no_address() {
    let turn = turn_server();
    for relayed in [false, true] {
        let mut core = EngineCore::new(now());
        let up = Input::ServerUp {
            peer_id: PeerId(1),
            online: 2,
            ice_servers: vec![turn.clone()],
            resume: None,
            resumed: false,
        };
        core.handle(now(), up);
        core.handle(now(), Input::Command(Command::Start { mode: Mode::Video, interests: vec![] }));
        let matched = ServerMsg::Matched {
            role: Role::Offerer,
            mode: Mode::Video,
            common_interests: vec![],
            resume: None,
            call: None,
        };
        let out = feed(&mut core, matched);
        let id = out
            .iter()
            .find_map(|o| match o {
                Output::OpenLink { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap();
        let host = json!({"candidate": "candidate:1 1 udp 2130706431 10.1.0.2 50000 typ host", "sdpMid": "0"});
        core.handle(now(), Input::Link(id, LinkInput::LocalCandidate(host)));
        if relayed {
            let relay = json!({"candidate": "candidate:2 1 udp 16777215 203.0.113.1 49152 typ relay raddr 0.0.0.0 rport 0", "sdpMid": "0"});
            core.handle(now(), Input::Link(id, LinkInput::LocalCandidate(relay)));
        }
        drain(&mut core);
        core.handle(now(), Input::Link(id, LinkInput::Down("Failed".into())));
        let errors: Vec<String> = drain(&mut core)
            .into_iter()
            .filter_map(|o| match o {
                Output::Event(Event::Error(e)) => Some(e),
                _ => None,
            })
            .collect();
        let blamed = errors.iter().any(|e| e.contains("the relay gave us no address"));
        assert_eq!(blamed, !relayed, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("could not connect")), "{errors:?}");
    }
}

/// The server pauses a client that skips too fast (`slow_down`): the engine looks again by
/// itself once the pause is over, and not at all if the user stopped meanwhile.
#[test]
fn a_skip_pause_ends_with_a_new_search_unless_the_user_stopped() {
    use strangers_shared::{ClientMsg, ErrorCode};
    for stop in [false, true] {
        let mut core = in_call(Role::Offerer);
        let t0 = Instant::now();
        core.handle(Now { mono: t0, unix_ms: 0 }, Input::Command(Command::Next));
        drain(&mut core);
        let pause = ServerMsg::Error {
            code: ErrorCode::SlowDown,
            message: "slow".into(),
            retry_in_ms: Some(30_000),
            until_ms: None,
        };
        core.handle(Now { mono: t0, unix_ms: 0 }, Input::Server(pause));
        let out = drain(&mut core);
        assert!(out.iter().any(|o| matches!(o, Output::Event(Event::Error(e)) if e.contains("slow_down"))));
        let due = core.poll_timeout().expect("a retry is scheduled");
        assert_eq!(due, t0 + std::time::Duration::from_secs(30));
        if stop {
            core.handle(Now { mono: t0, unix_ms: 0 }, Input::Command(Command::Stop));
            drain(&mut core);
        }
        core.handle(Now { mono: due, unix_ms: 0 }, Input::Timeout);
        let finds =
            drain(&mut core).into_iter().filter(|o| matches!(o, Output::Signal(ClientMsg::Find { .. }))).count();
        assert_eq!(finds, usize::from(!stop), "stopped: {stop}");
        assert!(core.poll_timeout().is_none_or(|t| t > due), "the retry happens once");
    }
}
