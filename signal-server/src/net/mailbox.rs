//! A connection's bounded outbound queue.
//!
//! The hub pushes frames without ever waiting; the connection task drains them. When a reader is
//! too slow and the queue passes its frame or byte limit, the push fails, the queue is dropped and
//! the connection is told to close with 1008, so one slow reader can never make memory grow. It
//! costs nothing while empty (no preallocated slots), which keeps idle connections small.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use crate::core::TextFrame;

/// Limits of one mailbox.
#[derive(Debug, Clone, Copy)]
pub struct MailboxLimits {
    /// Most frames waiting.
    pub frames: usize,
    /// Most bytes waiting.
    pub bytes: usize,
}

/// What the connection task takes out of its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text frame to write.
    Frame(TextFrame),
    /// Close the connection with this code and reason, after any frames before it.
    Close(u16, &'static str),
    /// Switch the connection's heartbeat: `true` for a searcher (a peer who does not answer a
    /// ping within seconds must not be matched), `false` back to the normal one.
    Searching(bool),
}

/// The push failed because the reader fell too far behind; the mailbox is now closing (1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<TextFrame>,
    bytes: usize,
    close: Option<(u16, &'static str)>,
    /// A heartbeat switch not yet taken by the connection task.
    searching: Option<bool>,
    waker: Option<Waker>,
}

/// A bounded, never-blocking queue from the hub to one connection task.
#[derive(Debug)]
pub struct Mailbox {
    inner: Mutex<Inner>,
    limits: MailboxLimits,
}

impl Mailbox {
    /// An empty mailbox.
    pub fn new(limits: MailboxLimits) -> Self {
        Self { inner: Mutex::new(Inner::default()), limits }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The critical sections cannot panic, but a poisoned lock still holds a valid queue.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Switch the connection's heartbeat (see [`Outgoing::Searching`]); the latest switch wins.
    pub fn set_searching(&self, searching: bool) {
        let waker = {
            let mut inner = self.lock();
            inner.searching = Some(searching);
            inner.waker.take()
        };
        wake(waker);
    }

    /// Queue a frame. Frames pushed after a close are dropped silently.
    pub fn push(&self, frame: TextFrame) -> Result<(), Overflow> {
        let waker = {
            let mut inner = self.lock();
            if inner.close.is_some() {
                return Ok(());
            }
            if inner.queue.len() >= self.limits.frames || inner.bytes + frame.len() > self.limits.bytes {
                inner.queue = VecDeque::new();
                inner.bytes = 0;
                inner.close = Some((1008, "slow reader: too far behind"));
                return Err(Overflow).inspect(|_| wake(inner.waker.take()));
            }
            inner.bytes += frame.len();
            inner.queue.push_back(frame);
            inner.waker.take()
        };
        wake(waker);
        Ok(())
    }

    /// Ask the connection to close after the frames already queued (or at once with `discard`).
    pub fn close(&self, code: u16, reason: &'static str, discard: bool) {
        let waker = {
            let mut inner = self.lock();
            if discard {
                inner.queue = VecDeque::new();
                inner.bytes = 0;
            }
            inner.close.get_or_insert((code, reason));
            inner.waker.take()
        };
        wake(waker);
    }

    /// The next thing to do, or `Pending` (waking `cx` when there is something).
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Outgoing> {
        let mut inner = self.lock();
        if let Some(frame) = inner.queue.pop_front() {
            inner.bytes -= frame.len();
            if inner.queue.is_empty() && inner.queue.capacity() > 8 {
                inner.queue = VecDeque::new(); // give back a burst's worth of memory
            }
            return Poll::Ready(Outgoing::Frame(frame));
        }
        if let Some(searching) = inner.searching.take() {
            return Poll::Ready(Outgoing::Searching(searching));
        }
        if let Some((code, reason)) = inner.close {
            return Poll::Ready(Outgoing::Close(code, reason));
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Frames waiting now.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Bytes waiting now.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    fn frame(s: &str) -> TextFrame {
        TextFrame::text(s.to_string())
    }

    #[tokio::test]
    async fn a_heartbeat_switch_comes_after_the_frames_and_only_the_latest_counts() {
        let mb = Mailbox::new(MailboxLimits { frames: 10, bytes: 1000 });
        mb.push(frame("a")).unwrap();
        mb.set_searching(true);
        mb.set_searching(false);
        mb.close(1000, "done", false);
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Frame(frame("a")));
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Searching(false));
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Close(1000, "done"));
    }

    #[tokio::test]
    async fn frames_come_out_in_order_then_the_close() {
        let mb = Mailbox::new(MailboxLimits { frames: 10, bytes: 1000 });
        mb.push(frame("a")).unwrap();
        mb.push(frame("b")).unwrap();
        mb.close(1001, "bye", false);
        mb.push(frame("late")).unwrap();
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Frame(frame("a")));
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Frame(frame("b")));
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Close(1001, "bye"));
    }

    #[tokio::test]
    async fn overflow_by_count_or_bytes_drops_the_queue_and_closes_1008() {
        let mb = Mailbox::new(MailboxLimits { frames: 2, bytes: 1000 });
        mb.push(frame("a")).unwrap();
        mb.push(frame("b")).unwrap();
        assert_eq!(mb.push(frame("c")), Err(Overflow));
        assert!(mb.is_empty());
        assert_eq!(poll_fn(|cx| mb.poll_next(cx)).await, Outgoing::Close(1008, "slow reader: too far behind"));

        let mb = Mailbox::new(MailboxLimits { frames: 100, bytes: 5 });
        mb.push(frame("abc")).unwrap();
        assert_eq!(mb.push(frame("abc")), Err(Overflow));
    }

    #[tokio::test]
    async fn a_push_wakes_the_waiting_task() {
        let mb = std::sync::Arc::new(Mailbox::new(MailboxLimits { frames: 4, bytes: 100 }));
        let reader = {
            let mb = mb.clone();
            tokio::spawn(async move { poll_fn(|cx| mb.poll_next(cx)).await })
        };
        tokio::task::yield_now().await;
        mb.push(frame("x")).unwrap();
        assert_eq!(reader.await.unwrap(), Outgoing::Frame(frame("x")));
    }
}
