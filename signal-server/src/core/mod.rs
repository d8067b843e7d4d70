//! The sans-IO heart of the server: matchmaking, pairs, rooms and rate limits.
//!
//! [`Core`] is a plain state machine in the style of str0m and quinn-proto. The network layer feeds
//! it [`Input`]s, each stamped with an explicit [`Now`], and drains [`Output`]s with
//! [`Core::poll_output`]. It never reads a clock, never locks and never touches a socket, so every
//! behaviour is unit-tested, property-tested and fuzzed without a network. One task owns it.

pub mod cluster;
mod cluster_msgs;
mod cluster_resume;
mod cluster_rooms;
mod io;
mod matching;
mod moderation;
pub mod peermap;
mod queue;
mod ratelimit;
mod relay;
pub mod resume;
mod rooms;
pub mod safety;
mod sessions;
mod shared_safety;
mod skips;
mod stats;
#[cfg(test)]
mod tests;
mod timers;
pub mod turn;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use strangers_shared::{ClientMsg, ErrorCode, Mode, PROTOCOL_VERSION, PeerId, RoomName, ServerMsg, encode};

pub use io::{CoreConfig, Input, Now, Output, TextFrame};
use peermap::PeerMap;
use queue::ModeQueue;
pub use ratelimit::RateLimit;
use ratelimit::{Admission, TokenBucket};
use resume::Sid;
use rooms::Room;
use sessions::Held;
pub use skips::SkipLimit;
pub use stats::{Histogram, MATCH_WAIT_BUCKETS_SECS, Stats};

/// What one connection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Searching {
        since: Duration,
        seq: u64,
        last_waiting: Duration,
    },
    Paired {
        partner: PeerId,
    },
    InRoom {
        room: RoomName,
    },
    /// Back after a server restart with a token naming a call; waiting (until `until`) for the
    /// partner's session to come back too.
    Resuming {
        partner: Sid,
        mode: Mode,
        until: Duration,
        /// In a cluster: the partner's connection (peer id) when the token was issued, if known.
        /// Peer ids are never 0; a `NonZeroU64` keeps `State`, and so every peer, 8 bytes
        /// smaller than an `Option<PeerId>` would.
        at: Option<std::num::NonZeroU64>,
    },
}

/// Search preferences, kept so that a peer can be re-queued after Next or a departure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefs {
    mode: Mode,
    interests: Vec<String>,
}

#[derive(Debug, Clone)]
struct Peer {
    state: State,
    prefs: Option<Prefs>,
    /// The peer this one parted from by Next, and when the rematch cooldown ends. The two are
    /// kept apart until then, and after it while anyone else is waiting; cleared by a match.
    avoid: Option<(PeerId, Duration)>,
    /// The peer this one could not connect with (`next` with reason `failed`), and until when
    /// the two are kept apart, even when nobody else is searching. A match does not clear it.
    failed_with: Option<(PeerId, Duration)>,
    bucket: TokenBucket,
    audio: bool,
    video: bool,
    /// Its session (with resumption configured), and which use of it this connection is.
    sid: Option<Sid>,
    generation: u32,
    /// Its connection is gone, but its call is kept for it (see `sessions.rs`).
    held: Option<Held>,
    /// Its timers in the queue (see `timers.rs`), so that they leave with it.
    timer_keys: Vec<(Duration, timers::Timer)>,
    /// Its recent skips and any cooldown (see `skips.rs`).
    skips: skips::SkipMeter,
    /// Who it is for blocks, reports and bans (see `moderation.rs`).
    who: moderation::Identity,
}

// Every connection has a boxed `Peer`: at 384 bytes it fills one of the allocator's size classes
// exactly (mimalloc's next is 448). Rarely used parts (the last partner, a held session) are
// boxed or kept elsewhere to stay within it.
const _: () = assert!(std::mem::size_of::<Peer>() <= 384);

/// The matchmaking and room state machine. See the module docs.
#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    /// Boxed: a `Peer` is some 450 bytes, and a table of them inline carries its spare
    /// capacity (up to half again) at that size; boxed, the spare slots are pointers.
    peers: PeerMap<Box<Peer>>,
    queues: [ModeQueue; 2],
    next_seq: u64,
    rooms: HashMap<RoomName, Room>,
    out: VecDeque<Output>,
    stats: Stats,
    now: Now,
    /// Sessions by id, for resume tokens.
    sessions: HashMap<Sid, PeerId>,
    /// When held sessions and resumptions run out.
    expiries: BTreeSet<(Duration, PeerId)>,
    /// The searchers' timers (see `timers.rs`).
    timers: BTreeSet<(Duration, PeerId, u64, timers::Timer)>,
    /// Blocks, reports and bans (see `safety/`).
    ledger: safety::ledger::Ledger,
    /// When the ledger next forgets what expired.
    sweep_at: Option<Duration>,
    /// The next call's number (see `matched`).
    next_call: u64,
    /// Cluster-wide (online, searching per mode), when running as a node.
    cluster_counts: Option<(u64, [u64; 2])>,
    /// Refusals that overtook the match they refuse, by (peer, partner) (see `cluster.rs`).
    refused: std::collections::HashSet<(PeerId, PeerId)>,
    /// Members of rooms homed here that live on other nodes (see `cluster_rooms.rs`).
    ghosts: PeerMap<cluster_rooms::Ghost>,
    /// Ours in rooms homed on other nodes, or on their way into a room.
    away: PeerMap<cluster_rooms::Away>,
    /// Partners of a dead node's clients, kept in their calls until then for a resume (see
    /// `cluster_resume.rs`).
    orphans: PeerMap<(Duration, PeerId)>,
}

impl Core {
    /// A core with no peers.
    pub fn new(cfg: CoreConfig) -> Self {
        Self {
            cfg,
            peers: PeerMap::default(),
            queues: [ModeQueue::default(), ModeQueue::default()],
            next_seq: 0,
            rooms: HashMap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
            now: Now::default(),
            sessions: HashMap::new(),
            expiries: BTreeSet::new(),
            timers: BTreeSet::new(),
            ledger: safety::ledger::Ledger::default(),
            sweep_at: None,
            next_call: 1,
            cluster_counts: None,
            refused: std::collections::HashSet::new(),
            ghosts: PeerMap::default(),
            away: PeerMap::default(),
            orphans: PeerMap::default(),
        }
    }

    /// Feed one input at time `now`. Outputs queue up for [`Core::poll_output`].
    pub fn handle(&mut self, now: Now, input: Input) {
        self.now = now;
        match input {
            Input::Connected(peer, ip) => self.connect(peer, ip),
            Input::Message(peer, msg, frame) => {
                if self.admit(peer) {
                    self.dispatch(peer, msg, frame);
                }
            }
            Input::Invalid(peer, err) => {
                if self.admit(peer) {
                    self.error(peer, err.code(), err.to_string());
                }
            }
            Input::Binary(peer) => {
                if self.admit(peer) {
                    self.error(
                        peer,
                        ErrorCode::BinaryUnsupported,
                        "binary frames are not supported; send JSON text".into(),
                    );
                }
            }
            Input::Disconnected(peer) => self.disconnected(peer),
            Input::Closed(peer) => self.remove(peer),
            Input::Remote(msg) => {
                if self.cfg.node.is_none_or(|n| msg.node() == n) {
                    self.remote(msg);
                }
            }
            Input::Cluster(event) => self.cluster_event(event),
            Input::Safety(op) => self.import(op),
            Input::Tick => self.tick(),
        }
    }

    /// The next thing the network layer must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the core next needs [`Input::Tick`] (monotonic, as in [`Now::mono`]): the next
    /// `waiting` update, interest fallback or cooldown to end, or held session to give up.
    /// `None` when nothing is timed. O(1): the first entry of ordered timer sets.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_deadline()
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The time of the latest input.
    pub fn now(&self) -> Now {
        self.now
    }

    /// Connections the core knows.
    pub fn online(&self) -> usize {
        self.peers.len()
    }

    /// The cluster's counts (from its heartbeat), shown in `welcome` and `waiting` instead of
    /// this node's own.
    pub fn set_cluster_counts(&mut self, online: u64, searching: [u64; 2]) {
        self.cluster_counts = Some((online, searching));
    }

    /// Connections online as clients are told: the cluster's (never fewer than here), or ours.
    fn online_shown(&self) -> u64 {
        let here = self.peers.len() as u64;
        self.cluster_counts.map_or(here, |(all, _)| all.max(here))
    }

    /// Searchers in `mode` as clients are told.
    fn searching_shown(&self, mode: Mode) -> u64 {
        let here = self.queues[mode_index(mode)].len() as u64;
        self.cluster_counts.map_or(here, |(_, s)| s[mode_index(mode)].max(here))
    }

    /// Searchers waiting in `mode`'s queue.
    pub fn searching(&self, mode: Mode) -> usize {
        self.queues[mode_index(mode)].len()
    }

    /// Random pairs in a call now.
    pub fn pairs(&self) -> usize {
        self.peers.values().filter(|p| matches!(p.state, State::Paired { .. })).count() / 2
    }

    /// Named rooms with at least one member.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// The ICE servers announced in `welcome`.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    fn connect(&mut self, peer: PeerId, ip: Option<IpAddr>) {
        let bucket = TokenBucket::new(&self.cfg.rate, self.now.mono);
        let sid = self.cfg.resume.as_ref().map(|r| r.sid_for(peer.0));
        let fresh = Peer {
            state: State::Idle,
            prefs: None,
            avoid: None,
            failed_with: None,
            bucket,
            audio: true,
            video: true,
            sid,
            generation: 0,
            held: None,
            timer_keys: Vec::new(),
            skips: skips::SkipMeter::default(),
            who: moderation::Identity {
                ident: self.cfg.keyer.connection(peer.0),
                durable: false,
                net: ip.map(|ip| self.cfg.keyer.net(ip)),
                terms: None,
                last: None,
            },
        };
        if let Some(sid) = sid {
            self.sessions.insert(sid, peer);
        }
        if self.peers.insert(peer, Box::new(fresh)).is_some() {
            // A reused id would be a driver bug; start the peer over rather than mix two lives.
            tracing::warn!(%peer, "peer id connected twice");
        }
    }

    /// `hello` is answered with `welcome` (identity, presence, ICE servers and a resume token).
    /// A client that never says hello, such as a simple `ws` room client, hears only its own
    /// protocol.
    fn hello(&mut self, peer: PeerId, version: u32, resume: Option<String>) {
        if version != PROTOCOL_VERSION {
            let text = format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}");
            return self.error(peer, ErrorCode::VersionUnsupported, text);
        }
        let resumed = resume.is_some_and(|token| self.resume(peer, &token));
        let mut ice_servers = self.cfg.ice_servers.clone();
        if let Some(turn) = &self.cfg.turn {
            ice_servers.push(turn.ice_server(peer, self.now.unix_ms / 1000));
        }
        let welcome = ServerMsg::Welcome {
            peer_id: peer,
            version: PROTOCOL_VERSION,
            online: self.online_shown(),
            ice_servers,
            resume: self.token_for(peer),
            resumed,
            terms: self.cfg.safety.require_terms.clone(),
        };
        // Straight out, ahead of anything kept for a resumed session.
        self.out.push_back(Output::Send { to: peer, frame: TextFrame::text(encode(&welcome)) });
        self.deliver_held(peer);
    }

    /// Apply the rate limit; closes abusive peers. Returns whether to process the message.
    fn admit(&mut self, peer: PeerId) -> bool {
        let rate = self.cfg.rate;
        let Some(p) = self.peers.get_mut(&peer) else { return false };
        match p.bucket.take(&rate, self.now.mono) {
            Admission::Allow => true,
            Admission::Refuse => {
                self.error(peer, ErrorCode::RateLimited, "too many messages; this one was dropped".into());
                false
            }
            Admission::Abuse => {
                self.stats.abuse_closes += 1;
                self.remove(peer);
                self.out.push_back(Output::Close { peer, code: 1008, reason: "rate limit exceeded" });
                false
            }
        }
    }

    fn dispatch(&mut self, peer: PeerId, msg: ClientMsg, frame: TextFrame) {
        if !self.away.is_empty() && self.forward_to_home(peer, &msg, &frame) {
            return;
        }
        match msg {
            ClientMsg::Hello { version, resume, terms, install } => {
                self.identify(peer, terms, install);
                self.hello(peer, version, resume);
            }
            ClientMsg::Find { mode, interests } => self.find(peer, mode, interests),
            ClientMsg::Next { reason } => self.next(peer, reason),
            ClientMsg::Stop => self.stop(peer),
            ClientMsg::Join { room, name, capacity } => self.join(peer, room, name, capacity),
            ClientMsg::Leave => self.leave(peer),
            ClientMsg::Offer(r) => self.relay_signal(peer, relay::Kind::Offer, r, frame),
            ClientMsg::Answer(r) => self.relay_signal(peer, relay::Kind::Answer, r, frame),
            ClientMsg::Candidate(r) => self.relay_signal(peer, relay::Kind::Candidate, r, frame),
            ClientMsg::Chat { text } => self.chat(peer, text),
            ClientMsg::Typing { active } => self.typing(peer, active),
            ClientMsg::MediaState { audio, video } => self.media_state(peer, audio, video),
            ClientMsg::Report { reason, text, chat, call } => {
                self.report(peer, moderation::Complaint { reason, text, chat, call });
            }
            ClientMsg::Block { call } => self.block(peer, call),
        }
    }

    /// Forget a peer entirely, telling its partner or room. Unknown peers are ignored.
    fn remove(&mut self, peer: PeerId) {
        // Forget the peer first, so that what its partner or room hears already counts it gone.
        let Some(p) = self.peers.remove(&peer) else { return };
        self.forget_connection(&p.who);
        self.orphans.remove(&peer);
        if !self.refused.is_empty() {
            self.refused.retain(|(a, b)| *a != peer && *b != peer);
        }
        let queued = self.queue_entry(&p);
        if let State::Searching { seq, .. } = p.state {
            self.drop_timers(peer, seq, &p.timer_keys);
        }
        if let Some(sid) = p.sid
            && self.sessions.get(&sid) == Some(&peer)
        {
            self.sessions.remove(&sid);
        }
        match p.state {
            State::Idle | State::Resuming { .. } => {}
            State::Searching { .. } => {
                if let Some((mode, entry)) = queued {
                    self.unqueue(peer, mode, &entry);
                }
            }
            State::Paired { partner } => {
                self.unpair(peer, partner, strangers_shared::LeaveReason::Disconnected);
            }
            State::InRoom { room } => self.leave_room(peer, &room, strangers_shared::LeaveReason::Disconnected),
        }
    }

    fn tick(&mut self) {
        self.expire_sessions();
        self.tick_matching();
        self.tick_safety();
    }

    fn send(&mut self, to: PeerId, msg: &ServerMsg) {
        self.deliver(to, TextFrame::text(encode(msg)));
    }

    /// A relayed frame (counted as such).
    fn send_frame(&mut self, to: PeerId, frame: TextFrame) {
        self.stats.relayed += 1;
        self.deliver(to, frame);
    }

    /// To the client: through its node if it is a ghost member of a room homed here, kept if its
    /// session is held, or straight out.
    fn deliver(&mut self, to: PeerId, frame: TextFrame) {
        if (!self.ghosts.is_empty() && self.send_to_ghost(to, &frame)) || self.keep_for_held(to, &frame) {
            return;
        }
        self.out.push_back(Output::Send { to, frame });
    }

    fn error(&mut self, peer: PeerId, code: ErrorCode, message: String) {
        self.stats.count_error(code);
        self.send(peer, &ServerMsg::Error { code, message, retry_in_ms: None, until_ms: None });
    }

    /// Refuse a skip or a search from a client that skips too fast, saying when it may go on.
    fn slow_down(&mut self, peer: PeerId, left: Duration) {
        self.stats.count_error(ErrorCode::SlowDown);
        let secs = left.as_secs_f64().ceil();
        let message = format!("you are skipping very fast; you can look for someone new in {secs:.0} s");
        let retry_in_ms = Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        self.send(peer, &ServerMsg::Error { code: ErrorCode::SlowDown, message, retry_in_ms, until_ms: None });
    }

    /// A new call's number (see `matched`).
    fn new_call(&mut self) -> u64 {
        let call = self.next_call;
        self.next_call += 1;
        call
    }

    /// Every peer id the core knows (for invariant checks).
    #[cfg(test)]
    fn peer_ids(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }
}

fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Video => 0,
        Mode::Text => 1,
    }
}
