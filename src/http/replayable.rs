//! A request that can run a second time: its head copied, its body kept as the
//! route reads it. A cart request served its session record from the replica's
//! copy runs again when its cart script finds that copy stale (see
//! `sessions::copies`); the script changed nothing, so running it again is safe.
//!
//! The body is kept as it streams through (not read ahead), so the body limit,
//! the body timeout and their answers are exactly those of a single run. A stale
//! copy is only found by a cart script, which runs after the route has read the
//! whole body.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::request::Parts,
};
use http_body::{Body as HttpBody, Frame, SizeHint};

/// The parts of a request needed to run it again.
pub(super) struct Replayable {
    head: Parts,
    body: Arc<Mutex<Vec<u8>>>,
}

impl Replayable {
    /// The request to run now, and what it takes to run it again.
    pub(super) fn keep(request: Request) -> (Request, Replayable) {
        let (head, body) = request.into_parts();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut copy = Request::new(()).into_parts().0;
        copy.method = head.method.clone();
        copy.uri = head.uri.clone();
        copy.version = head.version;
        copy.headers = head.headers.clone();
        copy.extensions = head.extensions.clone();
        let body = Body::new(KeptBody {
            inner: body,
            kept: kept.clone(),
        });
        (
            Request::from_parts(head, body),
            Replayable {
                head: copy,
                body: kept,
            },
        )
    }

    /// The same request again, with the body the first run read.
    pub(super) fn request(self) -> Request {
        let body = match self.body.lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        Request::from_parts(self.head, Body::from(body))
    }
}

/// A body that keeps a copy of every data frame it yields.
struct KeptBody {
    inner: Body,
    kept: Arc<Mutex<Vec<u8>>>,
}

impl HttpBody for KeptBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Ok(mut kept) = self.kept.lock()
        {
            kept.extend_from_slice(data);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
