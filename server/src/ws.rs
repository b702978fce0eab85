//! The WebSocket endpoint `/ws`: one reader and one writer per socket around the Hub.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use hypha_core::{close_code, Frame};
use tokio::sync::mpsc;
use tracing::debug;

use crate::driver::{Hub, Outbound, OUTBOX_CAPACITY};

/// How long a new socket may take to send its authentication frame.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
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
) -> impl IntoResponse {
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(socket, hub))
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
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOX_CAPACITY);
    let conn = hub.connect(&hello, tx);

    let writer = async move {
        // Feed every frame already queued, then flush once: under load one write carries many
        // frames instead of one syscall per frame.
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(out) = next.take() {
                let message = match out {
                    Outbound::Frame(Frame::Binary(bytes)) => Message::Binary(bytes.into()),
                    Outbound::Frame(Frame::Text(text)) => Message::Text(text.into()),
                    Outbound::Close(code, reason) => {
                        let _ = sink.send(close(code, &reason)).await;
                        return;
                    }
                };
                if sink.feed(message).await.is_err() {
                    return;
                }
                next = rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        loop {
            match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    hub.message(conn, Frame::Binary(bytes.into()))
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    hub.message(conn, Frame::Text(text.to_string()))
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
                Err(_) => {
                    debug!(%conn, "idle timeout");
                    break;
                }
            }
        }
    };
    // Whichever side ends first ends the connection.
    tokio::select! {
        () = writer => {},
        () = reader => {},
    }
    hub.disconnect(conn);
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
