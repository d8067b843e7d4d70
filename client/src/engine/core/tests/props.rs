//! Random sequences of user commands and network faults over several engines and the real
//! server core; [`super::invariants::check`] runs after every step, and once everyone has
//! stopped, no link may be left anywhere.

use std::time::Duration;

use proptest::prelude::*;
use strangers_shared::Mode;

use super::sim::Sim;
use crate::engine::Command;

#[derive(Debug, Clone)]
enum Op {
    Start(usize, bool),
    Next(usize),
    Stop(usize),
    Join(usize, u8),
    DropSignaling(usize, u64),
    BreakPaths(bool),
    Wait(u64),
}

const CLIENTS: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    let who = 0..CLIENTS;
    prop_oneof![
        3 => (who.clone(), any::<bool>()).prop_map(|(i, text)| Op::Start(i, text)),
        2 => who.clone().prop_map(Op::Next),
        1 => who.clone().prop_map(Op::Stop),
        2 => (who.clone(), 0u8..2).prop_map(|(i, r)| Op::Join(i, r)),
        1 => (who, 100u64..3000).prop_map(|(i, ms)| Op::DropSignaling(i, ms)),
        1 => any::<bool>().prop_map(Op::BreakPaths),
        4 => (1u64..3000).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_commands_and_faults(
        ops in proptest::collection::vec(op(), 1..40),
        resumable in any::<bool>(),
    ) {
        // Half the runs on a server that keeps calls across dropped connections.
        let mut sim = if resumable { Sim::with_server(CLIENTS, super::resume::server(1)) } else { Sim::new(CLIENTS) };
        sim.run(Duration::from_millis(50));
        for op in ops {
            match op {
                Op::Start(i, text) => {
                    let mode = if text { Mode::Text } else { Mode::Video };
                    sim.command(i, Command::Start { mode, interests: vec![] });
                }
                Op::Next(i) => sim.command(i, Command::Next),
                Op::Stop(i) => sim.command(i, Command::Stop),
                Op::Join(i, r) => {
                    let room = format!("room{r}");
                    sim.command(i, Command::JoinRoom { room, name: format!("n{i}"), capacity: Some(3) });
                }
                Op::DropSignaling(i, ms) => sim.drop_signaling(i, Duration::from_millis(ms)),
                Op::BreakPaths(broken) => sim.paths_work = !broken,
                Op::Wait(ms) => sim.run(Duration::from_millis(ms)),
            }
            sim.run(Duration::from_millis(20));
        }
        // Everyone stops: every link everywhere must close.
        sim.paths_work = true;
        sim.run(Duration::from_secs(4));
        for i in 0..CLIENTS {
            sim.command(i, Command::Stop);
        }
        sim.run(Duration::from_secs(1));
        for (i, c) in sim.clients.iter().enumerate() {
            prop_assert!(c.links.is_empty(), "client {} kept links after Stop: {:?}", i, c.links);
            prop_assert!(c.core.links().next().is_none());
        }
    }
}
