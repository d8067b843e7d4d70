//! A call outlives its signaling connection: a dropped socket or a restarted server (a deploy)
//! does not end it, because the media never went through the server and a resume token gets
//! the pair back.

use std::time::Duration;

use signal_server::core::CoreConfig;
use signal_server::core::resume::ResumeConfig;
use strangers_shared::{ClientMsg, LeaveReason, Mode};

use super::sim::Sim;
use crate::call::state::CallState;
use crate::engine::{Command, Event};

const SEC: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(15);

/// A server that resumes sessions; `node` tells processes apart, the secret is shared.
pub(super) fn server(node: u8) -> CoreConfig {
    let resume = ResumeConfig::new(b"deploy-secret", WINDOW, Duration::from_secs(3600), [node; 16]);
    CoreConfig { resume: Some(resume), ..CoreConfig::default() }
}

/// Clients 0 and 1 in a connected call on a server that resumes sessions.
fn call() -> Sim {
    let mut sim = Sim::with_server(2, server(1));
    sim.run(SEC / 10);
    for i in [0, 1] {
        sim.command(i, Command::Start { mode: Mode::Video, interests: vec![] });
    }
    sim.run(SEC);
    assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0), "{:?} {:?}", sim.state(0), sim.state(1));
    sim
}

fn partner_left(sim: &Sim, i: usize) -> bool {
    sim.clients[i].events.iter().any(|e| matches!(e, Event::State(CallState::PartnerLeft { .. })))
}

#[test]
fn a_dropped_signaling_connection_keeps_the_call_and_gets_it_back() {
    let mut sim = call();
    sim.drop_signaling(0, SEC);
    for _ in 0..20 {
        sim.run(SEC / 10);
        assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0), "the call stopped while signaling was down");
    }
    sim.run(SEC);
    assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0));
    assert_eq!(sim.matches(), 1, "no new match");
    assert!(!partner_left(&sim, 0) && !partner_left(&sim, 1));
    // Signaling works again: chat reaches the partner.
    sim.command(0, Command::Chat("still here".into()));
    sim.run(SEC / 10);
    assert!(sim.clients[1].events.iter().any(|e| matches!(e, Event::Chat { mine: false, .. })));
}

#[test]
fn a_server_restart_mid_call_keeps_the_call_on_both_sides() {
    let mut sim = call();
    sim.restart_server(server(2), SEC);
    for _ in 0..30 {
        sim.run(SEC / 10);
        assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0), "the call stopped during the restart");
    }
    assert!(!partner_left(&sim, 0) && !partner_left(&sim, 1));
    assert_eq!(sim.matches(), 0, "the new process paired them from their tokens, not by a match");
    assert_eq!(sim.server.stats().resumed, 2);
    sim.command(1, Command::Chat("deploy survived".into()));
    sim.run(SEC / 10);
    assert!(sim.clients[0].events.iter().any(|e| matches!(e, Event::Chat { mine: false, .. })));
    // And a second restart works with the tokens the new process gave.
    sim.restart_server(server(3), SEC);
    sim.run(3 * SEC);
    assert!(sim.in_call_with(0, 1) && sim.in_call_with(1, 0) && sim.server.stats().resumed == 2);
}

#[test]
fn away_longer_than_the_window_the_call_ends_for_both_and_both_search_again() {
    let mut sim = call();
    sim.drop_signaling(0, WINDOW + 5 * SEC);
    sim.run(WINDOW + SEC);
    assert!(partner_left(&sim, 1), "the partner heard partner_left when the window ran out");
    sim.run(5 * SEC);
    let left = sim.clients[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::State(CallState::PartnerLeft { reason: LeaveReason::Disconnected })));
    assert!(left, "back online, we learnt the call is gone");
    sim.run(2 * SEC);
    assert!(sim.in_call_with(0, 1), "both searched again and met: {:?}", sim.state(0));
}

#[test]
fn pressing_next_while_away_asks_for_no_resume() {
    let mut sim = call();
    sim.drop_signaling(0, 2 * SEC);
    sim.run(SEC / 2);
    sim.command(0, Command::Next);
    assert_eq!(sim.clients[0].resume, None, "the next connection is a new one");
    sim.run(3 * SEC);
    let hello = sim.clients[0].sent.iter().filter(|m| matches!(m, ClientMsg::Find { .. })).count();
    assert!(hello >= 2, "searched again after reconnecting");
    assert!(!sim.in_call_with(0, 1) || sim.matches() >= 2, "the old call did not silently come back");
}

#[test]
fn a_network_change_that_kills_media_and_signaling_alike_is_survived_with_the_same_partner() {
    // The answerer's network changes: its media path breaks, and its signaling connection goes
    // half-open (the server still thinks it is there). The restart offer sent to it is lost.
    for deaf in [1, 0] {
        let mut sim = call();
        sim.clients[deaf].deaf = true;
        sim.break_partner_path(deaf);
        sim.run(SEC / 2);
        // Paths work again, but a link connects only through a completed ICE restart (an offer
        // and its answer), not by itself.
        sim.paths_work = true;
        // The probe finds the dead connection, the token resumes the session on a new one, the
        // partner hears `partner_resumed` and (as offerer) offers again or (as answerer) takes the
        // new offer.
        sim.run(3 * SEC);
        for (i, j) in [(0, 1), (1, 0)] {
            assert!(sim.in_call_with(i, j), "client {deaf} deaf: {i} lost its call: {:?}", sim.state(i));
            assert!(sim.clients[i].events.iter().any(|e| matches!(e, Event::Reconnected(_))));
        }
        assert_eq!(sim.matches(), 1, "the same partner, no new match");
        assert!(!partner_left(&sim, 0) && !partner_left(&sim, 1));
    }
}
