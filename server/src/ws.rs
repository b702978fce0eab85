//! The WebSocket endpoint `/ws`: one reader and one writer per socket around the Hub.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Extension;
use futures_util::{SinkExt, StreamExt};
use hypha_core::{close_code, Frame};
use tracing::debug;

use crate::accept::Slot;
use crate::driver::Hub;
use crate::outbox::{frame_len, Outbound};
use crate::pace::Pace;

/// How long a new socket may take to send its authentication frame.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the reply to a client's close frame may take.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// A socket silent for this long is closed (clients ping every 20–30 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Bytes read from a socket at once. tungstenite zero-fills this much of its buffer before each
/// read: its 128 KiB default cost more CPU per small frame than the rest of the frame's routing
/// (`perf`, bench/http.sh); most frames are under a few KiB.
const READ_BUFFER: usize = 8 * 1024;
/// Largest message accepted; hypha-rpc chunks anything above 256 KiB.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

pub(crate) async fn upgrade(
    ws: WebSocketUpgrade,
    State(hub): State<Arc<Hub>>,
    slot: Option<Extension<Slot>>,
) -> impl IntoResponse {
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            // The socket counts against the connection limit until it closes.
            let _slot = slot;
            serve(socket, hub).await;
        })
}

async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
        Ok(Some(Ok(_))) => {
            let _ = sink
                .send(close(
                    close_code::UNSUPPORTED_DATA,
                    "the first message must be the JSON authentication frame",
                ))
                .await;
            return;
        }
        Err(_) => {
            let _ = sink
                .send(Message::Text(
                    r#"{"type":"error","message":"authentication timeout"}"#.into(),
                ))
                .await;
            let _ = sink
                .send(close(
                    close_code::POLICY_VIOLATION,
                    "authentication timeout",
                ))
                .await;
            return;
        }
        Ok(_) => return,
    };
    let (outbox, mut inbox, kill) = crate::outbox::outbox(hub.budgets());
    // Kept to answer the client's close frame after the Hub has let go of the connection.
    let own = outbox.clone();
    let conn = hub.connect(&hello, outbox);

    let writer = async move {
        // Feed every frame already queued, then flush once: under load one write carries many
        // frames instead of one syscall per frame.
        while let Some(first) = inbox.recv().await {
            let mut next = Some(first);
            while let Some(out) = next.take() {
                let message = match out {
                    Outbound::Frame(Frame::Binary(bytes)) => Message::Binary(bytes),
                    Outbound::Frame(Frame::Text(text)) => Message::Text(text.into()),
                    Outbound::Close(code, reason) => {
                        // After the client's own close frame the socket refuses ours but still
                        // holds the automatic reply: the flush sends it.
                        let _ = sink.send(close(code, &reason)).await;
                        let _ = sink.flush().await;
                        return;
                    }
                };
                if sink.feed(message).await.is_err() {
                    return;
                }
                next = inbox.try_recv();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let mut pace = Pace::new(hub.input_rates());
    let reader = async {
        loop {
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => Frame::Binary(bytes),
                Ok(Some(Ok(Message::Text(text)))) => Frame::Text(text.to_string()),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Close(_)))) => return ReaderEnd::ClientClosed,
                Ok(Some(Err(_)) | None) => return ReaderEnd::Gone,
                Err(_) => {
                    debug!(%conn, "idle timeout");
                    return ReaderEnd::Gone;
                }
            };
            let len = frame_len(&frame);
            let queued = hub.message(conn, frame);
            pace.take(queued.saturating_sub(len)).await;
        }
    };
    tokio::pin!(writer);
    // Whichever side ends first ends the connection; so does the Hub dropping it.
    let ended = tokio::select! {
        () = &mut writer => None,
        end = reader => Some(end),
        () = kill.notified() => None,
    };
    hub.disconnect(conn);
    if ended == Some(ReaderEnd::ClientClosed) {
        // Answer the client's close frame (RFC 6455 §5.5.1), so it sees a clean close.
        own.close(close_code::NORMAL, String::new());
        let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
    }
}

/// Why the reader stopped.
#[derive(Debug, PartialEq, Eq)]
enum ReaderEnd {
    /// The client sent a close frame.
    ClientClosed,
    /// The socket failed, ended, or stayed silent too long.
    Gone,
}

fn close(code: u16, reason: &str) -> Message {
    // Close reasons are limited to 123 bytes by the WebSocket protocol.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
