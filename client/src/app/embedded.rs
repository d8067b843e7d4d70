//! Zero-setup pieces: finding (or starting) a local signal server, and the demo stranger.

use std::net::SocketAddr;
use std::time::Duration;

use strangers_shared::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::call::state::CallState;
use crate::engine::{self, Command, EngineConfig, EngineHandle, Event};
use crate::media::audio_source::{AudioSink, SyntheticTone};
use crate::media::send::SendConfig;
use crate::media::video_source::SyntheticVideo;

/// Where the app looks for a server when none is given.
pub const LOCAL_DEFAULT: &str = "127.0.0.1:8080";

/// The server to use: `explicit` if given; else the local default if a Strangers server answers
/// there; else a server started in this process on the local default (or on a free port when
/// something else holds it). The returned handle keeps an embedded server running.
pub async fn resolve_server(explicit: Option<&str>) -> (String, Option<signal_server::ServerHandle>) {
    if let Some(url) = explicit.filter(|u| !u.trim().is_empty()) {
        return (url.trim().to_string(), None);
    }
    let default: SocketAddr = LOCAL_DEFAULT.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if is_strangers_server(default).await {
        tracing::info!(%default, "using the local signal server");
        return (format!("ws://{default}/"), None);
    }
    for addr in [default, SocketAddr::from(([127, 0, 0, 1], 0))] {
        match signal_server::start(signal_server::Config::local(addr)).await {
            Ok(handle) => {
                tracing::info!(addr = %handle.addr(), "started an embedded signal server");
                return (handle.url(), Some(handle));
            }
            Err(e) => tracing::warn!(%addr, error = %e, "cannot start an embedded server here"),
        }
    }
    // Nothing worked (no loopback at all?): aim at the default and let the engine retry.
    (format!("ws://{default}/"), None)
}

/// Whether a Strangers signal server answers `/healthz` at `addr`.
async fn is_strangers_server(addr: SocketAddr) -> bool {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        while buf.len() < 4096 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf);
        Some(text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\nok\n"))
    };
    tokio::time::timeout(Duration::from_millis(700), probe).await.ok().flatten().unwrap_or(false)
}

struct Discard;
impl AudioSink for Discard {
    fn play(&mut self, _samples: &[f32], _at: std::time::Instant) {}
}

/// What the demo stranger says when a call connects.
pub const DEMO_HELLO: &str =
    "Hi! I'm the demo stranger: a test card and a 330 Hz tone. Type something and I'll echo it.";

/// What the demo stranger searches for: a mode and interests.
type Wish = (Mode, Vec<String>);

/// The app's handle on the demo stranger: tells it which mode and interests to search with.
/// Dropping it leaves the stranger running with its last wish (it stops with the runtime).
pub struct DemoBot {
    wish: tokio::sync::watch::Sender<Wish>,
}

impl DemoBot {
    /// Search in `mode` with `interests` from now on. A search under way restarts in the new
    /// mode; a call under way goes on, and the next search uses the new mode.
    pub fn follow(&self, mode: Mode, interests: Vec<String>) {
        self.wish.send_if_modified(|wish| {
            let new = (mode, interests);
            let changed = *wish != new;
            *wish = new;
            changed
        });
    }
}

/// Start the demo stranger: a headless engine with synthetic media that searches in `mode`
/// with `interests` (until told otherwise through the returned [`DemoBot`]), greets whoever it
/// meets and echoes their chat. It runs until the runtime stops.
pub fn start_demo(server_url: String, mode: Mode, interests: Vec<String>) -> std::io::Result<DemoBot> {
    let cfg = EngineConfig {
        server_url,
        // A bot on the user's own machine: no install id, no terms (the embedded server needs none).
        identity: crate::signaling::Identity::default(),
        // Every interface, like the app: a stranger on another machine must reach the bot too.
        udp_bind: "0.0.0.0:0".into(),
        relay_only: false,
        video: Some(Box::new(SyntheticVideo::new(640, 480, 30.0, "Demo stranger"))),
        audio: Some(Box::new(SyntheticTone::new(330.0, 660.0, Duration::from_secs(3)))),
        send: SendConfig::default(),
        rgba: false,
        sinks: std::sync::Arc::new(|_| Box::new(Discard)),
    };
    let mut engine = engine::start(cfg)?;
    let (wish_tx, mut wish_rx) = tokio::sync::watch::channel((mode, interests));
    tokio::spawn(async move {
        let mut bot = Demo { online: false, state: CallState::Idle };
        let mut app_gone = false;
        loop {
            tokio::select! {
                event = engine.events.recv() => match event {
                    Some(event) => bot.react(&engine, event, &wish_rx.borrow()),
                    None => break,
                },
                changed = wish_rx.changed(), if !app_gone => match changed {
                    Ok(()) => bot.rethink(&engine, &wish_rx.borrow_and_update()),
                    // The app is gone; keep serving with the last wish (`--bot` never had one).
                    Err(_) => app_gone = true,
                },
            }
        }
    });
    Ok(DemoBot { wish: wish_tx })
}

/// The demo stranger's view of its own engine.
struct Demo {
    online: bool,
    state: CallState,
}

impl Demo {
    fn react(&mut self, engine: &EngineHandle, event: Event, wish: &Wish) {
        match event {
            Event::ServerOnline { .. } if !self.online => {
                self.online = true;
                self.search(engine, wish);
            }
            Event::State(state) => {
                self.state = state;
                match &self.state {
                    CallState::Connected => {
                        engine.send(Command::Chat(DEMO_HELLO.into()));
                    }
                    // Back in the queue after a call, in the mode that call had: switch if the
                    // app has moved on to another mode meanwhile.
                    CallState::Searching { mode } if *mode != wish.0 => self.search(engine, wish),
                    _ => {}
                }
            }
            Event::Chat { text, mine: false, .. } => {
                let echo: String = text.chars().take(1900).collect();
                engine.send(Command::Chat(format!("You said: {echo}")));
            }
            _ => {}
        }
    }

    /// The wish changed: search anew unless a call is under way (that call finishes first).
    fn rethink(&mut self, engine: &EngineHandle, wish: &Wish) {
        if self.online && !self.state.in_call() {
            self.search(engine, wish);
        }
    }

    fn search(&self, engine: &EngineHandle, (mode, interests): &Wish) {
        engine.send(Command::Start { mode: *mode, interests: interests.clone() });
    }
}
