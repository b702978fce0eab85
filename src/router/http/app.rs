//! Apps served under `/{ws}/apps/{id}/…` (http-and-cluster.md §5 items 7–8):
//!
//! - `type: "asgi"`: the provider's `serve({scope, receive, send})` is called once; `receive`
//!   and `send` are functions of this exchange's peer, so the request body streams into the app
//!   as it arrives and the response streams out as the app sends it, status and headers
//!   included whenever they come. A `send` is answered only when the client has room for more.
//! - `type: "functions"`: the function the path names (`a/b` → `a.b`, then `a.b.index`, then
//!   `default` with `function_path`) gets the request as one scope dict and returns `{status,
//!   headers, body}`.
//!
//! The caller's token never reaches the app: `Authorization` and the `access_token` cookie are
//! taken out of the headers it sees; the caller's identity is in `scope.user` and in the
//! context hypha-rpc gives `require_context` functions.

use std::collections::VecDeque;

use percent_encoding::percent_decode_str;
use rmpv::Value;

use super::call::method_frame;
use super::{AfterDescribe, Failure, Stage};
use crate::http::route::Route;
use crate::http::HttpId;
use crate::manager;
use crate::registry::{ClientAddr, ServiceId};
use crate::router::Router;
use crate::time::Timestamp;

/// An ASGI app serving a request.
#[derive(Debug)]
pub(super) struct Asgi {
    /// The provider.
    target: ClientAddr,
    /// The session prefix of the `receive`/`send` functions handed to the app.
    callbacks: String,
    /// Request body not yet given to the app.
    pub(super) chunks: VecDeque<Vec<u8>>,
    /// Request body bytes received so far.
    pub(super) received: usize,
    /// The last body message (`more_body: false`) went to the app.
    body_delivered: bool,
    /// The app's `receive()` waiting for body (its session).
    receive_waiting: Option<String>,
    /// The app's `send()` calls waiting for the client to read (their sessions).
    sends_waiting: VecDeque<String>,
}

/// Response headers an app may not set: the driver frames the body itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A header name and value a peer sent, if they are safe to write.
fn response_header(name: &[u8], value: &[u8]) -> Option<(String, String)> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) || HOP_BY_HOP.contains(&name.as_str()) {
        return None;
    }
    let value = std::str::from_utf8(value).ok()?;
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    Some((name, value.to_owned()))
}

fn bytes_of(value: &Value) -> Option<&[u8]> {
    match value {
        Value::Binary(b) => Some(b),
        Value::String(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// The request headers an app sees: without the caller's credentials.
fn app_headers(headers: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .filter(|(k, _)| k != "authorization")
        .filter_map(|(k, v)| {
            if k != "cookie" {
                return Some((k.clone(), v.clone()));
            }
            let text = String::from_utf8_lossy(v);
            let kept: Vec<&str> = text
                .split(';')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.starts_with("access_token="))
                .collect();
            (!kept.is_empty()).then(|| (k.clone(), kept.join("; ").into_bytes()))
        })
        .collect()
}

impl Router {
    /// `/{ws}/apps/{id}/…` arrived: find the app; ASGI apps start at once (the body streams
    /// in), functions apps when the body is complete.
    pub(super) fn app_start(
        &mut self,
        now: Timestamp,
        id: HttpId,
        workspace: &str,
        service: &str,
    ) -> Result<(), Failure> {
        let (service_id, service_type) = self.lookup_service(now, id, workspace, service)?;
        if service_type.eq_ignore_ascii_case("asgi") {
            self.arm(now, id);
            return self.describe(now, id, service_id, AfterDescribe::Asgi);
        }
        if service_type != "functions" {
            return Err(Failure::new(
                404,
                format!("service {service_id} is not an app (type {service_type:?})"),
            ));
        }
        Ok(())
    }

    /// The body of a functions-app request is complete: call the function.
    pub(super) fn functions_start(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        let Route::App {
            workspace, service, ..
        } = self.http.exchanges[&id].route.clone()
        else {
            return Ok(());
        };
        let (service_id, _) = self.lookup_service(now, id, &workspace, &service)?;
        self.arm(now, id);
        self.describe(now, id, service_id, AfterDescribe::Functions)
    }

    /// The scope every app gets: a superset of the Python server's.
    fn app_scope(&self, id: HttpId, service: &ServiceId) -> Vec<(Value, Value)> {
        let exchange = &self.http.exchanges[&id];
        let Route::App {
            workspace,
            service: mount,
            sub_path,
        } = &exchange.route
        else {
            return Vec::new();
        };
        let request = &exchange.request;
        let path = percent_decode_str(sub_path)
            .decode_utf8_lossy()
            .into_owned();
        let client = request
            .remote
            .as_deref()
            .and_then(|r| r.rsplit_once(':'))
            .map_or(Value::Nil, |(host, port)| {
                Value::Array(vec![
                    host.trim_matches(['[', ']']).into(),
                    port.parse::<u16>().unwrap_or(0).into(),
                ])
            });
        let user = self
            .sessions
            .get(&exchange.conn)
            .map_or(Value::Nil, |s| s.user_value().clone());
        vec![
            ("type".into(), "http".into()),
            (
                "asgi".into(),
                Value::Map(vec![
                    ("version".into(), "3.0".into()),
                    ("spec_version".into(), "2.3".into()),
                ]),
            ),
            ("http_version".into(), "1.1".into()),
            ("scheme".into(), "http".into()),
            ("method".into(), request.method.as_str().into()),
            ("path".into(), path.into()),
            (
                "raw_path".into(),
                Value::Binary(sub_path.as_bytes().to_vec()),
            ),
            (
                "root_path".into(),
                format!("/{workspace}/apps/{mount}").into(),
            ),
            ("client".into(), client),
            ("server".into(), Value::Nil),
            ("workspace".into(), workspace.as_str().into()),
            ("service_id".into(), service.to_string().into()),
            ("user".into(), user),
        ]
    }

    // ------------------------------------------------------------------------- ASGI

    pub(super) fn asgi_serve(
        &mut self,
        now: Timestamp,
        id: HttpId,
        service: &ServiceId,
        descriptor: &Value,
    ) -> Result<(), Failure> {
        let Some(serve) = manager::map_get(descriptor, "serve") else {
            return Err(Failure::new(
                502,
                format!("ASGI service {service} has no serve function"),
            ));
        };
        let (target, method) = self.function_address(serve, service)?;
        let mut scope = self.app_scope(id, service);
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let request = &exchange.request;
        let headers = app_headers(&request.headers)
            .into_iter()
            .map(|(k, v)| Value::Array(vec![Value::Binary(k.into_bytes()), Value::Binary(v)]))
            .collect();
        scope.push((
            "query_string".into(),
            Value::Binary(request.query.as_bytes().to_vec()),
        ));
        scope.push(("headers".into(), Value::Array(headers)));
        let me = exchange
            .addr
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        // The app's `receive`/`send` live under the call's own session: what the app's client
        // sends back into that call (answers and these callbacks alike) is then recognisably
        // part of it (root keeps its own address for it; see `Router::dispatch_envelope`).
        let to = target.to_string();
        let session = exchange.new_session(&to);
        let callbacks = session.clone();
        let callback = |name: &str| {
            Value::Map(vec![
                ("_rtype".into(), "method".into()),
                ("_rtarget".into(), me.as_str().into()),
                ("_rmethod".into(), format!("{callbacks}.{name}").into()),
                ("_rpromise".into(), "*".into()),
                ("_rdoc".into(), format!("ASGI {name}").into()),
            ])
        };
        let args = Value::Map(vec![
            ("scope".into(), Value::Map(scope)),
            ("receive".into(), callback("receive")),
            ("send".into(), callback("send")),
        ]);
        let body = std::mem::take(&mut exchange.body);
        exchange.stage = Stage::Asgi(Asgi {
            target,
            callbacks,
            received: body.len(),
            chunks: if body.is_empty() {
                VecDeque::new()
            } else {
                VecDeque::from([body])
            },
            body_delivered: false,
            receive_waiting: None,
            sends_waiting: VecDeque::new(),
        });
        let conn = exchange.conn;
        self.arm(now, id);
        self.dispatch_envelope(
            now,
            conn,
            method_frame(&to, &method, Some(&session), vec![args], false),
        );
        Ok(())
    }

    /// The app called one of the exchange's functions.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn asgi_callback(
        &mut self,
        now: Timestamp,
        id: HttpId,
        from: &str,
        prefix: &str,
        kind: &str,
        their_session: Option<String>,
        message: Value,
    ) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let Stage::Asgi(asgi) = &mut exchange.stage else {
            return;
        };
        if asgi.callbacks != prefix || asgi.target.to_string() != from {
            return;
        }
        let Some(their_session) = their_session else {
            return;
        };
        self.arm(now, id);
        if kind == "receive" {
            if let Some(Stage::Asgi(asgi)) = self.http.exchanges.get_mut(&id).map(|e| &mut e.stage)
            {
                asgi.receive_waiting = Some(their_session);
            }
            self.asgi_feed(now, id);
            return;
        }
        match manager::map_str(&message, "type") {
            Some("http.response.start") => {
                let status = manager::map_get(&message, "status")
                    .and_then(Value::as_u64)
                    .filter(|s| (100..=999).contains(s))
                    .and_then(|s| u16::try_from(s).ok());
                let Some(status) = status else {
                    self.answer_app(now, id, from, &their_session, Value::Nil);
                    return self.fail(now, id, Failure::new(502, "the app sent an invalid status"));
                };
                let mut headers: Vec<(String, String)> = match manager::map_get(&message, "headers")
                {
                    Some(Value::Array(pairs)) => pairs
                        .iter()
                        .filter_map(|pair| match pair {
                            Value::Array(kv) if kv.len() == 2 => {
                                response_header(bytes_of(&kv[0])?, bytes_of(&kv[1])?)
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                if !headers.iter().any(|(k, _)| k == "content-type") {
                    headers.push(("content-type".into(), "text/plain; charset=utf-8".into()));
                }
                self.head(id, status, headers);
                self.answer_app(now, id, from, &their_session, Value::Nil);
            }
            Some("http.response.body") => {
                let started = self
                    .http
                    .exchanges
                    .get(&id)
                    .is_some_and(|e| e.status.is_some());
                if !started {
                    self.answer_app(now, id, from, &their_session, Value::Nil);
                    let failure =
                        Failure::new(502, "the app sent a body before http.response.start");
                    return self.fail(now, id, failure);
                }
                // An app that keeps sending without waiting for its send() calls to return
                // would queue its whole body here: past the hard window, the response is cut.
                let queued = self.http.exchanges.get(&id).map_or(0, |e| e.outstanding);
                if queued >= crate::http::SEND_HARD_LIMIT {
                    let failure = Failure::new(502, "the app sent faster than the client reads");
                    return self.fail(now, id, failure);
                }
                let body = manager::map_get(&message, "body")
                    .and_then(bytes_of)
                    .unwrap_or_default();
                if !body.is_empty() {
                    self.chunk(id, body.to_vec());
                }
                let more = matches!(
                    manager::map_get(&message, "more_body"),
                    Some(Value::Boolean(true))
                );
                if !more {
                    self.answer_app(now, id, from, &their_session, Value::Nil);
                    return self.finish(now, id, 200, super::Ending::End);
                }
                if let Some(exchange) = self.http.exchanges.get_mut(&id) {
                    if let Stage::Asgi(asgi) = &mut exchange.stage {
                        asgi.sends_waiting.push_back(their_session);
                    }
                }
                self.asgi_release_sends(now, id);
            }
            _ => self.answer_app(now, id, from, &their_session, Value::Nil),
        }
    }

    /// Give a waiting `receive()` the body that has arrived.
    pub(super) fn asgi_feed(&mut self, now: Timestamp, id: HttpId) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let body_done = exchange.body_done;
        let Stage::Asgi(asgi) = &mut exchange.stage else {
            return;
        };
        if asgi.receive_waiting.is_none() || asgi.body_delivered {
            return;
        }
        if asgi.chunks.is_empty() && !body_done {
            return;
        }
        let body: Vec<u8> = asgi.chunks.drain(..).flatten().collect();
        asgi.body_delivered = body_done;
        let session = asgi.receive_waiting.take().unwrap_or_default();
        let to = asgi.target.to_string();
        let message = Value::Map(vec![
            ("type".into(), "http.request".into()),
            ("body".into(), Value::Binary(body)),
            ("more_body".into(), (!body_done).into()),
        ]);
        self.answer_app(now, id, &to, &session, message);
    }

    /// Answer the app's `send()` calls while the client has room.
    pub(super) fn asgi_release_sends(&mut self, now: Timestamp, id: HttpId) {
        loop {
            let Some(exchange) = self.http.exchanges.get_mut(&id) else {
                return;
            };
            if exchange.outstanding >= crate::http::STREAM_WINDOW {
                return;
            }
            let Stage::Asgi(asgi) = &mut exchange.stage else {
                return;
            };
            let Some(session) = asgi.sends_waiting.pop_front() else {
                return;
            };
            let to = asgi.target.to_string();
            self.answer_app(now, id, &to, &session, Value::Nil);
        }
    }

    /// `serve()` returned (or failed): end what the app left open.
    pub(super) fn asgi_done(
        &mut self,
        now: Timestamp,
        id: HttpId,
        asgi: Asgi,
        failure: Option<Failure>,
    ) -> Result<(), Failure> {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return Ok(());
        };
        let started = exchange.status.is_some();
        exchange.stage = Stage::Asgi(asgi);
        if !started {
            return Err(failure.unwrap_or_else(|| {
                Failure::new(502, "the app returned without sending a response")
            }));
        }
        // After the head, a failed app leaves a truncated body: the client must see it cut.
        let ending = if failure.is_some() {
            super::Ending::Abort
        } else {
            super::Ending::End
        };
        self.finish(now, id, 200, ending);
        Ok(())
    }

    /// The exchange ends while the app may still wait: tell its `receive()` the client is gone
    /// and let its pending `send()` calls return.
    pub(super) fn asgi_disconnect(
        &mut self,
        now: Timestamp,
        exchange: &super::Exchange,
        asgi: Asgi,
    ) {
        let to = asgi.target.to_string();
        let conn = exchange.conn;
        let answer = |session: &str, value: Value| {
            method_frame(&to, &format!("{session}.resolve"), None, vec![value], false)
        };
        if let Some(session) = &asgi.receive_waiting {
            let message = Value::Map(vec![("type".into(), "http.disconnect".into())]);
            self.dispatch_envelope(now, conn, answer(session, message));
        }
        for session in &asgi.sends_waiting {
            self.dispatch_envelope(now, conn, answer(session, Value::Nil));
        }
    }

    /// Resolve the app's call `session` with `value`.
    fn answer_app(&mut self, now: Timestamp, id: HttpId, to: &str, session: &str, value: Value) {
        let Some(conn) = self.http.exchanges.get(&id).map(|e| e.conn) else {
            return;
        };
        let frame = method_frame(to, &format!("{session}.resolve"), None, vec![value], false);
        self.dispatch_envelope(now, conn, frame);
    }

    // ------------------------------------------------------------------------- functions

    pub(super) fn functions_call(
        &mut self,
        now: Timestamp,
        id: HttpId,
        service: &ServiceId,
        descriptor: &Value,
    ) -> Result<(), Failure> {
        let Route::App { sub_path, .. } = &self.http.exchanges[&id].route else {
            return Ok(());
        };
        let parts: Vec<String> = sub_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let key = parts.join(".");
        let function_at = |key: &str| {
            key.split('.')
                .try_fold(descriptor, |node, part| manager::map_get(node, part))
                .filter(|v| manager::map_str(v, "_rtype") == Some("method"))
        };
        let direct = if key.is_empty() {
            function_at("index")
        } else {
            function_at(&key).or_else(|| function_at(&format!("{key}.index")))
        };
        let (function, function_path) = match direct {
            Some(f) => (Some(f), None),
            None => (
                function_at("default"),
                Some(format!("/{}", parts.join("/"))),
            ),
        };
        let Some(function) = function else {
            return Err(Failure::new(
                404,
                format!("Function not found: /{}", parts.join("/")),
            ));
        };
        let (target, method) = self.function_address(function, service)?;
        let mut scope = self.app_scope(id, service);
        let exchange = &self.http.exchanges[&id];
        let headers = app_headers(&exchange.request.headers)
            .into_iter()
            .map(|(k, v)| {
                (
                    Value::from(k),
                    Value::from(String::from_utf8_lossy(&v).into_owned()),
                )
            })
            .collect();
        scope.push((
            "query_string".into(),
            exchange.request.query.as_str().into(),
        ));
        scope.push(("headers".into(), Value::Map(headers)));
        let body = if exchange.body.is_empty() {
            Value::Nil
        } else {
            Value::Binary(exchange.body.clone())
        };
        scope.push(("body".into(), body));
        if let Some(path) = function_path {
            scope.push(("function_path".into(), path.into()));
        }
        let to = target.to_string();
        self.send_call(
            now,
            id,
            &to,
            &method,
            crate::http::args::CallArgs {
                positional: vec![Value::Map(scope)],
                keywords: Vec::new(),
            },
        )?;
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.stage = Stage::Functions;
        }
        Ok(())
    }

    /// A functions app answered `{status, headers, body}`.
    pub(super) fn functions_result(
        &mut self,
        now: Timestamp,
        id: HttpId,
        value: &Value,
    ) -> Result<(), Failure> {
        let status = manager::map_get(value, "status")
            .and_then(Value::as_u64)
            .unwrap_or(200);
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..=999).contains(s))
            .unwrap_or(200);
        let mut headers = self.http.exchanges[&id].cors.clone();
        if let Some(Value::Map(pairs)) = manager::map_get(value, "headers") {
            headers.extend(pairs.iter().filter_map(|(k, v)| {
                let value = match v {
                    Value::String(_) | Value::Binary(_) => bytes_of(v)?.to_vec(),
                    other => crate::http::encode::json_bytes(other),
                };
                response_header(bytes_of(k)?, &value)
            }));
        }
        let (body, default_type) = match manager::map_get(value, "body") {
            None | Some(Value::Nil) => (Vec::new(), "text/plain; charset=utf-8"),
            Some(Value::String(s)) => (s.as_bytes().to_vec(), "text/plain; charset=utf-8"),
            Some(Value::Binary(b)) => (b.clone(), "application/octet-stream"),
            Some(other) => (
                crate::http::encode::Format::Json.body(other),
                "application/json",
            ),
        };
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".into(), default_type.into()));
        }
        self.respond(now, id, status, headers, body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_cannot_set_framing_headers_or_inject_lines() {
        assert_eq!(
            response_header(b"X-Test", b"1"),
            Some(("x-test".into(), "1".into()))
        );
        assert_eq!(response_header(b"content-length", b"5"), None);
        assert_eq!(response_header(b"x-a", b"1\r\nset-cookie: x"), None);
        assert_eq!(response_header(b"bad name", b"1"), None);
    }

    #[test]
    fn apps_do_not_see_the_callers_token() {
        let headers = vec![
            ("authorization".to_owned(), b"Bearer secret".to_vec()),
            (
                "cookie".to_owned(),
                b"theme=dark; access_token=secret".to_vec(),
            ),
            ("accept".to_owned(), b"*/*".to_vec()),
        ];
        let seen = app_headers(&headers);
        assert_eq!(
            seen,
            vec![
                ("cookie".to_owned(), b"theme=dark".to_vec()),
                ("accept".to_owned(), b"*/*".to_vec())
            ]
        );
    }
}
