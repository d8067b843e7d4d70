//! DTLS datagrams that arrive before our ICE agent has chosen a path.
//!
//! webrtc-rs 0.21.1 hands a non-STUN datagram to DTLS only once its ICE agent has selected a
//! candidate pair; before that it drops it. A partner whose agent is satisfied first sends its
//! DTLS ClientHello while ours is still nominating: Chromium, as the controlled agent of a call
//! we offer, starts DTLS as soon as its own check succeeds. The hello is dropped and the
//! handshake waits for the partner's retransmission (about 60 ms in Chromium 156, a full second
//! in older browsers and in many other stacks).
//!
//! [`HoldingRuntime`] wraps the runtime a peer connection runs on, and so every UDP socket that
//! connection binds. Until the link's [`Gate`] opens (the engine opens it when our ICE agent
//! reports a path), a datagram in the DTLS range of RFC 7983's demultiplexing (first byte 20 to
//! 63) is kept instead of passed on. When the gate opens the kept ones are delivered first, so
//! the hello is answered the moment there is a path. Once open, a socket is a plain pass-through.
//!
//! A partner learns nothing from this and cannot use it to grow our memory: at most
//! [`HELD_MAX`] datagrams and [`HELD_BYTES`] bytes are kept per socket, later ones are dropped
//! (as webrtc-rs would have dropped them all), and what is kept is freed with the connection.
//! What reaches DTLS once the gate opens is exactly what webrtc-rs lets through from then on
//! (it does not check the sender's address either): DTLS itself authenticates the handshake
//! against the fingerprint in the partner's description.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime, Transmit,
};

/// The most datagrams one socket keeps while the gate is shut (a ClientHello is one or two; a
/// partner retransmits a few times before our agent has a path).
pub const HELD_MAX: usize = 8;
/// The most bytes one socket keeps while the gate is shut.
pub const HELD_BYTES: usize = 16 * 1024;
/// How many datagrams one receive call may set aside before it yields to other tasks.
const HOLDS_PER_POLL: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a received message is DTLS by RFC 7983's first-byte rule. A GRO-coalesced message is
/// only DTLS if every datagram in it is.
fn is_dtls(data: &[u8], stride: usize) -> bool {
    !data.is_empty() && data.chunks(stride.max(1)).all(|d| matches!(d.first(), Some(20..=63)))
}

/// What one socket has set aside.
#[derive(Debug, Default)]
struct Shelf {
    held: VecDeque<(Vec<u8>, RecvMeta)>,
    bytes: usize,
    dropped: u64,
    /// The task waiting on this socket, woken when the gate opens.
    waker: Option<Waker>,
}

/// Opened once per peer connection, when its ICE agent first has a path.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    open: bool,
    shelves: Vec<Weak<Mutex<Shelf>>>,
}

impl Gate {
    /// Lets everything through from now on, starting with what was kept. Idempotent.
    pub fn open(&self) {
        let shelves = {
            let mut state = lock(&self.state);
            if state.open {
                return;
            }
            state.open = true;
            std::mem::take(&mut state.shelves)
        };
        for shelf in shelves.iter().filter_map(Weak::upgrade) {
            let (waker, held) = {
                let mut shelf = lock(&shelf);
                (shelf.waker.take(), shelf.held.len())
            };
            if held > 0 {
                tracing::debug!(held, "ICE has a path: passing on DTLS datagrams that came before it");
            }
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        lock(&self.state).open
    }

    /// Datagrams kept and waiting, over every socket, while the gate is shut (0 once open).
    pub fn held(&self) -> usize {
        let state = lock(&self.state);
        state.shelves.iter().filter_map(Weak::upgrade).map(|s| lock(&s).held.len()).sum()
    }

    fn register(&self, shelf: &Arc<Mutex<Shelf>>) {
        let mut state = lock(&self.state);
        if !state.open {
            state.shelves.retain(|s| s.strong_count() > 0);
            state.shelves.push(Arc::downgrade(shelf));
        }
    }
}

/// A UDP socket that keeps early DTLS datagrams until its gate opens.
#[derive(Debug)]
pub struct HoldingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    gate: Arc<Gate>,
    shelf: Arc<Mutex<Shelf>>,
}

impl HoldingSocket {
    /// Wraps `inner`, keeping early DTLS until `gate` opens.
    pub fn new(inner: Arc<dyn AsyncUdpSocket>, gate: Arc<Gate>) -> Self {
        let shelf = Arc::new(Mutex::new(Shelf::default()));
        gate.register(&shelf);
        Self { inner, gate, shelf }
    }

    /// Datagrams this socket dropped because its shelf was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.shelf).dropped
    }

    fn keep(&self, data: &[u8], meta: RecvMeta) {
        let mut shelf = lock(&self.shelf);
        if shelf.held.len() >= HELD_MAX || shelf.bytes + data.len() > HELD_BYTES {
            shelf.dropped += 1;
            return;
        }
        shelf.bytes += data.len();
        shelf.held.push_back((data.to_vec(), meta));
    }

    /// Delivers one kept datagram into `buf`, if there is one.
    fn deliver(&self, buf: &mut [u8], meta: &mut RecvMeta) -> bool {
        let Some((data, kept)) = lock(&self.shelf).held.pop_front() else { return false };
        let len = data.len().min(buf.len());
        buf[..len].copy_from_slice(&data[..len]);
        *meta = kept;
        meta.len = len;
        meta.stride = kept.stride.clamp(1, len.max(1));
        true
    }

    /// Remembers the waiting task so that opening the gate wakes it. A readiness probe's no-op
    /// waker is not kept: it would replace the real one and the wake would be lost.
    fn park(&self, cx: &Context<'_>) {
        if !cx.waker().will_wake(Waker::noop()) {
            lock(&self.shelf).waker = Some(cx.waker().clone());
        }
        // Opened between our look at the gate and now: do not wait for the next datagram.
        if self.gate.is_open() && !lock(&self.shelf).held.is_empty() {
            cx.waker().wake_by_ref();
        }
    }
}

impl AsyncUdpSocket for HoldingSocket {
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
        if self.gate.is_open() {
            if self.deliver(&mut bufs[0], &mut meta[0]) {
                return Poll::Ready(Ok(1));
            }
            return self.inner.poll_recv(cx, bufs, meta);
        }
        // Shut: one message at a time, so that a kept one never has to be cut out of a batch.
        for _ in 0..HOLDS_PER_POLL {
            match self.inner.poll_recv(cx, &mut bufs[..1], &mut meta[..1]) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let len = meta[0].len.min(bufs[0].len());
                    if !is_dtls(&bufs[0][..len], meta[0].stride) {
                        return Poll::Ready(Ok(n));
                    }
                    self.keep(&bufs[0][..len], meta[0]);
                    if self.gate.is_open() {
                        // Opened while we read: hand it (or an older one) over now.
                        if self.deliver(&mut bufs[0], &mut meta[0]) {
                            return Poll::Ready(Ok(1));
                        }
                    }
                }
                Poll::Pending => {
                    self.park(cx);
                    return Poll::Pending;
                }
                other => return other,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

/// A runtime that is `inner` in every way, except that the UDP sockets it makes keep early DTLS
/// until `gate` opens. One per peer connection.
#[derive(Debug)]
pub struct HoldingRuntime {
    inner: Arc<dyn Runtime>,
    gate: Arc<Gate>,
}

impl HoldingRuntime {
    /// Wraps `inner`; the sockets it makes answer to `gate`.
    pub fn new(inner: Arc<dyn Runtime>, gate: Arc<Gate>) -> Self {
        Self { inner, gate }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for HoldingRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(&self, pool_size: usize, future: BoxFuture<'static, ()>) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(HoldingSocket::new(inner, self.gate.clone())))
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
