//! The core's side of safety: the terms gate and bans at `find`/`join`/`next`, `report` and
//! `block` against the current or last random partner, kicking a client the moment it is banned,
//! and the moderators' views. The decisions themselves are the ledger's (`safety/ledger.rs`).

use strangers_shared::{ErrorCode, LeaveReason, PeerId, ReportReason, ServerMsg};

use super::safety::ledger::Verdict;
use super::safety::{Ban, BlockRow, Key, Report, Snapshot, StoreOp};
use super::{Core, Output, State};

/// Whom a client met last (the current partner during a call): kept so that a report or a block
/// just after the call still reaches them, and only them.
#[derive(Debug, Clone)]
pub(super) struct Met {
    peer: PeerId,
    ident: Key,
    durable: bool,
    net: Option<Key>,
    reported: bool,
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
    pub(super) last: Option<Met>,
}

impl Identity {
    /// The keys a ban on this client would be under.
    fn ban_keys(&self) -> Vec<Key> {
        let id = self.durable.then_some(self.ident);
        id.into_iter().chain(self.net).collect()
    }

    /// What this client is to whoever meets it.
    pub(super) fn as_met(&self, peer: PeerId) -> Met {
        Met { peer, ident: self.ident, durable: self.durable, net: self.net, reported: false }
    }
}

impl Core {
    /// `hello`'s safety fields: the terms accepted and the install id (kept only as its key).
    pub(super) fn identify(&mut self, peer: PeerId, terms: Option<String>, install: Option<String>) {
        let key = install.map(|id| self.cfg.keyer.install(&id));
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.who.terms = terms;
        if let Some(key) = key {
            p.who.ident = key;
            p.who.durable = true;
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
        let until = self.ledger.banned(&p.who.ban_keys(), self.now.unix_ms).map(|b| b.until);
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

    /// The partner a report or block from `peer` is about: the current or last one only.
    fn met(&mut self, peer: PeerId) -> Option<Met> {
        let met = self.peers.get(&peer).and_then(|p| p.who.last.clone());
        if met.is_none() {
            self.error(
                peer,
                ErrorCode::NotPaired,
                "there is nobody to report or block: you have not met anyone".into(),
            );
        }
        met
    }

    /// Block the target and, when it is the current partner, skip it.
    fn block_and_skip(&mut self, peer: PeerId, met: &Met) {
        let Some(me) = self.peers.get(&peer).map(|p| p.who.ident) else { return };
        let expires = self.now.unix_ms + self.cfg.safety.block_ttl_ms;
        self.ledger.block(me, met.ident, expires);
        self.stats.blocks += 1;
        let durable = self.peers.get(&peer).is_some_and(|p| p.who.durable) && met.durable;
        if durable {
            self.out.push_back(Output::Store(StoreOp::Block(BlockRow { a: me, b: met.ident, expires })));
        }
        let paired = self.peers.get(&peer).is_some_and(|p| p.state == State::Paired { partner: met.peer });
        if paired {
            self.stats.skips += 1;
            if let Some(p) = self.peers.get_mut(&peer) {
                p.state = State::Idle;
            }
            self.enqueue(peer);
            self.unpair(peer, met.peer, LeaveReason::Skipped);
        }
    }

    /// `block`: never meet the current or last partner again.
    pub(super) fn block(&mut self, peer: PeerId) {
        let Some(met) = self.met(peer) else { return };
        self.block_and_skip(peer, &met);
        self.send(peer, &ServerMsg::Blocked);
    }

    /// `report`: blocks and skips like `block`, and counts toward a ban of the stranger. A second
    /// report of the same stranger is acknowledged and ignored.
    pub(super) fn report(&mut self, peer: PeerId, reason: ReportReason, text: Option<String>, chat: Vec<String>) {
        let Some(met) = self.met(peer) else { return };
        self.block_and_skip(peer, &met);
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let first = p.who.last.as_mut().filter(|m| m.peer == met.peer && !m.reported).map(|m| m.reported = true);
        if first.is_none() {
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
        let also: Vec<Key> = met.durable.then_some(met.ident).into_iter().chain(met.net).collect();
        match self.ledger.report(&self.cfg.safety, report.clone(), &also) {
            Verdict::Flood => {
                self.stats.reports_dropped += 1;
                let text = "too many reports from your network; this one was not taken (the stranger is blocked)";
                return self.error(peer, ErrorCode::RateLimited, text.into());
            }
            Verdict::Noted => {}
            Verdict::Ban(bans) => {
                self.stats.bans += 1;
                for ban in &bans {
                    self.out.push_back(Output::Store(StoreOp::Ban(ban.clone())));
                }
                self.enforce(&bans);
            }
        }
        self.stats.reports[ReportReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)] += 1;
        self.out.push_back(Output::Store(StoreOp::Report(report)));
        self.schedule_sweep();
        self.send(peer, &ServerMsg::Reported);
    }

    /// Whoever is online under a banned key stops where they are and is told.
    fn enforce(&mut self, bans: &[Ban]) {
        let hit = |keys: Vec<Key>| bans.iter().find(|b| keys.contains(&b.key)).map(|b| b.until);
        let caught: Vec<(PeerId, u64)> =
            self.peers.iter().filter_map(|(id, p)| hit(p.who.ban_keys()).map(|until| (*id, until))).collect();
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

    /// Bans in force at `unix_ms` (for `/admin/bans`).
    pub fn active_bans(&self, unix_ms: u64) -> Vec<Ban> {
        self.ledger.active_bans(unix_ms)
    }

    /// End the ban on `key` now (a moderator's decision); whether there was one.
    pub fn lift_ban(&mut self, unix_ms: u64, key: Key) -> bool {
        match self.ledger.lift(key, unix_ms) {
            Some(ban) => {
                self.out.push_back(Output::Store(StoreOp::Ban(ban)));
                true
            }
            None => false,
        }
    }
}

/// How often the ledger forgets what expired.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
