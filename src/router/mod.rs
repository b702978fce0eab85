//! The sans-IO server: connections, frames and time go in; frames, events and a deadline come out.
//!
//! ```text
//!            handle_connect(now, conn, hello)       poll_transmit() -> Transmit { conn, frame }
//!  driver -> handle_message(now, conn, frame)  ->   poll_event()    -> Event
//!            handle_disconnect(now, conn)           poll_timeout()  -> Option<Timestamp>
//!            handle_timeout(now)
//! ```
//!
//! After every `handle_*` call the driver drains `poll_transmit` and `poll_event` until they
//! return `None`, then re-arms one timer at `poll_timeout()`. The Router never reads a clock,
//! never touches a socket, and never fails because of what a peer sent: a bad frame is dropped or
//! answered with an error, a bad handshake becomes an error frame plus a [`Event::Close`].

mod calls;
mod cluster;
mod departures;
mod handshake;
mod host;
#[cfg(feature = "http")]
mod http;
mod links;
mod peer;
mod root_direct;
mod route;

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rmpv::Value;

use crate::auth::User;
use crate::config::Config;
use crate::manager::{MessageCaches, Notice};
use crate::registry::{ClientAddr, ConnId, Registry};
use crate::time::Timestamp;

use calls::{CallTable, ManagerAsks};
pub use cluster::{ClusterOut, FIRST_REMOTE_CONN};
use links::CrossLinks;

/// WebSocket close codes the Router asks drivers to use (protocol.md §1.4).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server goes away or replaced the connection.
    pub const GOING_AWAY: u16 = 1001;
    /// The first frame was not the JSON authentication object.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Authentication or permission failure.
    pub const POLICY_VIOLATION: u16 = 1008;
}

/// Connection ids from here up are the Router's own (its HTTP peers); drivers number theirs
/// below [`FIRST_REMOTE_CONN`], and inputs naming one of the Router's are ignored.
pub const FIRST_ROUTER_CONN: u64 = 1 << 62;

/// Client ids that start with this are the Router's own HTTP peers; no connection may take one.
pub(crate) const HTTP_PEER_PREFIX: &str = "~http-";

/// True for connection ids no driver may name: the Router's own HTTP peers and the clients of
/// other servers of a cluster.
fn is_router_conn(conn: ConnId) -> bool {
    conn.0 >= FIRST_REMOTE_CONN
}

/// One WebSocket-style message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: handshake and control messages (JSON).
    Text(String),
    /// A binary frame: every RPC message (msgpack). Shared: the same event to a thousand
    /// subscribers is one allocation.
    Binary(bytes::Bytes),
}

/// A frame the driver must deliver to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a transmit must be delivered to its connection"]
pub struct Transmit {
    /// Where to send it.
    pub conn: ConnId,
    /// What to send.
    pub frame: Frame,
}

/// Something the driver or host should know or do.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "events such as Close must be acted on"]
pub enum Event {
    /// A client completed the handshake.
    ClientConnected {
        /// Its address.
        client: ClientAddr,
        /// Its user id.
        user_id: String,
        /// The connection carrying it.
        conn: ConnId,
    },
    /// A client left (disconnect or replacement).
    ClientDisconnected {
        /// Its address.
        client: ClientAddr,
    },
    /// A service was registered.
    ServiceAdded {
        /// The ServiceInfo as listed.
        info: Value,
    },
    /// A service was removed.
    ServiceRemoved {
        /// The ServiceInfo it had.
        info: Value,
    },
    /// Close this connection with `code` after delivering its pending transmits; the driver then
    /// reports it with [`Router::handle_disconnect`].
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code (see [`close_code`]).
        code: u16,
        /// Human-readable reason.
        reason: String,
    },
}

/// What the Router knows about an open connection.
#[derive(Debug)]
struct Session {
    addr: ClientAddr,
    user: User,
    /// The `user` map stamped on the frames this connection sends, built once, when first
    /// needed: an HTTP request whose call runs in-process without the context never needs it.
    user_value: std::cell::OnceCell<Value>,
}

impl Session {
    /// A session whose `user` map is `user_value`, or built from `user` when first needed.
    fn new(addr: ClientAddr, user: User, user_value: Option<Value>) -> Self {
        Self {
            addr,
            user,
            user_value: user_value.map_or_else(std::cell::OnceCell::new, std::cell::OnceCell::from),
        }
    }

    /// The `user` map stamped on this connection's frames.
    fn user_value(&self) -> &Value {
        self.user_value
            .get_or_init(|| self.user.to_value(&self.addr.workspace))
    }
}

/// The server state machine. See the module docs for the driving loop.
#[derive(Debug)]
pub struct Router {
    config: Config,
    rng: StdRng,
    registry: Registry,
    caches: MessageCaches,
    sessions: crate::registry::ConnMap<Session>,
    calls: CallTable,
    asks: ManagerAsks,
    /// `client_disconnected` notices for chosen connections, sent a moment late.
    departures: departures::Departures,
    /// Pairs of connections in different workspaces a service call has linked.
    links: CrossLinks,
    /// Clients of other servers of the cluster, and what the others must hear of.
    remotes: cluster::Remotes,
    cluster_out: VecDeque<ClusterOut>,
    manager_addr: String,
    manager_user: Value,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    notices: Vec<Notice>,
    /// When abandoned `message_cache` uploads are next swept, if any are open.
    cache_sweep: Option<Timestamp>,
    /// Binary frames routed (for `/metrics`).
    frames_routed: u64,
    /// Calls peers of other workspaces made to root's own address (`default/root`): root's
    /// answers to them carry that address, not its presence.
    root_direct: root_direct::RootDirect,
    /// HTTP requests in flight and what the HTTP API keeps between them.
    #[cfg(feature = "http")]
    http: http::HttpState,
}

impl Router {
    /// A server with no connections.
    pub fn new(config: Config) -> Self {
        let manager_addr = crate::manager::manager_target(&config);
        // Before any map is made: peers choose many of their keys (src/hashing.rs).
        crate::hashing::seed(config.rng_seed);
        Self {
            rng: StdRng::seed_from_u64(config.rng_seed),
            registry: Registry::new(),
            caches: MessageCaches::new(config.limits.uploads_total_bytes),
            sessions: Default::default(),
            calls: CallTable::default(),
            asks: ManagerAsks::default(),
            departures: Default::default(),
            links: CrossLinks::default(),
            remotes: cluster::Remotes::default(),
            cluster_out: VecDeque::new(),
            manager_user: User::root().to_value("*"),
            manager_addr,
            config,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            notices: Vec::new(),
            cache_sweep: None,
            frames_routed: 0,
            root_direct: root_direct::RootDirect::default(),
            #[cfg(feature = "http")]
            http: http::HttpState::default(),
        }
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry, for inspection (hosts listing clients and services, tests).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Number of open (authenticated) connections.
    pub fn open_connections(&self) -> usize {
        #[cfg(feature = "http")]
        return self.sessions.len() - self.http.peer_count();
        #[cfg(not(feature = "http"))]
        self.sessions.len()
    }

    /// The connection that holds the client at `addr`: a transport connection, or one of the
    /// Router's own HTTP peers.
    fn conn_of(&self, addr: &ClientAddr) -> Option<ConnId> {
        if let Some(record) = self.registry.client(addr) {
            return Some(record.conn);
        }
        if let Some(root) = self.root_presence(addr) {
            return Some(root);
        }
        if addr.workspace == "*" {
            return self.remotes.manager_conn(&addr.to_string());
        }
        if let Some(adopted) = self.remotes.adopted_conn(addr) {
            return Some(adopted);
        }
        #[cfg(feature = "http")]
        return self.http.conn_of(addr);
        #[cfg(not(feature = "http"))]
        None
    }

    /// The address of the client on `conn`, if it completed the handshake.
    pub fn client_of(&self, conn: ConnId) -> Option<&ClientAddr> {
        self.sessions.get(&conn).map(|s| &s.addr)
    }

    /// Next frame to deliver. Call until `None` after every `handle_*`.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the driver or host. Call until `None` after every `handle_*`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        [
            self.asks.next_deadline(),
            self.calls.next_sweep(),
            self.caches_sweep(),
            self.remotes.next_sweep(),
            self.departures.next_deadline(),
            #[cfg(feature = "http")]
            self.http.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Expire what is due at `now`: manager questions that got no answer, stale call records,
    /// abandoned uploads, other servers' HTTP peers gone quiet; send departure notices due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        for (requester, then) in self.asks.expire(now) {
            let outcome = crate::manager::resume(
                then,
                Err("timed out waiting for the client to answer".to_owned()),
            );
            self.deliver(now, &requester, outcome);
        }
        self.calls.sweep(now);
        self.caches_expire(now);
        self.sweep_adopted(now);
        self.send_due_departures(now);
        #[cfg(feature = "http")]
        self.http_expire(now);
        #[cfg(feature = "http")]
        self.pump_http(now);
        self.flush_notices();
    }

    fn caches_sweep(&self) -> Option<Timestamp> {
        self.cache_sweep
    }

    fn caches_expire(&mut self, now: Timestamp) {
        if self.cache_sweep.is_some_and(|t| t <= now) {
            let remaining = self.caches.expire(now);
            self.cache_sweep = remaining.then(|| now + crate::manager::cache_sweep_interval());
        }
    }

    /// What a manager method may touch, and (borrowed beside it) the sessions its caller comes
    /// from.
    fn manager_env(
        &mut self,
        now: Timestamp,
    ) -> (crate::manager::Env<'_>, &crate::registry::ConnMap<Session>) {
        let env = crate::manager::Env {
            registry: &mut self.registry,
            caches: &mut self.caches,
            config: &self.config,
            now,
            rng: &mut self.rng,
            notices: &mut self.notices,
        };
        (env, &self.sessions)
    }

    /// Ask for `conn` to be closed: a driver's connection through [`Event::Close`], one of the
    /// Router's HTTP streams by ending its response.
    fn close_connection(&mut self, now: Timestamp, conn: ConnId, code: u16, reason: String) {
        #[cfg(feature = "http")]
        if self.http.is_stream(conn) {
            self.end_rpc_stream(now, conn);
            return;
        }
        let _ = now;
        self.events.push_back(Event::Close { conn, code, reason });
    }

    fn send(&mut self, conn: ConnId, frame: Frame) {
        // A client on an HTTP stream gets its frames in the stream's body.
        #[cfg(feature = "http")]
        if self.http.is_stream(conn) {
            self.rpc_stream_write(conn, frame);
            return;
        }
        // Frames for the Router's own HTTP peers are read by them after the current input.
        #[cfg(feature = "http")]
        if http::is_peer_conn(conn) {
            if let Frame::Binary(bytes) = frame {
                if let Ok(envelope) = crate::wire::Envelope::decode(bytes.into()) {
                    self.http.inbox.push_back((conn, envelope));
                }
            }
            return;
        }
        if cluster::is_remote_conn(conn) {
            self.remotes.touch(conn);
        }
        self.transmits.push_back(Transmit { conn, frame });
    }

    /// Deliver a routed envelope: encoded for a connection, as it is for an HTTP peer (which
    /// would only decode it again).
    fn send_envelope(&mut self, conn: ConnId, envelope: crate::wire::Envelope) {
        #[cfg(feature = "http")]
        if http::is_peer_conn(conn) && !self.http.is_stream(conn) {
            self.http.inbox.push_back((conn, envelope));
            return;
        }
        self.send(conn, Frame::Binary(envelope.encode().into()));
    }

    fn send_text(&mut self, conn: ConnId, json: serde_json::Value) {
        self.send(conn, Frame::Text(json.to_string()));
    }

    /// Turn the notices collected from the manager into event frames for subscribers and
    /// [`Event`]s for the host.
    fn flush_notices(&mut self) {
        for notice in std::mem::take(&mut self.notices) {
            let frame = notice_frame(notice.event, notice.data.clone());
            let recipients: Vec<ConnId> = self
                .registry
                .clients_in(&notice.workspace)
                .filter(|(_, c)| c.subscriptions.contains(notice.event))
                .map(|(_, c)| c.conn)
                .collect();
            for conn in recipients {
                self.send(conn, Frame::Binary(frame.clone()));
            }
            #[cfg(feature = "http")]
            if notice.event == "service_removed" {
                self.http.forget_descriptor(&notice.data);
            }
            self.share_service_notice(&notice);
            match notice.event {
                "service_added" => self
                    .events
                    .push_back(Event::ServiceAdded { info: notice.data }),
                "service_removed" => self
                    .events
                    .push_back(Event::ServiceRemoved { info: notice.data }),
                _ => {}
            }
        }
    }
}

/// The frame of server event `event` with `data`, as its subscribers get it.
fn notice_frame(event: &str, data: Value) -> bytes::Bytes {
    let main = vec![
        ("type".to_owned(), event.into()),
        ("to".to_owned(), "*".into()),
        ("data".to_owned(), data),
    ];
    bytes::Bytes::from(crate::wire::Envelope::new(main, None).encode())
}
