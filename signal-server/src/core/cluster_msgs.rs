//! The messages of the cluster (see `cluster.rs`): what the core asks of it, what it hears
//! back, and what nodes tell each other.

use serde::{Deserialize, Serialize};
use strangers_shared::{LeaveReason, Mode, PeerId, Role, RoomName};

use super::cluster::node_of;
pub use super::cluster_rooms::Join;
use super::resume::Sid;
use super::safety::{Key, StoreOp};

/// What others may know of a searcher, for blocks and reports: its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    /// Install key (or connection key).
    pub ident: Key,
    /// Whether `ident` is an install key.
    pub durable: bool,
    /// Network key.
    pub net: Option<Key>,
    /// Its session (with resumption), so that its partner's resume token can name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Sid>,
}

/// A search handed to the shared queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The searcher (on this node).
    pub peer: PeerId,
    /// Its mode.
    pub mode: Mode,
    /// Its interests.
    pub tags: Vec<String>,
    /// Whether it takes anyone (no interests, or its fallback passed).
    pub open: bool,
    /// Who it must not meet: peer ids (`p:ID`) and identity keys (`k:KEY`).
    pub exclude: Vec<String>,
    /// Its keys.
    pub keys: Keys,
}

/// What the core asks of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterOp {
    /// Pair a searcher with the oldest compatible one in the shared queue, or keep it there
    /// (a searcher already there keeps its place).
    Search(Search),
    /// Take `peer` out of the shared queue.
    Unsearch {
        /// The searcher.
        peer: PeerId,
    },
    /// Deliver a message to a peer on another node.
    Send(Remote),
    /// Share a report or a ban with every node (and keep it in Redis for nodes yet to start).
    Share(StoreOp),
    /// Deliver a join to its room's home node, making this node the home if the room has none
    /// (or its home stopped beating). Answered with [`Remote::Join`] at the home.
    Route(Join),
    /// This node is no longer the home of `room` (it emptied).
    Unroute {
        /// The room.
        room: RoomName,
    },
    /// This node is the home of `room` (said again after Redis was away, as it may have lost
    /// the registry).
    Claim {
        /// The room.
        room: RoomName,
    },
    /// A session resumed here after its node died or its client came back through another
    /// node: record where it is now, and ask its partner back (see `cluster_resume.rs`).
    Resume(Rejoin),
}

/// A resumed session looking for its partner across the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejoin {
    /// Its new connection (here).
    pub peer: PeerId,
    /// Its session.
    pub sid: Sid,
    /// The partner's session.
    pub partner_sid: Sid,
    /// Its connection when the token was issued, if known.
    pub old: Option<PeerId>,
    /// The partner's connection when the token was issued, if known; the registry's record of
    /// where the partner's session resumed since wins.
    pub partner: Option<PeerId>,
    /// Its keys (with `sid`), for the partner's reports and blocks.
    pub keys: Keys,
}

/// What the cluster driver tells the core about the cluster itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A node stopped beating: pairs with its peers are over.
    NodeDown(u16),
    /// A search could not reach the shared queue: the searcher is told, and stops searching.
    SearchFailed(PeerId),
    /// The shared queue is reachable again after a failure (it may have lost its contents):
    /// every searcher here searches again, keeping its place where the queue still has it, and
    /// the rooms homed here are claimed again.
    Back,
    /// A join could not reach the room registry: the joiner is told, and is in no room.
    JoinFailed(PeerId),
    /// Redis restarted and lost what it held: as [`ClusterEvent::Back`], and this node shares
    /// again the blocks and bans it keeps.
    Reset,
}

/// A message between nodes about one pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Remote {
    /// The shared queue paired `to` with `from`.
    Matched {
        /// The peer this is for.
        to: PeerId,
        /// Its new partner.
        from: PeerId,
        /// Whether `to` offers.
        role: Role,
        /// The call's mode.
        mode: Mode,
        /// Interests both gave.
        common: Vec<String>,
        /// The partner's keys (for report and block).
        keys: Keys,
    },
    /// `from` was no longer searching when it was matched with `to`.
    Refused {
        /// The peer this is for.
        to: PeerId,
        /// The one that refused.
        from: PeerId,
    },
    /// `from` left the pair.
    Left {
        /// The peer this is for.
        to: PeerId,
        /// The one that left.
        from: PeerId,
        /// Why.
        reason: LeaveReason,
    },
    /// A frame from `from` for its partner `to`.
    Relay {
        /// The peer this is for.
        to: PeerId,
        /// The sender.
        from: PeerId,
        /// The frame, as the receiving client gets it.
        frame: String,
    },
    /// A join on its way to its room's home node; `fresh` when the registry has just made
    /// `home` the home (so the room may be created there).
    Join {
        /// The room's home.
        home: u16,
        /// Whether the registry just made `home` the home.
        fresh: bool,
        /// The join.
        join: Join,
    },
    /// A member's message for its room (as the client sent it), to the room's home.
    RoomIn {
        /// The room's home.
        home: u16,
        /// The member.
        from: PeerId,
        /// Its room.
        room: RoomName,
        /// The client's frame.
        frame: String,
    },
    /// A member left its room (or its connection went), to the room's home.
    RoomLeave {
        /// The room's home.
        home: u16,
        /// The member.
        from: PeerId,
        /// Its room.
        room: RoomName,
        /// Why.
        reason: LeaveReason,
    },
    /// A frame from a room's home for a member on another node.
    RoomFrame {
        /// The member.
        to: PeerId,
        /// Its room.
        room: RoomName,
        /// The room's home.
        home: u16,
        /// The frame, as the member's client gets it.
        frame: String,
    },
    /// The other members of `to`'s room: sent when `to` is in, and whenever they change.
    RoomRoster {
        /// The member.
        to: PeerId,
        /// Its room.
        room: RoomName,
        /// The room's home.
        home: u16,
        /// The other members.
        roster: Vec<PeerId>,
    },
    /// `from` resumed its session, which was `old`, and asks its partner `to` to go on with it.
    Resume {
        /// The partner.
        to: PeerId,
        /// The resumed session's new connection.
        from: PeerId,
        /// Its connection in the call, if known.
        old: Option<PeerId>,
        /// Its keys (with its session).
        keys: Keys,
    },
    /// The partner `from` goes on with `to`.
    Resumed {
        /// The resumed session's new connection.
        to: PeerId,
        /// The partner.
        from: PeerId,
        /// The partner's keys (with its session).
        keys: Keys,
    },
    /// The partner `from` is not in that call any more.
    ResumeFailed {
        /// The resumed session's new connection.
        to: PeerId,
        /// Who was asked.
        from: PeerId,
    },
    /// Session `sid`, which `to` holds, resumed on another connection: `to` ends quietly.
    Superseded {
        /// The old connection.
        to: PeerId,
        /// Its session.
        sid: Sid,
    },
    /// `to` is not (or no longer) in the room; `frame` says why, if anything is to be said.
    RoomGone {
        /// The one that is out.
        to: PeerId,
        /// The room.
        room: RoomName,
        /// The room's home.
        home: u16,
        /// A frame for its client (an error), if any.
        frame: Option<String>,
    },
}

impl Remote {
    /// The node it is for.
    pub fn node(&self) -> u16 {
        match self {
            Remote::Matched { to, .. }
            | Remote::Refused { to, .. }
            | Remote::Left { to, .. }
            | Remote::Relay { to, .. }
            | Remote::RoomFrame { to, .. }
            | Remote::RoomRoster { to, .. }
            | Remote::RoomGone { to, .. }
            | Remote::Resume { to, .. }
            | Remote::Resumed { to, .. }
            | Remote::ResumeFailed { to, .. }
            | Remote::Superseded { to, .. } => node_of(*to),
            Remote::Join { home, .. } | Remote::RoomIn { home, .. } | Remote::RoomLeave { home, .. } => *home,
        }
    }
}
