//! The headless harness: real engines with synthetic camera and microphone, run through real
//! calls by scenarios that verify media really flowed and measure how fast.

pub mod analyser;
pub mod client;
pub mod echo_room;
pub mod error;
pub mod report;
pub mod scenarios;
pub mod stamps;
pub mod timeline;
mod verify;
