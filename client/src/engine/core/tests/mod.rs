//! The engine core in virtual time: scenario tests against the server's own core, checks of
//! what an untrusted partner can do, and a property test over random command and network
//! sequences. [`invariants::check`] runs after every step of every simulation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod invariants;
mod props;
mod resume;
mod scenarios;
mod sim;
mod untrusted;
