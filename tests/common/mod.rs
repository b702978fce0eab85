//! A test driver for the sans-IO [`Router`], in the style of quinn's test `Pair`: it owns the
//! Router and a fixed clock, hands out connection ids, delivers every transmit into a per-connection
//! inbox and every event into a list, and speaks the client side of the protocol with real frames
//! (JSON hello, msgpack `main ‖ extra` RPC frames built with [`Envelope`]).
//!
//! Values sent are [`rmpv::Value`] (build them with [`mp`] from `json!`); values read back are
//! `serde_json::Value`, so assertions can use `json!` too.
#![allow(dead_code, unused_imports)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hypha_core::jwt::{self, Audience, Claims};
use hypha_core::wire::Envelope;
use hypha_core::{ConnId, Event, Frame, Router, Timestamp};
use rmpv::Value;
use serde_json::{json, Value as Json};

#[cfg(feature = "http")]
pub(crate) mod http;

pub(crate) use hypha_core::close_code;
pub(crate) use hypha_core::Config;

/// HS256 secret of the server under test.
pub(crate) const SECRET: &[u8] = b"router-integration-test-secret";
/// The configured public URL.
pub(crate) const URL: &str = "http://hypha.test";
/// Where clients address the manager.
pub(crate) const MANAGER: &str = "*/workspace-manager";
/// The fixed start of the clock (ms since the epoch).
pub(crate) const T0: u64 = 1_700_000_000_000;

// ------------------------------------------------------------------------------ values

/// A msgpack value from a JSON literal.
pub(crate) fn mp(json: Json) -> Value {
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

/// The JSON view of a msgpack value (binary becomes an array of byte values).
pub(crate) fn js(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => i
            .as_u64()
            .map(Json::from)
            .or_else(|| i.as_i64().map(Json::from))
            .unwrap_or(Json::Null),
        Value::F32(f) => json!(f),
        Value::F64(f) => json!(f),
        Value::String(s) => Json::String(s.as_str().unwrap_or_default().to_owned()),
        Value::Binary(b) => Json::Array(b.iter().map(|x| json!(x)).collect()),
        Value::Array(items) => Json::Array(items.iter().map(js).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map_or_else(|| k.to_string(), str::to_owned),
                        js(v),
                    )
                })
                .collect(),
        ),
        Value::Ext(t, _) => json!({ "$ext": t }),
    }
}

// ------------------------------------------------------------------------------ tokens

/// API claims for `sub`, valid for an hour from [`T0`].
pub(crate) fn claims(sub: &str) -> Claims {
    Claims::issued(Audience::Api, sub.to_owned(), T0 / 1000, 3600)
}

/// A token signed with the server's secret.
pub(crate) fn sign(claims: &Claims) -> String {
    jwt::sign(claims, SECRET)
}

/// The superuser's token.
pub(crate) fn root_token() -> String {
    let mut c = claims("root");
    c.roles = vec!["admin".to_owned()];
    sign(&c)
}

/// A token for user `sub`, bound to `workspace` if given.
pub(crate) fn user_token(sub: &str, workspace: Option<&str>) -> String {
    let mut c = claims(sub);
    c.workspace = workspace.map(str::to_owned);
    sign(&c)
}

/// The first text frame a client sends.
pub(crate) fn hello(
    client_id: Option<&str>,
    workspace: Option<&str>,
    token: Option<&str>,
) -> String {
    hello_full(client_id, workspace, token, None)
}

/// The first text frame, with a reconnection token.
pub(crate) fn hello_full(
    client_id: Option<&str>,
    workspace: Option<&str>,
    token: Option<&str>,
    reconnection_token: Option<&str>,
) -> String {
    json!({
        "client_id": client_id,
        "workspace": workspace,
        "token": token,
        "reconnection_token": reconnection_token,
    })
    .to_string()
}

// ------------------------------------------------------------------------------ frames

/// A decoded binary RPC frame.
#[derive(Debug, Clone)]
pub(crate) struct Rpc {
    /// The routing envelope as JSON.
    pub(crate) main: Json,
    /// The decoded payload, if any.
    pub(crate) extra: Option<Json>,
}

impl Rpc {
    /// String field of `main`.
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.main.get(key).and_then(Json::as_str)
    }

    /// `extra.args`, empty if absent.
    pub(crate) fn args(&self) -> Vec<Json> {
        self.extra
            .as_ref()
            .and_then(|e| e.get("args"))
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

/// A frame a client received.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    /// A JSON text frame.
    Text(Json),
    /// A msgpack RPC frame.
    Rpc(Rpc),
}

impl Msg {
    /// The RPC frame, if it is one.
    pub(crate) fn rpc(&self) -> Option<&Rpc> {
        match self {
            Self::Rpc(r) => Some(r),
            Self::Text(_) => None,
        }
    }

    /// The JSON text, if it is one.
    pub(crate) fn text(&self) -> Option<&Json> {
        match self {
            Self::Text(t) => Some(t),
            Self::Rpc(_) => None,
        }
    }
}

/// Decode a frame the Router sent; the Router must only send well-formed frames.
pub(crate) fn decode(frame: &Frame) -> Msg {
    match frame {
        Frame::Text(text) => Msg::Text(
            serde_json::from_str(text).expect("router sent a text frame that is not JSON"),
        ),
        Frame::Binary(bytes) => {
            let envelope =
                Envelope::decode(bytes.to_vec()).expect("router sent an undecodable binary frame");
            let main = Json::Object(
                envelope
                    .main()
                    .iter()
                    .map(|(k, v)| (k.clone(), js(v)))
                    .collect(),
            );
            let extra = envelope
                .decode_payload()
                .expect("router sent an undecodable payload")
                .as_ref()
                .map(js);
            Msg::Rpc(Rpc { main, extra })
        }
    }
}

/// Encode `main ‖ extra` as a client would.
pub(crate) fn frame(main: Vec<(&str, Value)>, extra: Option<Value>) -> Vec<u8> {
    let main = main.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Envelope::new(main, extra.as_ref()).encode()
}

/// How a call asks for its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Promise {
    /// `promise: "*"` with `t` (every service method).
    Star,
    /// The explicit `{resolve, reject, heartbeat, interval}` map with bare callback targets.
    Explicit,
    /// Fire-and-forget: no session, no promise.
    None,
}

// ------------------------------------------------------------------------------ clients

/// A connected client, as the `connection_info` described it.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) conn: ConnId,
    pub(crate) workspace: String,
    pub(crate) client_id: String,
    pub(crate) manager_id: String,
    pub(crate) user_id: String,
    pub(crate) reconnection_token: String,
    /// The whole `connection_info`.
    pub(crate) info: Json,
}

impl Client {
    /// `<workspace>/<client id>`.
    pub(crate) fn addr(&self) -> String {
        format!("{}/{}", self.workspace, self.client_id)
    }

    /// The id hypha-rpc registers service `name` under.
    pub(crate) fn service_id(&self, name: &str) -> String {
        format!("{}:{name}", self.addr())
    }
}

/// What hypha-rpc sends to `register_service` for a service `name` of `client`.
pub(crate) fn service(client: &Client, name: &str, visibility: &str) -> Value {
    mp(json!({
        "id": client.service_id(name),
        "name": name,
        "type": "generic",
        "description": format!("test service {name}"),
        "config": {"visibility": visibility, "require_context": false},
        "service_schema": {},
    }))
}

/// A service whose `config.require_context` is `require` (true, or a list of function paths):
/// calls to the functions it names carry the caller's `user`.
pub(crate) fn context_service(
    client: &Client,
    name: &str,
    visibility: &str,
    require: Json,
) -> Value {
    mp(json!({
        "id": client.service_id(name),
        "name": name,
        "type": "generic",
        "config": {"visibility": visibility, "require_context": require},
    }))
}

/// The descriptor a provider returns for its service `name` (bare `_rtarget`, as hypha-rpc sends).
pub(crate) fn descriptor(client_id: &str, name: &str) -> Value {
    mp(json!({
        "id": name,
        "name": name,
        "config": {"visibility": "public"},
        "add": {
            "_rtype": "method",
            "_rtarget": client_id,
            "_rmethod": format!("services.{name}.add"),
            "_rpromise": "*",
        },
        "add_two": {
            "_rtype": "method",
            "_rtarget": client_id,
            "_rmethod": format!("services.{name}.add_two"),
            "_rpromise": "*",
        },
    }))
}

/// The error text of a rejection argument (`{_rtype:"error", _rvalue}` or a string).
pub(crate) fn error_text(arg: Option<&Json>) -> String {
    match arg {
        Some(v) => v
            .get("_rvalue")
            .and_then(Json::as_str)
            .or_else(|| v.as_str())
            .map_or_else(|| v.to_string(), str::to_owned),
        None => String::from("<rejection without argument>"),
    }
}

// ------------------------------------------------------------------------------ harness

/// The Router, a clock and everything it emitted.
pub(crate) struct Harness {
    pub(crate) router: Router,
    pub(crate) now: Timestamp,
    pub(crate) next_conn: u64,
    pub(crate) next_session: u64,
    /// Frames delivered to each connection, oldest first.
    pub(crate) inbox: HashMap<ConnId, Vec<Frame>>,
    /// Events, oldest first.
    pub(crate) events: Vec<Event>,
    /// Connections the Router asked to close (and that the harness then reported closed).
    pub(crate) closed: HashSet<ConnId>,
    /// Frames for clients of other servers of a cluster: `(server, frame)`, oldest first.
    pub(crate) to_servers: Vec<(String, Frame)>,
    /// What a cluster's other servers must hear of, oldest first.
    pub(crate) cluster_out: Vec<hypha_core::ClusterOut>,
}

impl Harness {
    /// A server at `http://hypha.test` with [`SECRET`] and seed 7, at [`T0`].
    pub(crate) fn new() -> Self {
        Self::with_config(Config::new(URL, SECRET, 7))
    }

    /// A server with a custom configuration.
    pub(crate) fn with_config(config: Config) -> Self {
        Self {
            router: Router::new(config),
            now: Timestamp(T0),
            next_conn: 1,
            next_session: 1,
            inbox: HashMap::new(),
            events: Vec::new(),
            closed: HashSet::new(),
            to_servers: Vec::new(),
            cluster_out: Vec::new(),
        }
    }

    /// Drain transmits and events until the Router is quiet. Like a real driver, a connection the
    /// Router asks to close is then reported with `handle_disconnect`.
    pub(crate) fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.router.poll_transmit() {
                match self.router.remote_server(t.conn) {
                    Some(server) => self.to_servers.push((server.to_owned(), t.frame)),
                    None => self.inbox.entry(t.conn).or_default().push(t.frame),
                }
                progressed = true;
            }
            while let Some(out) = self.router.poll_cluster() {
                self.cluster_out.push(out);
                progressed = true;
            }
            let mut closes = Vec::new();
            while let Some(event) = self.router.poll_event() {
                if let Event::Close { conn, .. } = &event {
                    closes.push(*conn);
                }
                self.events.push(event);
                progressed = true;
            }
            for conn in closes {
                if self.closed.insert(conn) {
                    self.router.handle_disconnect(self.now, conn);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Move the clock by `ms` and fire every timer that became due.
    pub(crate) fn advance(&mut self, ms: u64) {
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
    pub(crate) fn connect(&mut self, hello: &str) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.router.handle_connect(self.now, conn, hello);
        self.drive();
        conn
    }

    /// Connect and expect a `connection_info`.
    pub(crate) fn connect_ok(&mut self, hello: &str) -> Client {
        let conn = self.connect(hello);
        let frames = self.take_frames(conn);
        let info = match frames.first() {
            Some(Msg::Text(info)) if info["type"] == "connection_info" => info.clone(),
            other => panic!("expected connection_info for {hello}, got {other:?}"),
        };
        assert!(
            !self.closed.contains(&conn),
            "connection closed after connection_info"
        );
        let field = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
        Client {
            conn,
            workspace: field("workspace"),
            client_id: field("client_id"),
            manager_id: field("manager_id"),
            user_id: info["user"]["id"].as_str().unwrap_or_default().to_owned(),
            reconnection_token: field("reconnection_token"),
            info,
        }
    }

    /// Connect and expect a refusal: an error frame then a close. Returns the close code and the
    /// error message.
    pub(crate) fn connect_err(&mut self, hello: &str) -> (u16, String) {
        let conn = self.connect(hello);
        let frames = self.take_frames(conn);
        let message = match frames.as_slice() {
            [Msg::Text(error)] if error["type"] == "error" => {
                error["message"].as_str().unwrap_or_default().to_owned()
            }
            other => panic!("expected one error frame for {hello}, got {other:?}"),
        };
        let code = self
            .events
            .iter()
            .find_map(|e| match e {
                Event::Close { conn: c, code, .. } if *c == conn => Some(*code),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Close event for refused {conn}"));
        assert!(self.router.client_of(conn).is_none());
        (code, message)
    }

    /// An anonymous client `cid`, in its own workspace or in `workspace`.
    pub(crate) fn anonymous(&mut self, cid: &str, workspace: Option<&str>) -> Client {
        self.connect_ok(&hello(Some(cid), workspace, None))
    }

    /// A client of user `sub`, with a token bound to `workspace` (and connecting there).
    pub(crate) fn user(&mut self, sub: &str, cid: &str, workspace: &str) -> Client {
        let token = user_token(sub, Some(workspace));
        self.connect_ok(&hello(Some(cid), Some(workspace), Some(&token)))
    }

    /// A root client in `workspace`.
    pub(crate) fn root(&mut self, cid: &str, workspace: &str) -> Client {
        self.connect_ok(&hello(Some(cid), Some(workspace), Some(&root_token())))
    }

    /// The transport of `client` closed.
    pub(crate) fn disconnect(&mut self, client: &Client) {
        self.router.handle_disconnect(self.now, client.conn);
        self.closed.insert(client.conn);
        self.drive();
    }

    // -------------------------------------------------------------------- frames in

    /// A text frame from `conn`.
    pub(crate) fn send_text(&mut self, conn: ConnId, text: &str) {
        self.router
            .handle_message(self.now, conn, Frame::Text(text.to_owned()));
        self.drive();
    }

    /// A binary frame from `conn`.
    pub(crate) fn send_bytes(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.router
            .handle_message(self.now, conn, Frame::Binary(bytes.into()));
        self.drive();
    }

    /// A binary frame `main ‖ extra` from `client`.
    pub(crate) fn send_raw(
        &mut self,
        client: &Client,
        main: Vec<(&str, Value)>,
        extra: Option<Value>,
    ) {
        self.send_bytes(client.conn, frame(main, extra));
    }

    /// A fresh session id.
    pub(crate) fn session(&mut self) -> String {
        let s = format!("s{}", self.next_session);
        self.next_session += 1;
        s
    }

    /// Send a `method` call from `client` to `to`; returns its session (empty for
    /// fire-and-forget). `from` is set to a bogus value: the Router must overwrite it.
    pub(crate) fn send_call(
        &mut self,
        client: &Client,
        to: &str,
        method: &str,
        args: Vec<Value>,
        kwargs: Option<Value>,
        promise: Promise,
    ) -> String {
        let session = if promise == Promise::None {
            String::new()
        } else {
            self.session()
        };
        let mut main = vec![
            ("type", Value::from("method")),
            ("from", Value::from("anything/at-all")),
            ("to", Value::from(to)),
            ("method", Value::from(method)),
        ];
        if promise != Promise::None {
            main.push(("session", Value::from(session.as_str())));
        }
        let mut args = args;
        let with_kwargs = kwargs.is_some();
        if let Some(kw) = kwargs {
            args.push(kw);
        }
        let mut extra = vec![(Value::from("args"), Value::Array(args))];
        if with_kwargs {
            extra.push(("with_kwargs".into(), true.into()));
        }
        match promise {
            Promise::Star => {
                extra.push(("promise".into(), "*".into()));
                extra.push(("t".into(), 15.into()));
            }
            Promise::Explicit => {
                let cb = |kind: &str| {
                    mp(json!({
                        "_rtype": "method",
                        "_rtarget": client.client_id,
                        "_rmethod": format!("{session}.{kind}"),
                        "_rpromise": false,
                    }))
                };
                let promise = Value::Map(vec![
                    ("resolve".into(), cb("resolve")),
                    ("reject".into(), cb("reject")),
                    ("heartbeat".into(), cb("heartbeat")),
                    ("interval".into(), 15.into()),
                ]);
                extra.push(("promise".into(), promise));
            }
            Promise::None => {}
        }
        self.send_raw(client, main, Some(Value::Map(extra)));
        session
    }

    /// Send `services.default.<method>` to the manager (promise `*`); returns the session.
    pub(crate) fn send_manager_call(
        &mut self,
        client: &Client,
        method: &str,
        args: Vec<Value>,
        kwargs: Option<Value>,
    ) -> String {
        let path = format!("services.default.{method}");
        self.send_call(client, MANAGER, &path, args, kwargs, Promise::Star)
    }

    /// Call `services.default.<method>` on the manager and return its answer.
    pub(crate) fn call_manager(
        &mut self,
        client: &Client,
        method: &str,
        args: Vec<Value>,
        kwargs: Option<Value>,
    ) -> Result<Json, String> {
        let session = self.send_manager_call(client, method, args, kwargs);
        self.reply(client, &session)
            .unwrap_or_else(|| panic!("no answer to {method} (session {session})"))
    }

    /// Call `services.built-in.<method>` on the manager with the given promise form.
    pub(crate) fn call_built_in(
        &mut self,
        client: &Client,
        method: &str,
        args: Vec<Value>,
        promise: Promise,
    ) -> Result<Json, String> {
        let path = format!("services.built-in.{method}");
        let session = self.send_call(client, MANAGER, &path, args, None, promise);
        self.reply(client, &session)
            .unwrap_or_else(|| panic!("no answer to {method} (session {session})"))
    }

    /// `get_service` through the manager, with every asked provider answering with
    /// [`descriptor`]s.
    pub(crate) fn get_service(
        &mut self,
        client: &Client,
        args: Vec<Value>,
        kwargs: Option<Value>,
    ) -> Result<Json, String> {
        let session = self.send_manager_call(client, "get_service", args, kwargs);
        self.serve_asks();
        self.reply(client, &session)
            .unwrap_or_else(|| panic!("no answer to get_service (session {session})"))
    }

    /// Register `service` for `client`.
    pub(crate) fn register(&mut self, client: &Client, service: Value) -> Result<Json, String> {
        self.call_manager(client, "register_service", vec![service], None)
    }

    /// Register what hypha-rpc registers first on connect: the client's `built-in` service.
    pub(crate) fn register_built_in(&mut self, client: &Client) -> Result<Json, String> {
        let built_in = mp(json!({
            "id": client.service_id("built-in"),
            "name": "Built-in services",
            "type": "built-in",
            "description": "Built-in services for RPC",
            "config": {"visibility": "public", "require_context": true, "api_version": 3},
            "service_schema": {},
        }));
        self.register(client, built_in)
    }

    /// Subscribe `client` to event types.
    pub(crate) fn subscribe(&mut self, client: &Client, types: &[&str]) {
        let types = Value::Array(types.iter().map(|t| Value::from(*t)).collect());
        self.call_manager(client, "subscribe", vec![types], None)
            .expect("subscribe");
    }

    // -------------------------------------------------------------------- frames out

    /// Take and decode every frame delivered to `conn`.
    pub(crate) fn take_frames(&mut self, conn: ConnId) -> Vec<Msg> {
        self.inbox
            .remove(&conn)
            .unwrap_or_default()
            .iter()
            .map(decode)
            .collect()
    }

    /// Take the RPC frames delivered to `client`.
    pub(crate) fn take_rpc(&mut self, client: &Client) -> Vec<Rpc> {
        self.take_frames(client.conn)
            .into_iter()
            .filter_map(|m| m.rpc().cloned())
            .collect()
    }

    /// Take the frames of `conn` matching `pred`, leaving the others in place.
    pub(crate) fn take_where(&mut self, conn: ConnId, pred: impl Fn(&Msg) -> bool) -> Vec<Msg> {
        let frames = self.inbox.remove(&conn).unwrap_or_default();
        let (taken, kept): (Vec<Frame>, Vec<Frame>) =
            frames.into_iter().partition(|f| pred(&decode(f)));
        if !kept.is_empty() {
            self.inbox.insert(conn, kept);
        }
        taken.iter().map(decode).collect()
    }

    /// The `client_disconnected` notices delivered to `client` (their `data`), taken.
    pub(crate) fn take_departures(&mut self, client: &Client) -> Vec<Json> {
        self.take_where(client.conn, |m| {
            m.rpc().and_then(|r| r.str("type")) == Some("client_disconnected")
        })
        .iter()
        .filter_map(|m| m.rpc().map(|r| r.main["data"].clone()))
        .collect()
    }

    /// `left` (`ws/cid`) has gone: `told` hears it once, a moment later and not at once
    /// (src/router/departures.rs), and `untold` does not hear it at all.
    pub(crate) fn hears_departure_later(&mut self, told: &Client, untold: &Client, left: &str) {
        assert_eq!(
            self.take_departures(told),
            Vec::<Json>::new(),
            "not at once"
        );
        self.advance(1100);
        let (workspace, id) = left.split_once('/').expect("ws/cid");
        assert_eq!(
            self.take_departures(told),
            vec![json!({"id": id, "workspace": workspace})],
            "{} hears that {left} left, once",
            told.client_id
        );
        assert_eq!(
            self.take_departures(untold),
            Vec::<Json>::new(),
            "{} hears nothing of {left}",
            untold.client_id
        );
    }

    /// The manager's answer to `session` of `client`, if it arrived (taken from the inbox).
    pub(crate) fn reply(&mut self, client: &Client, session: &str) -> Option<Result<Json, String>> {
        let resolve = format!("{session}.resolve");
        let reject = format!("{session}.reject");
        let found = self.take_where(client.conn, |m| {
            m.rpc()
                .and_then(|r| r.str("method"))
                .is_some_and(|method| method == resolve || method == reject)
        });
        assert!(found.len() <= 1, "several answers to {session}: {found:?}");
        let rpc = found.first()?.rpc()?.clone();
        assert_eq!(
            rpc.str("from"),
            Some(MANAGER),
            "answer not from the manager"
        );
        assert_eq!(rpc.str("to"), Some(client.addr().as_str()));
        let arg = rpc.args().into_iter().next();
        Some(if rpc.str("method") == Some(resolve.as_str()) {
            Ok(arg.unwrap_or(Json::Null))
        } else {
            Err(error_text(arg.as_ref()))
        })
    }

    /// The `peer_not_found` frames delivered to `client`, taken.
    pub(crate) fn take_peer_not_found(&mut self, client: &Client) -> Vec<Rpc> {
        self.take_where(client.conn, |m| {
            m.rpc().and_then(|r| r.str("type")) == Some("peer_not_found")
        })
        .iter()
        .filter_map(|m| m.rpc().cloned())
        .collect()
    }

    /// The questions the manager put to `conn` (method frames from the manager with a session),
    /// taken from its inbox.
    pub(crate) fn take_asks(&mut self, conn: ConnId) -> Vec<Rpc> {
        self.take_where(conn, |m| {
            m.rpc().is_some_and(|r| {
                r.str("from") == Some(MANAGER)
                    && r.str("type") == Some("method")
                    && r.main.get("session").is_some()
            })
        })
        .iter()
        .filter_map(|m| m.rpc().cloned())
        .collect()
    }

    /// Answer question `session` of the manager from `conn`: `<session>.resolve|reject` sent to
    /// `*/workspace-manager`.
    pub(crate) fn answer_ask(&mut self, conn: ConnId, session: &str, result: Result<Value, &str>) {
        let (kind, arg) = match result {
            Ok(v) => ("resolve", v),
            Err(e) => (
                "reject",
                mp(json!({"_rtype": "error", "_rvalue": e, "_rtrace": ""})),
            ),
        };
        let main = vec![
            ("type", Value::from("method")),
            ("to", Value::from(MANAGER)),
            ("method", Value::from(format!("{session}.{kind}"))),
        ];
        let extra = Value::Map(vec![("args".into(), Value::Array(vec![arg]))]);
        self.send_bytes(conn, frame(main, Some(extra)));
    }

    /// Let every client answer the manager's pending questions as hypha-rpc would:
    /// `services.built-in.get_service(name)` → [`descriptor`], `services.built-in.ping` → `"pong"`.
    /// Returns `(conn, method, args)` of each question answered.
    pub(crate) fn serve_asks(&mut self) -> Vec<(ConnId, String, Vec<Json>)> {
        let mut served = Vec::new();
        loop {
            let mut conns: Vec<ConnId> = self.inbox.keys().copied().collect();
            conns.sort();
            let mut any = false;
            for conn in conns {
                for ask in self.take_asks(conn) {
                    any = true;
                    let session = ask.str("session").unwrap_or_default().to_owned();
                    let method = ask.str("method").unwrap_or_default().to_owned();
                    let args = ask.args();
                    let answer = match method.as_str() {
                        "services.built-in.get_service" => {
                            let cid = self
                                .router
                                .client_of(conn)
                                .map(|a| a.client_id.clone())
                                .unwrap_or_default();
                            let name = args.first().and_then(Json::as_str).unwrap_or_default();
                            descriptor(&cid, name)
                        }
                        "services.built-in.ping" => Value::from("pong"),
                        _ => Value::Nil,
                    };
                    self.answer_ask(conn, &session, Ok(answer));
                    served.push((conn, method, args));
                }
            }
            if !any {
                return served;
            }
        }
    }

    /// Take the events emitted so far.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The ids (`ws/cid:name`) of the services `client` lists with `query`.
    pub(crate) fn listed_ids(&mut self, client: &Client, query: Option<Value>) -> Vec<String> {
        let args = query.map_or_else(Vec::new, |q| vec![q]);
        let listed = self
            .call_manager(client, "list_services", args, None)
            .expect("list_services");
        listed
            .as_array()
            .expect("list_services returns a list")
            .iter()
            .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
