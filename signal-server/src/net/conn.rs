//! One WebSocket connection: decode what arrives and hand it to the hub; write what the hub
//! queued in the mailbox; ping, and drop peers that stop answering. A single task does all of it
//! without splitting the stream, which keeps an idle connection down to a few kilobytes.

use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use strangers_shared::{PeerId, decode_client};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use super::ServerContext;
use super::cork::Cork;
use super::mailbox::{Mailbox, Outgoing};
use super::tasks::SocketGuard;
use crate::core::Input;
use crate::core::TextFrame;
use crate::hub::HubMsg;
use crate::metrics::NetMetrics;

/// A write that makes no progress for this long means the peer is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the peer's half of a close handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// How a connection ended.
enum End {
    /// The server closes it with this code: a violation, a takeover, a shutdown.
    Close(u16, &'static str),
    /// The client ended it (a close frame, or its TCP connection closed): it left.
    Gone,
    /// The network failed (a reset, a write that never completed, a heartbeat timeout): the
    /// client may come back and resume its call.
    Lost,
}

enum Event {
    Out(Outgoing),
    In(Option<Result<Message, WsError>>),
    Heartbeat,
}

/// Serve one upgraded connection until it ends, then tell the hub.
///
/// A plain function returning an `async move` block rather than an `async fn`: an `async fn`
/// keeps its by-value arguments twice in the future (the argument and the local it is moved
/// into), which for the WebSocket stream alone is a third of an idle connection's task.
#[allow(clippy::manual_async_fn)] // deliberately not an `async fn`; see above
pub(super) fn serve<S>(
    mut ws: WebSocketStream<S>,
    peer: PeerId,
    ip: Option<IpAddr>,
    shared: Arc<ServerContext>,
    guard: SocketGuard,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Cork + Unpin,
{
    async move {
        let mailbox = Arc::new(Mailbox::new(shared.mailbox));
        if Box::pin(shared.hub.send(HubMsg::Connected(peer, mailbox.clone(), ip))).await.is_err() {
            return;
        }
        let end = run(&mut ws, peer, &mailbox, &shared).await;
        // Tell the hub first: the partner hears at once, not after a close handshake that a peer
        // which stopped reading could stretch to `CLOSE_TIMEOUT`.
        let _ = Box::pin(shared.hub.send(HubMsg::Disconnected(peer, matches!(end, End::Lost)))).await;
        if let End::Close(code, reason) = end {
            let frame = CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from_static(reason) };
            // Boxed: this runs once, and its state would otherwise enlarge every idle connection.
            let _ = Box::pin(timeout(CLOSE_TIMEOUT, async {
                ws.close(Some(frame)).await?;
                // Wait for the peer's close so the handshake completes cleanly.
                while ws.next().await.is_some() {}
                Ok::<(), WsError>(())
            }))
            .await;
        }
        tracing::debug!(%peer, "disconnected");
        drop(guard);
    }
}

/// The connection's main loop; returns the close frame to send, if any.
async fn run<S>(ws: &mut WebSocketStream<S>, peer: PeerId, mailbox: &Mailbox, shared: &ServerContext) -> End
where
    S: AsyncRead + AsyncWrite + Cork + Unpin,
{
    let mut ping_every = shared.cfg.ping_interval;
    let mut idle_limit = shared.cfg.idle_timeout;
    let mut last_seen = Instant::now();
    let heartbeat = tokio::time::sleep(ping_every);
    tokio::pin!(heartbeat);
    let mut inbound_first = false;
    loop {
        inbound_first = !inbound_first;
        let event = poll_fn(|cx| {
            if inbound_first && let Poll::Ready(item) = ws.poll_next_unpin(cx) {
                return Poll::Ready(Event::In(item));
            }
            if let Poll::Ready(out) = mailbox.poll_next(cx) {
                return Poll::Ready(Event::Out(out));
            }
            if !inbound_first && let Poll::Ready(item) = ws.poll_next_unpin(cx) {
                return Poll::Ready(Event::In(item));
            }
            if heartbeat.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Heartbeat);
            }
            Poll::Pending
        })
        .await;
        match event {
            // Boxed so that the write's state (timer included) is not part of every idle
            // connection's future; one small allocation per batch of writes.
            Event::Out(Outgoing::Frame(frame)) => match Box::pin(write_batch(ws, frame, mailbox, &shared.net)).await {
                Ok(None) => {}
                Ok(Some((code, reason))) => return End::Close(code, reason),
                Err(()) => return End::Lost,
            },
            Event::Out(Outgoing::Close(code, reason)) => return End::Close(code, reason),
            // A searcher is pinged often and dropped soon when silent: a frozen client must not
            // be matched (its partner would wait out the setup deadline for nothing).
            Event::Out(Outgoing::Searching(searching)) => {
                (ping_every, idle_limit) = if searching {
                    (shared.cfg.searcher_timeout / 3, shared.cfg.searcher_timeout)
                } else {
                    (shared.cfg.ping_interval, shared.cfg.idle_timeout)
                };
                let now = Instant::now();
                let mut next = (now + ping_every).min(last_seen + idle_limit);
                if searching {
                    // A client quiet for a while (a call needs no messages; a partner who left
                    // puts it back in the queue) is pinged now and has one ping's time to answer
                    // before it counts as frozen, rather than being dropped on the spot.
                    let floor = now.checked_sub(idle_limit.saturating_sub(ping_every)).unwrap_or(now);
                    last_seen = last_seen.max(floor);
                    next = now;
                }
                heartbeat.as_mut().reset(next.max(now + Duration::from_millis(10)));
            }
            // The stream ends after the client's close frame (echoed by tungstenite).
            Event::In(None) => return End::Gone,
            Event::In(Some(Err(WsError::Capacity(e)))) => {
                tracing::debug!(%peer, error = %e, "oversized frame");
                NetMetrics::inc(&shared.net.oversize_closes);
                return End::Close(1009, "message too big");
            }
            // RFC 6455 section 8.1: a text frame that is not UTF-8 fails the connection with 1007.
            Event::In(Some(Err(WsError::Utf8(e)))) => {
                tracing::debug!(%peer, error = %e, "text frame is not UTF-8");
                return End::Close(1007, "text frame is not valid UTF-8");
            }
            // The client's TCP connection ended (a FIN) without a close frame: its process
            // exited or crashed. Nothing comes back from that.
            Event::In(Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)))) => {
                tracing::debug!(%peer, "closed without a close handshake");
                return End::Gone;
            }
            Event::In(Some(Err(WsError::Protocol(e)))) => {
                tracing::debug!(%peer, error = %e, "websocket protocol error");
                return End::Close(1002, "protocol error");
            }
            Event::In(Some(Err(e))) => {
                tracing::debug!(%peer, error = %e, "connection failed");
                return End::Lost;
            }
            Event::In(Some(Ok(msg))) => {
                last_seen = Instant::now();
                let inbound = match msg {
                    Message::Text(text) => decode(peer, text),
                    Message::Binary(_) => Input::Binary(peer),
                    // The peer closed: tungstenite writes the echo on the next read and then ends
                    // the stream, and the socket is dropped right after. Corked, the echo leaves
                    // in the same segment as the FIN.
                    Message::Close(_) => {
                        ws.get_ref().cork();
                        continue;
                    }
                    // Pings are answered by tungstenite; pongs only prove liveness.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                NetMetrics::inc(&shared.net.frames_in);
                // Usually there is room; waiting (boxed, for the same reason as writes) is rare.
                let sent = match shared.hub.try_send(HubMsg::Received(inbound)) {
                    Ok(()) => true,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(msg)) => {
                        Box::pin(shared.hub.send(msg)).await.is_ok()
                    }
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
                };
                if !sent {
                    return End::Close(1011, "server stopping");
                }
            }
            Event::Heartbeat => {
                let now = Instant::now();
                if now.duration_since(last_seen) >= idle_limit {
                    tracing::debug!(%peer, "heartbeat timeout");
                    NetMetrics::inc(&shared.net.heartbeat_timeouts);
                    return End::Lost;
                }
                if Box::pin(timeout(WRITE_TIMEOUT, ws.send(Message::Ping(Bytes::new()))))
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    return End::Lost;
                }
                let next = (now + ping_every).min(last_seen + idle_limit);
                heartbeat.as_mut().reset(next.max(now + Duration::from_millis(10)));
            }
        }
    }
}

fn decode(peer: PeerId, text: Utf8Bytes) -> Input {
    match decode_client(text.as_str()) {
        Ok(msg) => Input::Message(peer, msg, TextFrame::from_trusted_utf8(Bytes::from(text))),
        Err(e) => Input::Invalid(peer, e),
    }
}

/// Write `first` and everything else already queued, with one flush. Returns a close request
/// found in the queue, or `Err` if the peer is gone.
async fn write_batch<S>(
    ws: &mut WebSocketStream<S>,
    first: TextFrame,
    mailbox: &Mailbox,
    net: &NetMetrics,
) -> Result<Option<(u16, &'static str)>, ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = timeout(WRITE_TIMEOUT, async {
        let mut next = Some(first);
        let mut close = None;
        while let Some(frame) = next.take() {
            if let Ok(text) = Utf8Bytes::try_from(frame.into_bytes()) {
                ws.feed(Message::Text(text)).await?;
                NetMetrics::inc(&net.frames_out);
            }
            match poll_fn(|cx| Poll::Ready(mailbox.poll_next(cx))).await {
                Poll::Ready(Outgoing::Frame(f)) => next = Some(f),
                Poll::Ready(Outgoing::Close(code, reason)) => close = Some((code, reason)),
                // Not for this batch: handed back, the main loop takes it next.
                Poll::Ready(Outgoing::Searching(searching)) => mailbox.set_searching(searching),
                Poll::Pending => {}
            }
        }
        ws.flush().await?;
        Ok::<_, WsError>(close)
    })
    .await;
    match result {
        Ok(Ok(close)) => Ok(close),
        _ => Err(()),
    }
}
