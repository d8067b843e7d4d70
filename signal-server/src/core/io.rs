//! The core's vocabulary: its configuration, what the network layer feeds it ([`Input`], each
//! stamped with a [`Now`]) and what it asks the network layer to do ([`Output`]).

use std::time::Duration;

use bytes::Bytes;
use std::net::IpAddr;

use strangers_shared::{DecodeError, IceServer, PeerId};

use super::ratelimit::RateLimit;
use super::safety::{Keyer, SafetyConfig, StoreOp};
use super::{resume, turn};
use strangers_shared::ClientMsg;

/// A point in time, given to the core by its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// Monotonic time since an arbitrary start; drives timers and rate limits.
    pub mono: Duration,
    /// Wall-clock milliseconds since the Unix epoch; only used to stamp chat messages.
    pub unix_ms: u64,
}

/// The text of one WebSocket frame, shared cheaply between recipients. Always valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFrame(Bytes);

impl TextFrame {
    /// A frame holding `text`.
    pub fn text(text: String) -> Self {
        Self(Bytes::from(text))
    }

    /// A frame from bytes the caller already knows are UTF-8 (such as a WebSocket text frame).
    /// Nothing unsafe rests on this: the way out validates again.
    pub(crate) fn from_trusted_utf8(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        // Every constructor takes text or bytes already known to be UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The frame's bytes (valid UTF-8).
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Tunables of the core. [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a searcher with interests waits for a common interest before anyone will do.
    pub interest_fallback: Duration,
    /// How long two peers who just parted by Next are kept apart even when nobody else is
    /// waiting. While anyone else waits in their mode they are kept apart regardless.
    pub rematch_cooldown: Duration,
    /// How long two peers whose call could not be connected (`next` with reason `failed`) are
    /// kept apart, even when nobody else is waiting.
    pub failed_cooldown: Duration,
    /// How often a searcher gets a `waiting` update.
    pub waiting_interval: Duration,
    /// Capacity of a mesh room when the creator does not ask for one.
    pub room_capacity: u8,
    /// Largest capacity a creator may ask for.
    pub max_room_capacity: u8,
    /// Per-connection message rate limit.
    pub rate: RateLimit,
    /// STUN servers (or TURN servers with fixed credentials) announced in `welcome`.
    pub ice_servers: Vec<IceServer>,
    /// TURN servers announced in `welcome` with credentials made for each connection.
    pub turn: Option<turn::TurnConfig>,
    /// Resume tokens and the window a disconnected client's call is kept for; `None`: a
    /// dropped connection ends its call at once.
    pub resume: Option<resume::ResumeConfig>,
    /// How fast a client may press Next before it is paused.
    pub skip_limit: super::SkipLimit,
    /// Terms gate, ban thresholds and retention.
    pub safety: SafetyConfig,
    /// Makes the keys of networks and install ids (with the server's ban secret).
    pub keyer: Keyer,
    /// This node's number in a cluster (`--redis`); `None`: a server on its own.
    pub node: Option<u16>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            interest_fallback: Duration::from_secs(5),
            rematch_cooldown: Duration::from_secs(3),
            failed_cooldown: Duration::from_secs(300),
            waiting_interval: Duration::from_secs(2),
            room_capacity: 4,
            max_room_capacity: strangers_shared::limits::MAX_ROOM_CAPACITY,
            rate: RateLimit::default(),
            ice_servers: Vec::new(),
            turn: None,
            resume: None,
            skip_limit: super::SkipLimit::default(),
            safety: SafetyConfig::default(),
            // A fixed secret is fine for tests; the server always sets its own (see `config.rs`).
            keyer: Keyer::new(b"strangers-default-ban-secret"),
            node: None,
        }
    }
}

/// Something that happened on the network, for the core to act on.
#[derive(Debug, Clone)]
pub enum Input {
    /// A WebSocket handshake completed (the peer hears nothing until it says `hello`), from this
    /// address (kept only as its network's key).
    Connected(PeerId, Option<IpAddr>),
    /// A decoded message, with the frame it came in (relayed verbatim where the protocol says so).
    Message(PeerId, ClientMsg, TextFrame),
    /// A text frame that failed to decode.
    Invalid(PeerId, DecodeError),
    /// A binary frame, which the protocol does not use.
    Binary(PeerId),
    /// The connection was lost (a reset, a failed write, a heartbeat timeout): the client may
    /// come back, so a client in a random call keeps its call for the resume window.
    Disconnected(PeerId),
    /// The connection ended for good: the client closed it (a close frame, or its process
    /// exited), or the server did (a violation, a reader too slow, a shutdown). Forgotten at
    /// once; its partner or room is told.
    Closed(PeerId),
    /// A message from another node, or the shared queue's answer to a search (cluster mode).
    Remote(super::cluster::Remote),
    /// The cluster's state changed (cluster mode): a node died, a search could not reach the
    /// shared queue, or the queue is reachable again.
    Cluster(super::cluster::ClusterEvent),
    /// A report or ban another node of the cluster shared (see `shared_safety.rs`).
    Safety(StoreOp),
    /// Time passed; run timers. Drivers send it at [`Core::poll_timeout`] (sending it more often
    /// is harmless).
    Tick,
}

/// Something the network layer must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send one text frame to a peer.
    Send {
        /// The recipient.
        to: PeerId,
        /// The frame.
        frame: TextFrame,
    },
    /// A peer entered (`true`) or left (`false`) the queue: its connection should check more
    /// often that it is alive while it waits, so that a frozen client is not matched.
    Searching {
        /// The peer.
        peer: PeerId,
        /// Whether it is searching now.
        searching: bool,
    },
    /// Close a peer's connection with a WebSocket close code. The core has already forgotten it.
    Close {
        /// The peer to close.
        peer: PeerId,
        /// The close code (1008 for abuse).
        code: u16,
        /// The close reason.
        reason: &'static str,
    },
    /// Keep something for safety (a block, a report, a ban) in the store, if there is one.
    Store(StoreOp),
    /// Ask the cluster for something (cluster mode only).
    Cluster(super::cluster::ClusterOp),
}
