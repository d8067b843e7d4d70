//! The SQLite file: three tables holding keys (never addresses or install ids) and times in
//! milliseconds since the Unix epoch.

use std::path::Path;

use rusqlite::{Connection, params};
use strangers_shared::ReportReason;

use crate::core::safety::{Ban, BlockRow, Key, Report, Snapshot, StoreOp};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS blocks (
    a TEXT NOT NULL, b TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (a, b)
);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    voice TEXT NOT NULL,
    reporter TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_net TEXT,
    reason TEXT NOT NULL,
    text TEXT,
    chat TEXT NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_expires ON reports (expires);
CREATE TABLE IF NOT EXISTS bans (
    key TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    strikes INTEGER NOT NULL,
    forget_at INTEGER NOT NULL
);
";

/// An open database.
pub(super) struct Db {
    conn: Connection,
    report_ttl_ms: u64,
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn key(text: &str) -> rusqlite::Result<Key> {
    Key::parse(text).ok_or_else(|| rusqlite::Error::InvalidColumnType(0, text.into(), rusqlite::types::Type::Text))
}

fn reason(text: &str) -> ReportReason {
    ReportReason::ALL.into_iter().find(|r| r.as_str() == text).unwrap_or(ReportReason::Other)
}

impl Db {
    pub(super) fn open(path: &Path, report_ttl_ms: u64) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db { conn, report_ttl_ms })
    }

    /// Delete blocks and reports past their time, and bans whose memory is over.
    pub(super) fn purge(&mut self, now: u64) -> rusqlite::Result<()> {
        let now = ms(now);
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM blocks WHERE expires <= ?1", [now])?;
        tx.execute("DELETE FROM reports WHERE expires <= ?1", [now])?;
        tx.execute("DELETE FROM bans WHERE forget_at <= ?1", [now])?;
        tx.commit()
    }

    pub(super) fn write(&mut self, op: &StoreOp) -> rusqlite::Result<()> {
        match op {
            StoreOp::Block(b) => {
                self.conn.execute(
                    "INSERT OR REPLACE INTO blocks (a, b, expires) VALUES (?1, ?2, ?3)",
                    params![b.a.to_string(), b.b.to_string(), ms(b.expires)],
                )?;
            }
            StoreOp::Report(r) => {
                let chat = serde_json::to_string(&r.chat).unwrap_or_else(|_| "[]".into());
                self.conn.execute(
                    "INSERT INTO reports (at, voice, reporter, subject, subject_net, reason, text, chat, expires)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        ms(r.at),
                        r.voice.to_string(),
                        r.reporter.to_string(),
                        r.subject.to_string(),
                        r.subject_net.map(|k| k.to_string()),
                        r.reason.as_str(),
                        r.text,
                        chat,
                        ms(r.at.saturating_add(self.report_ttl_ms)),
                    ],
                )?;
            }
            StoreOp::Ban(b) => {
                self.conn.execute(
                    "INSERT OR REPLACE INTO bans (key, since, until, strikes, forget_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![b.key.to_string(), ms(b.since), ms(b.until), b.strikes, ms(b.forget_at)],
                )?;
            }
        }
        Ok(())
    }

    pub(super) fn load(&self) -> rusqlite::Result<Snapshot> {
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut blocks = Vec::new();
        let mut stmt = self.conn.prepare("SELECT a, b, expires FROM blocks")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (a, b): (String, String) = (row.get(0)?, row.get(1)?);
            blocks.push(BlockRow { a: key(&a)?, b: key(&b)?, expires: u(row.get(2)?) });
        }
        let mut bans = Vec::new();
        let mut stmt = self.conn.prepare("SELECT key, since, until, strikes, forget_at FROM bans")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let k: String = row.get(0)?;
            bans.push(Ban {
                key: key(&k)?,
                since: u(row.get(1)?),
                until: u(row.get(2)?),
                strikes: row.get(3)?,
                forget_at: u(row.get(4)?),
            });
        }
        let mut reports = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT at, voice, reporter, subject, subject_net, reason, text, chat FROM reports ORDER BY at")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (voice, reporter, subject): (String, String, String) = (row.get(1)?, row.get(2)?, row.get(3)?);
            let subject_net: Option<String> = row.get(4)?;
            let why: String = row.get(5)?;
            let chat: String = row.get(7)?;
            reports.push(Report {
                at: u(row.get(0)?),
                voice: key(&voice)?,
                reporter: key(&reporter)?,
                subject: key(&subject)?,
                subject_net: subject_net.as_deref().map(key).transpose()?,
                reason: reason(&why),
                text: row.get(6)?,
                chat: serde_json::from_str(&chat).unwrap_or_default(),
            });
        }
        Ok(Snapshot { blocks, bans, reports })
    }

    /// Rows in a table (for tests).
    #[cfg(test)]
    pub(super) fn count(&self, table: &str) -> rusqlite::Result<i64> {
        self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> Key {
        Key([n; 16])
    }

    #[test]
    fn rows_round_trip_and_expire() {
        let dir = std::env::temp_dir().join(format!("strangers-db-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut db = Db::open(&dir.join("t.db"), 1000).unwrap();
        let report = Report {
            at: 5000,
            voice: k(1),
            reporter: k(2),
            subject: k(3),
            subject_net: Some(k(4)),
            reason: ReportReason::Underage,
            text: Some("said \"14\"".into()),
            chat: vec!["i'm 14".into()],
        };
        let ban = Ban { key: k(3), since: 5000, until: 9000, strikes: 1, forget_at: 20_000 };
        db.write(&StoreOp::Block(BlockRow { a: k(2), b: k(3), expires: 7000 })).unwrap();
        db.write(&StoreOp::Report(report.clone())).unwrap();
        db.write(&StoreOp::Ban(ban.clone())).unwrap();
        drop(db);
        let mut db = Db::open(&dir.join("t.db"), 1000).unwrap();
        let snap = db.load().unwrap();
        assert_eq!(snap.reports, vec![report]);
        assert_eq!(snap.bans, vec![ban]);
        assert_eq!(snap.blocks, vec![BlockRow { a: k(2), b: k(3), expires: 7000 }]);
        db.purge(6000).unwrap();
        assert_eq!(db.count("reports").unwrap(), 0, "reports live 1000 ms here");
        assert_eq!(db.count("blocks").unwrap(), 1);
        db.purge(20_000).unwrap();
        assert_eq!((db.count("blocks").unwrap(), db.count("bans").unwrap()), (0, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
