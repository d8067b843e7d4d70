//! The core's side of safety: the terms gate and bans at `find`/`join`/`next`, `report` and
//! `block` against the current or last random partner, kicking a client the moment it is banned,
//! and the moderators' views. The decisions themselves are the ledger's (`safety/ledger.rs`).

use strangers_shared::{ErrorCode, LeaveReason, PeerId, ReportReason, ServerMsg};

use super::safety::ledger::Verdict;
use super::safety::{Ban, BlockRow, Key, Report, Snapshot, StoreOp};
use super::shared_safety::report_targets;
use super::{Core, State};

/// Whom a client met last (the current partner during a call): kept so that a report or a block
/// just after the call still reaches them, and only them.
#[derive(Debug, Clone)]
pub(super) struct Met {
    peer: PeerId,
    /// The call's number (from `matched`), so that a report names this call and no later one.
    pub(super) call: u64,
    ident: Key,
    durable: bool,
    net: Option<Key>,
    reported: bool,
    /// A partner on another node: its session, for resume tokens.
    sid: Option<super::resume::Sid>,
}

impl Met {
    /// A partner on another node, known by the keys its node sent.
    pub(super) fn remote(peer: PeerId, call: u64, keys: super::cluster::Keys) -> Met {
        Met { peer, call, ident: keys.ident, durable: keys.durable, net: keys.net, reported: false, sid: keys.sid }
    }

    /// A partner on another node: its session.
    pub(super) fn sid(&self) -> Option<super::resume::Sid> {
        self.sid
    }

    /// The same stranger, now on a new connection (it resumed its session).
    pub(super) fn moved_to(&mut self, peer: PeerId) {
        self.peer = peer;
    }

    /// Who it is.
    pub(super) fn peer(&self) -> PeerId {
        self.peer
    }
}

/// What a `report` says.
#[derive(Debug, Clone)]
pub(super) struct Complaint {
    pub(super) reason: ReportReason,
    pub(super) text: Option<String>,
    pub(super) chat: Vec<String>,
    pub(super) call: Option<u64>,
}

/// What a peer is known by, for safety.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// Its install key, or (with no install id) a key for this connection only.
    pub(super) ident: Key,
    /// Whether `ident` is an install key (kept across connections and restarts).
    pub(super) durable: bool,
    /// Its network's key.
    pub(super) net: Option<Key>,
    /// The terms version its `hello` accepted.
    pub(super) terms: Option<String>,
    /// Its current or last random partner.
    pub(super) last: Option<Box<Met>>,
}

impl Identity {
    /// The keys a ban on this client would be under.
    fn ban_keys(&self) -> impl Iterator<Item = Key> {
        self.durable.then_some(self.ident).into_iter().chain(self.net)
    }

    /// What this client's keys are, for a partner on another node.
    pub(super) fn keys(&self) -> super::cluster::Keys {
        super::cluster::Keys { ident: self.ident, durable: self.durable, net: self.net, sid: None }
    }

    /// What this client is to whoever meets it.
    pub(super) fn as_met(&self, peer: PeerId, call: u64) -> Met {
        Met { peer, call, ident: self.ident, durable: self.durable, net: self.net, reported: false, sid: None }
    }
}

impl Core {
    /// `hello`'s safety fields: the terms accepted and the install id (kept only as its key).
    /// The install id is fixed by the first `hello` that gives one: a connection cannot change
    /// identity between calls to shed its reports or slip past blocks.
    pub(super) fn identify(&mut self, peer: PeerId, terms: Option<String>, install: Option<String>) {
        let key = install.map(|id| self.cfg.keyer.install(&id));
        let Some(p) = self.peers.get_mut(&peer) else { return };
        if terms.is_some() {
            p.who.terms = terms;
        }
        if let Some(key) = key
            && !p.who.durable
        {
            let connection_key = std::mem::replace(&mut p.who.ident, key);
            p.who.durable = true;
            self.ledger.forget(connection_key);
        }
    }

    /// A connection is gone: blocks made under its connection key can never apply again.
    pub(super) fn forget_connection(&mut self, who: &Identity) {
        if !who.durable {
            self.ledger.forget(who.ident);
        }
    }

    /// Whether `peer` may look for strangers or join a room: it accepted the required terms and is
    /// not banned. If not, it is told why.
    pub(super) fn may_meet(&mut self, peer: PeerId) -> bool {
        let Some(p) = self.peers.get(&peer) else { return false };
        if let Some(required) = &self.cfg.safety.require_terms
            && p.who.terms.as_ref() != Some(required)
        {
            let text = format!("accept the terms (version {required}) and confirm you are 18 or older first");
            self.error(peer, ErrorCode::TermsRequired, text);
            return false;
        }
        let until = self.ledger.banned(p.who.ban_keys(), self.now.unix_ms).map(|b| b.until);
        match until {
            Some(until) => {
                self.banned(peer, until);
                false
            }
            None => true,
        }
    }

    fn banned(&mut self, peer: PeerId, until: u64) {
        self.stats.count_error(ErrorCode::Banned);
        let left = until.saturating_sub(self.now.unix_ms);
        let hours = left.div_ceil(3_600_000);
        let message = format!("after reports from several people you cannot meet strangers for {hours} h");
        let msg = ServerMsg::Error { code: ErrorCode::Banned, message, retry_in_ms: Some(left), until_ms: Some(until) };
        self.send(peer, &msg);
    }

    /// The partner a report or block from `peer` is about: the current or last one only, and
    /// only if it is the call the client names (when it names one).
    fn met(&mut self, peer: PeerId, call: Option<u64>) -> Option<Met> {
        let met = self.peers.get(&peer).and_then(|p| p.who.last.clone());
        match met {
            None => {
                let text = "there is nobody to report or block: you have not met anyone";
                self.error(peer, ErrorCode::NotPaired, text.into());
                None
            }
            Some(m) if call.is_some_and(|c| c != m.call) => {
                let text = "that stranger is gone: you have met someone else since; nothing was done";
                self.error(peer, ErrorCode::WrongState, text.into());
                None
            }
            met => met.map(|m| *m),
        }
    }

    /// Block the target and, when it is the current partner, skip it.
    fn block_and_skip(&mut self, peer: PeerId, met: &Met) {
        let Some(me) = self.peers.get(&peer).map(|p| p.who.ident) else { return };
        let expires = self.now.unix_ms + self.cfg.safety.block_ttl_ms;
        self.ledger.block(me, met.ident, expires);
        self.stats.blocks += 1;
        let durable = self.peers.get(&peer).is_some_and(|p| p.who.durable) && met.durable;
        if durable {
            self.keep(StoreOp::Block(BlockRow { a: me, b: met.ident, expires }), true);
        }
        self.schedule_sweep();
        let paired = self.peers.get(&peer).is_some_and(|p| p.state == State::Paired { partner: met.peer });
        if paired {
            // A block ends the call as Next does, and counts as a skip: blocking is not a way
            // past the skip limit.
            let (limit, now) = (self.cfg.skip_limit, self.now.mono);
            let refused = self.peers.get_mut(&peer).and_then(|p| p.skips.skip(&limit, now).err());
            self.stats.skips += 1;
            if let Some(p) = self.peers.get_mut(&peer) {
                p.state = State::Idle;
            }
            if refused.is_none() {
                self.enqueue(peer);
            }
            self.unpair(peer, met.peer, LeaveReason::Skipped);
            if let Some(left) = refused {
                self.stats.slowdowns += 1;
                self.slow_down(peer, left);
            }
        }
    }

    /// `block`: never meet the current or last partner again.
    pub(super) fn block(&mut self, peer: PeerId, call: Option<u64>) {
        let Some(met) = self.met(peer, call) else { return };
        self.block_and_skip(peer, &met);
        self.send(peer, &ServerMsg::Blocked);
    }

    /// `report`: blocks and skips like `block`, and counts toward a ban of the stranger. A second
    /// report of the same stranger is acknowledged and ignored.
    pub(super) fn report(&mut self, peer: PeerId, what: Complaint) {
        let Complaint { reason, text, chat, call } = what;
        let Some(met) = self.met(peer, call) else { return };
        self.block_and_skip(peer, &met);
        let Some(p) = self.peers.get(&peer) else { return };
        if p.who.last.as_ref().is_none_or(|m| m.peer != met.peer || m.reported) {
            return self.send(peer, &ServerMsg::Reported);
        }
        let report = Report {
            at: self.now.unix_ms,
            voice: p.who.net.unwrap_or(p.who.ident),
            reporter: p.who.ident,
            subject: if met.durable { met.ident } else { met.net.unwrap_or(met.ident) },
            subject_net: met.net,
            reason,
            text,
            chat,
        };
        let targets = report_targets(&report, self.cfg.safety.ban_threshold);
        match self.ledger.report(&self.cfg.safety, report.clone(), &targets) {
            Verdict::Flood => {
                self.stats.reports_dropped += 1;
                let text = "too many reports from your network; this one was not taken (the stranger is blocked)";
                return self.error(peer, ErrorCode::RateLimited, text.into());
            }
            Verdict::Noted => {}
            Verdict::Ban(bans) => {
                self.stats.bans += 1;
                for ban in &bans {
                    self.keep(StoreOp::Ban(ban.clone()), true);
                }
                self.enforce(&bans);
            }
        }
        if let Some(m) = self.peers.get_mut(&peer).and_then(|p| p.who.last.as_mut()) {
            m.reported = true;
        }
        self.stats.reports[ReportReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)] += 1;
        self.keep(StoreOp::Report(report), true);
        self.schedule_sweep();
        self.send(peer, &ServerMsg::Reported);
    }

    /// Whoever is online under a banned key stops where they are and is told.
    pub(super) fn enforce(&mut self, bans: &[Ban]) {
        let hit = |who: &Identity| who.ban_keys().find_map(|k| bans.iter().find(|b| b.key == k)).map(|b| b.until);
        let caught: Vec<(PeerId, u64)> =
            self.peers.iter().filter_map(|(id, p)| hit(&p.who).map(|until| (*id, until))).collect();
        for (peer, until) in caught {
            self.stop(peer);
            self.banned(peer, until);
        }
    }

    /// Whether a block stands between two peers.
    pub(super) fn blocked(&self, a: PeerId, b: PeerId) -> bool {
        let (Some(a), Some(b)) = (self.peers.get(&a), self.peers.get(&b)) else { return false };
        self.ledger.blocked(a.who.ident, b.who.ident, self.now.unix_ms)
    }

    /// Sweep the ledger [`SWEEP_EVERY`] from now, unless a sweep is already due.
    pub(super) fn schedule_sweep(&mut self) {
        if self.sweep_at.is_none() {
            self.sweep_at = Some(self.now.mono + SWEEP_EVERY);
        }
    }

    /// On a tick: sweep the ledger if it is time.
    pub(super) fn tick_safety(&mut self) {
        if self.sweep_at.is_some_and(|at| at <= self.now.mono) {
            self.ledger.sweep(&self.cfg.safety, self.now.unix_ms);
            self.sweep_at = None;
            if !self.ledger.is_empty() {
                self.schedule_sweep();
            }
        }
    }

    /// Load what a store kept (at start, before any connection).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.ledger.restore(snapshot.blocks, snapshot.bans, snapshot.reports);
        self.schedule_sweep();
    }

    /// The latest reports, newest first (for `/admin/reports`).
    pub fn recent_reports(&self, limit: usize) -> Vec<Report> {
        self.ledger.recent_reports(limit).cloned().collect()
    }

    /// How many keys are banned at `unix_ms` (for `/metrics`).
    pub fn active_ban_count(&self, unix_ms: u64) -> usize {
        self.ledger.active_ban_count(unix_ms)
    }

    /// Bans in force at `unix_ms` (for `/admin/bans`).
    pub fn active_bans(&self, unix_ms: u64) -> Vec<Ban> {
        self.ledger.active_bans(unix_ms)
    }

    /// End the ban on `key` now (a moderator's decision), with the bans of the same incident
    /// on the stranger's other keys; whether there was one.
    pub fn lift_ban(&mut self, unix_ms: u64, key: Key) -> bool {
        let lifted = self.ledger.lift(key, unix_ms);
        let any = !lifted.is_empty();
        for ban in lifted {
            self.keep(StoreOp::Ban(ban), true);
        }
        any
    }
}

/// How often the ledger forgets what expired.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
