//! Safety across the nodes of a cluster: the blocks made, reports taken and bans decided (or
//! lifted) on one node are shared with the others (published, and kept in Redis for nodes that start later),
//! and each node imports what the others share: it counts the reports the same way, so every
//! node reaches the same bans, and enforces a ban on its own clients at once.

use super::safety::ledger::Verdict;
use super::safety::{Key, Report, StoreOp};
use super::{Core, Output, cluster::ClusterOp};

/// The keys a report counts toward, each with its bar: the install id at the ordinary bar and
/// its network at twice that (rotating install ids does not escape reports, and a shared network
/// is not shut out by as few reports as one person is); without an install id, the network at
/// the ordinary bar.
pub(super) fn report_targets(report: &Report, bar: u32) -> Vec<(Key, u32)> {
    match report.subject_net {
        Some(net) if net != report.subject => vec![(report.subject, bar), (net, bar.saturating_mul(2))],
        _ => vec![(report.subject, bar)],
    }
}

impl Core {
    /// Keep `op` in this node's store and, when it is this node's own decision and the node is
    /// in a cluster, share it with the others.
    pub(super) fn keep(&mut self, op: StoreOp, share: bool) {
        if share && self.clustered() {
            self.out.push_back(Output::Cluster(ClusterOp::Share(op.clone())));
        }
        self.out.push_back(Output::Store(op));
    }

    /// A report or ban another node shared.
    pub(super) fn import(&mut self, op: StoreOp) {
        let now = self.now.unix_ms;
        match op {
            StoreOp::Report(report) => {
                let targets = report_targets(&report, self.cfg.safety.ban_threshold);
                self.keep(StoreOp::Report(report.clone()), false);
                if let Verdict::Ban(bans) = self.ledger.report(&self.cfg.safety, report, &targets) {
                    for ban in &bans {
                        self.keep(StoreOp::Ban(ban.clone()), false);
                    }
                    self.enforce(&bans);
                }
            }
            StoreOp::Ban(ban) if ban.until <= now => {
                for lifted in self.ledger.lift(ban.key, now) {
                    self.keep(StoreOp::Ban(lifted), false);
                }
            }
            StoreOp::Ban(ban) => {
                let ban = self.ledger.impose_shared(ban);
                self.keep(StoreOp::Ban(ban.clone()), false);
                self.enforce(std::slice::from_ref(&ban));
            }
            StoreOp::Block(row) => {
                // So that this node's searches keep the two apart too (the blocker may search
                // here next).
                self.ledger.block(row.a, row.b, row.expires);
                self.keep(StoreOp::Block(row), false);
            }
        }
        self.schedule_sweep();
    }
}
