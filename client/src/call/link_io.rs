//! The I/O under each peer connection.
//!
//! webrtc-rs 0.21.1 runs a connection's driver loop on the `Runtime` it is given and binds the
//! connection's UDP sockets through `Runtime::wrap_udp_socket`. A [`LinkRuntime`] is the tokio
//! runtime with each of those sockets wrapped in a [`LinkSocket`], which mends two faults of that
//! loop, both in getting a call started:
//!
//! - **Early DTLS** (`early_dtls`): until [`LinkIo::open_path`] (our ICE agent has chosen a
//!   pair), DTLS datagrams are kept on the socket's shelf instead of reaching webrtc-rs, which
//!   would drop them; then they are delivered first.
//! - **Stuck relay sends**: each turn of the loop drains its TURN relayer's queue *before* it
//!   collects the core's writes, and the core's writes for a relayed pair go into that queue. So
//!   every DTLS flight of a relayed call waited for the loop's next wake-up: the next ICE
//!   keepalive or arriving packet, up to 200 ms a flight (BENCHMARKS, "Why a relayed call takes
//!   1–3 s"). Until the connection is settled ([`LinkIo::set_settled`]), its sockets wake the
//!   loop every [`TICK`] with an empty datagram (one per tick, from whichever socket is polled
//!   first): the driver splits a datagram of length 0 into no
//!   messages at all, but runs one more turn (writes, events, reads), which sends what was
//!   queued. Once connected, media keeps the loop busy and the ticks stop; they come back while
//!   the connection is disconnected, since an ICE restart over a relay queues the same way.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use futures_util::task::AtomicWaker;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime, Transmit,
};

use super::early_dtls::{Shelf, is_dtls};

/// How often an unsettled connection's sockets wake its driver loop.
pub const TICK: Duration = Duration::from_millis(5);
/// How many datagrams one receive call may set aside before it yields to other tasks.
const HOLDS_PER_POLL: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one socket shares with its link: its shelf, and the task waiting on it.
#[derive(Debug, Default)]
struct Shared {
    shelf: Mutex<Shelf>,
    /// The shelf was found empty with the path open: nothing will be kept on it again, so the
    /// receive path (every packet of the call) no longer looks at it.
    emptied: AtomicBool,
    waiting: AtomicWaker,
}

/// One peer connection's I/O state, shared by its sockets and its event handler.
#[derive(Debug, Default)]
pub struct LinkIo {
    /// Our ICE agent has chosen a pair: DTLS may pass.
    path: AtomicBool,
    /// Connected (or given up): no ticks.
    settled: AtomicBool,
    state: Mutex<IoState>,
}

#[derive(Debug, Default)]
struct IoState {
    /// When the next tick is due, for whichever socket sees it first (one turn per tick, however
    /// many sockets the connection has).
    next_tick: Option<tokio::time::Instant>,
    /// Every socket of the connection, to wake when the path opens or ticking resumes.
    sockets: Vec<Weak<Shared>>,
}

impl LinkIo {
    /// Our ICE agent has a path: every socket delivers what it kept, then lets everything
    /// through. Idempotent.
    pub fn open_path(&self) {
        if self.path.swap(true, Ordering::SeqCst) {
            return;
        }
        let sockets = lock(&self.state).sockets.clone();
        for socket in sockets.iter().filter_map(Weak::upgrade) {
            let held = lock(&socket.shelf).len();
            if held > 0 {
                tracing::debug!(held, "ICE has a path: passing on DTLS datagrams that came before it");
            }
            socket.waiting.wake();
        }
    }

    /// Whether our ICE agent has chosen a pair.
    pub fn has_path(&self) -> bool {
        self.path.load(Ordering::SeqCst)
    }

    /// Settled (connected, failed or closed): the sockets stop ticking. Unsettled again (a lost
    /// path being restored): they tick again, starting now.
    pub fn set_settled(&self, settled: bool) {
        if self.settled.swap(settled, Ordering::SeqCst) && !settled {
            for socket in lock(&self.state).sockets.clone().iter().filter_map(Weak::upgrade) {
                socket.waiting.wake();
            }
        }
    }

    /// Whether the sockets tick.
    pub fn ticking(&self) -> bool {
        !self.settled.load(Ordering::SeqCst)
    }

    /// Early DTLS datagrams kept and not yet delivered, over every socket.
    pub fn held(&self) -> usize {
        let state = lock(&self.state);
        state.sockets.iter().filter_map(Weak::upgrade).map(|s| lock(&s.shelf).len()).sum()
    }

    /// (path, settled): what a receive saw, to notice a change while it parks.
    fn snapshot(&self) -> (bool, bool) {
        (self.path.load(Ordering::SeqCst), self.settled.load(Ordering::SeqCst))
    }

    /// None when a tick is due at `now` (and the next one is set); otherwise when it will be.
    fn take_tick(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let mut state = lock(&self.state);
        let next = *state.next_tick.get_or_insert(now + TICK);
        if now < next {
            return Some(next);
        }
        state.next_tick = Some(now + TICK);
        None
    }

    fn register(&self, socket: &Arc<Shared>) {
        let mut state = lock(&self.state);
        state.sockets.retain(|s| s.strong_count() > 0);
        state.sockets.push(Arc::downgrade(socket));
    }
}

/// A UDP socket of one peer connection; see the module docs.
#[derive(Debug)]
pub struct LinkSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    io: Arc<LinkIo>,
    shared: Arc<Shared>,
    /// This socket's timer for the link's next tick, made on first use (inside the runtime).
    tick: Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
}

impl LinkSocket {
    /// Wraps `inner` for the connection whose state is `io`.
    pub fn new(inner: Arc<dyn AsyncUdpSocket>, io: Arc<LinkIo>) -> Self {
        let shared = Arc::new(Shared::default());
        io.register(&shared);
        Self { inner, io, shared, tick: Mutex::new(None) }
    }

    /// Datagrams this socket did not keep: its shelf was full, or it held the same bytes already.
    pub fn dropped(&self) -> u64 {
        lock(&self.shared.shelf).dropped()
    }

    /// Moves the oldest kept datagram into `buf` and `meta`, unless nothing is kept.
    fn deliver_kept(&self, buf: &mut [u8], meta: &mut RecvMeta) -> bool {
        if self.shared.emptied.load(Ordering::Relaxed) {
            return false;
        }
        let delivered = lock(&self.shared.shelf).deliver(buf, meta);
        if !delivered && self.io.has_path() {
            self.shared.emptied.store(true, Ordering::Relaxed);
        }
        delivered
    }

    /// Whether a tick is due now; otherwise arms this socket's timer for the next one.
    ///
    /// A readiness probe's no-op waker is not given to the timer. That check is best effort (a
    /// no-op waker is not guaranteed to compare equal across crates); what makes it safe is the
    /// driver, which after a burst of probes always polls a fresh receive with its own waker
    /// before it sleeps.
    fn tick_due(&self, cx: &mut Context<'_>) -> bool {
        let Some(next) = self.io.take_tick(tokio::time::Instant::now()) else { return true };
        if cx.waker().will_wake(Waker::noop()) {
            return false;
        }
        let mut tick = lock(&self.tick);
        let sleep = tick.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
        if sleep.deadline() != next {
            sleep.as_mut().reset(next);
        }
        // A timer that fired between our look at the clock and now is a tick now.
        sleep.as_mut().poll(cx).is_ready() && self.io.take_tick(tokio::time::Instant::now()).is_none()
    }

    /// Remembers the waiting task, for the path opening or ticking resuming. If either happened
    /// since `seen` was taken, the wake may have been missed: wake now instead.
    fn park(&self, cx: &Context<'_>, seen: (bool, bool)) {
        if !cx.waker().will_wake(Waker::noop()) {
            self.shared.waiting.register(cx.waker());
        }
        if self.io.snapshot() != seen {
            cx.waker().wake_by_ref();
        }
    }

    /// Receives with no path yet: DTLS goes on the shelf, anything else is returned.
    fn poll_recv_shut(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        // One message at a time, so that a kept one never has to be cut out of a batch.
        for _ in 0..HOLDS_PER_POLL {
            match self.inner.poll_recv(cx, &mut bufs[..1], &mut meta[..1]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let len = meta[0].len.min(bufs[0].len());
                    if !is_dtls(&bufs[0][..len], meta[0].stride) {
                        return Poll::Ready(Ok(n));
                    }
                    lock(&self.shared.shelf).keep(&bufs[0][..len], meta[0]);
                    self.shared.emptied.store(false, Ordering::Relaxed);
                    // Opened while we read: hand it (or an older one) over now.
                    if self.io.has_path() && self.deliver_kept(&mut bufs[0], &mut meta[0]) {
                        return Poll::Ready(Ok(1));
                    }
                }
                other => return other,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl AsyncUdpSocket for LinkSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if bufs.is_empty() || meta.is_empty() {
            return self.inner.poll_recv(cx, bufs, meta);
        }
        let seen @ (path, settled) = self.io.snapshot();
        if path && self.deliver_kept(&mut bufs[0], &mut meta[0]) {
            return Poll::Ready(Ok(1));
        }
        if !settled && self.tick_due(cx) {
            let mut empty = RecvMeta::default();
            empty.stride = 1;
            meta[0] = empty;
            return Poll::Ready(Ok(1));
        }
        let polled = if path { self.inner.poll_recv(cx, bufs, meta) } else { self.poll_recv_shut(cx, bufs, meta) };
        if polled.is_pending() {
            self.park(cx, seen);
        }
        polled
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

/// A runtime that is `inner` in every way, except that the UDP sockets it makes are
/// [`LinkSocket`]s of one connection. One per peer connection.
#[derive(Debug)]
pub struct LinkRuntime {
    inner: Arc<dyn Runtime>,
    io: Arc<LinkIo>,
}

impl LinkRuntime {
    /// Wraps `inner`; the sockets it makes answer to `io`.
    pub fn new(inner: Arc<dyn Runtime>, io: Arc<LinkIo>) -> Self {
        Self { inner, io }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for LinkRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(&self, pool_size: usize, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(LinkSocket::new(inner, self.io.clone())))
    }

    fn wrap_tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(&'a self, remote: SocketAddr) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
