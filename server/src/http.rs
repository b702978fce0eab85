//! The HTTP surface: `/ws` upgrades to the WebSocket driver; every other request is converted
//! into the Router's HTTP inputs, and its response parts back into an axum response whose body
//! streams. No decision is made here (design.md §7): routes, identities, arguments, statuses
//! and limits are all the Router's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;
use hypha_core::http::{HttpId, HttpOutput, HttpRequest};
use tokio::sync::mpsc;

use crate::driver::Hub;

/// Request body read and dropped after the Router answered early, at most.
const DISCARD_AFTER_ANSWER: usize = 4 * 1024 * 1024;
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn router(hub: Arc<Hub>) -> axum::Router {
    axum::Router::new()
        .route("/ws", get(crate::ws::upgrade))
        .fallback(api)
        .with_state(hub)
}

/// Tells the Router the client is gone when the response (or the wait for it) is dropped
/// before the Router ended it.
struct Cancel {
    hub: Arc<Hub>,
    id: HttpId,
    /// The Router ended the request already: nothing to tell.
    done: bool,
}

impl Cancel {
    /// The Router ended the request: dropping the response tells it nothing.
    fn disarm(&mut self) {
        self.done = true;
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if !self.done {
            self.hub.http_cancel(self.id);
        }
    }
}

async fn api(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let head = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        remote: Some(remote.to_string()),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let bodiless = body.is_end_stream();
    let id = hub.http_request(head, bodiless, tx);
    let mut cancel = Cancel {
        hub: hub.clone(),
        id,
        done: false,
    };
    if !bodiless {
        tokio::spawn(feed_body(hub.clone(), id, body));
    }
    let Some(HttpOutput::Head {
        status, headers, ..
    }) = rx.recv().await
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response_plain();
    };
    let mut response = Response::builder().status(status);
    if let Some(map) = response.headers_mut() {
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                map.append(name, value);
            }
        }
    }
    // A response the Router completed at once (most calls) goes out as one body; only one
    // still being produced becomes a stream.
    let mut whole: Vec<u8> = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(HttpOutput::Body { chunk, .. }) => {
                if whole.is_empty() {
                    whole = chunk;
                } else {
                    whole.extend_from_slice(&chunk);
                }
            }
            Ok(HttpOutput::End { .. }) => {
                cancel.disarm();
                return response
                    .body(Body::from(whole))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response_plain());
            }
            Ok(HttpOutput::Abort { .. } | HttpOutput::Head { .. }) | Err(_) => break,
        }
    }
    // Chunks already taken count as read: the stream starts with them.
    let first = (!whole.is_empty()).then(|| {
        hub.http_drained(id);
        Ok::<_, std::io::Error>(Bytes::from(whole))
    });
    let rest = futures_util::stream::unfold((rx, cancel), |(mut rx, mut cancel)| async move {
        match rx.recv().await? {
            HttpOutput::Body { chunk, .. } => {
                // Taken by hyper, which asks for more only when it can write: the credit that
                // lets a stream pull its next item.
                cancel.hub.http_drained(cancel.id);
                Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), (rx, cancel)))
            }
            // An error in the body makes hyper cut the response off (no final chunk), so the
            // client cannot take a truncated body for a whole one.
            HttpOutput::Abort { .. } => {
                cancel.disarm();
                Some((
                    Err(std::io::Error::other("response cut short")),
                    (rx, cancel),
                ))
            }
            HttpOutput::End { .. } | HttpOutput::Head { .. } => {
                cancel.disarm();
                None
            }
        }
    });
    let stream = futures_util::stream::iter(first).chain(rest);
    response
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response_plain())
}

/// Feed a request body to the Router as it arrives (an ASGI app reads it while it answers);
/// stop once the Router has ended the request (e.g. 413).
async fn feed_body(hub: Arc<Hub>, id: HttpId, body: Body) {
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => {
                if !hub.http_body(id, &bytes) {
                    // Answered early (e.g. 413): read a bounded rest of the upload, so a client
                    // still sending sees the answer instead of a reset connection.
                    let mut left = DISCARD_AFTER_ANSWER;
                    let drain = async {
                        while let Some(Ok(bytes)) = chunks.next().await {
                            left = left.saturating_sub(bytes.len());
                            if left == 0 {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
                    return;
                }
            }
            Err(_) => {
                hub.http_cancel(id);
                return;
            }
        }
    }
    hub.http_end(id);
}

trait PlainResponse {
    fn into_response_plain(self) -> Response;
}

impl PlainResponse for StatusCode {
    fn into_response_plain(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}
