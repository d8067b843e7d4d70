//! Big reads for a small read buffer.
//!
//! Connections keep a tiny WebSocket read buffer (256 bytes by default) so that thousands of
//! idle ones cost little memory. tungstenite never reads more than that buffer's size at once,
//! so a 3 KB offer would take a dozen `read` system calls. [`ReadAhead`] sits between tungstenite
//! and the socket: it reads up to [`READ_AHEAD_BYTES`] per system call into a stack scratch
//! buffer, hands tungstenite what it asked for, and keeps the rest in a spill buffer that exists
//! only until it is consumed (normally within the same wake-up). An idle connection holds no
//! spill at all.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::cork::Cork;

/// The most one system call reads.
pub const READ_AHEAD_BYTES: usize = 16 * 1024;

/// A stream whose reads are coalesced; see the module docs.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    spill: Vec<u8>,
    taken: usize,
}

impl<S> ReadAhead<S> {
    /// Wrap `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, spill: Vec::new(), taken: 0 }
    }

    /// Bytes read from the socket and not yet handed on.
    pub fn spilled(&self) -> usize {
        self.spill.len() - self.taken
    }
}

impl<S: Cork> Cork for ReadAhead<S> {
    fn cork(&self) {
        self.inner.cork();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.spill.len() {
            let n = buf.remaining().min(this.spill.len() - this.taken);
            buf.put_slice(&this.spill[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.spill.len() {
                this.spill = Vec::new(); // give the memory back as soon as it is consumed
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_AHEAD_BYTES {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut scratch = [MaybeUninit::<u8>::uninit(); READ_AHEAD_BYTES];
        let mut ahead = ReadBuf::uninit(&mut scratch);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut ahead))?;
        let got = ahead.filled();
        let n = buf.remaining().min(got.len());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.spill = got[n..].to_vec();
            this.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Counts the reads that reach it.
    struct Counted<S>(S, Arc<AtomicUsize>);

    impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
        fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let r = Pin::new(&mut this.0).poll_read(cx, buf);
            if r.is_ready() {
                this.1.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_big_read_and_nothing_is_lost() {
        let (mut tx, rx) = tokio::io::duplex(64 * 1024);
        let message: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        tx.write_all(&message).await.unwrap();
        let reads = Arc::new(AtomicUsize::new(0));
        let mut ahead = ReadAhead::new(Counted(rx, reads.clone()));
        let mut got = Vec::new();
        let mut chunk = [0u8; 256];
        while got.len() < message.len() {
            let n = ahead.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, message);
        assert_eq!(reads.load(Ordering::Relaxed), 1, "one read reached the stream for 20 small ones");
        assert_eq!(ahead.spilled(), 0);
        assert_eq!(ahead.spill.capacity(), 0, "the spill is freed once consumed");
        // End of stream still shows as a zero-length read.
        drop(tx);
        assert_eq!(ahead.read(&mut chunk).await.unwrap(), 0);
    }
}
