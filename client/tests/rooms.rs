//! Rooms end to end: a real signal server in-process on port 0, real engines with synthetic
//! media, and raw protocol members driving bare peer links where a test needs a member that can
//! die like a crashed process. Also: server `error` messages reach the user as events.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use signal_server::{Config, ServerHandle};
use strangers_client::call::peer::{LinkConfig, LinkEvent, PeerLink};
use strangers_client::engine::{Command, Who};
use strangers_client::harness::analyser::ToneRegistry;
use strangers_client::harness::client::{HarnessClient, View};
use strangers_shared::PeerId;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::peer_connection::RTCPeerConnectionState;

const WAIT: Duration = Duration::from_secs(20);

/// The calls in this file run one at a time (two media-heavy tests side by side on a 2-core
/// machine would measure contention, not the engine).
static CALLS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server() -> ServerHandle {
    signal_server::start(Config::local("127.0.0.1:0".parse().unwrap())).await.unwrap()
}

fn join(c: &HarnessClient, room: &str, capacity: u8) {
    c.send(Command::JoinRoom { room: room.into(), name: c.spec.name.clone(), capacity: Some(capacity) });
}

fn frames_from(v: &View, who: Who) -> u64 {
    v.video_from(who).map_or(0, |s| s.frames.load(Ordering::Relaxed))
}

fn heard_from(v: &View, who: Who, hz: f64) -> bool {
    v.tone_from(who).is_some_and(|t| t.detected_hz() == Some(hz) && t.with_tone.load(Ordering::Relaxed) >= 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_of_two_connects_with_video_both_ways_and_turns_a_third_away() {
    let _turn = CALLS.lock().await;
    let srv = server().await;
    let reg = Arc::new(ToneRegistry::default());
    let a = client("a", &srv.url(), 440.0, &reg);
    let b = client("b", &srv.url(), 660.0, &reg);
    join(&a, "friends", 2);
    a.wait(WAIT, "a in the room", |v| v.room.as_deref() == Some("friends")).await.unwrap();
    join(&b, "friends", 2);
    b.wait(WAIT, "b in the room", |v| v.room.as_deref() == Some("friends")).await.unwrap();
    let (ida, idb) = (a.view(|v| v.peer_id).unwrap(), b.view(|v| v.peer_id).unwrap());
    a.wait(WAIT, "b listed", |v| v.members == [idb]).await.unwrap();
    assert_eq!(b.view(|v| v.members.clone()), [ida]);
    for (c, other, hz) in [(&a, idb, 660.0), (&b, ida, 440.0)] {
        let who = Who::Member(other);
        c.wait(WAIT, "30 decoded frames", |v| frames_from(v, who) >= 30).await.unwrap();
        c.wait(WAIT, "the other's tone", |v| heard_from(v, who, hz)).await.unwrap();
        let stamps = c.view(|v| v.stamps_from(who).cloned()).unwrap();
        assert_eq!(stamps.out_of_order.load(Ordering::Relaxed), 0, "counters increase");
        assert_eq!(c.live_links(), 1, "one peer connection");
        assert!(c.view(|v| v.errors.is_empty()), "{:?}", c.view(|v| v.errors.clone()));
    }
    // A third who knows the name is refused by the server, and hears why.
    let c = client("c", &srv.url(), 880.0, &reg);
    join(&c, "friends", 2);
    c.wait(WAIT, "a room_full error", |v| v.errors.iter().any(|e| e.contains("room_full"))).await.unwrap();
    assert_eq!(c.view(|v| v.room.clone()), None);
    assert_eq!(c.live_links(), 0);
    // The call goes on.
    let before = a.view(|v| frames_from(v, Who::Member(idb)));
    a.wait(WAIT, "video still flowing", |v| frames_from(v, Who::Member(idb)) > before + 10).await.unwrap();
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_becomes_an_error_event() {
    let _turn = CALLS.lock().await;
    let srv = server().await;
    // What the server says to a chat line with nobody to hear it, seen on a raw socket.
    let mut raw = raw_socket(&srv.url()).await;
    send(&mut raw, json!({"type": "chat", "text": "anyone?"})).await;
    let error = next_of_type(&mut raw, "error").await;
    assert_eq!(error["code"], "not_paired");
    // The engine turns the same message into an event with the server's words and code.
    let reg = Arc::new(ToneRegistry::default());
    let a = client("a", &srv.url(), 440.0, &reg);
    a.wait(WAIT, "online", |v| v.online).await.unwrap();
    a.send(Command::Chat("anyone?".into()));
    a.wait(WAIT, "an error event", |v| !v.errors.is_empty()).await.unwrap();
    let text = error["message"].as_str().unwrap();
    assert_eq!(a.view(|v| v.errors.clone()), [format!("server: {text} (not_paired)")]);
    srv.shutdown().await.unwrap();
}

async fn raw_socket(url: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"type":"hello","version":1})).await;
    next_of_type(&mut ws, "welcome").await;
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn next_of_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect(ty).unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == ty {
                return v;
            }
        }
    }
}

/// A room member made of a raw socket and bare peer links, each link on a runtime of its own
/// so that it can die like a crashed process while the socket (and the membership) stays.
struct RawMember {
    ws: Ws,
    id: PeerId,
    /// Connection states of the current link.
    states: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
    rt: Option<tokio::runtime::Runtime>,
}

impl RawMember {
    async fn join(url: &str, room: &str) -> (Self, Value) {
        let mut ws = raw_socket(url).await;
        send(&mut ws, json!({"type": "join", "room": room, "name": "raw", "capacity": 3})).await;
        let joined = next_of_type(&mut ws, "joined").await;
        let id = PeerId(joined["you"].as_u64().unwrap());
        (Self { ws, id, states: mpsc::unbounded_channel().1, rt: None }, joined)
    }

    /// A fresh link on a fresh runtime; the old one (if any) dies without a word.
    async fn new_link(&mut self, offer: Option<String>) -> (PeerLink, Option<String>) {
        self.crash();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (states_tx, states) = mpsc::unbounded_channel();
        self.states = states;
        let made = rt.spawn(async move {
            let cfg = LinkConfig::loopback();
            let (tx, mut events) = mpsc::unbounded_channel::<(u64, LinkEvent)>();
            let mut link = PeerLink::new(1, &cfg, tx).await.unwrap();
            tokio::spawn(async move {
                while let Some((_, event)) = events.recv().await {
                    if let LinkEvent::State(s) = event {
                        let _ = states_tx.send(s);
                    }
                }
            });
            let sdp = match offer {
                Some(offer) => link.answer(offer).await.unwrap(),
                None => link.offer().await.unwrap(),
            };
            (link, Some(sdp))
        });
        let made = made.await.unwrap();
        self.rt = Some(rt);
        made
    }

    /// Keep `link` alive on its runtime.
    fn keep(&self, link: PeerLink) {
        if let Some(rt) = &self.rt {
            rt.spawn(async move {
                let _link = link;
                std::future::pending::<()>().await;
            });
        }
    }

    async fn connected(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let state = tokio::time::timeout_at(deadline, self.states.recv()).await.expect("connected");
            if state == Some(RTCPeerConnectionState::Connected) {
                return;
            }
        }
    }

    /// The link's process dies: no goodbye, no more packets.
    fn crash(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offerer_rebuilds_a_member_link_that_broke() {
    let _turn = CALLS.lock().await;
    let srv = server().await;
    let reg = Arc::new(ToneRegistry::default());
    let a = client("a", &srv.url(), 440.0, &reg);
    join(&a, "mesh", 3);
    a.wait(WAIT, "a in the room", |v| v.room.is_some()).await.unwrap();
    let (mut raw, _) = RawMember::join(&srv.url(), "mesh").await;
    let ida = a.view(|v| v.peer_id).unwrap();
    assert!(ida < raw.id, "a joined first, so a offers");
    for attempt in 0..2 {
        let offer = next_of_type(&mut raw.ws, "offer").await;
        assert_eq!(offer["from"], ida.0);
        let (link, answer) = raw.new_link(offer["sdp"].as_str().map(String::from)).await;
        send(&mut raw.ws, json!({"type": "answer", "to": ida.0, "sdp": answer})).await;
        raw.keep(link);
        raw.connected().await;
        if attempt == 0 {
            a.wait(WAIT, "a's link connected", |v| v.stats.contains_key(&Who::Member(raw.id))).await.unwrap();
            // The member's process dies but its socket stays: the server sees nothing, a's link
            // fails, and a (the offerer of the pair) offers again after a short backoff.
            raw.crash();
            let broke = Instant::now();
            a.wait(WAIT, "a's link closed", |v| v.links_closed >= 1).await.unwrap();
            println!("a noticed after {:?}", broke.elapsed());
        }
    }
    assert_eq!(a.view(|v| v.members.clone()), [raw.id], "still listed");
    a.wait(WAIT, "the broken link torn down", |_| a.live_links() == 1).await.unwrap();
    raw.crash();
    srv.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answerer_takes_a_new_offer_from_a_member_whose_link_broke() {
    let _turn = CALLS.lock().await;
    let srv = server().await;
    let reg = Arc::new(ToneRegistry::default());
    let (mut raw, _) = RawMember::join(&srv.url(), "mesh").await;
    let a = client("a", &srv.url(), 440.0, &reg);
    join(&a, "mesh", 3);
    next_of_type(&mut raw.ws, "peer_joined").await;
    let ida = a.view(|v| v.peer_id).unwrap();
    assert!(raw.id < ida, "the raw member joined first, so it offers");
    let mut closed_before = 0;
    for attempt in 0..2 {
        let started = Instant::now();
        let (mut link, offer) = raw.new_link(None).await;
        send(&mut raw.ws, json!({"type": "offer", "to": ida.0, "sdp": offer})).await;
        let answer = next_of_type(&mut raw.ws, "answer").await;
        let rt = raw.rt.as_ref().unwrap();
        let sdp = answer["sdp"].as_str().unwrap().to_string();
        let link = rt.spawn(async move { link.accept_answer(sdp).await.map(|()| link) }).await.unwrap().unwrap();
        raw.keep(link);
        raw.connected().await;
        println!("attempt {attempt}: connected after {:?}", started.elapsed());
        if attempt == 1 {
            // The new offer came before a noticed the old link was dead: a replaced it.
            assert!(a.view(|v| v.links_closed) > closed_before, "the old link was closed");
        }
        closed_before = a.view(|v| v.links_closed);
    }
    assert!(a.view(|v| !v.errors.iter().any(|e| e.contains("call failed"))), "{:?}", a.view(|v| v.errors.clone()));
    assert_eq!(a.view(|v| v.members.clone()), [raw.id]);
    a.wait(WAIT, "only the new peer connection", |_| a.live_links() == 1).await.unwrap();
    raw.crash();
    srv.shutdown().await.unwrap();
}
