//! Serving the public port with the timeouts API.md v1.1 asks of it, which
//! `axum::serve` does not have: request headers not complete within
//! `TROLLEY_HEADER_TIMEOUT` → 408 `{"error": "Request timeout"}` and the
//! connection closes; an idle keep-alive connection closes after
//! `TROLLEY_IDLE_TIMEOUT`. (A body not complete within `TROLLEY_BODY_TIMEOUT` is
//! the body extractor's 408, `http/extract.rs`.) So one client cannot hold
//! sockets and tasks for ever by sending nothing, or a byte at a time.
//!
//! Each connection's socket is wrapped in [`TimedIo`], which knows from the
//! service whether a request is being answered: between requests, the first
//! byte of a new request starts the header clock, and no byte at all runs the
//! idle clock. hyper's own `header_read_timeout` closes without an answer and
//! also cuts idle connections at the header timeout, so it is not used.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};
use tower::ServiceExt;

/// The two clocks of a connection between requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header: Duration,
    pub(crate) idle: Duration,
}

/// What the service tells the socket: a request is being answered (no clock
/// runs), or one was just answered (the idle clock starts again).
#[derive(Default)]
struct Exchange {
    answering: AtomicBool,
    answered: AtomicBool,
    /// The connection's task, when a read waited without a clock because a
    /// request was being answered: woken once the answer is out, so the read
    /// is polled again and starts the idle clock. Without it, a connection
    /// whose read was polled during the answer (and never after it) stayed
    /// open until the client sent something.
    reader: std::sync::Mutex<Option<std::task::Waker>>,
}

impl Exchange {
    fn answered(&self) {
        self.answering.store(false, Ordering::Release);
        self.answered.store(true, Ordering::Release);
        let reader = self.reader.lock().ok().and_then(|mut reader| reader.take());
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// The 408 a client gets when its headers do not arrive in time: written on
/// the socket by hand, as no request exists to answer, with `ApiError`'s body.
static REQUEST_TIMEOUT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = super::error::ApiError::RequestTimeout.body().to_string();
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         x-content-type-options: nosniff\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// A socket with the header and idle clocks.
struct TimedIo {
    socket: TcpStream,
    exchange: Arc<Exchange>,
    timeouts: Timeouts,
    clock: Pin<Box<Sleep>>,
    /// A request's first bytes arrived and its headers are not complete yet.
    head_started: bool,
    /// The connection is over (timed out); writes are dropped, reads see EOF.
    closed: bool,
}

impl TimedIo {
    fn new(socket: TcpStream, exchange: Arc<Exchange>, timeouts: Timeouts) -> Self {
        TimedIo {
            socket,
            exchange,
            timeouts,
            clock: Box::pin(tokio::time::sleep(timeouts.idle)),
            head_started: false,
            closed: false,
        }
    }

    fn restart_clock(&mut self, after: Duration) {
        self.clock.as_mut().reset(Instant::now() + after);
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if this.exchange.answered.swap(false, Ordering::AcqRel) {
            this.head_started = false;
            let idle = this.timeouts.idle;
            this.restart_clock(idle);
        }
        let answering = this.exchange.answering.load(Ordering::Acquire);
        let before = buf.filled().len();
        match Pin::new(&mut this.socket).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !answering && !this.head_started && buf.filled().len() > before {
                    this.head_started = true;
                    let header = this.timeouts.header;
                    this.restart_clock(header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending if answering => {
                if let Ok(mut reader) = this.exchange.reader.lock() {
                    *reader = Some(cx.waker().clone());
                }
                // The answer may have gone out meanwhile: then read again.
                if this.exchange.answering.load(Ordering::Acquire) {
                    Poll::Pending
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
            Poll::Pending => match this.clock.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    if this.head_started {
                        // Small enough for the socket's buffer; a client that
                        // does not read it loses nothing it was owed.
                        let _ = this.socket.try_write(&REQUEST_TIMEOUT);
                    }
                    this.closed = true;
                    Poll::Ready(Ok(()))
                }
            },
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed {
            return Poll::Ready(Ok(data.len()));
        }
        Pin::new(&mut self.socket).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` (HTTP/1.1) until `stop` resolves, then lets
/// the open connections finish their requests and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    stop: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving the others.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = socket.set_nodelay(true);
        let exchange = Arc::new(Exchange::default());
        let service = {
            let exchange = exchange.clone();
            let router = router.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                exchange.answering.store(true, Ordering::Release);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                let exchange = exchange.clone();
                let answer = router.clone().oneshot(request.map(axum::body::Body::new));
                async move {
                    let response = answer.await;
                    exchange.answered();
                    response
                }
            })
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(TimedIo::new(socket, exchange, timeouts)),
                service,
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
