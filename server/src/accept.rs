//! The accept loop: each TCP connection is served by hyper's HTTP/1 with a deadline on reading
//! request headers (a socket that sends half a request, or nothing, is closed instead of held
//! forever), and at most `max_connections` are open at once (past that, new sockets are closed
//! at once, so descriptors stay for the connections being served). Upgraded WebSockets count
//! until they close.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;
use tracing::{debug, warn};

/// A connection's place under the limit. Requests carry it, so a WebSocket upgraded from one
/// keeps it until the socket closes (the HTTP connection's task ends at the upgrade).
#[derive(Debug, Clone)]
pub(crate) struct Slot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections open at once (HTTP and WebSocket).
    pub(crate) max_connections: usize,
    /// Time a client has to send a request's headers once the connection is open (and between
    /// requests on a kept-alive connection).
    pub(crate) header_timeout: Duration,
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting and ask open HTTP
/// connections to finish (WebSockets are the Hub's to close).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like: wait instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            debug!(%remote, "connection limit reached: closing a new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot(Arc::new(permit));
        let request_slot = slot.clone();
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(remote));
                    request.extensions_mut().insert(request_slot.clone());
                    let app = app.clone();
                    async move {
                        Ok::<_, Infallible>(
                            app.oneshot(request).await.unwrap_or_else(|e| match e {}),
                        )
                    }
                });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        debug!(%remote, error = %e, "connection ended with an error");
                    }
                }
                () = async { drop(stop.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            // An upgraded WebSocket still holds its own clone of the slot.
            drop(slot);
        });
    }
    let _ = stop_tx.send(true);
}
