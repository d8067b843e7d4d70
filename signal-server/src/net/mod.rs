//! The network layer: the accept loop, the connection cap, HTTP routing on the WebSocket port,
//! TLS, graceful shutdown, and the handle used to embed the server.
//!
//! Shutdown stops accepting, lets the hub close every WebSocket with 1001, waits up to the grace
//! period for the connections to go, then aborts whatever is left: when [`run`] returns, no task
//! of the server is running and every socket it accepted is closed.

pub mod admin;
mod conn;
mod cork;
mod handshake;
mod http;
pub mod mailbox;
pub mod readahead;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::resume::ResumeConfig;
use crate::hub::{Hub, HubMsg};
use crate::metrics::NetMetrics;
use mailbox::MailboxLimits;
pub use tasks::HTTP_RESERVE;
use tasks::{Counts, SocketGuard, Tasks};

/// Frames are gathered up to this size before a write; `write_batch` flushes after each batch.
const WRITE_BATCH_BYTES: usize = 16 * 1024;

/// Everything connection tasks share.
pub(crate) struct ServerContext {
    cfg: Config,
    net: Arc<NetMetrics>,
    hub: mpsc::Sender<HubMsg>,
    next_peer: AtomicU64,
    counts: Arc<Counts>,
    tls: Option<TlsAcceptor>,
    ws: WebSocketConfig,
    mailbox: MailboxLimits,
    shutdown: CancellationToken,
    tasks: Tasks,
    /// Whether the cluster's Redis answers (`/healthz` says 503 when not); `None` on its own.
    cluster_up: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// A running server, for tests and for embedding in the desktop app.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ServerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Start a graceful shutdown without waiting for it.
    pub fn trigger_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shut down gracefully (close 1001 to everyone) and wait until the server has stopped.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("server task panicked")?
    }
}

/// Bind `cfg.listen` (with SO_REUSEPORT when `--reuse-port` asks for it).
pub fn bind(cfg: &Config) -> anyhow::Result<TcpListener> {
    let addr = cfg.listen;
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if cfg.cluster.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into()).with_context(|| format!("binding {addr}"))?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into())?)
}

/// Bind `cfg.listen` and serve in a background task.
pub async fn start(cfg: Config) -> anyhow::Result<ServerHandle> {
    cfg.check().map_err(anyhow::Error::msg)?;
    let listener = bind(&cfg)?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(listener, cfg, shutdown.clone()));
    Ok(ServerHandle { addr, shutdown, task })
}

/// How long aborted tasks get to drop their sockets once the grace is over.
const ABORT_WAIT: Duration = Duration::from_secs(1);

/// Serve on an already-bound listener until `shutdown` is cancelled, then close every connection
/// with 1001, wait up to the configured grace for them to go, and abort the rest.
pub async fn run(listener: TcpListener, cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    cfg.check().map_err(anyhow::Error::msg)?;
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let net = Arc::new(NetMetrics::default());
    let (hub_tx, hub_rx) = mpsc::channel(8192);
    let mut core = cfg.core();
    let mut first_peer = 1;
    let mut driver = None;
    let mut shared_safety = None;
    if let Some(url) = &cfg.cluster.redis {
        let ttl = core.safety.report_ttl_ms;
        let (cluster, mut d) =
            crate::cluster::Cluster::connect(url, &cfg.cluster.redis_prefix, cfg.cluster.node_id, ttl).await?;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_millis() as u64);
        shared_safety = Some((d.load_safety(now).await?, cluster.ban_secret.clone()));
        tracing::info!(node = cluster.node, "joined the cluster");
        core.node = Some(cluster.node);
        // Every node must trust every node's resume tokens.
        if cfg.resume_secret.is_none() && !cfg.resume_window.is_zero() {
            let window = cfg.resume_window;
            let ttl = crate::config::RESUME_TOKEN_TTL;
            core.resume = Some(ResumeConfig::new(&cluster.resume_secret, window, ttl, rand::random()));
        }
        first_peer = crate::core::cluster::first_id(cluster.node);
        driver = Some((cluster, d));
    }
    let mut hub = open_safety(&cfg, core, net.clone(), shared_safety)?;
    let mut driver_task = None;
    let cluster_up = driver.as_ref().map(|(cluster, _)| cluster.up.clone());
    if let Some((cluster, d)) = driver {
        let online = Arc::new(AtomicU64::new(0));
        hub = hub.with_cluster(cluster, online.clone());
        driver_task = Some(tokio::spawn(d.run(hub_tx.clone(), online)));
    }
    let hub_task = tokio::spawn(hub.run(hub_rx, shutdown.clone()));
    let ws = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer_bytes.max(64))
        // Frames queued together go out in one system call: `write_batch` feeds every frame
        // waiting in the mailbox, then flushes once.
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_write_buffer_size(cfg.outbound_bytes.max(cfg.max_message_bytes) * 2)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes));
    let mailbox = MailboxLimits { frames: cfg.outbound_frames, bytes: cfg.outbound_bytes };
    let grace = cfg.shutdown_grace;
    let shared = Arc::new(ServerContext {
        cfg,
        net,
        hub: hub_tx,
        next_peer: AtomicU64::new(first_peer),
        counts: Arc::default(),
        tls,
        ws,
        mailbox,
        shutdown: shutdown.clone(),
        tasks: Tasks::default(),
        cluster_up,
    });
    // Set once on the listener: Linux hands TCP_NODELAY down to every accepted socket, which
    // saves a system call per connection. Elsewhere each socket sets it.
    let inherited_nodelay =
        cfg!(target_os = "linux") && socket2::SockRef::from(&listener).set_tcp_nodelay(true).is_ok();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    if !inherited_nodelay {
                        let _ = tcp.set_nodelay(true);
                    }
                    // Counted here, in accept order, so the cap is decided first come first served.
                    let (guard, open) = SocketGuard::open(&shared.counts);
                    shared.tasks.spawn(handshake::socket_task(shared.clone(), tcp, guard, open));
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shared.tasks.reap_forever() => {}
        }
    }
    drop(listener);
    tracing::info!(open = shared.counts.sockets(), "shutting down: closing connections with 1001");
    if timeout(grace, shared.tasks.drained()).await.is_err() {
        tracing::warn!(left = shared.tasks.len(), "connections still open after the shutdown grace; aborting them");
    }
    shared.tasks.abort_all();
    if timeout(ABORT_WAIT, shared.tasks.drained()).await.is_err() {
        tracing::warn!(left = shared.tasks.len(), "aborted connection tasks did not finish");
    }
    drop(shared);
    if let Some(task) = driver_task {
        task.abort();
    }
    // Every connection is gone, so the hub ends (and its store writes what is queued) once the
    // last message to it is handled.
    if timeout(ABORT_WAIT, &mut Box::pin(hub_task)).await.is_err() {
        tracing::warn!("the hub did not finish after the connections closed");
    }
    Ok(())
}

/// The hub, with the store under `--data-dir` loaded into its core (or in memory without one).
/// With a cluster (`shared`: what it keeps, and its ban secret), safety is kept in Redis, so that
/// every node sees the same bans, and no file is used.
fn open_safety(
    cfg: &Config,
    mut core: crate::core::CoreConfig,
    net: Arc<NetMetrics>,
    shared: Option<(crate::core::safety::Snapshot, Vec<u8>)>,
) -> anyhow::Result<Hub> {
    let safety = &cfg.safety;
    if let Some((snapshot, cluster_secret)) = shared {
        let secret = safety.ban_secret.as_ref().map_or(cluster_secret, |s| s.expose().as_bytes().to_vec());
        core.keyer = crate::core::safety::Keyer::new(&secret);
        tracing::info!(bans = snapshot.bans.len(), reports = snapshot.reports.len(), "safety loaded from the cluster");
        return Ok(Hub::new(core, net, None, snapshot));
    }
    let dir = safety.data_dir();
    let secret = crate::store::ban_secret(safety.ban_secret.as_ref().map(|s| s.expose()), dir)?;
    core.keyer = crate::core::safety::Keyer::new(&secret);
    let store = match dir {
        Some(dir) => {
            let (store, snapshot) = crate::store::Store::open(dir, core.safety.report_ttl_ms)?;
            tracing::info!(
                dir = %dir.display(),
                blocks = snapshot.blocks.len(),
                bans = snapshot.bans.len(),
                reports = snapshot.reports.len(),
                "safety store opened"
            );
            Some((store, snapshot))
        }
        None => {
            tracing::info!("no --data-dir: blocks, reports and bans are kept in memory only");
            None
        }
    };
    let (store, snapshot) = store.map_or((None, Default::default()), |(s, snap)| (Some(s), snap));
    Ok(Hub::new(core, net, store, snapshot))
}
