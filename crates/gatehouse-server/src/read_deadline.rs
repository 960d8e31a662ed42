//! The header read timeout (issue 12, item 17): a listener whose connections must deliver each
//! request's headers within `[limits] header_read_timeout_ms`, counted from the connection's
//! start and, on a kept-alive connection, from the last bytes of the previous answer. A client
//! that trickles its headers (slowloris) or opens a connection and sends nothing is cut off:
//! the read fails with `TimedOut` and hyper closes the connection. axum's `serve` configures no
//! hyper timer, so hyper's own `header_read_timeout` is not available there.
//!
//! The end of the headers is the first empty line after some text (`\r\n\r\n`, or `\n\n`, which
//! hyper accepts too); after it the body and the handler run without this deadline (the body
//! has its own, `http::body_timeout`).

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// Accepts like a `TcpListener`; every connection gets the header deadline.
pub struct DeadlineListener {
    inner: TcpListener,
    timeout: Duration,
}

impl DeadlineListener {
    pub fn new(inner: TcpListener, timeout: Duration) -> DeadlineListener {
        DeadlineListener { inner, timeout }
    }
}

impl axum::serve::Listener for DeadlineListener {
    type Io = HeaderDeadline<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (HeaderDeadline::new(stream, self.timeout), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where a connection is in its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the end of the headers: `newlines` in a row so far (`\r` ignored), and
    /// whether any other byte came first (leading empty lines end nothing).
    Headers { newlines: u8, text: bool },
    /// Headers complete: body and handler, until the answer is written.
    Rest,
}

impl Phase {
    const START: Phase = Phase::Headers {
        newlines: 0,
        text: false,
    };

    fn scan(self, bytes: &[u8]) -> Phase {
        let Phase::Headers {
            mut newlines,
            mut text,
        } = self
        else {
            return self;
        };
        for &b in bytes {
            match b {
                b'\n' if text => {
                    newlines += 1;
                    if newlines == 2 {
                        return Phase::Rest;
                    }
                }
                b'\n' | b'\r' => {}
                _ => {
                    text = true;
                    newlines = 0;
                }
            }
        }
        Phase::Headers { newlines, text }
    }
}

/// A connection whose request headers must arrive before a deadline.
pub struct HeaderDeadline<T> {
    inner: T,
    timeout: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl<T> HeaderDeadline<T> {
    pub fn new(inner: T, timeout: Duration) -> HeaderDeadline<T> {
        HeaderDeadline {
            inner,
            timeout,
            phase: Phase::START,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn timed_out() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the request headers did not arrive in time",
        )
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeaderDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let waiting = matches!(this.phase, Phase::Headers { .. });
        if waiting && this.deadline.is_elapsed() {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.phase = this.phase.scan(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if waiting && this.deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(Self::timed_out()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            // An answer is going out: the next request's headers are due a full timeout after
            // its last bytes (this also bounds how long a kept-alive connection may idle).
            this.phase = Phase::START;
            let next = Instant::now() + this.timeout;
            this.deadline.as_mut().reset(next);
        }
        written
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
    use super::Phase;

    #[test]
    fn the_headers_end_at_the_first_empty_line_after_text() {
        let done = |chunks: &[&[u8]]| {
            chunks
                .iter()
                .fold(Phase::START, |p, c| p.scan(c))
                .eq(&Phase::Rest)
        };
        assert!(done(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]));
        assert!(done(&[b"GET / HTTP/1.1\r\nHost: x\r", b"\n", b"\r", b"\n"]));
        assert!(done(&[b"GET / HTTP/1.1\nHost: x\n\n"]));
        assert!(!done(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]));
        assert!(!done(&[b"\r\n\r\n\r\n"]), "leading empty lines end nothing");
        assert!(!done(&[b"GET / HTTP/1.1\r\nX: a\r\nY: b\r\n"]));
        assert!(done(&[b"\r\nGET / HTTP/1.1\r\n\r\n"]));
    }
}
