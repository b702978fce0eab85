//! What the fuzz targets share: the server they drive, a [`Driver`] that drains the Router like a
//! real driver while checking what it emits, the op framing of multi-step inputs ([`ops`]), and
//! the encoders the corpus generator (`examples/gen_corpus.rs`) builds the seeds with.
//!
//! Everything here is deterministic: a fixed secret, seed and clock, so an input replays exactly.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hypha_core::http::{HttpId, HttpOutput, HttpRequest};
use hypha_core::jwt::{self, Audience, Claims};
use hypha_core::wire::Envelope;
use hypha_core::{Config, ConnId, Event, Frame, Router, Timestamp};
use rmpv::Value;
use serde_json::{json, Value as Json};

/// HS256 secret of the fuzzed server (the seeds' tokens are signed with it).
pub const SECRET: &[u8] = b"hypha-core-fuzz-secret";
/// The server's public URL.
pub const URL: &str = "http://hypha.fuzz";
/// Where clients address the manager.
pub const MANAGER: &str = "*/workspace-manager";
/// The fixed start of the clock (ms since the epoch); the seeds' tokens are issued at it.
pub const T0: u64 = 1_700_000_000_000;
/// The remote address of HTTP requests (unless an op asks for none).
pub const REMOTE: &str = "203.0.113.7:40000";

/// The configuration every target's Router is built with.
pub fn config() -> Config {
    Config::new(URL, SECRET, 7)
}

// ------------------------------------------------------------------------------ values, tokens

/// A msgpack value from a JSON literal.
pub fn mp(json: Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        Json::String(s) => Value::from(s),
        Json::Array(items) => Value::Array(items.into_iter().map(mp).collect()),
        Json::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::from(k), mp(v)))
                .collect(),
        ),
    }
}

/// API claims for `sub`, valid for an hour from [`T0`].
pub fn claims(sub: &str) -> Claims {
    Claims::issued(Audience::Api, sub.to_owned(), T0 / 1000, 3600)
}

/// An API token for `sub`, bound to `workspace` if given, with `roles`.
pub fn token(sub: &str, workspace: Option<&str>, roles: &[&str]) -> String {
    let mut c = claims(sub);
    c.workspace = workspace.map(str::to_owned);
    c.roles = roles.iter().map(|r| (*r).to_owned()).collect();
    jwt::sign(&c, SECRET)
}

/// The first text frame a client sends.
pub fn hello(client_id: Option<&str>, workspace: Option<&str>, token: Option<&str>) -> String {
    json!({"client_id": client_id, "workspace": workspace, "token": token}).to_string()
}

/// `main ‖ extra` as a client encodes it.
pub fn frame(main: &[(&str, Value)], extra: Option<Value>) -> Vec<u8> {
    let main = main
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Envelope::new(main, extra.as_ref()).encode()
}

/// A call `to`.`method` with `args`, answered through `session` (promise `*`), as hypha-rpc sends
/// it; without a session it is fire-and-forget.
pub fn call(to: &str, method: &str, args: Vec<Value>, session: Option<&str>) -> Vec<u8> {
    let mut main = vec![
        ("type", Value::from("method")),
        ("from", Value::from("anything/at-all")),
        ("to", Value::from(to)),
        ("method", Value::from(method)),
    ];
    let mut extra = vec![(Value::from("args"), Value::Array(args))];
    if let Some(session) = session {
        main.push(("session", Value::from(session)));
        extra.push(("promise".into(), "*".into()));
        extra.push(("t".into(), 15.into()));
    }
    frame(&main, Some(Value::Map(extra)))
}

/// What hypha-rpc registers for a service `name` of `workspace/client_id`.
pub fn service(workspace: &str, client_id: &str, name: &str, kind: &str) -> Value {
    mp(json!({
        "id": format!("{workspace}/{client_id}:{name}"),
        "name": name,
        "type": kind,
        "description": format!("fuzz service {name}"),
        "config": {"visibility": "public", "require_context": false},
        "service_schema": {},
    }))
}

fn function(client_id: &str, method: &str) -> Json {
    json!({"_rtype": "method", "_rtarget": client_id, "_rmethod": method, "_rpromise": "*"})
}

/// The descriptor a provider returns for its service `name` (as hypha-rpc sends it): `site` is an
/// ASGI app, `fns` a functions app, anything else has methods `add`, `echo` and `count` (a
/// generator).
pub fn descriptor(client_id: &str, name: &str) -> Value {
    let f = |m: &str| function(client_id, &format!("services.{name}.{m}"));
    mp(match name {
        "site" => json!({"id": name, "name": name, "type": "asgi", "serve": f("serve")}),
        "fns" => json!({
            "id": name, "name": name, "type": "functions",
            "index": f("index"), "api": {"v1": {"index": f("api.v1.index")}}, "default": f("default"),
        }),
        _ => json!({
            "id": name, "name": name, "config": {"visibility": "public"},
            "add": f("add"), "echo": f("echo"), "count": f("count"),
        }),
    })
}

// ------------------------------------------------------------------------------ op framing

/// Multi-step inputs: a sequence of ops, each `[code: u8][len: u16 LE][payload: len bytes]`. A
/// length past the end of the input takes what is left, so every byte string is a valid input
/// and mutations of the length bytes stay meaningful.
pub mod ops {
    /// The ops of `data`, in order.
    pub fn parse(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        let mut rest = data;
        std::iter::from_fn(move || {
            let (&code, tail) = rest.split_first()?;
            let (len, tail) = match tail {
                [a, b, tail @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), tail),
                _ => (tail.len(), &tail[tail.len()..]),
            };
            let (payload, tail) = tail.split_at(len.min(tail.len()));
            rest = tail;
            Some((code, payload))
        })
    }

    /// Append one op to `out`.
    pub fn push(out: &mut Vec<u8>, code: u8, payload: &[u8]) {
        let len = u16::try_from(payload.len()).expect("an op payload fits in 64 KiB");
        out.push(code);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(payload);
    }

    /// The first four payload bytes as a little-endian number (missing bytes are zero).
    pub fn number(payload: &[u8]) -> u32 {
        let mut b = [0u8; 4];
        for (dst, src) in b.iter_mut().zip(payload) {
            *dst = *src;
        }
        u32::from_le_bytes(b)
    }
}

// ------------------------------------------------------------------------------ the driver

/// How the auto-responder answers the calls a provider received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Descriptors for `get_service`, a plausible result for every call (and an ASGI app plays
    /// its part through `send`).
    Resolve,
    /// Every call, `get_service` included, is rejected.
    Reject,
}

/// Where a request stands, from the outputs seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpStage {
    Waiting,
    Head,
    Ended,
}

/// Drives a [`Router`] like a real driver: after each input it drains transmits, events and HTTP
/// outputs until the Router is quiet, reports the connections it asked to close, and fires due
/// timers when the clock moves. On the way it asserts what any driver may rely on:
///
/// * transmits go to connections that were opened and not yet reported closed;
/// * binary frames are well-formed envelopes with a decodable payload, text frames are JSON;
/// * HTTP outputs of a request come in order (one head first, bodies, then one end or abort),
///   never after the end, never for a request the client cancelled;
/// * `handle_timeout` clears the deadline it was called for.
pub struct Driver {
    /// The server.
    pub router: Router,
    /// The clock.
    pub now: Timestamp,
    next_conn: u64,
    opened: HashSet<ConnId>,
    closed: HashSet<ConnId>,
    /// Frames delivered to each connection and not yet taken, oldest first.
    pub inbox: HashMap<ConnId, Vec<Frame>>,
    /// Events, oldest first.
    pub events: Vec<Event>,
    http: HashMap<HttpId, HttpStage>,
    cancelled: HashSet<HttpId>,
    /// Body chunks written and not yet reported drained, per request.
    pub outstanding: HashMap<HttpId, usize>,
    next_http: u64,
    /// Requests opened, oldest first.
    pub requests: Vec<HttpId>,
    next_session: u64,
    /// Items the auto-responder's generators produced.
    generated: u64,
    /// Frames for clients of other servers of a cluster (`(server, frame)`), and what those
    /// servers must hear of, oldest first.
    pub to_servers: Vec<(String, Frame)>,
    /// News for the other servers of a cluster, oldest first.
    pub cluster_out: Vec<hypha_core::ClusterOut>,
    /// Print what the Router emits (`HYPHA_FUZZ_TRACE=1`, to see what an input does).
    trace: bool,
}

impl Driver {
    /// A Router with [`config`], at [`T0`].
    pub fn new() -> Self {
        Self::with_config(config())
    }

    /// A Router with `config`, at [`T0`].
    pub fn with_config(config: Config) -> Self {
        Self {
            router: Router::new(config),
            now: Timestamp(T0),
            next_conn: 1,
            opened: HashSet::new(),
            closed: HashSet::new(),
            inbox: HashMap::new(),
            events: Vec::new(),
            http: HashMap::new(),
            cancelled: HashSet::new(),
            outstanding: HashMap::new(),
            next_http: 1,
            requests: Vec::new(),
            next_session: 1,
            generated: 0,
            to_servers: Vec::new(),
            cluster_out: Vec::new(),
            trace: std::env::var_os("HYPHA_FUZZ_TRACE").is_some(),
        }
    }

    /// Whether `conn` is open (connected, not reported closed).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.opened.contains(&conn) && !self.closed.contains(&conn)
    }

    /// Drain everything until the Router is quiet.
    pub fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.router.poll_transmit() {
                if let Some(server) = self.router.remote_server(t.conn) {
                    // A client of another server of a cluster: the frame goes to that server.
                    assert!(
                        matches!(t.frame, Frame::Binary(_)),
                        "a text frame for a client of another server"
                    );
                    check_frame(&t.frame);
                    self.to_servers.push((server.to_owned(), t.frame));
                    progressed = true;
                    continue;
                }
                assert!(
                    self.opened.contains(&t.conn),
                    "a transmit to {} that never connected",
                    t.conn
                );
                assert!(
                    !self.closed.contains(&t.conn),
                    "a transmit to {} after its disconnect",
                    t.conn
                );
                check_frame(&t.frame);
                if self.trace {
                    eprintln!("-> {}: {}", t.conn, describe(&t.frame));
                }
                self.inbox.entry(t.conn).or_default().push(t.frame);
                progressed = true;
            }
            let mut closes = Vec::new();
            while let Some(event) = self.router.poll_event() {
                if let Event::Close { conn, .. } = &event {
                    assert!(
                        self.opened.contains(conn),
                        "a Close for {conn} that never connected"
                    );
                    closes.push(*conn);
                }
                if self.trace {
                    eprintln!("event: {event:?}");
                }
                self.events.push(event);
                progressed = true;
            }
            while let Some(out) = self.router.poll_cluster() {
                self.cluster_out.push(out);
                progressed = true;
            }
            for conn in closes {
                if self.closed.insert(conn) {
                    self.router.handle_disconnect(self.now, conn);
                }
            }
            while let Some(out) = self.router.poll_http() {
                if self.trace {
                    match &out {
                        HttpOutput::Body { id, chunk } => {
                            eprintln!("http {id} body: {}", String::from_utf8_lossy(chunk));
                        }
                        other => eprintln!("http {other:?}"),
                    }
                }
                self.check_http(&out);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    fn check_http(&mut self, out: &HttpOutput) {
        let (HttpOutput::Head { id, .. }
        | HttpOutput::Body { id, .. }
        | HttpOutput::End { id }
        | HttpOutput::Abort { id }) = out;
        assert!(
            !self.cancelled.contains(id),
            "{out:?} after {id} was cancelled"
        );
        let stage = self
            .http
            .get_mut(id)
            .unwrap_or_else(|| panic!("{out:?} for an unknown request"));
        match out {
            HttpOutput::Head { .. } => {
                assert_eq!(*stage, HttpStage::Waiting, "a second head for {id}");
                *stage = HttpStage::Head;
            }
            HttpOutput::Body { .. } => {
                assert_eq!(*stage, HttpStage::Head, "a body out of place for {id}");
                *self.outstanding.entry(*id).or_default() += 1;
            }
            HttpOutput::End { .. } | HttpOutput::Abort { .. } => {
                assert_eq!(*stage, HttpStage::Head, "{out:?} out of place");
                *stage = HttpStage::Ended;
                self.outstanding.remove(id);
            }
        }
    }

    /// Move the clock by `ms` and fire every timer that became due.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
        for _ in 0..1000 {
            match self.router.poll_timeout() {
                Some(due) if due <= self.now => {
                    self.router.handle_timeout(self.now);
                    self.drive();
                }
                _ => return,
            }
        }
        panic!("poll_timeout stays due after handle_timeout");
    }

    // -------------------------------------------------------------------- connections

    /// Open a connection whose first frame is `hello`.
    pub fn connect(&mut self, hello: &str) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.opened.insert(conn);
        self.router.handle_connect(self.now, conn, hello);
        self.drive();
        conn
    }

    /// Connect with `hello`, which must succeed (setup only).
    pub fn connect_ok(&mut self, hello: &str) -> ConnId {
        let conn = self.connect(hello);
        assert!(
            self.router.client_of(conn).is_some(),
            "setup: {hello} refused"
        );
        self.inbox.remove(&conn);
        conn
    }

    /// The transport of `conn` closed.
    pub fn disconnect(&mut self, conn: ConnId) {
        if self.closed.insert(conn) && self.opened.contains(&conn) {
            self.router.handle_disconnect(self.now, conn);
            self.drive();
        }
    }

    /// Disconnect every open connection and cancel every open request; then nothing may be left
    /// open.
    pub fn teardown(&mut self) {
        for id in self.requests.clone() {
            self.cancel(id);
        }
        assert_eq!(
            self.router.http_in_flight(),
            0,
            "requests in flight after cancelling all"
        );
        let mut open: Vec<ConnId> = self.opened.difference(&self.closed).copied().collect();
        open.sort();
        for conn in open {
            self.disconnect(conn);
        }
        assert_eq!(
            self.router.open_connections(),
            0,
            "connections open after disconnecting all"
        );
        assert_eq!(
            self.router.registry().client_count(),
            0,
            "clients left after disconnecting all"
        );
    }

    /// A frame from `conn`.
    pub fn send(&mut self, conn: ConnId, frame: Frame) {
        self.router.handle_message(self.now, conn, frame);
        self.drive();
    }

    /// A fresh session id.
    pub fn session(&mut self) -> String {
        let s = format!("fz{}", self.next_session);
        self.next_session += 1;
        s
    }

    /// Call `services.default.<method>` on the manager from `conn` and return whether it resolved
    /// (setup only: the answer must come at once).
    pub fn call_manager(&mut self, conn: ConnId, method: &str, args: Vec<Value>) -> bool {
        let session = self.session();
        let bytes = call(
            MANAGER,
            &format!("services.default.{method}"),
            args,
            Some(&session),
        );
        self.send(conn, Frame::Binary(bytes.into()));
        let resolve = format!("{session}.resolve");
        let frames = self.inbox.remove(&conn).unwrap_or_default();
        frames.iter().any(|f| match f {
            Frame::Binary(b) => Envelope::decode(b.to_vec())
                .is_ok_and(|e| e.str("method") == Some(resolve.as_str())),
            Frame::Text(_) => false,
        })
    }

    /// Answer, as hypha-rpc on `conn` would, every call it received (what it received otherwise is
    /// dropped); repeats while answers bring new calls, a bounded number of times.
    pub fn serve(&mut self, conn: ConnId, answer: Answer) {
        let Some(client_id) = self.router.client_of(conn).map(|a| a.client_id.clone()) else {
            self.inbox.remove(&conn);
            return;
        };
        for _ in 0..8 {
            let frames = self.inbox.remove(&conn).unwrap_or_default();
            let mut any = false;
            for f in frames {
                let Frame::Binary(bytes) = f else { continue };
                let Ok(env) = Envelope::decode(bytes.into()) else {
                    continue;
                };
                let (Some("method"), Some(session), Some(method), Some(from)) = (
                    env.str("type"),
                    env.str("session"),
                    env.str("method"),
                    env.str("from"),
                ) else {
                    continue;
                };
                if !self.is_open(conn) {
                    return;
                }
                let args = match env.decode_payload() {
                    Ok(Some(Value::Map(m))) => m
                        .into_iter()
                        .find(|(k, _)| k.as_str() == Some("args"))
                        .and_then(|(_, v)| match v {
                            Value::Array(a) => Some(a),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let (session, method, from) =
                    (session.to_owned(), method.to_owned(), from.to_owned());
                any = true;
                self.answer_call(conn, &client_id, &session, &method, &from, args, answer);
            }
            if !any {
                return;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_call(
        &mut self,
        conn: ConnId,
        client_id: &str,
        session: &str,
        method: &str,
        from: &str,
        args: Vec<Value>,
        answer: Answer,
    ) {
        let first = args.into_iter().next().unwrap_or(Value::Nil);
        let result = match (answer, method) {
            (Answer::Reject, _) => Err(mp(
                json!({"_rtype": "error", "_rvalue": "fuzz says no", "_rtrace": ""}),
            )),
            (Answer::Resolve, "services.built-in.get_service") => {
                let name = match &first {
                    Value::String(s) => s.as_str().unwrap_or_default(),
                    _ => "",
                };
                let name = name
                    .rsplit(':')
                    .next()
                    .unwrap_or(name)
                    .split('@')
                    .next()
                    .unwrap_or(name);
                Ok(descriptor(client_id, name))
            }
            (Answer::Resolve, "services.site.serve") => {
                // The app answers through the `send` it was handed, then returns.
                if let Some(send) = map_get(&first, "send") {
                    self.call_function(
                        conn,
                        send,
                        mp(json!({
                            "type": "http.response.start", "status": 200,
                            "headers": [[[0x78u8], [0x79u8]]],
                        })),
                    );
                    self.call_function(
                        conn,
                        send,
                        mp(json!({
                            "type": "http.response.body", "body": "fuzz", "more_body": false,
                        })),
                    );
                }
                Ok(Value::Nil)
            }
            (Answer::Resolve, m) if m.starts_with("services.fns.") => Ok(mp(
                json!({"status": 200, "headers": {"x-f": "1"}, "body": "fuzz"}),
            )),
            (Answer::Resolve, "services.built-in.ping") => Ok(Value::from("pong")),
            // A generator of three items, pulled with `gen.next`.
            (Answer::Resolve, m) if m.ends_with(".count") => Ok(mp(json!({
                "_rtype": "generator", "_rtarget": client_id,
                "_rmethod": "gen.next", "_rclose_method": "gen.close",
            }))),
            (Answer::Resolve, "gen.next") => {
                self.generated += 1;
                if self.generated.is_multiple_of(4) {
                    Ok(mp(json!({"_rtype": "stop_iteration"})))
                } else {
                    Ok(mp(json!({"item": self.generated})))
                }
            }
            (Answer::Resolve, _) => Ok(first),
        };
        if !self.is_open(conn) {
            return;
        }
        let (kind, value) = match result {
            Ok(v) => ("resolve", v),
            Err(e) => ("reject", e),
        };
        let bytes = frame(
            &[
                ("type", Value::from("method")),
                ("to", Value::from(from)),
                ("method", Value::from(format!("{session}.{kind}"))),
            ],
            Some(Value::Map(vec![("args".into(), Value::Array(vec![value]))])),
        );
        self.send(conn, Frame::Binary(bytes.into()));
    }

    /// Call a function value (`{_rtarget, _rmethod}`) handed to `conn`, fire-and-forget.
    fn call_function(&mut self, conn: ConnId, function: &Value, arg: Value) {
        let (Some(target), Some(method)) = (
            map_get(function, "_rtarget").and_then(Value::as_str),
            map_get(function, "_rmethod").and_then(Value::as_str),
        ) else {
            return;
        };
        let session = self.session();
        let bytes = call(target, method, vec![arg], Some(&session));
        if self.is_open(conn) {
            self.send(conn, Frame::Binary(bytes.into()));
        }
    }

    // -------------------------------------------------------------------- HTTP

    /// Open `request` (its body follows with [`Self::http_body`] and [`Self::http_end`]).
    pub fn http_open(&mut self, request: HttpRequest) -> HttpId {
        let id = HttpId(self.next_http);
        self.next_http += 1;
        self.http.insert(id, HttpStage::Waiting);
        self.requests.push(id);
        self.router.handle_http_request(self.now, id, request);
        self.drive();
        id
    }

    /// A piece of the body of `id`.
    pub fn http_body(&mut self, id: HttpId, chunk: &[u8]) {
        self.router.handle_http_body(self.now, id, chunk);
        self.drive();
    }

    /// The end of the body of `id`.
    pub fn http_end(&mut self, id: HttpId) {
        self.router.handle_http_end(self.now, id);
        self.drive();
    }

    /// One chunk of `id` written out, if any is outstanding.
    pub fn http_drained(&mut self, id: HttpId) {
        match self.outstanding.get_mut(&id) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return,
        }
        self.router.handle_http_drained(self.now, id);
        self.drive();
    }

    /// Every outstanding chunk written out.
    pub fn http_drain_all(&mut self) {
        for id in self.requests.clone() {
            while self.outstanding.get(&id).is_some_and(|n| *n > 0) {
                self.http_drained(id);
            }
        }
    }

    /// The client of `id` went away (ignored for one already answered, as a driver would).
    pub fn cancel(&mut self, id: HttpId) {
        if self.http.get(&id) == Some(&HttpStage::Ended) || self.cancelled.contains(&id) {
            return;
        }
        self.router.handle_http_cancel(self.now, id);
        self.cancelled.insert(id);
        self.outstanding.remove(&id);
        self.drive();
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

fn map_get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// A frame as text, for tracing.
fn describe(frame: &Frame) -> String {
    match frame {
        Frame::Text(text) => text.clone(),
        Frame::Binary(bytes) => match Envelope::decode(bytes.to_vec()) {
            Ok(env) => format!("{:?} {:?}", env.main(), env.decode_payload()),
            Err(e) => format!("undecodable: {e}"),
        },
    }
}

/// What the Router sends must be well-formed: binary frames decode as an envelope with a
/// decodable payload, text frames are JSON.
pub fn check_frame(frame: &Frame) {
    match frame {
        Frame::Text(text) => {
            serde_json::from_str::<Json>(text).unwrap_or_else(|e| {
                panic!("the Router sent a text frame that is not JSON ({e}): {text:?}")
            });
        }
        Frame::Binary(bytes) => {
            let env = Envelope::decode(bytes.to_vec()).unwrap_or_else(|e| {
                panic!("the Router sent an undecodable frame ({e}): {bytes:?}")
            });
            env.decode_payload().unwrap_or_else(|e| {
                panic!("the Router sent an undecodable payload ({e}): {env:?}")
            });
        }
    }
}

/// An HTTP request head from text: `METHOD TARGET` on the first line (TARGET is the path and an
/// optional `?query`), then `name: value` lines (names lower-cased, as drivers hand them in).
pub fn parse_head(text: &[u8], remote: bool) -> HttpRequest {
    let mut lines = text.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (method, target) = first.split_once(' ').unwrap_or((first.as_str(), "/"));
    let target = target.trim_end_matches('\r');
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon])
                .trim()
                .to_ascii_lowercase();
            let value = line[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        remote: remote.then(|| REMOTE.to_owned()),
    }
}
