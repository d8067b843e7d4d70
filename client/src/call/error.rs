//! Why a call step failed: plain data, shared by the engine core (which decides what a failure
//! means) and the peer connection code (which reports it).

use std::time::Duration;

/// Why a call step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// WebRTC refused something (bad SDP, bad candidate, closed connection…).
    #[error("webrtc: {0}")]
    WebRtc(String),
    /// A candidate from the partner did not parse.
    #[error("bad candidate from partner: {0}")]
    BadCandidate(String),
    /// The connection was not established in time (no answer, or ICE never succeeded).
    #[error("could not connect within {0:?}: no network path between you and the stranger was found")]
    SetupTimeout(Duration),
    /// ICE or DTLS failed before media ever flowed.
    #[error("could not connect: no network path between you and the stranger ({0})")]
    NeverConnected(String),
    /// No direct path worked, and the TURN relay that could have carried the call gave us no
    /// address: it refused our credentials (wrong secret, expired) or did not answer.
    /// webrtc-rs 0.21.1 reports neither apart, so neither do we.
    #[error(
        "could not connect: no path between you and the stranger; the relay gave us no address \
         (it refused our credentials or did not answer)"
    )]
    RelayUnavailable,
    /// Relay-only mode is on, but the signal server offers no TURN relay to go through.
    #[error("relay-only mode needs a TURN relay, and the signal server offers none")]
    NoRelay,
}
