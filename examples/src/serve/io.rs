//! `Watched`: a connection's byte stream (TCP, or TLS plaintext) that tells its
//! `Conn` when bytes arrive, so that an idle connection starts its head's deadline at
//! the first byte of the next request, and when a flush completes, so that an answer
//! counts as written only once the kernel has all of it.
//!
//! It also makes the close linger when a request's body was answered unread (a 413
//! from the declared length, a 503 before the body): the write side is shut (FIN),
//! then what the client still sends is read and dropped until it closes too, for at
//! most `LINGER` and `LINGER_BYTES`. Closing a socket with unread bytes in its receive
//! buffer sends a reset instead, and a client still writing its body would see the
//! reset rather than the answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::registry::Conn;

/// How long a lingering close waits for the client to finish sending.
const LINGER: Duration = Duration::from_secs(2);
/// How much a lingering close reads and drops at most.
const LINGER_BYTES: usize = 8 << 20;

/// A stream whose reads are reported to its connection's state.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
    /// Set once the write side is shut down.
    linger: Option<Linger>,
}

/// A lingering close in progress.
#[derive(Debug)]
struct Linger {
    deadline: Pin<Box<Sleep>>,
    left: usize,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, conn: Arc<Conn>) -> Self {
        Self {
            inner,
            conn,
            linger: None,
        }
    }
}

impl<S: AsyncRead + Unpin> Watched<S> {
    /// Reads and drops until the client closes, `LINGER` passes or `LINGER_BYTES`
    /// were read; a read error ends it too (the socket is going anyway).
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(linger) = &mut self.linger else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if linger.deadline.as_mut().poll(cx).is_ready() || linger.left == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => linger.left = linger.left.saturating_sub(buf.filled().len()),
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        // hyper flushes its stream only once its own buffer is empty.
        if matches!(polled, Poll::Ready(Ok(()))) {
            this.conn.flushed();
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            if !this.conn.has_unread_body() {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some(Linger {
                deadline: Box::pin(tokio::time::sleep(LINGER)),
                left: LINGER_BYTES,
            });
        }
        this.poll_linger(cx)
    }

    // hyper writes a response's head and body in one call when the stream takes
    // vectors (TCP does); forwarding keeps that.
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
}
