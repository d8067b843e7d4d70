//! Bookkeeping for sockets: every task that serves one (so that shutdown can abort what the grace
//! period did not end), and the two counts behind the connection cap.
//!
//! `--max-connections` caps WebSockets. Plain HTTP requests (health checks, metrics) and
//! handshakes in progress may use [`HTTP_RESERVE`] sockets more, so monitoring still answers when
//! the server is full of WebSockets, and the total number of sockets stays bounded.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::task::JoinSet;

/// Sockets allowed beyond `--max-connections`, for plain HTTP and handshakes in progress.
pub const HTTP_RESERVE: usize = 64;

/// The tasks serving sockets: handshakes, HTTP requests and WebSocket connections.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    set: JoinSet<()>,
    /// Set when shutdown aborts everything; later spawns are refused.
    closed: bool,
}

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while the lock is held, and a poisoned set is still a valid set.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `task` in its own tokio task. After [`Tasks::abort_all`] it is dropped instead, which
    /// closes its socket.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            drop(task);
            return;
        }
        inner.set.spawn(task);
    }

    /// Forget the tasks that have finished; `Ready` once none is left. Wakes `cx` when another
    /// one finishes.
    pub(crate) fn poll_reap(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        loop {
            match inner.set.poll_join_next(cx) {
                Poll::Ready(Some(Err(e))) if e.is_panic() => {
                    tracing::error!(error = %e, "a connection task panicked");
                }
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reap finished tasks forever (for a `select!` branch that never completes).
    pub(crate) async fn reap_forever(&self) {
        std::future::poll_fn(|cx| {
            let _ = self.poll_reap(cx);
            Poll::<()>::Pending
        })
        .await;
    }

    /// Wait until every task has finished.
    pub(crate) async fn drained(&self) {
        std::future::poll_fn(|cx| self.poll_reap(cx)).await;
    }

    /// Tasks still running (or finished but not yet reaped).
    pub(crate) fn len(&self) -> usize {
        self.lock().set.len()
    }

    /// Abort every task and refuse new ones. Aborted tasks drop their futures, and with them
    /// their sockets, the next time the runtime looks at them; [`Tasks::drained`] waits for that.
    pub(crate) fn abort_all(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.set.abort_all();
    }
}

/// How many sockets are open, and how many of them are WebSockets.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    sockets: AtomicUsize,
    websockets: AtomicUsize,
}

impl Counts {
    /// Open sockets of any kind.
    pub(crate) fn sockets(&self) -> usize {
        self.sockets.load(Ordering::Relaxed)
    }
}

/// Counts one open socket until dropped, and its WebSocket seat if it took one. It moves from the
/// handshake task to the connection task.
#[derive(Debug)]
pub(crate) struct SocketGuard {
    counts: Arc<Counts>,
    seat: bool,
}

impl SocketGuard {
    /// Count a new socket; also returns how many are open now, this one included.
    pub(crate) fn open(counts: &Arc<Counts>) -> (Self, usize) {
        let open = counts.sockets.fetch_add(1, Ordering::Relaxed) + 1;
        (Self { counts: counts.clone(), seat: false }, open)
    }

    /// Take one of the `max` WebSocket seats; `false` (and no seat) when all are taken.
    pub(crate) fn take_seat(&mut self, max: usize) -> bool {
        if self.seat {
            return true;
        }
        if self.counts.websockets.fetch_add(1, Ordering::Relaxed) >= max {
            self.counts.websockets.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        self.seat = true;
        true
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.counts.sockets.fetch_sub(1, Ordering::Relaxed);
        if self.seat {
            self.counts.websockets.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_capped_and_given_back() {
        let counts = Arc::new(Counts::default());
        let (mut a, open) = SocketGuard::open(&counts);
        assert_eq!(open, 1);
        let (mut b, open) = SocketGuard::open(&counts);
        assert_eq!(open, 2);
        assert!(a.take_seat(1));
        assert!(a.take_seat(1), "taking it twice is harmless");
        assert!(!b.take_seat(1), "only one seat");
        drop(a);
        assert!(b.take_seat(1), "the seat came back");
        drop(b);
        assert_eq!(counts.sockets(), 0);
        assert_eq!(counts.websockets.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn abort_all_ends_stuck_tasks_and_refuses_new_ones() {
        let tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(async move {
            let _tx = tx; // dropped, closing the channel, only when the task is dropped
            std::future::pending::<()>().await;
        });
        assert_eq!(tasks.len(), 1);
        tasks.abort_all();
        tasks.drained().await;
        assert!(rx.await.is_err(), "the stuck task was dropped");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(async move {
            let _ = tx.send(());
        });
        assert!(rx.await.is_err(), "a task spawned after abort_all never runs");
        assert_eq!(tasks.len(), 0);
    }
}
