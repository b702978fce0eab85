//! hypha-rpc's HTTP streaming transport (`transport: "http"`), a second way for a client to be
//! connected beside the WebSocket:
//!
//! - `GET /rpc?client_id=&workspace=&reconnection_token=` (bearer token in `Authorization`)
//!   admits the client exactly as a WebSocket hello would, then streams every frame for it as a
//!   4-byte big-endian length and the msgpack message: first `connection_info`, then its RPC
//!   frames, `reconnection_token` answers and a `ping` every [`PING_INTERVAL`].
//! - `POST /rpc?client_id=&workspace=` carries one message from that client, routed as if it had
//!   come over its WebSocket (stamped with the stream's identity), and is answered 200 at once.
//!
//! Unlike Python hypha, a POST is not taken on the word of its `workspace`/`client_id`
//! (http-and-cluster.md §5 item 13): it must prove it comes from the stream's owner, with the
//! cookie the stream was opened with (a secret only that client's HTTP agent holds) or a token
//! of the same user (anonymous users get theirs from `generate_token`). A page on another origin cannot return the cookie (hypha-rpc's
//! `fetch` sends no credentials), so for an anonymous stream a POST without any credential is
//! also taken from the stream's own network address, until the stream's cookie has been seen:
//! from then on the cookie is required. The stream's body is a bounded queue: a client that stops
//! reading past [`crate::http::HttpConfig::rpc_stream_buffer`] gets an `error` frame and its
//! stream is cut, which it sees and reconnects from.

use std::collections::VecDeque;

use rand::RngExt as _;
use rmpv::Value;
use sha2::{Digest as _, Sha256};

use super::{host_of, Ending, Failure, Stage};
use crate::http::args::{from_json, query_value};
use crate::http::identity::{self, Credential};
use crate::http::HttpId;
use crate::jwt::{self, Audience};
use crate::registry::{ClientAddr, ConnId};
use crate::router::handshake::{Hello, Refusal};
use crate::router::{close_code, Frame, Router};
use std::time::Duration;

use crate::time::Timestamp;

/// How often an open stream gets a `ping` frame. The Python client gives up on a stream that
/// is silent for its `method_timeout` (30 s by default), so this stays well under it; it is
/// also how soon a stream whose client went away without a word is noticed by the driver.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(10);

/// Control messages a client POSTs (`{"type": "refresh_token"}`) are this small; anything
/// bigger is an RPC message and is routed without being looked into here.
const MAX_CONTROL_MESSAGE: usize = 64;

/// The state of an open stream (the `GET /rpc` exchange).
#[derive(Debug)]
pub(super) struct Stream {
    /// The proof of ownership its POSTs bring back, as the value of cookie [`cookie_name`].
    secret: String,
    /// The response head, sent with the first frame (so a refusal can still be a plain error).
    head: Option<Vec<(String, String)>>,
    /// Sizes of the chunks handed to the driver and not yet written out.
    in_flight: VecDeque<usize>,
    in_flight_bytes: usize,
    /// Over budget: the stream is being cut; frames for it are dropped until then.
    overflowed: bool,
    /// The host (address without port) the stream was opened from.
    remote_host: Option<String>,
    /// A POST brought the cookie: its agent keeps cookies, so every POST must bring it.
    cookie_seen: bool,
}

/// The cookie that carries a stream's secret: one name per client address, so several HTTP
/// clients in one browser do not overwrite each other's.
fn cookie_name(addr: &ClientAddr) -> String {
    let digest = Sha256::digest(addr.to_string().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("hypha_rpc_{hex}")
}

/// Equal, in time that does not depend on where two secrets differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The status a handshake refusal answers over HTTP.
fn refusal_failure(Refusal(code, message): Refusal) -> Failure {
    let status = if code == close_code::UNSUPPORTED_DATA {
        400
    } else {
        403
    };
    Failure::new(status, message)
}

/// One stream frame: the length, then the message.
fn stream_frame(message: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(4 + message.len());
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    chunk.extend_from_slice(&len.to_be_bytes());
    chunk.extend_from_slice(message);
    chunk
}

/// A control frame (JSON on a WebSocket) as the stream's msgpack.
fn control_message(json: &str) -> Vec<u8> {
    let value = serde_json::from_str(json).map_or(Value::Nil, from_json);
    let mut out = Vec::with_capacity(json.len());
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &value);
    out
}

/// The `type` of a small message without a `to`: a control message, not an RPC one.
fn control_type(body: &[u8]) -> Option<String> {
    if body.len() > MAX_CONTROL_MESSAGE {
        return None;
    }
    let value = rmpv::decode::read_value(&mut &body[..]).ok()?;
    let Value::Map(entries) = value else {
        return None;
    };
    let field = |key: &str| entries.iter().find(|(k, _)| k.as_str() == Some(key));
    if field("to").is_some() {
        return None;
    }
    field("type").and_then(|(_, v)| v.as_str().map(str::to_owned))
}

impl super::HttpState {
    /// True if `conn` is a client's HTTP stream.
    pub(in crate::router) fn is_stream(&self, conn: ConnId) -> bool {
        self.streams.contains_key(&conn)
    }
}

impl Router {
    /// `GET /rpc`: admit the client as its WebSocket hello would be, and open its stream.
    pub(super) fn rpc_open(
        &mut self,
        now: Timestamp,
        id: HttpId,
        path_workspace: Option<String>,
    ) -> Result<(), Failure> {
        self.check_capacity(id)?;
        let exchange = &self.http.exchanges[&id];
        let request = &exchange.request;
        // `public` is where nobody connects to: hypha-rpc 0.21.15 opens `/public/rpc` when it
        // has no workspace, and Python hypha reads it as "choose for me" (the token's, or the
        // user's own).
        let chosen = |ws: Option<String>| ws.filter(|w| w != crate::auth::PUBLIC_WORKSPACE);
        let path_workspace = chosen(path_workspace);
        let query = |key| query_value(&request.query, key).filter(|v| !v.is_empty());
        let query_workspace = chosen(query("workspace"));
        if let (Some(path), Some(query)) = (&path_workspace, &query_workspace) {
            if path != query {
                return Err(Failure::new(
                    400,
                    format!("the path names workspace {path} and the query {query}"),
                ));
            }
        }
        let hello = Hello {
            client_id: query("client_id"),
            workspace: path_workspace.or(query_workspace),
            token: match identity::credential(request, &self.config.http.allow_origins) {
                Credential::Token(token) => Some(token),
                Credential::None => None,
            },
            reconnection_token: query("reconnection_token"),
        };
        let admitted = self.admit(now, &hello).map_err(refusal_failure)?;
        let secret: String = (0..2)
            .map(|_| format!("{:016x}", self.rng.random::<u64>()))
            .collect();
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let mut head = exchange.cors.clone();
        head.extend([
            (
                "content-type".to_owned(),
                "application/x-msgpack-stream".to_owned(),
            ),
            ("cache-control".to_owned(), "no-cache".to_owned()),
            ("x-accel-buffering".to_owned(), "no".to_owned()),
            (
                "set-cookie".to_owned(),
                format!(
                    "{}={secret}; Path=/; HttpOnly; SameSite=Strict",
                    cookie_name(&admitted.addr)
                ),
            ),
        ]);
        let remote_host = exchange
            .request
            .remote
            .as_deref()
            .map(|r| host_of(r).to_owned());
        exchange.stage = Stage::RpcStream(Stream {
            secret,
            head: Some(head),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            overflowed: false,
            remote_host,
            cookie_seen: false,
        });
        let conn = exchange.conn;
        self.http.streams.insert(conn, id);
        if let Err(refusal) = self.open_session(now, conn, admitted) {
            self.http.streams.remove(&conn);
            return Err(refusal_failure(refusal));
        }
        self.http.next_ping.get_or_insert(now + PING_INTERVAL);
        Ok(())
    }

    /// `POST /rpc`, its head: find the stream it writes to and check that it comes from the
    /// stream's owner. Its body is handled by [`Self::rpc_post_body`].
    pub(super) fn rpc_post_start(
        &mut self,
        now: Timestamp,
        id: HttpId,
        path_workspace: Option<String>,
    ) -> Result<(), Failure> {
        self.check_capacity(id)?;
        let exchange = &self.http.exchanges[&id];
        let request = &exchange.request;
        let query = |key| query_value(&request.query, key).filter(|v| !v.is_empty());
        let (Some(workspace), Some(client_id)) = (
            path_workspace.or_else(|| query("workspace")),
            query("client_id"),
        ) else {
            return Err(Failure::new(400, "workspace and client_id are required"));
        };
        let addr = ClientAddr::new(workspace, client_id);
        let conn = self
            .registry
            .client(&addr)
            .map(|c| c.conn)
            .filter(|conn| self.http.is_stream(*conn))
            .ok_or_else(|| Failure::new(400, format!("no HTTP stream is open for {addr}")))?;
        let stream_id = self.http.streams[&conn];
        let Some(Stage::RpcStream(stream)) = self.http.exchanges.get(&stream_id).map(|e| &e.stage)
        else {
            return Err(Failure::new(
                400,
                format!("no HTTP stream is open for {addr}"),
            ));
        };
        let cookie = identity::cookie(request, &cookie_name(&addr));
        let by_cookie = cookie
            .as_deref()
            .is_some_and(|value| same_secret(value, &stream.secret));
        let credential = identity::credential(request, &self.config.http.allow_origins);
        let by_token = || match &credential {
            Credential::Token(token) => {
                jwt::verify(token, &self.config.jwt_secret, now.as_secs(), Audience::Api).is_ok_and(
                    |claims| {
                        self.sessions
                            .get(&conn)
                            .is_some_and(|owner| owner.user.id == claims.sub)
                    },
                )
            }
            Credential::None => false,
        };
        // An anonymous stream's POST with no credential at all, from where the stream was
        // opened, while its agent has shown no cookie: a page on another origin (module docs).
        let by_address = || {
            self.sessions
                .get(&conn)
                .is_some_and(|owner| owner.user.is_anonymous())
                && !stream.cookie_seen
                && cookie.is_none()
                && credential == Credential::None
                && stream.remote_host.is_some()
                && request.remote.as_deref().map(host_of) == stream.remote_host.as_deref()
        };
        if !by_cookie && !by_token() && !by_address() {
            return Err(Failure::new(
                403,
                format!(
                    "permission denied: the HTTP stream of {addr} was opened by another client \
                     (send the cookie it set, or its owner's token)"
                ),
            ));
        }
        if by_cookie {
            if let Some(Stage::RpcStream(stream)) = self
                .http
                .exchanges
                .get_mut(&stream_id)
                .map(|e| &mut e.stage)
            {
                stream.cookie_seen = true;
            }
        }
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.stage = Stage::RpcPost(conn);
        }
        // A body that never finishes is answered 504, not kept.
        self.arm(now, id);
        Ok(())
    }

    /// `POST /rpc`, its body: one message from the stream's client. Answered 200 as soon as it
    /// is routed; what comes of it arrives on the stream.
    pub(super) fn rpc_post_body(
        &mut self,
        now: Timestamp,
        id: HttpId,
        conn: ConnId,
    ) -> Result<(), Failure> {
        if !self.http.is_stream(conn) {
            return Err(Failure::new(400, "the HTTP stream closed"));
        }
        let body = self
            .http
            .exchanges
            .get_mut(&id)
            .map(|e| std::mem::take(&mut e.body))
            .unwrap_or_default();
        if body.is_empty() {
            return Err(Failure::new(400, "empty message"));
        }
        match control_type(&body).as_deref() {
            Some("refresh_token") => self.refresh_reconnection_token(now, conn),
            Some("ping") => {}
            _ => self.route(now, conn, body),
        }
        let headers = self.http.exchanges[&id].cors.clone();
        self.respond(now, id, 200, headers, Vec::new());
        Ok(())
    }

    /// Write `frame` to the stream `conn` (the WebSocket's frames, in the stream's format).
    pub(in crate::router) fn rpc_stream_write(&mut self, conn: ConnId, frame: Frame) {
        let Some(&id) = self.http.streams.get(&conn) else {
            return;
        };
        let budget = self.config.http.rpc_stream_buffer;
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let Stage::RpcStream(stream) = &mut exchange.stage else {
            return;
        };
        if stream.overflowed {
            return;
        }
        let chunk = match frame {
            Frame::Binary(message) => stream_frame(&message),
            Frame::Text(json) => stream_frame(&control_message(&json)),
        };
        // One frame always fits in an empty queue, however big.
        let chunk = if stream.in_flight_bytes > 0 && stream.in_flight_bytes + chunk.len() > budget {
            stream.overflowed = true;
            self.http.overflowed.push(id);
            let error = serde_json::json!({
                "type": "error",
                "message": format!(
                    "closing the stream: more than {budget} bytes are waiting for a client \
                     that does not read"
                ),
            });
            stream_frame(&control_message(&error.to_string()))
        } else {
            chunk
        };
        let head = stream.head.take();
        stream.in_flight.push_back(chunk.len());
        stream.in_flight_bytes += chunk.len();
        if let Some(head) = head {
            self.head(id, 200, head);
        }
        self.chunk(id, chunk);
    }

    /// The driver wrote a chunk of the stream out.
    pub(super) fn rpc_stream_drained(&mut self, id: HttpId) {
        if let Some(Stage::RpcStream(stream)) =
            self.http.exchanges.get_mut(&id).map(|e| &mut e.stage)
        {
            if let Some(size) = stream.in_flight.pop_front() {
                stream.in_flight_bytes -= size;
            }
        }
    }

    /// End the stream `conn` (its client was replaced or is being closed).
    pub(in crate::router) fn end_rpc_stream(&mut self, now: Timestamp, conn: ConnId) {
        if let Some(&id) = self.http.streams.get(&conn) {
            self.finish(now, id, 200, Ending::End);
        }
    }

    /// Cut the streams that went over budget during the last input. The cut is an abort, so
    /// the client cannot take it for a stream that ended normally.
    pub(super) fn rpc_cut_overflowed(&mut self, now: Timestamp) {
        for id in std::mem::take(&mut self.http.overflowed) {
            self.finish(now, id, 200, Ending::Abort);
        }
    }

    /// Ping every open stream, when it is time to.
    pub(super) fn rpc_ping(&mut self, now: Timestamp) {
        if self.http.next_ping.is_none_or(|at| at > now) {
            return;
        }
        let ping = bytes::Bytes::from(control_message(r#"{"type":"ping"}"#));
        let conns: Vec<ConnId> = self.http.streams.keys().copied().collect();
        for conn in conns {
            self.rpc_stream_write(conn, Frame::Binary(ping.clone()));
        }
        self.http.next_ping = (!self.http.streams.is_empty()).then(|| now + PING_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_prefixed() {
        assert_eq!(stream_frame(b"abc"), [0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn control_messages_are_told_from_rpc_messages() {
        let encode = |json: serde_json::Value| control_message(&json.to_string());
        let refresh = encode(serde_json::json!({"type": "refresh_token"}));
        assert_eq!(control_type(&refresh).as_deref(), Some("refresh_token"));
        let rpc = encode(serde_json::json!({"type": "method", "to": "ws/c"}));
        assert_eq!(control_type(&rpc), None);
        assert_eq!(control_type(b"\xc1"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abcd", "abce"));
        assert!(!same_secret("abc", "abcd"));
    }
}
