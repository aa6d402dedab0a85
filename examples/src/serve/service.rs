//! `Tracked`: the API's router as one connection's hyper service, telling the
//! connection's state when a request's head arrived, when its answer is ready, and
//! when the answer is written, so that the serve loop never evicts a connection that
//! serves a request and bounds only the writing of its answer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use tower::ServiceExt;

use super::registry::Conn;

/// The router, serving one connection.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    router: axum::Router,
    conn: Arc<Conn>,
}

impl Tracked {
    pub(crate) fn new(router: axum::Router, conn: Arc<Conn>) -> Self {
        Self { router, conn }
    }
}

/// Tells the connection when dropped: with the response body once hyper has taken it
/// all, or with the request's future when the connection goes first.
#[derive(Debug)]
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.answer_dropped();
    }
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.conn.request_started();
        let busy = Busy(self.conn.clone());
        // `Router` is always ready (axum documents it), so `oneshot` never waits.
        let conn = self.conn.clone();
        let answer = self.router.clone().oneshot(request.map(|body| {
            Body::new(TrackedRequestBody {
                body,
                conn,
                ended: false,
            })
        }));
        Box::pin(async move {
            let response = answer.await?;
            let streaming = response
                .extensions()
                .get::<crate::api::stream::Streaming>()
                .is_some();
            if streaming {
                busy.0.streaming_started();
            } else {
                busy.0.answer_started();
            }
            Ok(response.map(|body| TrackedBody {
                body,
                streaming,
                busy,
            }))
        })
    }
}

/// A response body that keeps its connection busy until hyper drops it.
#[derive(Debug)]
pub(crate) struct TrackedBody {
    body: Body,
    /// A stream's body: each frame it produces starts the write timeout.
    streaming: bool,
    busy: Busy,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if this.streaming && matches!(polled, Poll::Ready(Some(Ok(_)))) {
            this.busy.0.frame_produced();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that tells its connection when it is dropped before its end, so
/// that the connection's close lingers (`io::Watched`).
#[derive(Debug)]
struct TrackedRequestBody {
    body: Incoming,
    conn: Arc<Conn>,
    ended: bool,
}

impl Drop for TrackedRequestBody {
    fn drop(&mut self) {
        if !self.ended && !self.body.is_end_stream() {
            self.conn.body_left_unread();
        }
    }
}

impl hyper::body::Body for TrackedRequestBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
