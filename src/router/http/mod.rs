//! HTTP requests as peers of the Router (design.md §7).
//!
//! Each request that calls something becomes a peer with its own address,
//! `<workspace>/~http-<server id>-<n>`, and a session holding the caller's verified identity (or the
//! read-only anonymous HTTP user). Its calls go through the same routing, visibility checks and
//! call table as a WebSocket client's, and what comes back to its address — replies, heartbeats,
//! `peer_not_found`, generator items, an ASGI app's `receive`/`send` calls — is read here
//! ([`Router::pump_http`]) and turned into response parts for the driver.
//!
//! - `mod.rs`: the state, the inputs (`handle_http_*`), identity, writing and finishing;
//! - `answers.rs`: the routes that need no peer (health, metrics, listings, info);
//! - `call.rs`: service calls, descriptors, results and generator streams;
//! - `local.rs`: calls to root's own functions, handed to a driver that runs them in-process;
//! - `app.rs`: ASGI and functions apps.

mod answers;
mod app;
mod cache;
mod call;
mod descriptors;
mod local;
mod rpc;

use std::collections::{BTreeSet, VecDeque};

use crate::hashing::HashMap;

use rmpv::Value;
use serde_json::json;

use super::{Router, Session, FIRST_ROUTER_CONN, HTTP_PEER_PREFIX};
use crate::auth::User;
use crate::http::args::CallArgs;
use crate::http::encode::{self, Format, StreamFormat};
use crate::http::identity::{self, Credential};
use crate::http::limit::RateLimiter;
use crate::http::metrics::Metrics;
use crate::http::route::{self, Route};
use crate::http::{HttpId, HttpOutput, HttpRequest};
use crate::jwt::{self, Audience};
use crate::manager::{self, Caller, Env, ManagerError, Outcome};
use crate::registry::{ClientAddr, ConnId, ServiceId};
use crate::time::Timestamp;

use descriptors::Descriptors;

/// The user id of callers without a token (Python hypha's name).
pub(crate) const ANONYMOUS_HTTP_USER: &str = "anonymouz-http";
/// The workspace anonymous HTTP callers act from.
pub(crate) const ANONYMOUS_HTTP_WORKSPACE: &str = "ws-anonymous";

/// True if `conn` is one of the Router's HTTP peers.
pub(super) fn is_peer_conn(conn: ConnId) -> bool {
    conn.0 >= FIRST_ROUTER_CONN
}

/// What an exchange waits for.
#[derive(Debug)]
enum Stage {
    /// The rest of the request body, then the call.
    Body,
    /// The provider's service descriptor (cached afterwards), then `then`.
    Describe {
        service: ServiceId,
        epoch: u64,
        then: AfterDescribe,
    },
    /// The result of a call.
    Call,
    /// Items of a generator, pulled one by one.
    Stream(call::Stream),
    /// An ASGI app serving the request.
    Asgi(app::Asgi),
    /// A functions app's answer.
    Functions,
    /// hypha-rpc's HTTP transport: a client's stream (`GET /rpc`).
    RpcStream(rpc::Stream),
    /// hypha-rpc's HTTP transport: a message for the stream on this connection (`POST /rpc`).
    RpcPost(ConnId),
    /// A call to one of root's functions, run by the driver (`local.rs`).
    Local(local::Local),
    /// Answered; about to be forgotten.
    Done,
}

/// How a response whose head is out comes to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Complete.
    End,
    /// Cut short: the driver must not let it look complete.
    Abort,
    /// The client went away; nothing more to write.
    ClientGone,
}

/// What a descriptor was fetched for.
#[derive(Debug)]
enum AfterDescribe {
    Call { key: String, args: CallArgs },
    Asgi,
    Functions,
}

/// A call the exchange made and who may answer it.
#[derive(Debug, Clone)]
struct Pending {
    session: String,
    responder: String,
}

/// One HTTP request in flight.
#[derive(Debug)]
struct Exchange {
    conn: ConnId,
    seq: u64,
    request: HttpRequest,
    route: Route,
    started: Timestamp,
    deadline: Option<Timestamp>,
    /// The caller, once its credential verified.
    user: Option<User>,
    /// The peer address, once the exchange acts as a peer.
    addr: Option<ClientAddr>,
    body: Vec<u8>,
    body_done: bool,
    cors: Vec<(String, String)>,
    format: Format,
    stream_format: StreamFormat,
    /// The status of the head, once sent.
    status: Option<u16>,
    /// Body chunks handed to the driver and not yet drained.
    outstanding: usize,
    pending: Vec<Pending>,
    next_session: u32,
    stage: Stage,
    /// A provider's answer arriving through this peer's `message_cache` (over 256 KiB).
    upload: Option<cache::Upload>,
    /// The connections the peer sent calls to, told when it is gone.
    called: super::departures::Callees,
}

impl Exchange {
    fn new_session(&mut self, responder: &str) -> String {
        self.next_session += 1;
        let (mut seq, mut next) = (itoa::Buffer::new(), itoa::Buffer::new());
        let session = [
            "h",
            seq.format(self.seq),
            "x",
            next.format(self.next_session),
        ]
        .concat();
        self.pending.push(Pending {
            session: session.clone(),
            responder: responder.to_owned(),
        });
        session
    }
}

/// Everything the HTTP API keeps.
#[derive(Debug, Default)]
pub(crate) struct HttpState {
    exchanges: HashMap<HttpId, Exchange>,
    peers: HashMap<ConnId, HttpId>,
    deadlines: BTreeSet<(Timestamp, HttpId)>,
    /// Frames for HTTP peers, read after the input that produced them.
    pub(super) inbox: VecDeque<(ConnId, crate::wire::Envelope)>,
    outputs: VecDeque<HttpOutput>,
    /// Calls for the driver to run in-process (`local.rs`).
    outputs_local: VecDeque<crate::http::LocalCall>,
    next_seq: u64,
    limiter: RateLimiter,
    metrics: Metrics,
    descriptors: Descriptors,
    first_seen: Option<Timestamp>,
    /// Clients connected by an HTTP stream: their connection and the stream's exchange.
    streams: HashMap<ConnId, HttpId>,
    /// When the open streams are pinged next.
    next_ping: Option<Timestamp>,
    /// Streams over their byte budget, cut after the current input.
    overflowed: Vec<HttpId>,
}

impl HttpState {
    /// Sessions in the Router's table that are HTTP peers, not connections.
    pub(super) fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The HTTP peer at `addr`, if one is open (`~http-<server id>-<n>`: the server id keeps
    /// the peers of a cluster's servers apart).
    pub(super) fn conn_of(&self, addr: &ClientAddr) -> Option<ConnId> {
        let (_, seq) = addr
            .client_id
            .strip_prefix(HTTP_PEER_PREFIX)?
            .rsplit_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        let conn = ConnId(FIRST_ROUTER_CONN.checked_add(seq)?);
        let id = self.peers.get(&conn)?;
        let exchange = self.exchanges.get(id)?;
        (exchange.addr.as_ref() == Some(addr)).then_some(conn)
    }

    /// HTTP peer `peer` sent a call to `callee`.
    pub(super) fn called(&mut self, peer: ConnId, callee: ConnId) {
        let Some(exchange) = self
            .peers
            .get(&peer)
            .and_then(|id| self.exchanges.get_mut(id))
        else {
            return;
        };
        exchange.called.add(callee);
    }

    pub(super) fn next_deadline(&self) -> Option<Timestamp> {
        let expiry = self.deadlines.first().map(|(t, _)| *t);
        expiry.into_iter().chain(self.next_ping).min()
    }

    /// A service went away or changed: its cached descriptor is stale.
    pub(super) fn forget_descriptor(&mut self, info: &Value) {
        if let Some(id) = manager::map_str(info, "id") {
            self.descriptors.forget(id);
        }
    }
}

/// Why an exchange failed, with the status it answers.
#[derive(Debug)]
pub(super) struct Failure {
    status: u16,
    detail: String,
    /// Seconds after which a refused caller may try again (429).
    retry_after: Option<u64>,
}

impl Failure {
    pub(super) fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    fn from_manager(error: &ManagerError) -> Self {
        let status = match error {
            ManagerError::NotFound(_) | ManagerError::Unsupported(_) => 404,
            ManagerError::PermissionDenied(_) => 403,
            ManagerError::InvalidArgument(_)
            | ManagerError::Ambiguous(_)
            | ManagerError::Registry(_) => 400,
            ManagerError::Client(_) => 502,
        };
        Self::new(status, error.to_string())
    }
}

impl Router {
    // ------------------------------------------------------------------------- inputs

    /// A request head arrived. Its body follows with [`Self::handle_http_body`] and
    /// [`Self::handle_http_end`] (call `handle_http_end` at once for a request without one).
    pub fn handle_http_request(&mut self, now: Timestamp, id: HttpId, request: HttpRequest) {
        self.http.first_seen.get_or_insert(now);
        if self.http.exchanges.contains_key(&id) {
            debug_assert!(false, "{id} is already open");
            return;
        }
        let route = route::route(&request.method, &request.path);
        let cors = identity::cors_headers(&request, &self.config.http.allow_origins);
        let (format, stream_format) =
            encode::negotiate(request.header("accept"), request.header("content-type"));
        self.http.next_seq += 1;
        let seq = self.http.next_seq;
        let exchange = Exchange {
            conn: ConnId(FIRST_ROUTER_CONN + seq),
            seq,
            request,
            route,
            started: now,
            deadline: None,
            user: None,
            addr: None,
            body: Vec::new(),
            body_done: false,
            cors,
            format,
            stream_format,
            status: None,
            outstanding: 0,
            pending: Vec::new(),
            next_session: 0,
            stage: Stage::Body,
            upload: None,
            called: Default::default(),
        };
        self.http.exchanges.insert(id, exchange);
        if let Err(failure) = self.start_exchange(now, id) {
            self.fail(now, id, failure);
        }
        self.settle_http(now);
    }

    /// A piece of the request body.
    pub fn handle_http_body(&mut self, now: Timestamp, id: HttpId, chunk: &[u8]) {
        let cap = self.config.http.max_body;
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        if exchange.body_done {
            return;
        }
        if let Stage::Asgi(asgi) = &mut exchange.stage {
            asgi.received += chunk.len();
            if asgi.received > cap {
                let failure = Failure::new(413, format!("request body larger than {cap} bytes"));
                self.fail(now, id, failure);
            } else {
                asgi.chunks.push_back(chunk.to_vec());
                self.asgi_feed(now, id);
            }
        } else if exchange.body.len() + chunk.len() > cap {
            let failure = Failure::new(413, format!("request body larger than {cap} bytes"));
            self.fail(now, id, failure);
        } else {
            exchange.body.extend_from_slice(chunk);
        }
        self.settle_http(now);
    }

    /// The request body is complete.
    pub fn handle_http_end(&mut self, now: Timestamp, id: HttpId) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        if exchange.body_done {
            return;
        }
        exchange.body_done = true;
        match exchange.stage {
            Stage::Body => {
                if let Err(failure) = self.body_complete(now, id) {
                    self.fail(now, id, failure);
                }
            }
            Stage::Asgi(_) => self.asgi_feed(now, id),
            Stage::RpcPost(conn) => {
                if let Err(failure) = self.rpc_post_body(now, id, conn) {
                    self.fail(now, id, failure);
                }
            }
            _ => {}
        }
        self.settle_http(now);
    }

    /// The driver wrote one body chunk out: the response may produce another.
    pub fn handle_http_drained(&mut self, now: Timestamp, id: HttpId) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        exchange.outstanding = exchange.outstanding.saturating_sub(1);
        match exchange.stage {
            Stage::Stream(_) => self.stream_pull(now, id),
            Stage::Asgi(_) => self.asgi_release_sends(now, id),
            Stage::RpcStream(_) => self.rpc_stream_drained(id),
            _ => {}
        }
        self.settle_http(now);
    }

    /// The client went away: stop the work done for it (a generator is closed, an app's
    /// `receive` learns of the disconnect) and forget the request.
    pub fn handle_http_cancel(&mut self, now: Timestamp, id: HttpId) {
        if self.http.exchanges.contains_key(&id) {
            self.finish(now, id, 499, Ending::ClientGone);
        }
        self.settle_http(now);
    }

    /// Next response part. Call until `None` after every input, as with `poll_transmit`.
    pub fn poll_http(&mut self) -> Option<HttpOutput> {
        self.http.outputs.pop_front()
    }

    /// HTTP requests in flight.
    pub fn http_in_flight(&self) -> usize {
        self.http.exchanges.len()
    }

    /// Read what reached the HTTP peers during the last input.
    pub(super) fn pump_http(&mut self, now: Timestamp) {
        while let Some((conn, frame)) = self.http.inbox.pop_front() {
            if let Some(&id) = self.http.peers.get(&conn) {
                self.peer_frame(now, id, frame);
            }
        }
        self.rpc_cut_overflowed(now);
    }

    fn settle_http(&mut self, now: Timestamp) {
        self.pump_http(now);
        self.flush_notices();
    }

    /// Answer 504 (or end the stream) for exchanges without progress past their deadline.
    pub(super) fn http_expire(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.http.deadlines.first() {
            if at > now {
                break;
            }
            self.http.deadlines.remove(&(at, id));
            if self
                .http
                .exchanges
                .get(&id)
                .is_some_and(|e| matches!(e.stage, Stage::Local(_)))
            {
                // Running in this process, root's function is as alive as the Router: like a
                // provider's heartbeats over the wire, its deadline only moves on.
                self.arm(now, id);
                continue;
            }
            let failure = Failure::new(504, "the provider did not answer in time");
            self.fail(now, id, failure);
        }
        self.rpc_ping(now);
    }

    // ------------------------------------------------------------------------- starting

    fn start_exchange(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        let exchange = &self.http.exchanges[&id];
        if matches!(exchange.route, Route::Call { .. }) && exchange.request.method != "OPTIONS" {
            // The common case: a call needs nothing more of its route until its body is in.
            return self.admit_request(now, id);
        }
        let route = exchange.route.clone();
        let is_app = matches!(route, Route::App { .. });
        if exchange.request.method == "OPTIONS" && !is_app {
            let mut headers = exchange.cors.clone();
            headers.extend(identity::preflight_headers());
            self.respond(now, id, 204, headers, Vec::new());
            return Ok(());
        }
        match route {
            Route::Health => return self.health(now, id),
            Route::Probe => {
                let body = json!({"status": "ok"}).to_string().into_bytes();
                return self.respond_json(now, id, 200, body);
            }
            Route::Metrics => return self.metrics(now, id),
            Route::NotFound => return Err(Failure::new(404, "not found")),
            Route::MethodNotAllowed { allow } => {
                let mut headers = self.http.exchanges[&id].cors.clone();
                headers.push(("allow".into(), allow.into()));
                headers.push(("content-type".into(), "application/json".into()));
                let body = encode::error_body("method not allowed");
                self.respond(now, id, 405, headers, body);
                return Ok(());
            }
            Route::Redirect { location } => {
                let mut headers = self.http.exchanges[&id].cors.clone();
                headers.push(("location".into(), location));
                self.respond(now, id, 307, headers, Vec::new());
                return Ok(());
            }
            // hypha-rpc's HTTP transport: its identity is the stream's, not the request's.
            Route::RpcStream { workspace } => return self.rpc_open(now, id, workspace),
            Route::RpcPost { workspace } => return self.rpc_post_start(now, id, workspace),
            _ => {}
        }
        self.admit_request(now, id)?;
        match route {
            Route::WorkspaceInfo { workspace } => self.workspace_info(now, id, &workspace),
            Route::ServiceList { workspace } => self.service_list(now, id, &workspace),
            Route::ServiceInfo { workspace, service } => {
                self.service_info(now, id, &workspace, &service)
            }
            Route::App {
                workspace, service, ..
            } => self.app_start(now, id, &workspace, &service),
            _ => Ok(()),
        }
    }

    /// Refuse a request whose declared body is over the cap (413), or one more request when
    /// too many are in flight (503).
    fn check_capacity(&self, id: HttpId) -> Result<(), Failure> {
        let declared = self.http.exchanges[&id]
            .request
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok());
        let cap = self.config.http.max_body;
        if declared.is_some_and(|len| len > cap) {
            return Err(Failure::new(
                413,
                format!("request body larger than {cap} bytes"),
            ));
        }
        if self.http.exchanges.len() > self.config.http.max_exchanges {
            return Err(Failure::new(503, "too many requests in flight"));
        }
        Ok(())
    }

    /// Let the request in: who it is, within its rate limit and the server's capacity, with a
    /// deadline (a request that never finishes sending its body is answered 504, not kept).
    fn admit_request(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        self.authenticate(now, id)?;
        self.check_capacity(id)?;
        self.arm(now, id);
        Ok(())
    }

    /// Verify the caller's credential, apply its rate limit, and remember who it is.
    fn authenticate(&mut self, now: Timestamp, id: HttpId) -> Result<(), Failure> {
        let exchange = &self.http.exchanges[&id];
        let credential = identity::credential(&exchange.request, &self.config.http.allow_origins);
        let limited = self.config.http.rate_limit.is_some();
        let (user, limit_key) = match credential {
            Credential::None => {
                let host = exchange.request.remote.as_deref().map(host_of);
                let key = limited.then(|| ["addr:", host.unwrap_or_default()].concat());
                (User::shared_anonymous(ANONYMOUS_HTTP_USER.to_owned()), key)
            }
            Credential::Token(token) => {
                let claims = jwt::verify(
                    &token,
                    &self.config.jwt_secret,
                    now.as_secs(),
                    Audience::Api,
                )
                .map_err(|e| Failure::new(401, format!("invalid token: {e}")))?;
                let key = limited.then(|| ["user:", &claims.sub].concat());
                (User::from_claims(&claims), key)
            }
        };
        if let (Some(limit), Some(limit_key)) = (self.config.http.rate_limit, limit_key) {
            if let Err(retry) = self.http.limiter.take(limit, &limit_key, now) {
                let mut failure =
                    Failure::new(429, format!("rate limit exceeded; retry in {retry} s"));
                failure.retry_after = Some(retry);
                return Err(failure);
            }
        }
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.user = Some(user);
        }
        Ok(())
    }

    /// The workspace the caller acts from when it asks about `url_workspace`: that workspace if
    /// it holds a permission there, else its own (anonymous callers: `ws-anonymous`).
    fn acting_workspace(user: &User, url_workspace: &str) -> String {
        if user.permission(url_workspace).is_some() {
            url_workspace.to_owned()
        } else if user.is_anonymous() {
            ANONYMOUS_HTTP_WORKSPACE.to_owned()
        } else {
            user.default_workspace(None)
        }
    }

    /// Make the exchange a peer in the workspace the caller acts from, so it can call.
    fn open_peer(&mut self, id: HttpId, url_workspace: &str) -> Result<ClientAddr, Failure> {
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| Failure::new(500, "request gone"))?;
        if let Some(addr) = &exchange.addr {
            return Ok(addr.clone());
        }
        let user = exchange
            .user
            .clone()
            .ok_or_else(|| Failure::new(401, "not authenticated"))?;
        let workspace = Self::acting_workspace(&user, url_workspace);
        let mut seq = itoa::Buffer::new();
        let client_id = [
            HTTP_PEER_PREFIX,
            &self.config.server_id,
            "-",
            seq.format(exchange.seq),
        ]
        .concat();
        let addr = ClientAddr::new(workspace, client_id);
        exchange.addr = Some(addr.clone());
        let conn = exchange.conn;
        // Its `user` map is built only if a frame or a context needs it.
        self.sessions
            .insert(conn, Session::new(addr.clone(), user, None));
        self.http.peers.insert(conn, id);
        Ok(addr)
    }

    /// Run a manager method synchronously for the exchange's caller, acting from `workspace`.
    fn manager_for(
        &mut self,
        now: Timestamp,
        id: HttpId,
        url_workspace: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Outcome, Failure> {
        let user = self.http.exchanges[&id]
            .user
            .clone()
            .ok_or_else(|| Failure::new(401, "not authenticated"))?;
        let addr = ClientAddr::new(Self::acting_workspace(&user, url_workspace), "~http");
        let args = manager::Args::from_payload(Some(&Value::Map(vec![(
            "args".into(),
            Value::Array(args),
        )])));
        Ok(self.as_manager(now, &addr, &user, |env, caller| {
            manager::dispatch(env, caller, method, &args)
        }))
    }

    /// Run `f` with the manager's environment for `caller`: the one place HTTP peers reach the
    /// manager's rules (lookup, visibility, permissions) directly.
    fn as_manager<R>(
        &mut self,
        now: Timestamp,
        addr: &ClientAddr,
        user: &User,
        f: impl FnOnce(&mut Env<'_>, &Caller<'_>) -> R,
    ) -> R {
        let caller = Caller { addr, user };
        f(&mut self.manager_env(now).0, &caller)
    }

    /// The address and user of the exchange's peer session.
    fn peer_identity(&self, id: HttpId) -> Result<(ClientAddr, User), Failure> {
        self.http
            .exchanges
            .get(&id)
            .and_then(|e| self.sessions.get(&e.conn))
            .map(|s| (s.addr.clone(), s.user.clone()))
            .ok_or_else(|| Failure::new(500, "request gone"))
    }

    /// The service `service` of `workspace` names for the exchange's caller (`get_service`'s
    /// lookup, visibility and `?_mode=` included), opening the exchange's peer.
    fn lookup_service(
        &mut self,
        now: Timestamp,
        id: HttpId,
        workspace: &str,
        service: &str,
    ) -> Result<(ServiceId, String), Failure> {
        self.open_peer(id, workspace)?;
        let (addr, user) = self.peer_identity(id)?;
        let query = absolute_query(workspace, service);
        let mode = crate::http::args::query_value(&self.http.exchanges[&id].request.query, "_mode");
        self.as_manager(now, &addr, &user, |env, caller| {
            manager::resolve_service(env, caller, &query, mode.as_deref())
        })
        .map_err(|e| self.lookup_failure(id, workspace, &query, &e))
    }

    // ------------------------------------------------------------------------- writing

    fn respond_json(
        &mut self,
        now: Timestamp,
        id: HttpId,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), Failure> {
        let mut headers = self.http.exchanges[&id].cors.clone();
        headers.push(("content-type".into(), "application/json".into()));
        self.respond(now, id, status, headers, body);
        Ok(())
    }

    /// 200 with a body already encoded in the exchange's format.
    fn respond_value(&mut self, now: Timestamp, id: HttpId, body: Vec<u8>) -> Result<(), Failure> {
        let exchange = &self.http.exchanges[&id];
        let mut headers = exchange.cors.clone();
        headers.push(("content-type".into(), exchange.format.content_type().into()));
        self.respond(now, id, 200, headers, body);
        Ok(())
    }

    /// A whole response, then the end of the exchange.
    fn respond(
        &mut self,
        now: Timestamp,
        id: HttpId,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) {
        self.head(id, status, headers);
        if !body.is_empty() {
            self.chunk(id, body);
        }
        self.finish(now, id, status, Ending::End);
    }

    fn head(&mut self, id: HttpId, status: u16, headers: Vec<(String, String)>) {
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        if exchange.status.is_some() {
            return;
        }
        exchange.status = Some(status);
        self.http.outputs.push_back(HttpOutput::Head {
            id,
            status,
            headers,
        });
    }

    fn chunk(&mut self, id: HttpId, chunk: Vec<u8>) {
        if let Some(exchange) = self.http.exchanges.get_mut(&id) {
            exchange.outstanding += 1;
            self.http.outputs.push_back(HttpOutput::Body { id, chunk });
        }
    }

    /// Answer `failure`: an error response, or, once the head is out, an error item that ends
    /// the stream.
    pub(super) fn fail(&mut self, now: Timestamp, id: HttpId, failure: Failure) {
        let Some(exchange) = self.http.exchanges.get(&id) else {
            return;
        };
        match exchange.status {
            None => {
                let mut headers = exchange.cors.clone();
                headers.push(("content-type".into(), "application/json".into()));
                if let Some(seconds) = failure.retry_after {
                    headers.push(("retry-after".into(), seconds.to_string()));
                }
                let body = encode::error_body(&failure.detail);
                self.respond(now, id, failure.status, headers, body);
            }
            Some(status) => {
                if matches!(exchange.stage, Stage::Stream(_)) {
                    // A stream has its own way to say it failed: an error item, then its end.
                    let item = exchange.stream_format.error_item(&failure.detail);
                    self.chunk(id, item);
                    self.finish(now, id, status, Ending::End);
                } else {
                    // Any other body cut short must not look complete to the client.
                    self.finish(now, id, status, Ending::Abort);
                }
            }
        }
    }

    /// End the response as `ending` says and forget the exchange: its peer session, its calls,
    /// its deadline.
    fn finish(&mut self, now: Timestamp, id: HttpId, status: u16, ending: Ending) {
        let Some(mut exchange) = self.http.exchanges.remove(&id) else {
            return;
        };
        if let Some(at) = exchange.deadline {
            self.http.deadlines.remove(&(at, id));
        }
        let stage = std::mem::replace(&mut exchange.stage, Stage::Done);
        // Only an app calls the exchange back (its `receive`/`send`).
        let called_back = matches!(stage, Stage::Asgi(_));
        // Work the provider still does for a client that is gone is stopped.
        match stage {
            Stage::Stream(stream) if !stream.ended => self.stream_close(now, &exchange, &stream),
            Stage::Asgi(asgi) => self.asgi_disconnect(now, &exchange, asgi),
            // The stream's client leaves with it, as a WebSocket client leaves with its socket.
            Stage::RpcStream(_) => {
                self.http.streams.remove(&exchange.conn);
                self.drop_session(now, exchange.conn);
            }
            _ => {}
        }
        if exchange.status.is_some() {
            match ending {
                Ending::End => self.http.outputs.push_back(HttpOutput::End { id }),
                Ending::Abort => self.http.outputs.push_back(HttpOutput::Abort { id }),
                Ending::ClientGone => {}
            }
        }
        self.http.peers.remove(&exchange.conn);
        if let Some(session) = self.sessions.remove(&exchange.conn) {
            // Whoever it called hears that it left. A WebSocket client's departure is broadcast
            // to its workspace; a peer's never was, and hypha-rpc keeps what it made for each
            // call it answered (a session for its `resolve`, ~1 KB) until the caller leaves or
            // for 10 minutes: under load, gigabytes.
            self.tell_left(now, &session.addr, exchange.called.as_slice());
            if self.remotes.calling_out.remove(&exchange.conn) {
                self.cluster_push(super::ClusterOut::ClientLeft {
                    client: session.addr,
                });
            }
            self.calls.forget_caller(exchange.conn);
            self.asks.forget_requester(exchange.conn);
            // What linked the peer to providers in other workspaces goes with it, as with any
            // client that leaves: left behind, each request would hold one of a provider's
            // 10,000 links for good.
            self.links.forget(exchange.conn);
            self.root_direct.forget(exchange.conn);
            // An app still waiting on one of the exchange's functions hears that it is gone.
            if called_back {
                for (caller, session, callee) in self.calls.take_for_callee(exchange.conn) {
                    let error = format!("HTTP request {callee} ended");
                    self.peer_not_found(caller, &session, &callee.to_string(), &error);
                }
            }
        }
        let seconds = now.0.saturating_sub(exchange.started.0) as f64 / 1000.0;
        self.http.metrics.request(
            exchange.route.label(),
            exchange.status.unwrap_or(status),
            seconds,
        );
    }

    /// Give the exchange `window` more time without progress.
    fn arm(&mut self, now: Timestamp, id: HttpId) {
        let deadline = now + self.config.client_call_timeout;
        let Some(exchange) = self.http.exchanges.get_mut(&id) else {
            return;
        };
        if let Some(at) = exchange.deadline.replace(deadline) {
            self.http.deadlines.remove(&(at, id));
        }
        self.http.deadlines.insert((deadline, id));
    }
}

/// `svc`, `client:svc`, `svc@app` of workspace `ws` as an absolute query.
fn absolute_query(workspace: &str, service: &str) -> String {
    if service.contains('/') {
        service.to_owned()
    } else if service.contains(':') {
        [workspace, "/", service].concat()
    } else {
        [workspace, "/*:", service].concat()
    }
}

/// The host part of `ip:port` (the rate-limit key of an anonymous caller).
pub(super) fn host_of(remote: &str) -> &str {
    remote.rsplit_once(':').map_or(remote, |(host, _)| host)
}
