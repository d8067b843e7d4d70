//! The signaling client: one WebSocket to the signal server, speaking the `shared` protocol.
//! It reconnects with exponential backoff and jitter when the server goes away, and reports
//! everything as [`SignalEvent`]s; the engine decides what to resume.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use strangers_shared::{ClientMsg, IceServer, PeerId, ServerMsg, decode_server, encode};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::backoff::Backoff;

/// What the signaling client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalEvent {
    /// Connected and welcomed.
    Connected {
        /// Our id on this connection.
        peer_id: PeerId,
        /// Connections online.
        online: u64,
        /// STUN/TURN servers to use.
        ice_servers: Vec<IceServer>,
    },
    /// A message from the server (anything after `welcome`).
    Message(ServerMsg),
    /// The connection is gone; retrying after `retry_in`.
    Disconnected {
        /// Why.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
}

/// A handle to send messages through the signaling connection.
#[derive(Debug, Clone)]
pub struct SignalingHandle {
    tx: mpsc::UnboundedSender<ClientMsg>,
}

impl SignalingHandle {
    /// Send a message; it is dropped if the connection is down (the engine re-sends its state on
    /// reconnect). Returns false once the client has stopped.
    pub fn send(&self, msg: ClientMsg) -> bool {
        self.tx.send(msg).is_ok()
    }
}

/// Start the signaling client for `url` on the current tokio runtime. It runs until the returned
/// handle and every clone of it are dropped.
pub fn spawn(url: String) -> (SignalingHandle, mpsc::UnboundedReceiver<SignalEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(url, rx, event_tx));
    (SignalingHandle { tx }, event_rx)
}

async fn run(
    url: String,
    mut outgoing: mpsc::UnboundedReceiver<ClientMsg>,
    events: mpsc::UnboundedSender<SignalEvent>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let reason = match session(&url, &mut outgoing, &events, &mut backoff).await {
            Ended::Stopped => return,
            Ended::Lost(reason) => reason,
        };
        let retry_in = backoff.next_delay();
        tracing::info!(%reason, ?retry_in, "signaling connection lost");
        if events.send(SignalEvent::Disconnected { reason, retry_in }).is_err() {
            return;
        }
        // Messages queued while disconnected are stale; the engine re-sends what matters.
        let sleep = tokio::time::sleep(retry_in);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                msg = outgoing.recv() => if msg.is_none() { return },
            }
        }
    }
}

enum Ended {
    /// The engine dropped its handle.
    Stopped,
    /// The connection failed or closed.
    Lost(String),
}

async fn session(
    url: &str,
    outgoing: &mut mpsc::UnboundedReceiver<ClientMsg>,
    events: &mpsc::UnboundedSender<SignalEvent>,
    backoff: &mut Backoff,
) -> Ended {
    let connect = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url));
    let mut ws = match connect.await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Ended::Lost(format!("cannot connect to {url}: {e}")),
        Err(_) => return Ended::Lost(format!("timed out connecting to {url}")),
    };
    loop {
        tokio::select! {
            msg = outgoing.recv() => {
                let Some(msg) = msg else {
                    let _ = ws.close(None).await;
                    return Ended::Stopped;
                };
                if let Err(e) = ws.send(Message::text(encode(&msg))).await {
                    return Ended::Lost(format!("send failed: {e}"));
                }
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let why = frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_default();
                        return Ended::Lost(format!("server closed the connection {why}").trim().to_string());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Ended::Lost(e.to_string()),
                    None => return Ended::Lost("connection closed".into()),
                };
                let event = match decode_server(text.as_str()) {
                    Ok(ServerMsg::Welcome { peer_id, online, ice_servers, .. }) => {
                        backoff.reset();
                        SignalEvent::Connected { peer_id, online, ice_servers }
                    }
                    Ok(msg) => SignalEvent::Message(msg),
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable message from the server");
                        continue;
                    }
                };
                if events.send(event).is_err() {
                    return Ended::Stopped;
                }
            }
        }
    }
}
