//! The hub: the one task that owns the [`Core`]. Connection tasks send it what they receive; it
//! feeds the core, routes the core's outputs into connection mailboxes, runs the core's timers,
//! answers metrics requests and starts the graceful shutdown.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use strangers_shared::PeerId;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::core::peermap::PeerMap;
use crate::core::{Core, CoreConfig, Input, Now, Output};
use crate::metrics::{self, NetMetrics};
use crate::net::mailbox::Mailbox;

/// Messages to the hub.
#[derive(Debug)]
pub enum HubMsg {
    /// A WebSocket handshake completed.
    Connected(PeerId, Arc<Mailbox>),
    /// What a connection received, decoded: [`Input::Message`], [`Input::Invalid`] or
    /// [`Input::Binary`].
    Received(Input),
    /// A connection ended.
    /// The connection ended; `true` when the network failed and the client may resume (see
    /// [`Input::Disconnected`]), `false` when it left or the server closed it ([`Input::Closed`]).
    Disconnected(PeerId, bool),
    /// Render `/metrics`.
    Metrics(oneshot::Sender<String>),
}

/// The hub's state; see the module docs.
pub struct Hub {
    core: Core,
    mailboxes: PeerMap<Arc<Mailbox>>,
    net: Arc<NetMetrics>,
    start: Instant,
    shutting_down: bool,
}

impl Hub {
    /// A hub around a fresh core.
    pub fn new(cfg: CoreConfig, net: Arc<NetMetrics>) -> Self {
        Self { core: Core::new(cfg), mailboxes: PeerMap::default(), net, start: Instant::now(), shutting_down: false }
    }

    /// Run until every sender of `rx` is gone. When `shutdown` fires, every connection is asked to
    /// close with 1001 after the frames already queued for it.
    pub async fn run(mut self, mut rx: mpsc::Receiver<HubMsg>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(64);
        loop {
            // Sleep until the core's next timer (a `waiting` update, an interest fallback, the end
            // of a cooldown), or for good while nobody searches.
            let timer = self.core.poll_timeout().map(|at| tokio::time::Instant::from_std(self.start + at));
            tokio::select! {
                n = rx.recv_many(&mut batch, 64) => {
                    if n == 0 {
                        break;
                    }
                    let now = self.now();
                    for msg in batch.drain(..) {
                        self.handle(now, msg);
                    }
                }
                () = sleep_until(timer) => {
                    let now = self.now();
                    self.core.handle(now, Input::Tick);
                    self.route(now);
                }
                () = shutdown.cancelled(), if !self.shutting_down => {
                    self.shutting_down = true;
                    for mailbox in self.mailboxes.values() {
                        mailbox.close(1001, "server shutting down", false);
                    }
                }
            }
        }
    }

    fn now(&self) -> Now {
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Now { mono: self.start.elapsed(), unix_ms }
    }

    fn handle(&mut self, now: Now, msg: HubMsg) {
        let input = match msg {
            HubMsg::Connected(peer, mailbox) => {
                if self.shutting_down {
                    mailbox.close(1001, "server shutting down", false);
                }
                self.mailboxes.insert(peer, mailbox);
                Input::Connected(peer)
            }
            HubMsg::Received(input) => input,
            HubMsg::Disconnected(peer, lost) => {
                self.mailboxes.remove(&peer);
                if lost { Input::Disconnected(peer) } else { Input::Closed(peer) }
            }
            HubMsg::Metrics(reply) => {
                let queued = self.mailboxes.values().map(|m| m.queued_bytes()).sum();
                let _ = reply.send(metrics::render(&self.core, &self.net, queued));
                return;
            }
        };
        self.core.handle(now, input);
        self.route(now);
    }

    /// Deliver everything the core wants sent. A mailbox that overflows closes its connection
    /// (1008) and the core hears at once that the peer is gone, so its partner is told.
    fn route(&mut self, now: Now) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send { to, frame } => {
                    let Some(mailbox) = self.mailboxes.get(&to) else { continue };
                    if mailbox.push(frame).is_err() {
                        NetMetrics::inc(&self.net.slow_reader_closes);
                        tracing::info!(peer = %to, "disconnecting slow reader");
                        self.core.handle(now, Input::Closed(to));
                    }
                }
                Output::Close { peer, code, reason } => {
                    if let Some(mailbox) = self.mailboxes.get(&peer) {
                        mailbox.close(code, reason, false);
                    }
                }
                Output::Searching { peer, searching } => {
                    if let Some(mailbox) = self.mailboxes.get(&peer) {
                        mailbox.set_searching(searching);
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
