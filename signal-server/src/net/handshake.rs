//! One accepted socket, from its first byte to the end: the connection cap, TLS, the HTTP request
//! (health, metrics, or the WebSocket upgrade), then the WebSocket connection itself.
//!
//! The socket keeps one tokio task for its whole life. Everything before the upgrade runs in a
//! boxed future that is freed when the upgrade is done, so an idle connection's task holds only
//! the connection's own state and not the request buffers that came before it.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strangers_shared::PeerId;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::cork::Cork;
use super::http::{self, Request};
use super::readahead::ReadAhead;
use super::tasks::{HTTP_RESERVE, SocketGuard};
use super::{ServerContext, conn};
use crate::hub::HubMsg;
use crate::metrics::NetMetrics;

/// How long writing the 101 response may take.
const WRITE_101_TIMEOUT: Duration = Duration::from_secs(5);

/// A socket that completed the WebSocket handshake.
struct Upgraded<S> {
    ws: WebSocketStream<ReadAhead<S>>,
    peer: PeerId,
    ip: Option<IpAddr>,
    guard: SocketGuard,
}

/// The task that serves one accepted socket (see the module docs).
///
/// A plain function returning an `async move` block, for the reason given on `conn::serve`.
#[allow(clippy::manual_async_fn)] // deliberately not an `async fn`; see above
pub(super) fn socket_task(
    shared: Arc<ServerContext>,
    tcp: TcpStream,
    guard: SocketGuard,
    open: usize,
) -> impl Future<Output = ()> + Send {
    async move {
        if open > shared.cfg.max_connections + HTTP_RESERVE {
            Box::pin(refuse_full(&shared, tcp)).await;
            return;
        }
        let deadline = Instant::now() + shared.cfg.handshake_timeout;
        let ip = tcp.peer_addr().ok().map(|a| a.ip());
        if shared.tls.is_some() {
            // Rare enough that the TLS stream's larger state can live in a box of its own.
            return Box::pin(serve_tls(shared, tcp, ip, deadline, guard)).await;
        }
        // Two statements on purpose: a `match` awaited in place keeps its scrutinee (the whole
        // upgraded stream, moved from or not) alive until the end of the statement, that is in
        // every idle connection's task.
        let connection = match Box::pin(route(shared.clone(), tcp, ip, deadline, guard)).await {
            Some(up) => connection(up, shared),
            None => return,
        };
        connection.await;
    }
}

/// The upgraded socket's connection future (built outside any `async` block; see above).
fn connection<S>(up: Upgraded<S>, shared: Arc<ServerContext>) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Cork + Unpin,
{
    conn::serve(up.ws, up.peer, up.ip, shared, up.guard)
}

async fn refuse_full(shared: &ServerContext, mut tcp: TcpStream) {
    NetMetrics::inc(&shared.net.rejected_at_cap);
    let reply = http::respond(&mut tcp, 503, "text/plain", "server full, try again later\n");
    let _ = timeout(Duration::from_secs(1), reply).await;
}

async fn serve_tls(
    shared: Arc<ServerContext>,
    tcp: TcpStream,
    ip: Option<IpAddr>,
    deadline: Instant,
    guard: SocketGuard,
) {
    let Some(acceptor) = shared.tls.clone() else { return };
    let handshake = tokio::select! {
        r = timeout_at(deadline, acceptor.accept(tcp)) => r,
        () = shared.shutdown.cancelled() => return,
    };
    let Ok(Ok(stream)) = handshake else {
        NetMetrics::inc(&shared.net.handshake_failures);
        return;
    };
    let connection = match Box::pin(route(shared.clone(), stream, ip, deadline, guard)).await {
        Some(up) => connection(up, shared),
        None => return,
    };
    connection.await;
}

/// Read the request head and answer it; an accepted upgrade is returned for the caller to serve.
async fn route<S>(
    shared: Arc<ServerContext>,
    mut stream: S,
    ip: Option<IpAddr>,
    deadline: Instant,
    mut guard: SocketGuard,
) -> Option<Upgraded<S>>
where
    S: AsyncRead + AsyncWrite + Cork + Send + Unpin + 'static,
{
    let head = tokio::select! {
        r = timeout_at(deadline, http::read_request(&mut stream)) => r,
        () = shared.shutdown.cancelled() => return None,
    };
    let (request, rest) = match head {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(http::HeadError::TooLarge)) => {
            NetMetrics::inc(&shared.net.handshake_failures);
            let reply = http::respond(&mut stream, 431, "text/plain", "request head too large\n");
            let _ = timeout(Duration::from_secs(1), reply).await;
            return None;
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bad request");
            NetMetrics::inc(&shared.net.handshake_failures);
            let _ =
                timeout(Duration::from_secs(1), http::respond(&mut stream, 400, "text/plain", "bad request\n")).await;
            return None;
        }
        Err(_) => {
            tracing::debug!("handshake timeout");
            NetMetrics::inc(&shared.net.handshake_failures);
            return None;
        }
    };
    let plain = "text/plain; charset=utf-8";
    let (status, content_type, body) = match request {
        Request::Health => match &shared.cluster_up {
            Some(up) if !up.load(Ordering::Relaxed) => {
                (503, plain, "cluster unavailable: no new matches\n".to_string())
            }
            _ => (200, plain, "ok\n".to_string()),
        },
        Request::Metrics => {
            let (tx, rx) = oneshot::channel();
            let text = match shared.hub.send(HubMsg::Metrics(tx)).await {
                Ok(()) => rx.await.ok(),
                Err(_) => None,
            };
            match text {
                Some(text) => (200, "text/plain; version=0.0.4; charset=utf-8", text),
                None => (503, plain, "shutting down\n".to_string()),
            }
        }
        Request::Reject(status, text) => (status, plain, text.to_string()),
        Request::Admin { method, path, query, auth } => admin(&shared, &method, &path, query.as_deref(), auth).await,
        Request::Upgrade { accept, origin } => {
            let allowed = &shared.cfg.allowed_origins;
            if let Some(origin) = origin.filter(|o| !allowed.is_empty() && !allowed.iter().any(|a| a == o)) {
                tracing::debug!(%origin, "origin refused");
                NetMetrics::inc(&shared.net.rejected_origin);
                (403, plain, "origin not allowed\n".to_string())
            } else if !guard.take_seat(shared.cfg.max_connections) {
                NetMetrics::inc(&shared.net.rejected_at_cap);
                (503, plain, "server full, try again later\n".to_string())
            } else {
                return upgrade(&shared, stream, rest, &accept, guard).await.map(|(ws, peer, guard)| Upgraded {
                    ws,
                    peer,
                    ip,
                    guard,
                });
            }
        }
    };
    let _ = timeout(Duration::from_secs(5), http::respond(&mut stream, status, content_type, &body)).await;
    None
}

/// Answer a request under `/admin/` (see `admin.rs`).
async fn admin(
    shared: &ServerContext,
    method: &str,
    path: &str,
    query: Option<&str>,
    auth: Option<String>,
) -> (u16, &'static str, String) {
    let plain = "text/plain; charset=utf-8";
    let Some(token) = &shared.cfg.safety.admin_token else { return (404, plain, "not found\n".into()) };
    if !super::admin::authorized(token.expose(), auth.as_deref()) {
        return (401, plain, "a valid admin bearer token is required\n".into());
    }
    let req = match super::admin::route(method, path, query) {
        Ok(req) => req,
        Err((status, text)) => return (status, plain, text.into()),
    };
    let (tx, rx) = oneshot::channel();
    if shared.hub.send(HubMsg::Admin(req, tx)).await.is_err() {
        return (503, plain, "shutting down\n".into());
    }
    match rx.await {
        Ok((status, body)) => (status, "application/json", body),
        Err(_) => (503, plain, "shutting down\n".into()),
    }
}

async fn upgrade<S>(
    shared: &ServerContext,
    mut stream: S,
    rest: Vec<u8>,
    accept: &str,
    guard: SocketGuard,
) -> Option<(WebSocketStream<ReadAhead<S>>, PeerId, SocketGuard)>
where
    S: AsyncRead + AsyncWrite + Cork + Send + Unpin + 'static,
{
    // The 101 is written at once, not saved to share a system call with what follows: that was
    // measured, and the later 101 kept more handshakes in flight for no CPU gained.
    let wrote = timeout(WRITE_101_TIMEOUT, stream.write_all(&http::switch_protocols(accept))).await;
    if !matches!(wrote, Ok(Ok(()))) {
        NetMetrics::inc(&shared.net.handshake_failures);
        return None;
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
    Some((ws, peer, guard))
}
