//! What must hold for every client after every step of a simulation.

use strangers_shared::limits::MAX_ROOM_CAPACITY;

use super::sim::Sim;
use crate::engine::Who;

/// Panic with a clear message if any invariant is broken.
pub fn check(sim: &Sim) {
    for (i, c) in sim.clients.iter().enumerate().filter(|(_, c)| !c.dead) {
        let core_links: Vec<_> = c.core.links().map(|(who, id, _)| (id, who)).collect();
        let sim_links: Vec<_> = c.links.iter().map(|(id, l)| (*id, l.who)).collect();
        assert_eq!(core_links.len(), sim_links.len(), "client {i}: the core and the task disagree on links");
        for (who, _, _) in c.core.links() {
            match who {
                Who::Partner => {
                    assert!(c.core.state().in_call(), "client {i} holds a partner link in state {:?}", c.core.state())
                }
                Who::Member(m) => {
                    assert!(c.core.members().any(|x| x == m), "client {i} holds a link to {m}, who is no member")
                }
            }
        }
        if c.core.is_idle() {
            assert!(c.links.is_empty(), "client {i} is idle with links {:?}", c.links);
        }
        let members = c.core.members().count();
        assert!(members < usize::from(MAX_ROOM_CAPACITY), "client {i} lists {members} members");
        for (id, link) in &c.links {
            let Some((j, rid)) = link.remote.filter(|_| link.connected) else { continue };
            let Some(back) = sim.clients[j].links.get(&rid) else { continue };
            if back.connected {
                assert_eq!(back.remote, Some((i, *id)), "client {i}'s link {id:?} and client {j}'s disagree");
                assert_ne!(link.offerer, back.offerer, "both ends of a link offered (or both answered)");
            }
        }
    }
}
