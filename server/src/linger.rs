//! Closing a connection so the client reads the answer.
//!
//! A request refused before its body is read (a manifest over the limit,
//! an upload without credentials, a request head over 64 KiB) leaves the
//! client's bytes unread. Closing a socket with unread input makes the
//! kernel send a reset, and a client still sending sees "connection reset"
//! instead of the 4xx that was already written. So a connection is not
//! closed outright: its write side is shut (the client sees the end of the
//! answer), then what the client still sends is read and dropped, bounded
//! in time and bytes, until the client closes too. Go's net/http does the
//! same (`closeWriteAndWait`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// How long a closing connection keeps reading.
pub const LINGER_TIME: Duration = Duration::from_secs(5);
/// How much a closing connection reads at most (a refused manifest body is
/// at most a few MiB; a refused blob body is cut short here).
pub const LINGER_BYTES: usize = 64 << 20;

/// A TCP connection that lingers when dropped, on whatever path the
/// connection ends (a finished keep-alive, a protocol error, a TLS failure).
pub struct Lingering {
    stream: Option<TcpStream>,
}

impl Lingering {
    pub fn new(stream: TcpStream) -> Lingering {
        Lingering {
            stream: Some(stream),
        }
    }

    /// The stream; present until drop.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        self.stream.as_mut().expect("present until drop")
    }

    fn pin(self: Pin<&mut Self>) -> Pin<&mut TcpStream> {
        Pin::new(Pin::into_inner(self).stream_mut())
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(stream));
        }
    }
}

/// Shuts the write side, then reads until the client closes, the time is
/// up or the byte budget is spent.
pub async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.pin().poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pin().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.pin().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pin().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pin().poll_shutdown(cx)
    }
}
