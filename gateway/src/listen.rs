//! The HTTP/1.1 accept loop, with the limits a server facing the network needs.
//!
//! # Why not `axum::serve`
//! `axum::serve` gives hyper no timer, so hyper enforces no timeout at all, and it accepts every
//! connection the process has a file descriptor for. A peer that opens sockets and sends one
//! header byte now and then (slowloris) would keep them all, until the gateway could accept no
//! one else. So this loop:
//! - serves at most [`Limits::max_connections`] connections at once. Beyond that it stops
//!   accepting (the kernel's backlog holds newcomers) until one closes. Nothing grows without
//!   bound, and a slot frees within the timeouts below.
//! - gives each connection hyper's header-read timeout ([`Limits::header_timeout`]). hyper
//!   starts its timer when it begins to wait for a request head, so the timeout bounds a head
//!   dripped byte by byte, and a kept-alive connection left idle, alike.
//! - wraps each request body in a deadline ([`Limits::body_timeout`], counted from when the
//!   head arrived). A body still arriving after it fails with [`BODY_LATE`], which the body
//!   extractors answer with `408`.
//!
//! On shutdown it stops accepting, lets the connections finish their requests in flight, and
//! waits for them at most [`DRAIN`].

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// What one connection may hold of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a request head may take to arrive (and a kept-alive connection stay idle).
    pub header_timeout: Duration,
    /// How long a request body may take to arrive once its head has.
    pub body_timeout: Duration,
}

/// The message of a body that did not arrive in time.
pub const BODY_LATE: &str = "the request body did not arrive in time";

/// Whether reading a body failed because it did not arrive in time ([`BODY_LATE`]): the body
/// extractors answer that `408`. axum keeps only the text of the body's error.
pub fn came_late(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    rejection.body_text().contains(BODY_LATE)
}

/// How long shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // pause rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let req = req.map(|body| Body::new(Deadline::new(body, body_timeout)));
            app.clone().oneshot(req)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection's end (closed, timed out, reset) is the peer's business.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {DRAIN:?} after shutdown began: closed");
    }
    Ok(())
}

/// A request body that fails with [`BODY_LATE`] if it has not ended by its deadline.
struct Deadline {
    /// The body as it arrives.
    inner: Incoming,
    /// When it must have ended.
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(inner: Incoming, within: Duration) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep(within)),
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BODY_LATE.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
