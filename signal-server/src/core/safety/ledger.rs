//! The decisions of safety, on keys and wall-clock milliseconds only: who blocked whom, which
//! reports count toward a ban, when a ban starts and how long it lasts. Pure; the core feeds it
//! and turns what it decides into messages and store effects.

use std::collections::{HashMap, VecDeque};

use super::{Ban, BlockRow, Key, Report, SafetyConfig};

/// What a report led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Taken; no ban (yet).
    Noted,
    /// Taken, and it was the last report needed: these bans start now (the subject's install id
    /// and network).
    Ban(Vec<Ban>),
    /// The reporter's network has sent too many reports lately; dropped.
    Flood,
}

/// Blocks, counted reports and bans; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Blocks by (smaller key, larger key): symmetric by construction, with their expiry.
    blocks: HashMap<(Key, Key), u64>,
    /// Each key's block partners (both directions), for telling a shared queue whom to avoid.
    blocked_with: HashMap<Key, Vec<Key>>,
    /// Per subject, the distinct reporters' networks that reported it since its last ban, with
    /// the time of each one's latest report.
    counting: HashMap<Key, Vec<(Key, u64)>>,
    /// Bans by key, including ended ones remembered for escalation until `forget_at`.
    bans: HashMap<Key, Ban>,
    /// Per reporter network, when its recent reports came (for the flood limit).
    sent: HashMap<Key, VecDeque<u64>>,
    /// The latest reports, newest last, for moderators.
    recent: VecDeque<Report>,
}

/// At most this many reports are kept in memory for `/admin/reports` (the store keeps them all
/// for their retention).
pub(crate) const RECENT_REPORTS: usize = 1000;

fn pair(a: Key, b: Key) -> (Key, Key) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Ledger {
    /// `a` blocks `b` (or the other way round: blocks are symmetric) until `expires`.
    pub(crate) fn block(&mut self, a: Key, b: Key, expires: u64) {
        if self.blocks.insert(pair(a, b), expires).is_none() {
            self.blocked_with.entry(a).or_default().push(b);
            self.blocked_with.entry(b).or_default().push(a);
        }
    }

    /// The keys a block stands between `key` and at `now`.
    pub(crate) fn blocked_by(&self, key: Key, now: u64) -> impl Iterator<Item = Key> + '_ {
        let others = self.blocked_with.get(&key).map_or(&[][..], Vec::as_slice);
        others.iter().copied().filter(move |o| self.blocked(key, *o, now))
    }

    /// Whether a block stands between `a` and `b` at `now`.
    pub(crate) fn blocked(&self, a: Key, b: Key, now: u64) -> bool {
        self.blocks.get(&pair(a, b)).is_some_and(|&until| until > now)
    }

    /// The ban on any of `keys` at `now` that ends last, if any.
    pub(crate) fn banned<K: std::borrow::Borrow<Key>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        now: u64,
    ) -> Option<&Ban> {
        keys.into_iter().filter_map(|k| self.bans.get(k.borrow())).filter(|b| b.until > now).max_by_key(|b| b.until)
    }

    /// How many keys are banned at `now` (for `/metrics`).
    pub(crate) fn active_ban_count(&self, now: u64) -> usize {
        self.bans.values().filter(|b| b.until > now).count()
    }

    /// `voice` reported the key these voices are counted for, at `at`.
    fn hear(voices: &mut Vec<(Key, u64)>, voice: Key, at: u64) {
        match voices.iter_mut().find(|(v, _)| *v == voice) {
            Some(seen) => seen.1 = at,
            None => voices.push((voice, at)),
        }
    }

    /// Keep a report among the latest, for moderators.
    fn remember(&mut self, report: Report) {
        self.recent.push_back(report);
        if self.recent.len() > RECENT_REPORTS {
            self.recent.pop_front();
        }
    }

    /// Take a report. `voice` is the reporter's network (one network is one reporter, however
    /// many times and under however many install ids it reports). The report counts toward a ban
    /// on each of `targets`, the stranger's keys, each with its own bar: reports from that many
    /// distinct networks within the window ban that key.
    pub(crate) fn report(&mut self, cfg: &SafetyConfig, report: Report, targets: &[(Key, u32)]) -> Verdict {
        let now = report.at;
        let sent = self.sent.entry(report.voice).or_default();
        while sent.front().is_some_and(|t| now.saturating_sub(*t) >= cfg.report_flood_window_ms) {
            sent.pop_front();
        }
        if sent.len() >= cfg.report_flood_max as usize {
            return Verdict::Flood;
        }
        sent.push_back(now);
        let voice = report.voice;
        self.remember(report);
        let mut bans = Vec::new();
        for &(key, bar) in targets {
            let voices = self.counting.entry(key).or_default();
            voices.retain(|(_, at)| now.saturating_sub(*at) < cfg.ban_window_ms);
            Self::hear(voices, voice, now);
            if voices.len() < bar.max(1) as usize {
                continue;
            }
            self.counting.remove(&key);
            let strikes = self.bans.get(&key).filter(|b| b.forget_at > now).map_or(0, |b| b.strikes) + 1;
            let steps = &cfg.ban_steps_ms;
            let length = steps.get(strikes as usize - 1).or(steps.last()).copied().unwrap_or(0);
            let until = now + length;
            let ban = Ban { key, since: now, until, strikes, forget_at: until + cfg.strike_memory_ms };
            bans.push(self.impose(ban));
        }
        if bans.is_empty() { Verdict::Noted } else { Verdict::Ban(bans) }
    }

    /// A ban another node decided, put in force here too.
    pub(crate) fn impose_shared(&mut self, ban: Ban) -> Ban {
        self.impose(ban)
    }

    /// Put a ban in force, never shortening one already running on the key.
    fn impose(&mut self, mut ban: Ban) -> Ban {
        if let Some(old) = self.bans.get(&ban.key).filter(|old| old.until > ban.since) {
            ban.until = ban.until.max(old.until);
            ban.strikes = ban.strikes.max(old.strikes);
            ban.forget_at = ban.forget_at.max(old.forget_at);
        }
        self.bans.insert(ban.key, ban.clone());
        ban
    }

    /// End a ban now (a moderator's decision), with every ban that started with it (the same
    /// stranger's other keys). The strikes are still remembered for escalation.
    pub(crate) fn lift(&mut self, key: Key, now: u64) -> Vec<Ban> {
        let Some(since) = self.bans.get(&key).filter(|b| b.until > now).map(|b| b.since) else { return Vec::new() };
        let mut lifted = Vec::new();
        for ban in self.bans.values_mut().filter(|b| b.since == since && b.until > now) {
            ban.until = now;
            lifted.push(ban.clone());
        }
        lifted
    }

    /// Forget every block of a key that can never be seen again (a connection's own key, once
    /// the connection is gone or has given its install id).
    pub(crate) fn forget(&mut self, key: Key) {
        for other in self.blocked_with.remove(&key).unwrap_or_default() {
            self.blocks.remove(&pair(key, other));
            if let Some(list) = self.blocked_with.get_mut(&other) {
                list.retain(|k| *k != key);
            }
        }
    }

    /// Everything to keep at `now`: blocks in force and bans still remembered (to share again
    /// after the cluster's Redis lost them).
    pub(crate) fn kept(&self, now: u64) -> (Vec<BlockRow>, Vec<Ban>) {
        let blocks = self
            .blocks
            .iter()
            .filter(|(_, expires)| **expires > now)
            .map(|((a, b), expires)| BlockRow { a: *a, b: *b, expires: *expires })
            .collect();
        (blocks, self.bans.values().filter(|b| b.forget_at > now).cloned().collect())
    }

    /// Bans in force at `now`, ending last first.
    pub(crate) fn active_bans(&self, now: u64) -> Vec<Ban> {
        let mut bans: Vec<Ban> = self.bans.values().filter(|b| b.until > now).cloned().collect();
        bans.sort_by(|a, b| b.until.cmp(&a.until).then(a.key.cmp(&b.key)));
        bans
    }

    /// The latest reports, newest first.
    pub(crate) fn recent_reports(&self, limit: usize) -> impl Iterator<Item = &Report> {
        self.recent.iter().rev().take(limit)
    }

    /// Forget what has expired at `now`: blocks past their time, counted reports past the ban
    /// window, bans whose strike memory is over, idle flood meters.
    pub(crate) fn sweep(&mut self, cfg: &SafetyConfig, now: u64) {
        self.blocks.retain(|_, until| *until > now);
        let blocks = &self.blocks;
        self.blocked_with.retain(|key, others| {
            others.retain(|o| blocks.contains_key(&pair(*key, *o)));
            !others.is_empty()
        });
        self.counting.retain(|_, voices| {
            voices.retain(|(_, at)| now.saturating_sub(*at) < cfg.ban_window_ms);
            !voices.is_empty()
        });
        self.bans.retain(|_, b| b.forget_at > now);
        self.sent.retain(|_, times| times.back().is_some_and(|t| now.saturating_sub(*t) < cfg.report_flood_window_ms));
        self.recent.retain(|r| now.saturating_sub(r.at) < cfg.report_ttl_ms);
    }

    /// Whether anything is held that a sweep could free.
    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.counting.is_empty() && self.bans.is_empty() && self.sent.is_empty()
    }

    /// Load what a store kept (at start). Reports replay in time order, so bans already taken are
    /// not taken again: they come back as bans, and the reports after them count on.
    pub(crate) fn restore(&mut self, blocks: Vec<BlockRow>, bans: Vec<Ban>, reports: Vec<Report>) {
        for b in blocks {
            self.block(b.a, b.b, b.expires);
        }
        for ban in bans {
            self.bans.insert(ban.key, ban);
        }
        let mut reports = reports;
        reports.sort_by_key(|r| r.at);
        for r in reports {
            let keys = std::iter::once(r.subject).chain(r.subject_net.filter(|n| *n != r.subject));
            for key in keys {
                // The reports up to a ban were spent on it.
                let since = self.bans.get(&key).map_or(0, |b| b.since);
                if r.at > since {
                    Self::hear(self.counting.entry(key).or_default(), r.voice, r.at);
                }
            }
            self.remember(r);
        }
    }
}
