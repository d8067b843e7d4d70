//! The signaling client: one WebSocket to the signal server, speaking the `shared` protocol.
//! It reconnects with exponential backoff and jitter when the server goes away, and reports
//! everything as [`SignalEvent`]s; the engine decides what to resume.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use strangers_shared::{ClientMsg, IceServer, PROTOCOL_VERSION, PeerId, ServerMsg, decode_server, encode};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
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
        /// The token that resumes this session on a later connection.
        resume: Option<String>,
        /// The hello presented a token and the server resumed its call.
        resumed: bool,
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

/// What every `hello` says about the user besides the resume token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The app's random install id (for blocks and bans; the server keeps only a keyed hash).
    pub install: Option<String>,
    /// The version of the terms the user accepted.
    pub terms: Option<String>,
}

impl Identity {
    /// A new random install id: 128 bits as 32 lowercase hex digits.
    pub fn new_install_id() -> String {
        rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A handle to send messages through the signaling connection.
#[derive(Debug, Clone)]
pub struct SignalingHandle {
    tx: mpsc::UnboundedSender<ClientMsg>,
    resume: ResumeSlot,
    identity: IdentitySlot,
    probe: Arc<Notify>,
}

type IdentitySlot = Arc<Mutex<Identity>>;

/// How long a probe (see [`SignalingHandle::probe`]) waits for anything from the server before
/// the connection counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The resume token the next `hello` presents; taken when a server welcomes it (a token is
/// good for one use).
type ResumeSlot = Arc<Mutex<Option<String>>>;

impl SignalingHandle {
    /// Check the connection now: ping, and take it for lost (and reconnect) if nothing at all
    /// comes back within [`PROBE_TIMEOUT`]. For when the network has just changed under us.
    pub fn probe(&self) {
        self.probe.notify_one();
    }

    /// Present `token` in the `hello` of the next connection (`None`: connect as someone new).
    pub fn set_resume(&self, token: Option<String>) {
        if let Ok(mut slot) = self.resume.lock() {
            *slot = token;
        }
    }

    /// Say `identity` in every `hello` from now on, and at once on the connection that is up (a
    /// second `hello` is answered with a second `welcome`, which changes nothing else).
    pub fn set_identity(&self, identity: Identity) {
        if let Ok(mut slot) = self.identity.lock() {
            *slot = identity.clone();
        }
        let Identity { install, terms } = identity;
        let _ = self.tx.send(ClientMsg::Hello { version: PROTOCOL_VERSION, resume: None, terms, install });
    }

    /// Send a message; it is dropped if the connection is down (the engine re-sends its state on
    /// reconnect). Returns false once the client has stopped.
    pub fn send(&self, msg: ClientMsg) -> bool {
        self.tx.send(msg).is_ok()
    }
}

/// Start the signaling client for `url` on the current tokio runtime. It runs until the returned
/// handle and every clone of it are dropped.
pub fn spawn(url: String, identity: Identity) -> (SignalingHandle, mpsc::UnboundedReceiver<SignalEvent>) {
    let (handle, events) = spawn_with(url, Keepalive::default());
    if let Ok(mut slot) = handle.identity.lock() {
        *slot = identity;
    }
    (handle, events)
}

/// [`spawn`] with explicit keepalive timings.
pub fn spawn_with(url: String, keepalive: Keepalive) -> (SignalingHandle, mpsc::UnboundedReceiver<SignalEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let resume = ResumeSlot::default();
    let identity = IdentitySlot::default();
    let probe = Arc::new(Notify::new());
    let slots = Slots { resume: resume.clone(), identity: identity.clone(), probe: probe.clone() };
    tokio::spawn(run(url, keepalive, rx, event_tx, slots));
    (SignalingHandle { tx, resume, identity, probe }, event_rx)
}

/// How a half-open connection (a server that vanished without a FIN, a dead NAT mapping) is
/// noticed: the client pings, and a connection silent for `silence_limit` counts as lost.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    /// How often to ping the server.
    pub ping_every: Duration,
    /// Nothing at all received for this long means the connection is gone.
    pub silence_limit: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        // The server pings every 20 s as well, so a live connection is never silent this long.
        Self { ping_every: Duration::from_secs(15), silence_limit: Duration::from_secs(45) }
    }
}

async fn run(
    url: String,
    keepalive: Keepalive,
    mut outgoing: mpsc::UnboundedReceiver<ClientMsg>,
    events: mpsc::UnboundedSender<SignalEvent>,
    slots: Slots,
) {
    let Slots { resume, identity, probe } = slots;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let link =
            Link { outgoing: &mut outgoing, events: &events, resume: &resume, identity: &identity, probe: &probe };
        let reason = match session(&url, keepalive, link, &mut backoff).await {
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

/// Sleep until `at`, or forever without one (a `select!` branch for an optional deadline).
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Ended {
    /// The engine dropped its handle.
    Stopped,
    /// The connection failed or closed.
    Lost(String),
}

/// What a session talks to: the engine's messages, the events for it, the resume slot.
struct Link<'a> {
    outgoing: &'a mut mpsc::UnboundedReceiver<ClientMsg>,
    events: &'a mpsc::UnboundedSender<SignalEvent>,
    resume: &'a ResumeSlot,
    identity: &'a IdentitySlot,
    probe: &'a Notify,
}

/// What the handle shares with the connection task.
struct Slots {
    resume: ResumeSlot,
    identity: IdentitySlot,
    probe: Arc<Notify>,
}

async fn session(url: &str, keepalive: Keepalive, link: Link<'_>, backoff: &mut Backoff) -> Ended {
    let Link { outgoing, events, resume, identity, probe } = link;
    let connect = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url));
    let mut ws = match connect.await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Ended::Lost(format!("cannot connect to {url}: {e}")),
        Err(_) => return Ended::Lost(format!("timed out connecting to {url}")),
    };
    // The server answers `hello` with `welcome`, which is what makes this session Connected.
    let token = resume.lock().ok().and_then(|slot| slot.clone());
    let said = identity.lock().map(|id| id.clone()).unwrap_or_default();
    let Identity { install, terms } = said.clone();
    let hello = ClientMsg::Hello { version: PROTOCOL_VERSION, resume: token, terms, install };
    if let Err(e) = ws.send(Message::text(encode(&hello))).await {
        return Ended::Lost(format!("send failed: {e}"));
    }
    // Until `welcome`, what the engine sends is stale in the same way as while disconnected: the
    // engine re-sends its intent (search, room, media state) when it hears Connected, and sending
    // both would, for example, join the same room twice.
    let mut welcomed = false;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + keepalive.ping_every, keepalive.ping_every);
    // A probe in progress: when it was sent.
    let mut probing: Option<Instant> = None;
    loop {
        let probe_deadline = probing.map(|sent| sent + PROBE_TIMEOUT);
        tokio::select! {
            () = probe.notified(), if probing.is_none() => {
                let sent = Instant::now();
                let ping = tokio::time::timeout(PROBE_TIMEOUT, ws.send(Message::Ping(Default::default())));
                if !matches!(ping.await, Ok(Ok(()))) {
                    return Ended::Lost("the server stopped taking data".into());
                }
                probing = Some(sent);
            }
            () = sleep_until(probe_deadline) => {
                if probing.is_some_and(|sent| last_heard < sent) {
                    return Ended::Lost(format!("no answer from the server within {PROBE_TIMEOUT:?}"));
                }
                probing = None;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= keepalive.silence_limit {
                    return Ended::Lost(format!("the server was silent for {:?}", keepalive.silence_limit));
                }
                // A send that cannot even be buffered means the connection is gone.
                let sent = tokio::time::timeout(keepalive.ping_every, ws.send(Message::Ping(Default::default())));
                if !matches!(sent.await, Ok(Ok(()))) {
                    return Ended::Lost("the server stopped taking data".into());
                }
            }
            msg = outgoing.recv() => {
                let Some(msg) = msg else {
                    let _ = ws.close(None).await;
                    return Ended::Stopped;
                };
                if !welcomed {
                    continue;
                }
                if let Err(e) = ws.send(Message::text(encode(&msg))).await {
                    return Ended::Lost(format!("send failed: {e}"));
                }
            }
            frame = ws.next() => {
                last_heard = Instant::now();
                if probing.is_some() {
                    probing = None;
                }
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
                    // The answer to a second hello (the user accepted the terms): nothing new.
                    Ok(ServerMsg::Welcome { .. }) if welcomed => continue,
                    Ok(ServerMsg::Welcome { peer_id, online, ice_servers, resume: token, resumed, .. }) => {
                        backoff.reset();
                        welcomed = true;
                        while outgoing.try_recv().is_ok() {}
                        // The identity changed while the first hello was on its way: say it again.
                        let now = identity.lock().map(|id| id.clone()).unwrap_or_default();
                        if now != said {
                            let Identity { install, terms } = now;
                            let again = ClientMsg::Hello { version: PROTOCOL_VERSION, resume: None, terms, install };
                            if let Err(e) = ws.send(Message::text(encode(&again))).await {
                                return Ended::Lost(format!("send failed: {e}"));
                            }
                        }
                        // Spent: the server has moved the session on to a new token.
                        if let Ok(mut slot) = resume.lock() {
                            *slot = None;
                        }
                        SignalEvent::Connected { peer_id, online, ice_servers, resume: token, resumed }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A `welcome` frame for connection `id`.
    fn welcome(id: u64, resume: Option<String>, resumed: bool) -> Message {
        let msg = ServerMsg::Welcome {
            peer_id: PeerId(id),
            version: PROTOCOL_VERSION,
            online: 1,
            ice_servers: Vec::new(),
            resume,
            resumed,
            terms: None,
        };
        Message::text(encode(&msg))
    }

    async fn next(events: &mut mpsc::UnboundedReceiver<SignalEvent>) -> SignalEvent {
        tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("an event").expect("open")
    }

    /// A "server" that answers the client's hello and then never reads or writes again, as one
    /// whose host vanished would look from a half-open TCP connection.
    #[tokio::test]
    async fn a_silent_server_is_noticed_and_the_client_reconnects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            for id in 1..=2u64 {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let hello = ws.next().await.unwrap().unwrap();
                let expected = if id == 1 {
                    r#"{"type":"hello","version":1}"#
                } else {
                    r#"{"type":"hello","version":1,"resume":"r1.first"}"#
                };
                assert_eq!(hello.to_text().unwrap(), expected, "connection {id}");
                ws.send(welcome(id, Some(format!("r1.token{id}")), id == 2)).await.unwrap();
                held.push(ws); // never polled again: pings go unanswered
            }
            held
        });
        let keepalive = Keepalive { ping_every: Duration::from_millis(50), silence_limit: Duration::from_millis(200) };
        let (handle, mut events) = spawn_with(url, keepalive);
        match next(&mut events).await {
            SignalEvent::Connected { peer_id: PeerId(1), resume, resumed: false, .. } => {
                assert_eq!(resume.as_deref(), Some("r1.token1"));
            }
            other => panic!("expected the first welcome, got {other:?}"),
        }
        // The engine asks for its call back on the next connection.
        handle.set_resume(Some("r1.first".into()));
        match next(&mut events).await {
            SignalEvent::Disconnected { reason, .. } => assert!(reason.contains("silent"), "{reason}"),
            other => panic!("expected a lost connection, got {other:?}"),
        }
        let second = next(&mut events).await;
        assert!(matches!(second, SignalEvent::Connected { peer_id: PeerId(2), resumed: true, .. }), "{second:?}");
        assert_eq!(*handle.resume.lock().unwrap(), None, "a token is spent once welcomed");
        drop(server);
    }

    /// A probe finds a dead connection in about a second, long before the keepalive would, and
    /// leaves a live one alone.
    #[tokio::test]
    async fn a_probe_finds_a_dead_connection_fast_and_leaves_a_live_one_alone() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let (dead_tx, dead_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            ws.next().await.unwrap().unwrap(); // hello
            ws.send(welcome(1, None, false)).await.unwrap();
            // Alive (reading answers pings) until told to play dead, then never read again.
            tokio::select! {
                _ = dead_rx => {}
                () = async { while ws.next().await.is_some() {} } => {}
            }
            ws
        });
        let keepalive = Keepalive { ping_every: Duration::from_secs(60), silence_limit: Duration::from_secs(120) };
        let (handle, mut events) = spawn_with(url, keepalive);
        assert!(matches!(next(&mut events).await, SignalEvent::Connected { .. }));
        handle.probe();
        let quiet = tokio::time::timeout(PROBE_TIMEOUT * 2, events.recv()).await;
        assert!(quiet.is_err(), "a live connection was dropped by a probe: {quiet:?}");
        dead_tx.send(()).unwrap();
        let asked = std::time::Instant::now();
        handle.probe();
        match next(&mut events).await {
            SignalEvent::Disconnected { reason, .. } => assert!(reason.contains("no answer"), "{reason}"),
            other => panic!("expected a lost connection, got {other:?}"),
        }
        assert!(asked.elapsed() < PROBE_TIMEOUT * 3, "took {:?}", asked.elapsed());
        drop(server);
    }

    /// What the engine sends before `welcome` never reaches the server: it re-sends its intent
    /// on Connected, and a join sent twice would be refused as a second join.
    #[tokio::test]
    async fn messages_before_the_welcome_are_dropped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let (queued_tx, queued_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let hello = ws.next().await.unwrap().unwrap();
            assert!(hello.to_text().unwrap().contains("hello"));
            queued_rx.await.unwrap();
            ws.send(welcome(1, None, false)).await.unwrap();
            loop {
                match ws.next().await.unwrap().unwrap() {
                    Message::Text(text) => return text.to_string(),
                    _ => continue,
                }
            }
        });
        let (handle, mut events) = spawn(url, Identity::default());
        assert!(handle.send(ClientMsg::Join {
            room: strangers_shared::RoomName("r".into()),
            name: None,
            capacity: None
        }));
        queued_tx.send(()).unwrap();
        assert!(matches!(next(&mut events).await, SignalEvent::Connected { .. }));
        assert!(handle.send(ClientMsg::Leave));
        let first = tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
        assert_eq!(first, r#"{"type":"leave"}"#);
    }
}
