//! `floor`: the least a tokio-tungstenite server can do for the plain room protocol, as a
//! reference point for `bench/run.sh` (`FLOOR=1`). Not a server to deploy.
//!
//! `join` puts the connection in the room named in the frame and sends `ready` to both members
//! once two are in; every other text frame goes verbatim to the other member. Nothing is parsed
//! as JSON (the room is found by a substring search), nothing is validated or limited, and there
//! is no matchmaking, heartbeat, metric or graceful shutdown: what it spends per session is what
//! the WebSocket layer, tokio and the kernel spend when a server does almost nothing else. It is
//! built like the real server (same allocator, a current-thread runtime, `TCP_NODELAY`, frames
//! queued together written with one flush) but with tungstenite's plain buffers: a 16 KiB read
//! buffer, so every message is one read.
//!
//! Usage: `floor [ADDR]` (default `127.0.0.1:8090`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Room name → its members' ids and outbound queues.
type Rooms = Rc<RefCell<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>>>;

fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening {}", listener.local_addr()?);
        let rooms = Rooms::default();
        let mut next_id = 0u64;
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let _ = tcp.set_nodelay(true);
            next_id += 1;
            tokio::task::spawn_local(connection(tcp, rooms.clone(), next_id));
        }
    })
}

/// The value of the first `"room":"…"` in `text`.
fn room_of(text: &str) -> Option<&str> {
    let start = text.find("\"room\":\"")? + "\"room\":\"".len();
    let rest = text.get(start..)?;
    rest.get(..rest.find('"')?)
}

async fn connection(tcp: TcpStream, rooms: Rooms, id: u64) {
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let mut joined: Option<String> = None;
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if text.starts_with(r#"{"type":"join""#) {
                        let Some(room) = room_of(&text) else { continue };
                        let mut rooms = rooms.borrow_mut();
                        let members = rooms.entry(room.to_owned()).or_default();
                        members.push((id, tx.clone()));
                        if members.len() == 2 {
                            let ready = Message::text(format!(r#"{{"type":"ready","room":"{room}"}}"#));
                            for (_, member) in members.iter() {
                                let _ = member.send(ready.clone());
                            }
                        }
                        joined = Some(room.to_owned());
                    } else if let Some(room) = &joined {
                        let rooms = rooms.borrow();
                        for (_, queue) in rooms.get(room).into_iter().flatten().filter(|(member, _)| *member != id) {
                            let _ = queue.send(Message::Text(text.clone()));
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(first) = rx.recv() => {
                let mut result = ws.feed(first).await;
                while let (Ok(()), Ok(more)) = (&result, rx.try_recv()) {
                    result = ws.feed(more).await;
                }
                if result.is_err() || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(room) = joined {
        let mut rooms = rooms.borrow_mut();
        if let Some(members) = rooms.get_mut(&room) {
            members.retain(|(member, _)| *member != id);
            if members.is_empty() {
                rooms.remove(&room);
            }
        }
    }
}
