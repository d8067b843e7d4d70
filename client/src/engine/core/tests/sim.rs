//! A deterministic world in virtual time: several [`EngineCore`]s, the signal server's own
//! sans-IO [`Core`], and simulated links between them (in the style of str0m's `progress(l, r)`).
//!
//! Every message really goes through the protocol: an engine's `Signal` is encoded and decoded as
//! the server would receive it, and the server's frames are decoded as the client would. Links
//! follow the real negotiation: an offer carries its link's address, the answer carries the other
//! link's, and a pair connects shortly after the offerer takes the answer, if both ends still
//! exist and the network lets them. Glare, or an answer on the wrong side, panics.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use signal_server::core::{Core, CoreConfig, Input as SInput, Now as SNow, Output as SOutput, TextFrame};
use strangers_shared::{ClientMsg, PROTOCOL_VERSION, PeerId, ServerMsg, decode_client, decode_server, encode};

use super::super::{EngineCore, Input, LinkId, LinkInput, Now, Output};
use crate::call::state::CallState;
use crate::engine::{Event, Who};

/// Signaling latency each way.
pub const HOP: Duration = Duration::from_millis(5);
/// From the offerer taking the answer to both ends connected (ICE and DTLS).
pub const CONNECT: Duration = Duration::from_millis(40);
/// From one end closing to the other noticing, when nobody tells it (ICE timeouts).
pub const NOTICE: Duration = Duration::from_secs(3);
/// The simulation's step.
pub const STEP: Duration = Duration::from_millis(5);

/// One simulated link end.
#[derive(Debug, Clone)]
pub struct SimLink {
    pub who: Who,
    pub offerer: bool,
    /// The other end, once the descriptions told us: (engine, link).
    pub remote: Option<(usize, LinkId)>,
    pub connected: bool,
}

/// One client: its core, its server connection and its links.
pub struct Client {
    pub core: EngineCore,
    /// Its id on the server while connected and welcomed.
    pub peer: Option<PeerId>,
    /// Connected to the server (welcomed or not).
    pub online: bool,
    /// Crashed: gone for good.
    pub dead: bool,
    pub links: BTreeMap<LinkId, SimLink>,
    pub events: Vec<Event>,
    /// Every message it sent to the server.
    pub sent: Vec<ClientMsg>,
    /// The resume token its next hello presents.
    pub resume: Option<String>,
    /// Its signaling connection is half-open: the server still thinks it is there, but nothing
    /// gets through either way (a NAT that forgot the mapping).
    pub deaf: bool,
}

/// The world; see the module docs.
pub struct Sim {
    t0: Instant,
    pub elapsed: Duration,
    pub server: Core,
    pub clients: Vec<Client>,
    next_peer: u64,
    /// Things on their way to a client, by due time (FIFO among equal times).
    pending: VecDeque<(Duration, usize, Due)>,
    /// Whether media paths exist at all (false: every link fails to connect).
    pub paths_work: bool,
    last_tick: Duration,
}

impl Sim {
    pub fn new(clients: usize) -> Self {
        Self::with_server(clients, CoreConfig::default())
    }

    /// A world whose server runs with `cfg`.
    pub fn with_server(clients: usize, cfg: CoreConfig) -> Self {
        let t0 = Instant::now();
        let mut sim = Self {
            t0,
            elapsed: Duration::ZERO,
            server: Core::new(cfg),
            clients: Vec::new(),
            next_peer: 0,
            pending: VecDeque::new(),
            paths_work: true,
            last_tick: Duration::ZERO,
        };
        for _ in 0..clients {
            sim.add_client();
        }
        sim
    }

    /// A new client, connecting to the server.
    pub fn add_client(&mut self) -> usize {
        let core = EngineCore::new(self.now());
        let c = Client {
            core,
            peer: None,
            online: false,
            dead: false,
            links: BTreeMap::new(),
            events: Vec::new(),
            sent: Vec::new(),
            resume: None,
            deaf: false,
        };
        self.clients.push(c);
        let i = self.clients.len() - 1;
        self.connect(i);
        i
    }

    pub fn now(&self) -> Now {
        Now { mono: self.t0 + self.elapsed, unix_ms: 1_800_000_000_000 + self.elapsed.as_millis() as u64 }
    }

    fn server_now(&self) -> SNow {
        SNow { mono: self.elapsed + Duration::from_secs(1), unix_ms: self.now().unix_ms }
    }

    /// Open client `i`'s signaling connection and say hello, as the signaling client does.
    pub fn connect(&mut self, i: usize) {
        self.next_peer += 1;
        let peer = PeerId(self.next_peer);
        let c = &mut self.clients[i];
        c.online = true;
        c.peer = Some(peer);
        // A token is presented once, as the signaling client does.
        let resume = c.resume.take();
        self.server.handle(self.server_now(), SInput::Connected(peer, None));
        self.send_to_server(peer, &ClientMsg::Hello { version: PROTOCOL_VERSION, resume, terms: None, install: None });
    }

    /// Client `i`'s signaling connection drops; it reconnects after `down_for`.
    pub fn drop_signaling(&mut self, i: usize, down_for: Duration) {
        let Some(peer) = self.clients[i].peer.take() else { return };
        self.clients[i].online = false;
        self.server.handle(self.server_now(), SInput::Disconnected(peer));
        self.route();
        let lost = Input::ServerDown { reason: "connection reset".into(), retry_in: down_for };
        self.input(i, lost);
        self.pending.push_back((self.elapsed + down_for, i, Due::Reconnect));
    }

    /// The server process is replaced by a new one with `cfg` (a deploy): every client's
    /// connection drops, and each reconnects after `down_for`.
    pub fn restart_server(&mut self, cfg: CoreConfig, down_for: Duration) {
        self.server = Core::new(cfg);
        for i in 0..self.clients.len() {
            if self.clients[i].peer.take().is_none() {
                continue;
            }
            self.clients[i].online = false;
            let lost = Input::ServerDown { reason: "connection reset".into(), retry_in: down_for };
            self.input(i, lost);
            self.pending.push_back((self.elapsed + down_for, i, Due::Reconnect));
        }
    }

    /// Client `i` vanishes without a word (a crash): the server notices its socket close, and
    /// its links' other ends notice only by ICE timeouts.
    pub fn crash(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.dead = true;
        c.online = false;
        let links = std::mem::take(&mut c.links);
        if let Some(peer) = c.peer.take() {
            self.server.handle(self.server_now(), SInput::Disconnected(peer));
            self.route();
        }
        for link in links.values() {
            self.notice_close(link);
        }
    }

    /// Client `i` freezes (a suspended process, a closed laptop lid): it stops doing anything,
    /// but its sockets stay open, so neither the server nor ICE hears of it at once.
    pub fn freeze(&mut self, i: usize) {
        self.clients[i].dead = true;
    }

    /// Give client `i` a user command.
    pub fn command(&mut self, i: usize, cmd: crate::engine::Command) {
        self.input(i, Input::Command(cmd));
    }

    /// The media path between client `i` and its partner breaks: both ends go down (as ICE
    /// reports after its keepalives fail) and no path works until [`Sim::restore_paths`].
    pub fn break_partner_path(&mut self, i: usize) {
        self.paths_work = false;
        let Some((id, link)) = self.clients[i].links.iter().find(|(_, l)| l.who == Who::Partner) else { return };
        let (id, remote) = (*id, link.remote);
        let mut ends = vec![(i, id)];
        ends.extend(remote);
        for (c, l) in ends {
            if let Some(link) = self.clients[c].links.get_mut(&l) {
                link.connected = false;
            }
            self.input(c, Input::Link(l, LinkInput::Down("Disconnected".into())));
        }
    }

    /// Paths work again: links whose ends agree connect (ICE keeps checking after a restart).
    pub fn restore_paths(&mut self) {
        self.paths_work = true;
        for i in 0..self.clients.len() {
            let ids: Vec<LinkId> = self.clients[i]
                .links
                .iter()
                .filter(|(_, l)| !l.connected && l.remote.is_some())
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                self.pending.push_back((self.elapsed + CONNECT, i, Due::Connect(id)));
            }
        }
    }

    /// Matches the server made so far.
    pub fn matches(&self) -> u64 {
        self.server.stats().matches
    }

    /// Something happens on client `i`'s link to `who`.
    pub fn link_event(&mut self, i: usize, who: Who, event: LinkInput) {
        let id = self.clients[i].links.iter().find(|(_, l)| l.who == who).map(|(id, _)| *id);
        let id = id.unwrap_or_else(|| panic!("client {i} has no link to {who:?}"));
        self.input(i, Input::Link(id, event));
    }

    fn input(&mut self, i: usize, input: Input) {
        if self.clients[i].dead {
            return;
        }
        let now = self.now();
        self.clients[i].core.handle(now, input);
        self.drain(i);
    }

    /// Run the world for `d` of virtual time.
    pub fn run(&mut self, d: Duration) {
        let end = self.elapsed + d;
        while self.elapsed < end {
            self.elapsed += STEP;
            self.tick();
        }
    }

    fn tick(&mut self) {
        // Deliver what is due, oldest first.
        while let Some(pos) = self.pending.iter().position(|(at, _, _)| *at <= self.elapsed) {
            let Some((_, i, due)) = self.pending.remove(pos) else { break };
            match due {
                Due::Reconnect if !self.clients[i].dead => self.connect(i),
                Due::Reconnect => {}
                Due::Connect(id) => self.maybe_connect(i, id),
                Due::Input(input) => self.input(i, input),
                Due::HalfOpenLost(lost) => {
                    let c = &mut self.clients[i];
                    c.deaf = false;
                    c.online = false;
                    c.peer = None;
                    self.input(i, lost);
                    self.pending.push_back((self.elapsed + Duration::from_millis(200), i, Due::Reconnect));
                }
            }
        }
        for i in 0..self.clients.len() {
            let due = self.clients[i].core.poll_timeout().is_some_and(|t| t <= self.now().mono);
            if due && !self.clients[i].dead {
                self.input(i, Input::Timeout);
            }
        }
        if self.elapsed - self.last_tick >= Duration::from_millis(250) {
            self.last_tick = self.elapsed;
            self.server.handle(self.server_now(), SInput::Tick);
            self.route();
        }
        super::invariants::check(self);
    }

    fn later(&mut self, after: Duration, i: usize, input: Input) {
        self.pending.push_back((self.elapsed + after, i, Due::Input(input)));
    }

    /// Carry out what client `i`'s core asked for.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.clients[i].core.poll_output() {
            self.output(i, out);
        }
    }

    fn output(&mut self, i: usize, out: Output) {
        let c = &mut self.clients[i];
        match out {
            Output::Signal(msg) => {
                c.sent.push(msg.clone());
                // The signaling client drops what is sent while there is no welcomed session.
                if let (true, false, Some(peer)) = (c.online, c.deaf, c.peer) {
                    self.send_to_server(peer, &msg);
                }
            }
            Output::Event(e) => c.events.push(e),
            Output::Resume(token) => c.resume = token,
            // A probe of a half-open connection goes unanswered: after the probe's timeout the
            // signaling client gives it up and reconnects (as a new connection).
            Output::ProbeSignaling if c.deaf => {
                let lost = Input::ServerDown { reason: "no answer".into(), retry_in: Duration::from_millis(200) };
                let after = crate::signaling::PROBE_TIMEOUT;
                self.pending.push_back((self.elapsed + after, i, Due::HalfOpenLost(lost)));
            }
            Output::ProbeSignaling => {}
            Output::Terms(terms) => {
                if let (true, Some(peer)) = (c.online, c.peer) {
                    let hello =
                        ClientMsg::Hello { version: PROTOCOL_VERSION, resume: None, terms: Some(terms), install: None };
                    self.send_to_server(peer, &hello);
                }
            }
            Output::OpenLink { id, who, offer, .. } => {
                let others = c.links.values().filter(|l| l.who == who).count();
                assert_eq!(others, 0, "client {i} opened a second link to {who:?}");
                c.links.insert(id, SimLink { who, offerer: offer, remote: None, connected: false });
                if offer {
                    self.later(Duration::from_millis(1), i, Input::Link(id, LinkInput::LocalDescription(addr(i, id))));
                }
            }
            Output::ApplyOffer { id, sdp } => {
                let link = c.links.get_mut(&id).unwrap_or_else(|| panic!("client {i}: offer on unknown link"));
                assert!(!link.offerer, "glare: client {i} took an offer on a link it offers on");
                link.remote = parse_addr(&sdp);
                self.later(Duration::from_millis(1), i, Input::Link(id, LinkInput::LocalDescription(addr(i, id))));
            }
            Output::ApplyAnswer { id, sdp } => {
                let link = c.links.get_mut(&id).unwrap_or_else(|| panic!("client {i}: answer on unknown link"));
                assert!(link.offerer, "client {i} took an answer on a link it answers on");
                link.remote = parse_addr(&sdp);
                if let (true, Some((j, rid))) = (self.paths_work, link.remote) {
                    self.pending.push_back((self.elapsed + CONNECT, i, Due::Connect(id)));
                    self.pending.push_back((self.elapsed + CONNECT, j, Due::Connect(rid)));
                }
            }
            Output::RestartIce { id } => {
                let link = c.links.get(&id).unwrap_or_else(|| panic!("client {i}: restart of an unknown link"));
                assert!(link.offerer, "client {i} restarted ICE on a link it answers on");
                self.later(Duration::from_millis(1), i, Input::Link(id, LinkInput::LocalDescription(addr(i, id))));
            }
            Output::AddCandidate { .. } | Output::StartSending { .. } | Output::Media(_) => {}
            Output::CloseLink { id, .. } => {
                if let Some(link) = c.links.remove(&id) {
                    self.notice_close(&link);
                }
            }
        }
    }

    /// A link end closed: the other end, if it was connected and still exists, notices later.
    fn notice_close(&mut self, link: &SimLink) {
        if let (true, Some((j, rid))) = (link.connected, link.remote) {
            self.later(NOTICE, j, Input::Link(rid, LinkInput::Down("Disconnected".into())));
        }
    }

    /// Connect link `id` of client `i` if both ends still exist and point at each other.
    fn maybe_connect(&mut self, i: usize, id: LinkId) {
        let Some((j, rid)) = self.clients[i].links.get(&id).and_then(|l| l.remote) else { return };
        let back = self.clients[j].links.get(&rid).and_then(|l| l.remote);
        if back != Some((i, id)) || self.clients[i].dead {
            return;
        }
        if let Some(l) = self.clients[i].links.get_mut(&id) {
            l.connected = true;
        }
        self.input(i, Input::Link(id, LinkInput::Connected));
    }

    fn send_to_server(&mut self, peer: PeerId, msg: &ClientMsg) {
        let text = encode(msg);
        let input = match decode_client(&text) {
            Ok(m) => SInput::Message(peer, m, TextFrame::text(text)),
            Err(e) => SInput::Invalid(peer, e),
        };
        self.server.handle(self.server_now(), input);
        self.route();
    }

    /// Deliver the server's outputs, one hop later.
    fn route(&mut self) {
        while let Some(out) = self.server.poll_output() {
            let (to, input) = match out {
                SOutput::Send { to, frame } => {
                    let msg = decode_server(frame.as_str()).unwrap_or_else(|e| panic!("server sent {frame:?}: {e}"));
                    let input = match msg {
                        ServerMsg::Welcome { peer_id, online, ice_servers, resume, resumed, .. } => {
                            Input::ServerUp { peer_id, online, ice_servers, resume, resumed }
                        }
                        other => Input::Server(other),
                    };
                    (to, input)
                }
                SOutput::Close { peer, reason, .. } => {
                    (peer, Input::ServerDown { reason: reason.into(), retry_in: Duration::from_secs(1) })
                }
                // The simulated connections never freeze, so the searchers' heartbeat is moot.
                SOutput::Searching { .. } | SOutput::Store(_) | SOutput::Cluster(_) => continue,
            };
            if let Some(i) = self.clients.iter().position(|c| c.peer == Some(to) && !c.deaf) {
                self.later(HOP, i, input);
            }
        }
    }

    /// Client `i`'s current call state.
    pub fn state(&self, i: usize) -> &CallState {
        self.clients[i].core.state()
    }

    /// Client `i`'s links, as (who, offerer, connected).
    pub fn links(&self, i: usize) -> Vec<(Who, bool, bool)> {
        self.clients[i].links.values().map(|l| (l.who, l.offerer, l.connected)).collect()
    }

    /// The server's id for client `i`.
    pub fn peer(&self, i: usize) -> PeerId {
        self.clients[i].peer.unwrap_or(PeerId(0))
    }

    /// Whether client `i` is in a connected random call with client `j`.
    pub fn in_call_with(&self, i: usize, j: usize) -> bool {
        self.clients[i].links.values().any(|l| l.who == Who::Partner && l.connected && l.remote.map(|r| r.0) == Some(j))
            && matches!(self.state(i), CallState::Connected)
    }

    /// Errors client `i` showed.
    pub fn errors(&self, i: usize) -> Vec<String> {
        self.clients[i]
            .events
            .iter()
            .filter_map(|e| if let Event::Error(m) = e { Some(m.clone()) } else { None })
            .collect()
    }
}

/// Something on its way to a client.
enum Due {
    Input(Input),
    /// Its signaling client reconnects.
    Reconnect,
    /// A link's negotiation completes: connect it if both ends still agree.
    Connect(LinkId),
    /// A probe of a half-open signaling connection timed out.
    HalfOpenLost(Input),
}

/// The "SDP" of a simulated link: its address.
fn addr(i: usize, id: LinkId) -> String {
    format!("sim {i} {}", id.0)
}

fn parse_addr(sdp: &str) -> Option<(usize, LinkId)> {
    let mut it = sdp.strip_prefix("sim ")?.split(' ');
    let i = it.next()?.parse().ok()?;
    let id = it.next()?.parse().ok()?;
    Some((i, LinkId(id)))
}
