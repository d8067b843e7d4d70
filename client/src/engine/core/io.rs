//! The core's vocabulary: what the engine task feeds it ([`Input`], [`LinkInput`]) and what it
//! asks the task to do ([`Output`], [`MediaSwitch`]). Plain data, no webrtc-rs types.

use std::time::{Duration, Instant};

use serde_json::Value;
use strangers_shared::{ClientMsg, IceServer, PeerId, ServerMsg};

use crate::call::error::CallError;
use crate::engine::{Command, Event, Who};

/// A point in time, given to the core by its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time; drives every deadline.
    pub mono: Instant,
    /// Wall-clock milliseconds since the Unix epoch; only stamps our own chat lines.
    pub unix_ms: u64,
}

/// The engine's name for one peer connection. Ids are never reused, so an event from a link
/// that was already closed is recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// What happened on a link, as the task reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkInput {
    /// Our offer (on an offering link) or answer (after [`Output::ApplyOffer`]) is ready.
    LocalDescription(String),
    /// A local ICE candidate to trickle to the other side.
    LocalCandidate(Value),
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// The connection went down (disconnected, failed or closed), with the state's name.
    Down(String),
    /// A step on the link failed (creating it, an offer, an answer).
    Failed(CallError),
}

/// Something that happened, for the core to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The user asked for something.
    Command(Command),
    /// The signaling connection is up and the server welcomed us.
    ServerUp {
        /// Our id on this connection.
        peer_id: PeerId,
        /// Connections online.
        online: u64,
        /// STUN/TURN servers for new links.
        ice_servers: Vec<IceServer>,
        /// The token that resumes this session after a later disconnect.
        resume: Option<String>,
        /// The server took our resume token: the call we were in goes on.
        resumed: bool,
    },
    /// The signaling connection is gone; the client retries after `retry_in`.
    ServerDown {
        /// Why.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// A message from the server.
    Server(ServerMsg),
    /// Something happened on a link.
    Link(LinkId, LinkInput),
    /// The time from [`EngineCore::poll_timeout`] has come.
    Timeout,
}

/// A media switch for the shared encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSwitch {
    /// Microphone off (`true`) or on.
    Muted(bool),
    /// Camera off (`true`) or on.
    CameraOff(bool),
    /// Keep capturing for the self-view while not in a call.
    Preview(bool),
    /// The next video frame should be a keyframe (a new receiver needs one).
    Keyframe,
}

/// Something the engine task must do.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send a message to the signal server.
    Signal(ClientMsg),
    /// Tell the UI.
    Event(Event),
    /// Create a peer connection for `who` with these ICE servers; if `offer`, create an offer and
    /// report it as [`LinkInput::LocalDescription`]. A failure comes back as
    /// [`LinkInput::Failed`].
    OpenLink {
        /// The new link.
        id: LinkId,
        /// Who it is with.
        who: Who,
        /// Whether we make the offer.
        offer: bool,
        /// STUN/TURN servers.
        ice_servers: Vec<IceServer>,
        /// Keep our host candidates from the other side (a stranger, with a server that gives
        /// us a reflexive or relayed address to show instead).
        hide_host: bool,
        /// Gather relay candidates only (the user hides their address).
        relay_only: bool,
    },
    /// Take the other side's offer and report our answer as [`LinkInput::LocalDescription`].
    ApplyOffer {
        /// The link.
        id: LinkId,
        /// The offer.
        sdp: String,
    },
    /// Take the other side's answer to our offer.
    ApplyAnswer {
        /// The link.
        id: LinkId,
        /// The answer.
        sdp: String,
    },
    /// Add a remote ICE candidate (`None` is end-of-candidates).
    AddCandidate {
        /// The link.
        id: LinkId,
        /// The `RTCIceCandidateInit` object.
        candidate: Option<Value>,
    },
    /// Restart ICE on the link (new credentials, new candidates) and report the new offer as
    /// [`LinkInput::LocalDescription`].
    RestartIce {
        /// The link.
        id: LinkId,
    },
    /// The link connected: send the encoders' output on it.
    StartSending {
        /// The link.
        id: LinkId,
    },
    /// Tear the link down completely; the core has already forgotten it.
    CloseLink {
        /// The link.
        id: LinkId,
        /// Who it was with.
        who: Who,
    },
    /// Switch the shared media pipeline.
    Media(MediaSwitch),
    /// Present this resume token when the signaling client next connects (`None`: connect as
    /// someone new).
    Resume(Option<String>),
    /// Check at once that the signaling connection is alive (the media path just broke, and the
    /// same network change may have killed it silently); a dead one is reconnected.
    ProbeSignaling,
    /// The user accepted this version of the terms: say so in every `hello` (and now).
    Terms(String),
}
