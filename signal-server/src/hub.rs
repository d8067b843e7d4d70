//! The hub: the one task that owns the [`Core`]. Connection tasks send it what they receive; it
//! feeds the core, routes the core's outputs into connection mailboxes, runs the core's timers,
//! answers metrics requests and starts the graceful shutdown.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use strangers_shared::PeerId;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::core::peermap::PeerMap;
use crate::core::safety::Snapshot;
use crate::core::{Core, CoreConfig, Input, Now, Output};
use crate::metrics::{self, NetMetrics};
use crate::net::admin::AdminReq;
use crate::net::mailbox::Mailbox;
use crate::store::Store;

/// Messages to the hub.
#[derive(Debug)]
pub enum HubMsg {
    /// A WebSocket handshake completed, from this address.
    Connected(PeerId, Arc<Mailbox>, Option<IpAddr>),
    /// What a connection received, decoded: [`Input::Message`], [`Input::Invalid`] or
    /// [`Input::Binary`].
    Received(Input),
    /// A connection ended.
    /// The connection ended; `true` when the network failed and the client may resume (see
    /// [`Input::Disconnected`]), `false` when it left or the server closed it ([`Input::Closed`]).
    Disconnected(PeerId, bool),
    /// Render `/metrics`.
    Metrics(oneshot::Sender<String>),
    /// A moderator's request (already authorized); answered with a status and a JSON body.
    Admin(AdminReq, oneshot::Sender<(u16, String)>),
    /// From the cluster: a message for one of our peers.
    Remote(crate::core::cluster::Remote),
    /// From the cluster: a report or ban another node shared.
    Safety(crate::core::safety::StoreOp),
    /// From the cluster: the bans and blocks it keeps, read again once this node listens.
    SafetyKept(Snapshot),
    /// From the cluster: news about the cluster itself.
    Cluster(crate::core::cluster::ClusterEvent),
    /// From the cluster: connections online and searchers per mode, cluster-wide.
    ClusterCounts {
        /// Connections on every live node.
        online: u64,
        /// Searchers in video and text.
        searching: [u64; 2],
    },
}

/// The hub's state; see the module docs.
pub struct Hub {
    core: Core,
    mailboxes: PeerMap<Arc<Mailbox>>,
    net: Arc<NetMetrics>,
    start: Instant,
    shutting_down: bool,
    store: Option<Store>,
    cluster: Option<crate::cluster::Cluster>,
    /// Connections on this node, for the cluster's counts.
    online: Arc<std::sync::atomic::AtomicU64>,
}

impl Hub {
    /// A hub around a fresh core, with the store if there is one, and what was kept (by the
    /// store or by the cluster) loaded.
    pub fn new(cfg: CoreConfig, net: Arc<NetMetrics>, store: Option<Store>, kept: Snapshot) -> Self {
        let mut core = Core::new(cfg);
        core.restore(kept);
        Self {
            core,
            mailboxes: PeerMap::default(),
            net,
            start: Instant::now(),
            shutting_down: false,
            store,
            cluster: None,
            online: Arc::default(),
        }
    }

    /// Run as a node of `cluster`; `online` is kept at this node's connection count.
    pub fn with_cluster(mut self, cluster: crate::cluster::Cluster, online: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.cluster = Some(cluster);
        self.online = online;
        self
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
            HubMsg::Connected(peer, mailbox, ip) => {
                if self.shutting_down {
                    mailbox.close(1001, "server shutting down", false);
                }
                self.mailboxes.insert(peer, mailbox);
                Input::Connected(peer, ip)
            }
            HubMsg::Received(input) => input,
            HubMsg::Remote(msg) => Input::Remote(msg),
            HubMsg::Cluster(event) => Input::Cluster(event),
            HubMsg::Safety(op) => Input::Safety(op),
            HubMsg::SafetyKept(kept) => {
                // Searches made before these were known search again, now keeping apart whom
                // they must.
                self.core.restore(kept);
                Input::Cluster(crate::core::cluster::ClusterEvent::Back)
            }
            HubMsg::ClusterCounts { online, searching } => {
                self.core.set_cluster_counts(online, searching);
                return;
            }
            HubMsg::Disconnected(peer, lost) => {
                self.mailboxes.remove(&peer);
                // Closed because this server is going away (a deploy): the client did not
                // leave its call, and comes back (on another node of a cluster, whose partner
                // must not hear `partner_left` meanwhile): held, as a lost connection is.
                if lost || self.shutting_down { Input::Disconnected(peer) } else { Input::Closed(peer) }
            }
            HubMsg::Metrics(reply) => {
                let queued = self.mailboxes.values().map(|m| m.queued_bytes()).sum();
                let dropped = self.store.as_ref().map_or(0, Store::dropped);
                let mut text = metrics::render(&self.core, &self.net, queued, dropped);
                if let Some(cluster) = &self.cluster {
                    let up = cluster.up.load(std::sync::atomic::Ordering::Relaxed);
                    let failures = cluster.failures.load(std::sync::atomic::Ordering::Relaxed);
                    metrics::cluster(&mut text, up, failures);
                }
                let _ = reply.send(text);
                return;
            }
            HubMsg::Admin(req, reply) => {
                let _ = reply.send(self.admin(now, req));
                self.route(now);
                return;
            }
        };
        self.core.handle(now, input);
        self.route(now);
        self.online.store(self.core.online() as u64, std::sync::atomic::Ordering::Relaxed);
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
                Output::Store(op) => {
                    if let Some(store) = &self.store {
                        store.keep(op);
                    }
                }
                Output::Cluster(op) => {
                    if let Some(cluster) = &self.cluster {
                        cluster.submit(op);
                    }
                }
            }
        }
    }
}

impl Hub {
    fn admin(&mut self, now: Now, req: AdminReq) -> (u16, String) {
        let json = |v: serde_json::Value| v.to_string();
        match req {
            AdminReq::Reports { limit } => {
                (200, json(serde_json::json!({ "reports": self.core.recent_reports(limit) })))
            }
            AdminReq::Bans => (200, json(serde_json::json!({ "bans": self.core.active_bans(now.unix_ms) }))),
            AdminReq::Lift(key) => {
                if self.core.lift_ban(now.unix_ms, key) {
                    tracing::info!(%key, "ban lifted by a moderator");
                    (200, json(serde_json::json!({ "lifted": key })))
                } else {
                    (404, json(serde_json::json!({ "error": "no ban in force on that key" })))
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
