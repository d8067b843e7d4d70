//! The cluster logic in virtual time: two cores as two nodes, joined by an in-memory stand-in for
//! the Redis queue that follows `cluster/queue.lua`'s contract (the oldest compatible searcher on
//! any node is claimed atomically, exclusions both ways, a searcher keeps its place), with every
//! message between them delivered when the test says, so races can be staged.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;
use strangers_shared::{PeerId, Role, decode_client};

use super::super::cluster::{ClusterOp, Remote, Search, first_id, node_of};
use super::super::safety::StoreOp;
use super::super::{Core, CoreConfig, Input, Now, Output, State, TextFrame};

/// The stand-in for the Redis queue.
#[derive(Default)]
pub(super) struct MemQueue {
    /// Waiting searchers by place.
    waiting: BTreeMap<u64, Search>,
    places: HashMap<PeerId, u64>,
    next: u64,
    /// The room registry (`cluster/room.lua`): each room's home.
    homes: HashMap<strangers_shared::RoomName, u16>,
    /// Nodes that stopped beating.
    pub(super) dead: Vec<u16>,
    /// Where resumed sessions are now (`cluster/registry.rs`).
    sessions: HashMap<super::super::resume::Sid, PeerId>,
}

impl MemQueue {
    fn who(s: &Search) -> [String; 2] {
        [format!("p:{}", s.peer.0), format!("k:{}", s.keys.ident)]
    }

    fn ok(me: &Search, c: &Search) -> bool {
        c.peer != me.peer
            && !Self::who(c).iter().any(|w| me.exclude.contains(w))
            && !Self::who(me).iter().any(|w| c.exclude.contains(w))
    }

    /// The contract of `queue.lua`: a claimed partner with both places, or `None` (kept).
    fn search(&mut self, me: Search) -> Option<(Search, u64, u64)> {
        let place = match self.places.remove(&me.peer) {
            Some(p) => {
                self.waiting.remove(&p);
                p
            }
            None => {
                self.next += 1;
                self.next
            }
        };
        let shares = |c: &Search| c.mode == me.mode && me.tags.iter().any(|t| c.tags.contains(t));
        let open = |c: &Search| c.mode == me.mode && me.open && c.open;
        let pick = self
            .waiting
            .iter()
            .find(|(_, c)| shares(c) && Self::ok(&me, c))
            .or_else(|| self.waiting.iter().find(|(_, c)| open(c) && Self::ok(&me, c)))
            .map(|(p, _)| *p);
        if let Some(theirs) = pick {
            let c = self.waiting.remove(&theirs)?;
            self.places.remove(&c.peer);
            return Some((c, theirs, place));
        }
        self.places.insert(me.peer, place);
        self.waiting.insert(place, me);
        None
    }

    /// The contract of `room.lua`'s route: the live home, or `node` (fresh).
    fn route(&mut self, room: &strangers_shared::RoomName, node: u16) -> (u16, bool) {
        match self.homes.get(room) {
            Some(&home) if home != node && !self.dead.contains(&home) => (home, false),
            _ => {
                self.homes.insert(room.clone(), node);
                (node, true)
            }
        }
    }

    fn unsearch(&mut self, peer: PeerId) {
        if let Some(p) = self.places.remove(&peer) {
            self.waiting.remove(&p);
        }
    }
}

/// Two nodes, the queue, and what is in flight between them.
pub(super) struct Cluster {
    pub(super) nodes: [Core; 2],
    pub(super) queue: MemQueue,
    /// Messages between nodes, delivered by [`Cluster::deliver`].
    pub(super) wire: VecDeque<Remote>,
    /// Safety shared by a node, for the other one (by its index).
    shared: VecDeque<(usize, StoreOp)>,
    /// What each client received, as JSON.
    pub(super) inbox: HashMap<PeerId, Vec<Value>>,
    pub(super) now: Now,
}

impl Cluster {
    pub(super) fn new() -> Self {
        Self::with_resume(None)
    }

    /// Two nodes; with `window`, they resume sessions (with one secret) for that long.
    pub(super) fn with_resume(window: Option<Duration>) -> Self {
        let core = |n: u16| {
            let resume = window.map(|w| {
                super::super::resume::ResumeConfig::new(b"one secret", w, Duration::from_secs(3600), [n as u8; 16])
            });
            Core::new(CoreConfig { node: Some(n), rematch_cooldown: Duration::ZERO, resume, ..CoreConfig::default() })
        };
        let now = Now { mono: Duration::from_secs(100), unix_ms: 1_700_000_000_000 };
        Self {
            nodes: [core(1), core(2)],
            queue: MemQueue::default(),
            wire: VecDeque::new(),
            shared: VecDeque::new(),
            inbox: HashMap::new(),
            now,
        }
    }

    fn core(&mut self, peer: PeerId) -> &mut Core {
        &mut self.nodes[usize::from(node_of(peer)) - 1]
    }

    /// Peer `k` of node `n`.
    pub(super) fn peer(n: u16, k: u64) -> PeerId {
        PeerId(first_id(n) + k)
    }

    pub(super) fn input(&mut self, peer: PeerId, input: Input) {
        let now = self.now;
        self.core(peer).handle(now, input);
        self.drain();
    }

    pub(super) fn send(&mut self, peer: PeerId, text: &str) {
        let msg = decode_client(text).unwrap();
        self.input(peer, Input::Message(peer, msg, TextFrame::text(text.into())));
    }

    pub(super) fn connect(&mut self, peer: PeerId) {
        self.input(peer, Input::Connected(peer, None));
    }

    /// Run every node's outputs: queue operations at once (Redis is one atomic step), messages
    /// between nodes onto the wire.
    fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..2 {
                while let Some(out) = self.nodes[i].poll_output() {
                    any = true;
                    match out {
                        Output::Send { to, frame } => {
                            self.inbox.entry(to).or_default().push(serde_json::from_str(frame.as_str()).unwrap());
                        }
                        Output::Cluster(ClusterOp::Search(s)) => {
                            let keys = s.keys;
                            let (me, mode, tags) = (s.peer, s.mode, s.tags.clone());
                            if let Some((c, theirs, mine)) = self.queue.search(s) {
                                let (r_me, r_them) = if theirs <= mine {
                                    (Role::Answerer, Role::Offerer)
                                } else {
                                    (Role::Offerer, Role::Answerer)
                                };
                                let common: Vec<String> = tags.iter().filter(|t| c.tags.contains(t)).cloned().collect();
                                let to_me = Remote::Matched {
                                    to: me,
                                    from: c.peer,
                                    role: r_me,
                                    mode,
                                    common: common.clone(),
                                    keys: c.keys,
                                };
                                let to_them =
                                    Remote::Matched { to: c.peer, from: me, role: r_them, mode, common, keys };
                                self.wire.push_back(to_me);
                                self.wire.push_back(to_them);
                            }
                        }
                        Output::Cluster(ClusterOp::Unsearch { peer }) => self.queue.unsearch(peer),
                        Output::Cluster(ClusterOp::Send(msg)) => self.wire.push_back(msg),
                        Output::Cluster(ClusterOp::Route(join)) => {
                            let (home, fresh) = self.queue.route(&join.room, i as u16 + 1);
                            self.wire.push_back(Remote::Join { home, fresh, join });
                        }
                        Output::Cluster(ClusterOp::Unroute { room }) => {
                            if self.queue.homes.get(&room) == Some(&(i as u16 + 1)) {
                                self.queue.homes.remove(&room);
                            }
                        }
                        Output::Cluster(ClusterOp::Resume(r)) => {
                            self.queue.sessions.insert(r.sid, r.peer);
                            if let Some(to) = self.queue.sessions.get(&r.partner_sid).copied().or(r.partner) {
                                let (from, old, keys) = (r.peer, r.old, r.keys);
                                self.wire.push_back(Remote::Resume { to, from, old, keys });
                            }
                        }
                        Output::Cluster(ClusterOp::Claim { room }) => {
                            self.queue.route(&room, i as u16 + 1);
                        }
                        Output::Cluster(ClusterOp::Share(op)) => self.shared.push_back((1 - i, op)),
                        Output::Searching { .. } | Output::Close { .. } | Output::Store(_) => {}
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Deliver everything in flight, in order.
    pub(super) fn deliver(&mut self) {
        loop {
            if let Some(msg) = self.wire.pop_front() {
                let now = self.now;
                self.nodes[usize::from(msg.node()) - 1].handle(now, Input::Remote(msg));
                self.drain();
            } else if let Some((node, op)) = self.shared.pop_front() {
                let now = self.now;
                self.nodes[node].handle(now, Input::Safety(op));
                self.drain();
            } else {
                return;
            }
        }
    }

    pub(super) fn types(&self, peer: PeerId) -> Vec<String> {
        self.inbox
            .get(&peer)
            .map_or_else(Vec::new, |m| m.iter().map(|v| v["type"].as_str().unwrap_or("").to_string()).collect())
    }

    pub(super) fn partner(&self, peer: PeerId) -> Option<PeerId> {
        let core = &self.nodes[usize::from(node_of(peer)) - 1];
        match core.peers.get(&peer).map(|p| &p.state) {
            Some(State::Paired { partner }) => Some(*partner),
            _ => None,
        }
    }
}

const FIND: &str = r#"{"type":"find","mode":"text"}"#;

/// x on node 1 and y on node 2, matched with each other.
fn pair_across_nodes() -> (Cluster, PeerId, PeerId) {
    let mut c = Cluster::new();
    let (x, y) = (Cluster::peer(1, 0), Cluster::peer(2, 0));
    c.connect(x);
    c.connect(y);
    c.send(x, FIND);
    c.send(y, FIND);
    c.deliver();
    (c, x, y)
}

#[test]
fn strangers_on_two_nodes_meet_talk_and_part() {
    let (mut c, x, y) = pair_across_nodes();
    assert_eq!((c.partner(x), c.partner(y)), (Some(y), Some(x)));
    let role = |c: &Cluster, p| c.inbox[&p].iter().find(|v| v["type"] == "matched").map(|v| v["role"].clone());
    assert_eq!(role(&c, x), Some("offerer".into()), "x waited longer");
    c.send(x, r#"{"type":"chat","text":"hi"}"#);
    c.deliver();
    assert_eq!(c.inbox[&y].last().map(|v| v["text"].clone()), Some("hi".into()));
    c.send(y, r#"{"type":"next"}"#);
    c.deliver();
    assert_eq!(c.inbox[&x].iter().filter(|v| v["type"] == "partner_left").count(), 1);
    // Both search again; with the rematch cooldown at zero they meet again, once.
    assert_eq!(c.partner(x), Some(y));
}

#[test]
fn a_stranger_who_stops_while_being_claimed_is_not_paired_and_the_claimer_searches_again() {
    let mut c = Cluster::new();
    let (x, y, z) = (Cluster::peer(1, 0), Cluster::peer(2, 0), Cluster::peer(2, 1));
    for p in [x, y, z] {
        c.connect(p);
    }
    c.send(x, FIND);
    c.send(y, FIND); // claims x in the queue; the news is on the wire
    c.send(x, r#"{"type":"stop"}"#); // x stops before it hears
    c.deliver();
    assert_eq!(c.partner(x), None, "x stopped: never paired");
    assert_eq!(c.partner(y), None);
    assert!(c.types(y).contains(&"partner_left".to_string()), "y heard the match fall through");
    // y is searching again, and meets the next stranger.
    c.send(z, FIND);
    c.deliver();
    assert_eq!(c.partner(y), Some(z));
}

#[test]
fn a_node_going_down_ends_its_peers_pairs_on_the_other_node() {
    let (mut c, x, y) = pair_across_nodes();
    assert_eq!(c.partner(y), Some(x));
    c.input(y, Input::Cluster(super::super::cluster::ClusterEvent::NodeDown(1)));
    let left = c.inbox[&y].iter().rev().find(|v| v["type"] == "partner_left").cloned();
    assert_eq!(left.map(|v| v["reason"].clone()), Some("disconnected".into()));
    assert_eq!(c.partner(y), None);
}

#[test]
fn a_relay_from_someone_not_paired_with_the_recipient_goes_nowhere() {
    let mut c = Cluster::new();
    let (x, y) = (Cluster::peer(1, 0), Cluster::peer(2, 0));
    c.connect(x);
    c.connect(y);
    // A forged message on the wire (a node relaying for a pair that does not exist).
    c.wire.push_back(Remote::Relay { to: y, from: x, frame: r#"{"type":"chat","text":"boo","ts":1}"#.into() });
    c.deliver();
    assert!(c.types(y).is_empty(), "{:?}", c.types(y));
}

#[test]
fn a_report_on_one_node_counts_on_the_other_and_the_ban_reaches_the_client_there() {
    let mut c = Cluster::new();
    let offender = Cluster::peer(1, 0);
    let hello = |n: u64| format!(r#"{{"type":"hello","version":1,"install":"{n:032x}"}}"#);
    c.input(offender, Input::Connected(offender, Some("10.9.9.9".parse().unwrap())));
    c.send(offender, &hello(99));
    for r in 1..=3u64 {
        let reporter = Cluster::peer(2, r);
        c.input(reporter, Input::Connected(reporter, Some(format!("10.0.{r}.1").parse().unwrap())));
        c.send(reporter, &hello(r));
        c.send(reporter, FIND);
        c.send(offender, FIND);
        c.deliver();
        assert_eq!(c.partner(reporter), Some(offender));
        c.send(reporter, r#"{"type":"report","reason":"spam"}"#);
        c.deliver();
        c.send(reporter, r#"{"type":"stop"}"#);
        c.send(offender, r#"{"type":"stop"}"#);
        c.deliver();
    }
    let banned = c.inbox[&offender].iter().any(|v| v["type"] == "error" && v["code"] == "banned");
    assert!(banned, "node 2 decided, node 1 enforced: {:?}", c.types(offender));
    c.send(offender, FIND);
    assert_eq!(c.inbox[&offender].last().map(|v| v["code"].clone()), Some("banned".into()));
}

#[test]
fn a_refusal_that_overtakes_its_match_voids_it() {
    // Two claims raced for x: x took y, and z's match with x is refused, the refusal reaching z
    // before z's own copy of the match.
    let mut c = Cluster::new();
    let (x, y, z) = (Cluster::peer(1, 0), Cluster::peer(1, 1), Cluster::peer(1, 2));
    for p in [x, y, z] {
        c.connect(p);
        c.send(p, FIND);
    }
    c.deliver();
    let paired_before: Vec<_> = [x, y, z].iter().map(|p| c.partner(*p)).collect();
    let key = super::super::safety::Key([1; 16]);
    let keys = super::super::cluster::Keys { ident: key, durable: false, net: None, sid: None };
    let matched = |to, from| Remote::Matched {
        to,
        from,
        role: Role::Answerer,
        mode: strangers_shared::Mode::Text,
        common: vec![],
        keys,
    };
    let unpaired = [x, y, z].into_iter().find(|p| c.partner(*p).is_none()).unwrap();
    let (a, b) = match (paired_before[0], paired_before[1], paired_before[2]) {
        (Some(p), _, _) => (x, p),
        (_, Some(p), _) => (y, p),
        _ => (z, paired_before[2].unwrap()),
    };
    // `unpaired` is said to be matched with `a`, who is busy: a refuses; the refusal arrives first.
    c.wire.push_back(Remote::Refused { to: unpaired, from: a });
    c.wire.push_back(matched(unpaired, a));
    c.deliver();
    assert_eq!(c.partner(a), Some(b), "a keeps its partner");
    assert_eq!(c.partner(unpaired), None, "the void match pairs nobody");
}
