//! Whole calls in virtual time: engines, the real server core, simulated links.

use std::time::Duration;

use strangers_shared::{ClientMsg, LeaveReason, Mode};

use super::sim::Sim;
use crate::call::state::CallState;
use crate::engine::core::LinkInput;
use crate::engine::core::SETUP_DEADLINE;
use crate::engine::core::restart::{RESTART_DEADLINE, SILENCE_LIMIT};
use crate::engine::{Command, Event, Who};

const SEC: Duration = Duration::from_secs(1);

fn start(sim: &mut Sim, i: usize) {
    sim.command(i, Command::Start { mode: Mode::Video, interests: vec![] });
}

/// Clients 0 and 1 in a connected call.
fn call() -> Sim {
    let mut sim = Sim::new(2);
    sim.run(SEC / 10);
    start(&mut sim, 0);
    start(&mut sim, 1);
    sim.run(SEC);
    assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0), "{:?} {:?}", sim.state(0), sim.state(1));
    sim
}

#[test]
fn a_match_is_offered_answered_and_connected() {
    let sim = call();
    let (a, b) = (sim.links(0), sim.links(1));
    assert_eq!((a.len(), b.len()), (1, 1), "one link each");
    assert_eq!(a[0].0, Who::Partner);
    assert!(a[0].1 != b[0].1, "exactly one side offers");
    assert!(a[0].1, "the one who waited longer offers");
    let states: Vec<&Event> = sim.clients[1].events.iter().filter(|e| matches!(e, Event::State(_))).collect();
    let names: Vec<&str> =
        states.iter().filter_map(|e| if let Event::State(s) = e { Some(s.name()) } else { None }).collect();
    assert_eq!(names, ["searching", "matched", "connecting", "connected"]);
}

#[test]
fn next_on_either_side_ends_the_call_for_both_and_finds_new_partners() {
    for skipper in [0, 1] {
        let mut sim = call();
        let other = 1 - skipper;
        let c = sim.add_client();
        sim.run(SEC / 10);
        start(&mut sim, c);
        sim.run(SEC / 10);
        assert!(matches!(sim.state(c), CallState::Searching { .. }));
        sim.command(skipper, Command::Next);
        sim.run(SEC);
        assert!(sim.in_call_with(skipper, c), "the skipper meets whoever waited: {:?}", sim.state(skipper));
        assert!(sim.in_call_with(c, skipper));
        assert!(matches!(sim.state(other), CallState::Searching { .. }), "{:?}", sim.state(other));
        assert!(sim.links(other).is_empty(), "the skipped side's link is closed");
        let left = sim.clients[other]
            .events
            .iter()
            .any(|e| matches!(e, Event::State(CallState::PartnerLeft { reason: LeaveReason::Skipped })));
        assert!(left, "the skipped side heard why");
    }
}

#[test]
fn a_partner_who_vanishes_is_noticed_by_the_server_and_we_search_again() {
    let mut sim = call();
    sim.crash(1);
    sim.run(SEC / 10);
    assert!(sim.links(0).is_empty());
    assert!(matches!(sim.state(0), CallState::Searching { .. }), "{:?}", sim.state(0));
    let told = sim.clients[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::State(CallState::PartnerLeft { reason: LeaveReason::Disconnected })));
    assert!(told);
}

#[test]
fn a_link_that_dies_before_the_server_notices_is_restarted_then_given_up_and_we_skip() {
    let mut sim = call();
    // The media path breaks while signaling stays up (a dead NAT mapping) and never comes back.
    sim.paths_work = false;
    sim.link_event(0, Who::Partner, LinkInput::Down("Failed".into()));
    assert!(!sim.clients[0].sent.iter().any(|m| matches!(m, ClientMsg::Next { .. })), "no skip while restarting");
    sim.run(RESTART_DEADLINE + SEC);
    assert!(sim.clients[0].sent.iter().any(|m| matches!(m, ClientMsg::Next { .. })), "we asked for someone else");
    assert!(matches!(sim.state(0), CallState::Searching { .. }));
    assert!(sim.links(1).is_empty(), "the server told the partner");
    assert!(matches!(sim.state(1), CallState::Searching { .. }));
}

#[test]
fn server_lost_and_back_resumes_the_search_and_the_room() {
    let mut sim = call();
    for i in [0, 1] {
        sim.drop_signaling(i, SEC);
    }
    sim.run(SEC / 10);
    assert!(sim.links(0).is_empty() && sim.links(1).is_empty(), "a new connection is a new identity");
    assert!(matches!(sim.state(0), CallState::Searching { .. }));
    sim.run(2 * SEC);
    assert!(sim.in_call_with(0, 1), "both searched again on reconnect and met: {:?}", sim.state(0));

    // A room is joined again after a reconnect.
    let mut sim = Sim::new(2);
    sim.run(SEC / 10);
    for i in 0..2 {
        sim.command(i, Command::JoinRoom { room: "r".into(), name: format!("n{i}"), capacity: None });
    }
    sim.run(SEC);
    assert!(sim.links(0).iter().all(|l| l.2) && sim.links(0).len() == 1);
    sim.drop_signaling(0, SEC);
    sim.run(3 * SEC);
    assert_eq!(sim.links(0).len(), 1, "rejoined and linked again");
    assert!(sim.links(0)[0].2 && sim.links(1).len() == 1 && sim.links(1)[0].2);
}

#[test]
fn a_mesh_room_of_four_has_one_offerer_per_pair_through_joins_and_leaves() {
    let mut sim = Sim::new(4);
    sim.run(SEC / 10);
    for i in 0..4 {
        sim.command(i, Command::JoinRoom { room: "team".into(), name: format!("m{i}"), capacity: Some(4) });
        sim.run(SEC / 5);
    }
    sim.run(SEC);
    let full_mesh = |sim: &Sim, who: &[usize]| {
        for &i in who {
            let links = sim.links(i);
            assert_eq!(links.len(), who.len() - 1, "client {i}: {links:?}");
            assert!(links.iter().all(|l| l.2), "client {i}: all connected");
            for &j in who.iter().filter(|&&j| j != i) {
                let to_j = links.iter().find(|l| l.0 == Who::Member(sim.peer(j))).expect("a link to each other member");
                let back = sim.links(j).into_iter().find(|l| l.0 == Who::Member(sim.peer(i))).expect("and back");
                assert!(to_j.1 != back.1, "exactly one offerer between {i} and {j}");
                assert_eq!(to_j.1, sim.peer(i) < sim.peer(j), "the lower id offers");
            }
        }
    };
    full_mesh(&sim, &[0, 1, 2, 3]);
    sim.command(1, Command::Stop);
    sim.run(SEC);
    assert!(sim.links(1).is_empty());
    full_mesh(&sim, &[0, 2, 3]);
    let c = sim.add_client();
    sim.run(SEC / 10);
    sim.command(c, Command::JoinRoom { room: "team".into(), name: "late".into(), capacity: None });
    sim.run(SEC);
    full_mesh(&sim, &[0, 2, 3, c]);
    sim.crash(0);
    sim.run(SEC);
    full_mesh(&sim, &[2, 3, c]);
}

#[test]
fn the_setup_deadline_fails_a_call_that_never_connects_and_we_skip() {
    let mut sim = Sim::new(2);
    sim.paths_work = false;
    sim.run(SEC / 10);
    start(&mut sim, 0);
    start(&mut sim, 1);
    sim.run(SETUP_DEADLINE - SEC);
    assert!(matches!(sim.state(0), CallState::Connecting), "still trying: {:?}", sim.state(0));
    sim.run(2 * SEC);
    for i in [0, 1] {
        assert!(sim.errors(i).iter().any(|e| e.contains("could not connect within")), "{:?}", sim.errors(i));
        let failed = sim.clients[i].events.iter().any(|e| matches!(e, Event::State(CallState::Failed { .. })));
        assert!(failed, "client {i} saw the call fail");
        let failed = Some(strangers_shared::NextReason::Failed);
        assert!(sim.clients[i].sent.contains(&ClientMsg::Next { reason: failed }), "told the server why");
    }
    // Meeting again would fail again: the server keeps the two apart, even alone, for minutes.
    sim.paths_work = true;
    sim.run(30 * SEC);
    assert_eq!(sim.matches(), 1, "the pair whose call failed was matched again");
}

#[test]
fn stop_closes_everything_and_stays_idle() {
    let mut sim = call();
    sim.command(0, Command::Stop);
    sim.run(SEC);
    assert!(sim.links(0).is_empty() && sim.clients[0].core.is_idle());
    assert_eq!(sim.state(0), &CallState::Idle);
    assert!(sim.links(1).is_empty(), "the partner's link closed too");
    assert!(matches!(sim.state(1), CallState::Searching { .. }));
}

#[test]
fn a_lost_media_path_restarts_ice_and_the_call_goes_on_with_the_same_partner() {
    let mut sim = call();
    let matches = sim.matches();
    sim.break_partner_path(1);
    sim.run(3 * SEC);
    for i in [0, 1] {
        assert!(matches!(sim.state(i), CallState::Connected), "still in the call: {:?}", sim.state(i));
        assert!(sim.clients[i].events.iter().any(|e| matches!(e, Event::Reconnecting(Who::Partner))));
    }
    let offers = sim.clients[0].sent.iter().filter(|m| matches!(m, ClientMsg::Offer(_))).count();
    assert_eq!(offers, 1 + 3, "the first offer, then a restart at once and one a second while down");
    assert!(!sim.clients[1].sent.iter().any(|m| matches!(m, ClientMsg::Offer(_))), "the answerer never offers");
    sim.restore_paths();
    sim.run(SEC);
    assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0), "connected again");
    assert_eq!(sim.matches(), matches, "the same partner: no new match");
    for i in [0, 1] {
        assert!(sim.clients[i].events.iter().any(|e| matches!(e, Event::Reconnected(Who::Partner))));
        assert!(!sim.clients[i].sent.iter().any(|m| matches!(m, ClientMsg::Next { .. })), "nobody skipped");
    }
}

#[test]
fn a_path_that_never_comes_back_ends_the_call_at_the_restart_deadline() {
    let mut sim = call();
    sim.break_partner_path(0);
    sim.run(RESTART_DEADLINE - SEC);
    assert!(matches!(sim.state(0), CallState::Connected), "still trying: {:?}", sim.state(0));
    sim.run(2 * SEC);
    for i in [0, 1] {
        let left = sim.clients[i]
            .events
            .iter()
            .any(|e| matches!(e, Event::State(CallState::PartnerLeft { reason: LeaveReason::Disconnected })));
        assert!(left, "client {i} gave the call up");
        assert!(!matches!(sim.state(i), CallState::Connected));
    }
}

#[test]
fn a_frozen_partner_that_never_answers_the_restart_is_given_up_within_seconds() {
    for frozen in [0, 1] {
        let mut sim = call();
        let alive = 1 - frozen;
        sim.freeze(frozen);
        sim.paths_work = false;
        sim.link_event(alive, Who::Partner, LinkInput::Down("Disconnected".into()));
        sim.run(SILENCE_LIMIT - SEC / 2);
        assert!(matches!(sim.state(alive), CallState::Connected), "still waiting: {:?}", sim.state(alive));
        sim.run(SEC);
        assert!(
            sim.clients[alive].sent.iter().any(|m| matches!(m, ClientMsg::Next { .. })),
            "client {alive} gave up on its frozen partner {frozen} and searches again"
        );
    }
}
