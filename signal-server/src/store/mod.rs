//! Where safety is kept: a SQLite file under `--data-dir` (blocks, reports, bans), written by a
//! thread of its own so that the hub never waits on a disk. The core decides; the store only
//! writes what the core emits ([`StoreOp`]), deletes rows past their time, and hands back a
//! [`Snapshot`] at start.

mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::core::safety::{Snapshot, StoreOp};

/// Most blocks waiting for the store's thread; past this new ones are dropped (and counted).
/// Reports and bans are never dropped: the flood limit bounds them.
const MAX_PENDING_BLOCKS: usize = 4096;

/// How often rows past their time are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "strangers.db";

/// A running store (see the module docs). Dropping it writes what is queued and stops the thread.
#[derive(Debug)]
pub struct Store {
    tx: Option<mpsc::Sender<StoreOp>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    /// Blocks queued and not yet written.
    blocks: Arc<AtomicUsize>,
}

impl Store {
    /// Open (or create) the database in `dir`, delete what expired, and start the writer.
    /// `report_ttl_ms` is how long reports are kept. Returns the store and what it kept.
    pub fn open(dir: &Path, report_ttl_ms: u64) -> anyhow::Result<(Store, Snapshot)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(DB_FILE);
        let mut db = sqlite::Db::open(&path, report_ttl_ms).with_context(|| format!("opening {}", path.display()))?;
        db.purge(unix_ms()).context("deleting expired rows")?;
        let snapshot = db.load().context("loading blocks, reports and bans")?;
        let (tx, rx) = mpsc::channel();
        let blocks = Arc::new(AtomicUsize::new(0));
        let pending = blocks.clone();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || writer(db, &rx, &pending))
            .context("starting the store thread")?;
        Ok((Store { tx: Some(tx), thread: Some(thread), dropped: Arc::default(), blocks }, snapshot))
    }

    /// Queue one write; never blocks. Past [`MAX_PENDING_BLOCKS`] blocks waiting, a new block is
    /// dropped (see [`Store::dropped`]); reports and bans always go in.
    pub fn keep(&self, op: StoreOp) {
        if matches!(op, StoreOp::Block(_)) && self.blocks.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING_BLOCKS {
            self.blocks.fetch_sub(1, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("store queue full; a block was kept in memory only");
            return;
        }
        if self.tx.as_ref().is_none_or(|tx| tx.send(op).is_err()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer(mut db: sqlite::Db, rx: &mpsc::Receiver<StoreOp>, blocks: &AtomicUsize) {
    loop {
        match rx.recv_timeout(PURGE_EVERY) {
            Ok(op) => {
                if matches!(op, StoreOp::Block(_)) {
                    blocks.fetch_sub(1, Ordering::Relaxed);
                }
                if let Err(e) = db.write(&op) {
                    tracing::error!(error = %e, "store write failed");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = db.purge(unix_ms()) {
                    tracing::error!(error = %e, "store purge failed");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The secret network and install keys are made with: `--ban-secret` if given, else one kept in
/// `<data-dir>/ban-secret` (made on first start, readable by the owner only), else (no data
/// directory) a random one for this process.
pub fn ban_secret(given: Option<&str>, dir: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = given {
        return Ok(secret.as_bytes().to_vec());
    }
    let Some(dir) = dir else { return Ok(rand::random::<[u8; 32]>().to_vec()) };
    let path: PathBuf = dir.join("ban-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            anyhow::ensure!(text.len() >= 32, "{} is too short to be a secret", path.display());
            return Ok(text.as_bytes().to_vec());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    match write_private(&path, &secret) {
        Ok(()) => Ok(secret.into_bytes()),
        // Another process on the same directory made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Give its write a moment to land.
            std::thread::sleep(Duration::from_millis(50));
            ban_secret(None, Some(dir))
        }
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
