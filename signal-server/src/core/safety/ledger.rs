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
        self.blocks.insert(pair(a, b), expires);
    }

    /// Whether a block stands between `a` and `b` at `now`.
    pub(crate) fn blocked(&self, a: Key, b: Key, now: u64) -> bool {
        self.blocks.get(&pair(a, b)).is_some_and(|&until| until > now)
    }

    /// The ban on any of `keys` at `now` that ends last, if any.
    pub(crate) fn banned(&self, keys: &[Key], now: u64) -> Option<&Ban> {
        keys.iter().filter_map(|k| self.bans.get(k)).filter(|b| b.until > now).max_by_key(|b| b.until)
    }

    /// Take a report. `voice` is the reporter's network (one network is one reporter, however
    /// many times it reports); `subject` the key reports about the stranger are counted on, and
    /// `also` the stranger's other keys that a ban covers too.
    pub(crate) fn report(&mut self, cfg: &SafetyConfig, report: Report, also: &[Key]) -> Verdict {
        let now = report.at;
        let sent = self.sent.entry(report.voice).or_default();
        while sent.front().is_some_and(|t| now.saturating_sub(*t) >= cfg.report_flood_window_ms) {
            sent.pop_front();
        }
        if sent.len() >= cfg.report_flood_max as usize {
            return Verdict::Flood;
        }
        sent.push_back(now);
        let subject = report.subject;
        let voice = report.voice;
        self.recent.push_back(report);
        if self.recent.len() > RECENT_REPORTS {
            self.recent.pop_front();
        }
        let voices = self.counting.entry(subject).or_default();
        voices.retain(|(_, at)| now.saturating_sub(*at) < cfg.ban_window_ms);
        match voices.iter_mut().find(|(v, _)| *v == voice) {
            Some(seen) => seen.1 = now,
            None => voices.push((voice, now)),
        }
        if voices.len() < cfg.ban_threshold as usize {
            return Verdict::Noted;
        }
        self.counting.remove(&subject);
        let strikes = self.bans.get(&subject).filter(|b| b.forget_at > now).map_or(0, |b| b.strikes) + 1;
        let steps = &cfg.ban_steps_ms;
        let length = steps.get(strikes as usize - 1).or(steps.last()).copied().unwrap_or(0);
        let until = now + length;
        let bans: Vec<Ban> = std::iter::once(subject)
            .chain(also.iter().copied().filter(|k| *k != subject))
            .map(|key| Ban { key, since: now, until, strikes, forget_at: until + cfg.strike_memory_ms })
            .collect();
        for ban in &bans {
            self.bans.insert(ban.key, ban.clone());
        }
        Verdict::Ban(bans)
    }

    /// End a ban now (a moderator's decision). The strike is still remembered for escalation.
    pub(crate) fn lift(&mut self, key: Key, now: u64) -> Option<Ban> {
        let ban = self.bans.get_mut(&key).filter(|b| b.until > now)?;
        ban.until = now;
        Some(ban.clone())
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
            let since = self.bans.get(&r.subject).map_or(0, |b| b.since);
            // The reports up to a ban were spent on it.
            if r.at > since {
                let voices = self.counting.entry(r.subject).or_default();
                match voices.iter_mut().find(|(v, _)| *v == r.voice) {
                    Some(seen) => seen.1 = r.at,
                    None => voices.push((r.voice, r.at)),
                }
            }
            self.recent.push_back(r);
            if self.recent.len() > RECENT_REPORTS {
                self.recent.pop_front();
            }
        }
    }
}
