//! The network layer: the accept loop, the connection cap, HTTP routing on the WebSocket port,
//! TLS, graceful shutdown, and the handle used to embed the server.
//!
//! Shutdown stops accepting, lets the hub close every WebSocket with 1001, waits up to the grace
//! period for the connections to go, then aborts whatever is left: when [`run`] returns, no task
//! of the server is running and every socket it accepted is closed.

mod conn;
mod http;
pub mod mailbox;
pub mod readahead;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use strangers_shared::PeerId;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hub::{Hub, HubMsg};
use crate::metrics::NetMetrics;
use http::Request;
use mailbox::MailboxLimits;
use readahead::ReadAhead;
pub use tasks::HTTP_RESERVE;
use tasks::{Counts, SocketGuard, Tasks};

/// How long writing the 101 response may take.
const WRITE_101_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames are gathered up to this size before a write; `write_batch` flushes after each batch.
const WRITE_BATCH_BYTES: usize = 16 * 1024;

/// Everything connection tasks share.
pub(crate) struct Shared {
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

/// Bind `cfg.listen` and serve in a background task.
pub async fn start(cfg: Config) -> anyhow::Result<ServerHandle> {
    cfg.check().map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
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
    let hub_task = tokio::spawn(Hub::new(cfg.core(), net.clone()).run(hub_rx, shutdown.clone()));
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
    let shared = Arc::new(Shared {
        cfg,
        net,
        hub: hub_tx,
        next_peer: AtomicU64::new(1),
        counts: Arc::default(),
        tls,
        ws,
        mailbox,
        shutdown: shutdown.clone(),
        tasks: Tasks::default(),
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
                    shared.tasks.spawn(accept(shared.clone(), tcp, guard, open));
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
    hub_task.abort();
    Ok(())
}

async fn accept(shared: Arc<Shared>, mut tcp: TcpStream, guard: SocketGuard, open: usize) {
    if open > shared.cfg.max_connections + HTTP_RESERVE {
        NetMetrics::inc(&shared.net.rejected_at_cap);
        let _ = timeout(
            Duration::from_secs(1),
            http::respond(&mut tcp, 503, "text/plain", "server full, try again later\n"),
        )
        .await;
        return;
    }
    let deadline = Instant::now() + shared.cfg.handshake_timeout;
    match &shared.tls {
        Some(acceptor) => {
            let handshake = tokio::select! {
                r = timeout_at(deadline, acceptor.accept(tcp)) => r,
                () = shared.shutdown.cancelled() => return,
            };
            match handshake {
                Ok(Ok(stream)) => serve(shared.clone(), stream, deadline, guard).await,
                _ => NetMetrics::inc(&shared.net.handshake_failures),
            }
        }
        None => serve(shared.clone(), tcp, deadline, guard).await,
    }
}

/// Read the request head and route it; upgrades become WebSocket connections.
async fn serve<S>(shared: Arc<Shared>, mut stream: S, deadline: Instant, mut guard: SocketGuard)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let head = tokio::select! {
        r = timeout_at(deadline, http::read_request(&mut stream)) => r,
        () = shared.shutdown.cancelled() => return,
    };
    let (request, rest) = match head {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(http::HeadError::TooLarge)) => {
            NetMetrics::inc(&shared.net.handshake_failures);
            let _ = timeout(
                Duration::from_secs(1),
                http::respond(&mut stream, 431, "text/plain", "request head too large\n"),
            )
            .await;
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bad request");
            NetMetrics::inc(&shared.net.handshake_failures);
            let _ =
                timeout(Duration::from_secs(1), http::respond(&mut stream, 400, "text/plain", "bad request\n")).await;
            return;
        }
        Err(_) => {
            tracing::debug!("handshake timeout");
            NetMetrics::inc(&shared.net.handshake_failures);
            return;
        }
    };
    let reply = |status, body: String| async move { (status, "text/plain; charset=utf-8", body) };
    let (status, content_type, body) = match request {
        Request::Health => reply(200, "ok\n".to_string()).await,
        Request::Metrics => {
            let (tx, rx) = oneshot::channel();
            let text = match shared.hub.send(HubMsg::Metrics(tx)).await {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            match text {
                Some(text) => (200, "text/plain; version=0.0.4; charset=utf-8", text),
                None => reply(503, "shutting down\n".to_string()).await,
            }
        }
        Request::Reject(status, text) => reply(status, text.to_string()).await,
        Request::Upgrade { accept, origin } => {
            let allowed = &shared.cfg.allowed_origins;
            if let Some(origin) = origin.filter(|o| !allowed.is_empty() && !allowed.iter().any(|a| a == o)) {
                tracing::debug!(%origin, "origin refused");
                NetMetrics::inc(&shared.net.rejected_origin);
                reply(403, "origin not allowed\n".to_string()).await
            } else if !guard.take_seat(shared.cfg.max_connections) {
                NetMetrics::inc(&shared.net.rejected_at_cap);
                reply(503, "server full, try again later\n".to_string()).await
            } else {
                return upgrade(shared, stream, rest, &accept, guard).await;
            }
        }
    };
    let _ = timeout(Duration::from_secs(5), http::respond(&mut stream, status, content_type, &body)).await;
}

async fn upgrade<S>(shared: Arc<Shared>, stream: S, rest: Vec<u8>, accept: &str, guard: SocketGuard)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // The 101 is written here, not saved to share a system call with `welcome`: that was
    // measured, and the later 101 kept more handshakes in flight for no CPU gained.
    let mut stream = stream;
    if timeout(WRITE_101_TIMEOUT, stream.write_all(&http::switch_protocols(accept))).await.map_or(true, |r| r.is_err())
    {
        NetMetrics::inc(&shared.net.handshake_failures);
        return;
    }
    let stream = ReadAhead::new(stream);
    let ws = if rest.is_empty() {
        WebSocketStream::from_raw_socket(stream, Role::Server, Some(shared.ws)).await
    } else {
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(shared.ws)).await
    };
    NetMetrics::inc(&shared.net.connections_total);
    let peer = PeerId(shared.next_peer.fetch_add(1, Ordering::Relaxed));
    tracing::debug!(%peer, "connected");
    // The connection lives in a task of its own: the handshake task's state (request buffers and
    // all) is freed now instead of being carried for the connection's whole life. Spawned
    // directly (not wrapped in an async block, which would hold a second copy of the stream as a
    // captured variable).
    let task = conn::serve(ws, peer, shared.clone(), guard);
    shared.tasks.spawn(task);
}
