//! Calling a service function for an HTTP request: resolve the service (the manager's lookup,
//! visibility included), get its descriptor (cached), call the member the key names with the
//! request's arguments, and turn the answer into a response — or, for a generator, pull its
//! items one by one into a stream, no faster than the client reads.

use rmpv::Value;

use super::{AfterDescribe, Exchange, Failure, Stage};
use crate::http::args::{self, CallArgs};
use crate::http::HttpId;
use crate::manager::{self, Continuation, Outcome};
use crate::registry::{ClientAddr, ServiceId};
use crate::router::calls::Requester;
use crate::router::Router;
use crate::time::Timestamp;
use crate::wire::Envelope;

/// Heartbeat interval (seconds) asked of providers: half the call timeout, as hypha-rpc does.
const HEARTBEAT_SECS: u64 = 15;

/// A generator being streamed.
#[derive(Debug)]
pub(super) struct Stream {
    target: ClientAddr,
    next: String,
    close: Option<String>,
    /// A pull is in flight.
    pulling: bool,
    pub(super) ended: bool,
}

/// An answer read from the exchange's peer address.
#[derive(Debug)]
pub(super) enum Reply {
    Resolve(Value),
    Reject(Value),
    Heartbeat,
    /// The callee left or the call was refused (`peer_not_found`).
    Gone(String),
}

/// A `method` frame, ready for [`Router::dispatch_envelope`]. With a `session`, it asks for an
/// answer (`promise: "*"`).
pub(super) fn method_frame(
    to: &str,
    method: &str,
    session: Option<&str>,
    args: Vec<Value>,
    with_kwargs: bool,
) -> Envelope {
    let mut main = vec![
        ("type".to_owned(), "method".into()),
        ("to".to_owned(), to.into()),
        ("method".to_owned(), method.into()),
    ];
    let mut payload = vec![("args".into(), Value::Array(args))];
    if with_kwargs {
        payload.push(("with_kwargs".into(), true.into()));
    }
    if let Some(session) = session {
        main.push(("session".to_owned(), session.into()));
        payload.push(("promise".into(), "*".into()));
        payload.push(("t".into(), HEARTBEAT_SECS.into()));
    }
    Envelope::new(main, Some(&Value::Map(payload)))
}

/// The provider address a descriptor's `_rtarget` names (bare ids live in the provider's
/// workspace).
fn absolute_target(target: &str, provider_workspace: &str) -> Option<ClientAddr> {
    if target.contains('/') {
        ClientAddr::parse(target)
    } else {
        ClientAddr::parse(&format!("{provider_workspace}/{target}"))
    }
}

/// The member at dotted `key` of a descriptor.
fn member<'a>(descriptor: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.')
        .try_fold(descriptor, |node, part| manager::map_get(node, part))
}

fn is_function(value: &Value) -> bool {
    manager::map_str(value, "_rtype") == Some("method")
}

/// The status for a provider's rejection. hypha-rpc encodes the exception as `{_rtype:
/// "error", _rvalue, _rtrace}`: JavaScript writes `"<Class>: message"` as the value, Python
/// writes the message and ends the trace with `"<Class>: message"`. Argument errors are the
/// caller's (400); anything else is the provider's (500).
fn rejection(error: &Value) -> Failure {
    // Only the last line of a message reaches the HTTP client: hypha-rpc's Python client
    // sends the whole formatted traceback as the message of an async function's error.
    let value = manager::map_str(error, "_rvalue")
        .or_else(|| error.as_str())
        .and_then(|v| v.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("the provider failed");
    let last_trace_line = manager::map_str(error, "_rtrace")
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()))
        .map(str::trim);
    let class_of = |line: &str| -> Option<String> {
        let (head, _) = line.split_once(':').unwrap_or((line, ""));
        let class = head.rsplit('.').next().unwrap_or(head);
        let looks_like_class = !class.is_empty()
            && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && (class.ends_with("Error") || class.ends_with("Exception"));
        looks_like_class.then(|| class.to_owned())
    };
    let class = class_of(value).or_else(|| last_trace_line.and_then(class_of));
    let detail = match (&class, class_of(value)) {
        (Some(class), None) => format!("{class}: {value}"),
        _ => value.to_owned(),
    };
    let status = match class.as_deref() {
        Some("ValueError" | "TypeError" | "KeyError" | "AssertionError" | "RangeError") => 400,
        Some("PermissionError") => 403,
        _ => 500,
    };
    Failure::new(status, detail)
}

impl Router {
    /// The body of a call arrived: decode the arguments and start the call.
    pub(super) fn body_complete(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let (workspace, service, key) = match exchange.route.clone() {
            crate::http::route::Route::Call {
                workspace,
                service,
                key,
            } => (workspace, service, key),
            crate::http::route::Route::App { .. } => return self.functions_start(now, id),
            _ => return Ok(()),
        };
        let body = std::mem::take(&mut exchange.body);
        let request = &exchange.request;
        let format = args::body_format(request.header("content-type")).map_err(args_failure)?;
        let body = args::decode_content(
            request.header("content-encoding"),
            body,
            self.config.http.max_body,
        )
        .map_err(args_failure)?;
        let call_args = args::call_args(&request.query, format, &body).map_err(args_failure)?;
        self.open_peer(id, &workspace)?;
        self.arm(now, id);
        if service == "ws" {
            return self.manager_call_for(now, id, &key, call_args);
        }
        let (service_id, _) = self.lookup_service(now, id, &workspace, &service)?;
        self.describe(
            now,
            id,
            service_id,
            AfterDescribe::Call {
                key,
                args: call_args,
            },
        )
    }

    /// Call manager method `key` as the exchange's peer, with the caller's own permissions. It
    /// runs in place, so a refusal keeps its type (403, 404, 400; over the wire it would be a
    /// bare message, a 500); what needs a client (`get_service` asking a provider) is answered
    /// to the peer like any manager call.
    fn manager_call_for(
        &mut self,
        now: Timestamp,
        id: HttpId,
        key: &str,
        call_args: CallArgs,
    ) -> Result<(), Failure> {
        let manager_addr = self.manager_addr.clone();
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let conn = exchange.conn;
        let session = exchange.new_session(&manager_addr);
        exchange.stage = Stage::Call;
        let (addr, user) = self.peer_identity(id)?;
        let requester = Requester {
            conn,
            addr,
            session: Some(session),
            called_as: None,
        };
        let (args, with_kwargs) = call_args.into_wire();
        let mut payload = vec![("args".into(), Value::Array(args))];
        if with_kwargs {
            payload.push(("with_kwargs".into(), true.into()));
        }
        let args = manager::Args::from_payload(Some(&Value::Map(payload)));
        let method = format!("services.default.{key}");
        let outcome = self.as_manager(now, &requester.addr, &user, |env, caller| {
            manager::dispatch(env, caller, &method, &args)
        });
        if let Outcome::Error(error) = &outcome {
            return Err(Failure::from_manager(error));
        }
        // Open uploads are swept for abandonment, as for calls over the wire.
        if self.cache_sweep.is_none() && !self.caches.is_empty() {
            self.cache_sweep = Some(now + manager::cache_sweep_interval());
        }
        self.deliver(now, &requester, outcome);
        Ok(())
    }

    /// Get the descriptor of `service` (from the cache, or from its provider through the
    /// manager's `get_service` continuation), then go on with `then`.
    pub(super) fn describe(
        &mut self,
        now: Timestamp,
        id: HttpId,
        service: ServiceId,
        then: AfterDescribe,
    ) -> Result<(), Failure> {
        if let Some(descriptor) = self.http.descriptors.get(&service.text()) {
            return self.described(now, id, &service, &descriptor, then);
        }
        let manager_addr = self.manager_addr.clone();
        let epoch = self.http.descriptors.epoch();
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let session = exchange.new_session(&manager_addr);
        let requester = Requester {
            conn: exchange.conn,
            addr: exchange
                .addr
                .clone()
                .unwrap_or_else(|| ClientAddr::new("", "")),
            session: Some(session),
            called_as: None,
        };
        exchange.stage = Stage::Describe {
            service: service.clone(),
            epoch,
            then,
        };
        let outcome = Outcome::Ask {
            target: service.provider.clone(),
            method: "services.built-in.get_service".to_owned(),
            args: vec![service.name.as_str().into()],
            then: Continuation::GetService {
                id: service,
                case: None,
            },
        };
        self.deliver(now, &requester, outcome);
        Ok(())
    }

    /// The descriptor is known: do what it was fetched for.
    fn described(
        &mut self,
        now: Timestamp,
        id: HttpId,
        service: &ServiceId,
        descriptor: &Value,
        then: AfterDescribe,
    ) -> Result<(), Failure> {
        match then {
            AfterDescribe::Call { key, args } => {
                let Some(found) = member(descriptor, &key) else {
                    return Err(Failure::new(
                        404,
                        format!("function {key} not found in service {service}"),
                    ));
                };
                if !is_function(found) {
                    // A plain value of the service is answered as data.
                    let body = self.http.exchanges[&id].format.body(found);
                    return self.respond_value(now, id, body);
                }
                let (target, method) = self.function_address(found, service)?;
                self.call_function(now, id, &target, &method, args)
            }
            AfterDescribe::Asgi => self.asgi_serve(now, id, service, descriptor),
            AfterDescribe::Functions => self.functions_call(now, id, service, descriptor),
        }
    }

    /// Where a function descriptor's calls go.
    pub(super) fn function_address(
        &self,
        function: &Value,
        service: &ServiceId,
    ) -> Result<(ClientAddr, String), Failure> {
        let target = manager::map_str(function, "_rtarget")
            .and_then(|t| absolute_target(t, &service.provider.workspace));
        let method = manager::map_str(function, "_rmethod");
        match (target, method) {
            // A descriptor may only send calls to its own provider.
            (Some(target), Some(method)) if target == service.provider => {
                Ok((target, method.to_owned()))
            }
            _ => Err(Failure::new(
                502,
                format!("the provider of {service} described a function it does not serve"),
            )),
        }
    }

    /// Call `method` on `to` with the request's arguments and wait for the answer.
    pub(super) fn send_call(
        &mut self,
        now: Timestamp,
        id: HttpId,
        to: &str,
        method: &str,
        call_args: CallArgs,
    ) -> Result<(), Failure> {
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        let session = exchange.new_session(to);
        exchange.stage = Stage::Call;
        let conn = exchange.conn;
        let (args, with_kwargs) = call_args.into_wire();
        let frame = method_frame(to, method, Some(&session), args, with_kwargs);
        self.arm(now, id);
        self.dispatch_envelope(now, conn, frame);
        Ok(())
    }

    /// A frame reached the exchange's peer address.
    pub(super) fn peer_frame(&mut self, now: Timestamp, id: HttpId, envelope: Envelope) {
        let from = envelope.str("from").unwrap_or_default().to_owned();
        let (session, reply) = match envelope.str("type") {
            Some("peer_not_found") => {
                let Some(session) = envelope.str("session") else {
                    return;
                };
                let error = envelope.str("error").unwrap_or("the provider is gone");
                (session.to_owned(), Reply::Gone(error.to_owned()))
            }
            Some("method") => {
                let method = envelope.str("method").unwrap_or_default().to_owned();
                if let Some(built_in) = method.strip_prefix("services.built-in.") {
                    return self.peer_built_in(now, id, &from, built_in, &envelope);
                }
                let Some((session, kind)) = method.rsplit_once('.') else {
                    return;
                };
                let first = || {
                    envelope
                        .decode_payload()
                        .ok()
                        .flatten()
                        .and_then(|p| match manager::map_get(&p, "args") {
                            Some(Value::Array(items)) => items.first().cloned(),
                            _ => None,
                        })
                        .unwrap_or(Value::Nil)
                };
                let reply = match kind {
                    "resolve" => Reply::Resolve(first()),
                    "reject" => Reply::Reject(first()),
                    "heartbeat" => Reply::Heartbeat,
                    "receive" | "send" => {
                        let their_session = envelope.str("session").map(str::to_owned);
                        let message = first();
                        return self.asgi_callback(
                            now,
                            id,
                            &from,
                            session,
                            kind,
                            their_session,
                            message,
                        );
                    }
                    _ => return,
                };
                (session.to_owned(), reply)
            }
            _ => return,
        };
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        // Only the peer a session was sent to may answer it (`peer_not_found` comes from the
        // Router itself, unstamped).
        let Some(index) = exchange.pending.iter().position(|p| {
            p.session == session && (matches!(reply, Reply::Gone(_)) || p.responder == from)
        }) else {
            return;
        };
        if matches!(reply, Reply::Heartbeat) {
            self.arm(now, id);
            return;
        }
        exchange.pending.swap_remove(index);
        let size = envelope.payload_bytes().len();
        self.on_reply(now, id, reply, size, &from);
    }

    pub(super) fn on_reply(
        &mut self,
        now: Timestamp,
        id: HttpId,
        reply: Reply,
        size: usize,
        from: &str,
    ) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let stage = std::mem::replace(&mut exchange.stage, Stage::Done);
        let result = match (stage, reply) {
            (
                Stage::Describe {
                    service,
                    epoch,
                    then,
                },
                Reply::Resolve(descriptor),
            ) => {
                let descriptor = std::sync::Arc::new(descriptor);
                self.http.descriptors.insert(
                    &service.text(),
                    std::sync::Arc::clone(&descriptor),
                    size,
                    epoch,
                );
                self.described(now, id, &service, &descriptor, then)
            }
            (Stage::Describe { .. }, Reply::Reject(error)) => {
                let text = manager::map_str(&error, "_rvalue")
                    .unwrap_or("the provider did not describe its service");
                Err(Failure::new(502, text.to_owned()))
            }
            (Stage::Call, Reply::Resolve(value)) => self.call_result(now, id, value, from),
            (Stage::Stream(stream), Reply::Resolve(item)) => {
                self.stream_item(now, id, stream, &item)
            }
            (Stage::Functions, Reply::Resolve(value)) => self.functions_result(now, id, &value),
            (Stage::Asgi(asgi), Reply::Resolve(_)) => self.asgi_done(now, id, asgi, None),
            (Stage::Asgi(asgi), Reply::Reject(error)) => {
                self.asgi_done(now, id, asgi, Some(rejection(&error)))
            }
            (Stage::Asgi(asgi), Reply::Gone(error)) => {
                self.asgi_done(now, id, asgi, Some(Failure::new(502, error)))
            }
            // The stage goes back first: a stream that fails ends with an error item.
            (stage, Reply::Reject(error)) => {
                self.restore_stage(id, stage);
                Err(rejection(&error))
            }
            (stage, Reply::Gone(error)) => {
                self.restore_stage(id, stage);
                Err(Failure::new(502, error))
            }
            (stage, _) => {
                self.restore_stage(id, stage);
                Ok(())
            }
        };
        if let Err(failure) = result {
            self.fail(now, id, failure);
        }
    }

    fn restore_stage(&mut self, id: HttpId, stage: Stage) {
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.stage = stage;
        }
    }

    /// A call answered: a value is the response; a generator becomes a stream.
    fn call_result(
        &mut self,
        now: Timestamp,
        id: HttpId,
        value: Value,
        from: &str,
    ) -> Result<(), Failure> {
        if manager::map_str(&value, "_rtype") != Some("generator") {
            let body = self.http.exchanges[&id].format.body(&value);
            return self.respond_value(now, id, body);
        }
        let exchange = &self.http.exchanges[&id];
        // A generator is pulled from the provider that returned it, and from no one else.
        let provider = ClientAddr::parse(from);
        let target = manager::map_str(&value, "_rtarget").and_then(|t| {
            absolute_target(t, provider.as_ref().map_or("", |p| p.workspace.as_str()))
        });
        let next = manager::map_str(&value, "_rmethod").map(str::to_owned);
        let (Some(target), Some(next)) = (target.filter(|t| Some(t) == provider.as_ref()), next)
        else {
            return Err(Failure::new(
                502,
                "the provider returned a malformed generator",
            ));
        };
        let close = manager::map_str(&value, "_rclose_method").map(str::to_owned);
        let mut headers = exchange.cors.clone();
        headers.push((
            "content-type".into(),
            exchange.stream_format.content_type().into(),
        ));
        headers.push(("cache-control".into(), "no-cache".into()));
        headers.push(("x-accel-buffering".into(), "no".into()));
        self.head(id, 200, headers);
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.stage = Stage::Stream(Stream {
                target,
                next,
                close,
                pulling: false,
                ended: false,
            });
        }
        self.stream_pull(now, id);
        Ok(())
    }

    /// Ask the generator for its next item, unless one is on its way or the client has not
    /// read what it was sent.
    pub(super) fn stream_pull(&mut self, now: Timestamp, id: HttpId) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        let window_full = exchange.outstanding >= crate::http::STREAM_WINDOW;
        let Stage::Stream(stream) = &exchange.stage else {
            return;
        };
        if stream.pulling || stream.ended || window_full {
            return;
        }
        let to = stream.target.to_string();
        let method = stream.next.clone();
        let session = exchange.new_session(&to);
        if let Stage::Stream(stream) = &mut exchange.stage {
            stream.pulling = true;
        }
        let conn = exchange.conn;
        self.arm(now, id);
        self.dispatch_envelope(
            now,
            conn,
            method_frame(&to, &method, Some(&session), Vec::new(), false),
        );
    }

    fn stream_item(
        &mut self,
        now: Timestamp,
        id: HttpId,
        mut stream: Stream,
        item: &Value,
    ) -> Result<(), Failure> {
        stream.pulling = false;
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return Ok(());
        };
        let format = exchange.stream_format;
        if manager::map_str(item, "_rtype") == Some("stop_iteration") {
            stream.ended = true;
            exchange.stage = Stage::Stream(stream);
            let end = format.end();
            if !end.is_empty() {
                self.chunk(id, end);
            }
            self.finish(now, id, 200, super::Ending::End);
            return Ok(());
        }
        exchange.stage = Stage::Stream(stream);
        self.chunk(id, format.item(item));
        self.stream_pull(now, id);
        Ok(())
    }

    /// Close the provider's generator early (the client left or the stream failed).
    pub(super) fn stream_close(&mut self, now: Timestamp, exchange: &Exchange, stream: &Stream) {
        let Some(close) = &stream.close else {
            return;
        };
        let frame = method_frame(&stream.target.to_string(), close, None, Vec::new(), false);
        // Sent before the peer's session is dropped, so it carries the peer's identity.
        self.dispatch_envelope(now, exchange.conn, frame);
    }
}

fn args_failure(error: args::ArgsError) -> Failure {
    let status = match error {
        args::ArgsError::Bad(_) => 400,
        args::ArgsError::Unsupported(_) => 415,
        args::ArgsError::TooLarge(_) => 413,
    };
    Failure::new(status, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(value: &str, trace: &str) -> Value {
        Value::Map(vec![
            ("_rtype".into(), "error".into()),
            ("_rvalue".into(), value.into()),
            ("_rtrace".into(), trace.into()),
        ])
    }

    #[test]
    fn rejections_map_by_exception_class() {
        // JavaScript: the class leads the value.
        let f = rejection(&error(
            "TypeError: a is not a number",
            "at multiply (x.js:1)",
        ));
        assert_eq!(
            (f.status, f.detail.as_str()),
            (400, "TypeError: a is not a number")
        );
        // Python: the message is the value; the class ends the trace.
        let trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad value 1\n";
        let f = rejection(&error("bad value 1", trace));
        assert_eq!(
            (f.status, f.detail.as_str()),
            (400, "ValueError: bad value 1")
        );
        let f = rejection(&error("boom", "Traceback...\nRuntimeError: boom"));
        assert_eq!((f.status, f.detail.as_str()), (500, "RuntimeError: boom"));
        // An async Python function's error carries the traceback as its message.
        let f = rejection(&error(
            "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    raise ValueError(\"no\")\nValueError: no\n",
            "",
        ));
        assert_eq!((f.status, f.detail.as_str()), (400, "ValueError: no"));
        // A message that merely mentions an error class is not one.
        let f = rejection(&error("the ValueError happened: x", ""));
        assert_eq!(f.status, 500);
        assert!(!f.detail.contains("Traceback"));
    }

    #[test]
    fn members_are_found_by_dotted_key() {
        let descriptor = Value::Map(vec![(
            "nested".into(),
            Value::Map(vec![(
                "f".into(),
                Value::Map(vec![("_rtype".into(), "method".into())]),
            )]),
        )]);
        assert!(member(&descriptor, "nested.f").is_some_and(is_function));
        assert!(member(&descriptor, "nested.g").is_none());
        assert!(member(&descriptor, "nested").is_some_and(|v| !is_function(v)));
    }
}
