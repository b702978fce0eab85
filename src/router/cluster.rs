//! Several servers, one set of workspaces (the cluster over Redis, design.md §7). Sans-IO like
//! the rest of the Router: what other servers hold comes in as inputs, what this one holds goes
//! out as [`ClusterOut`]s for the driver to store, and frames for clients of other servers leave
//! as ordinary [`super::Transmit`]s, to a connection id that stands for that remote client
//! ([`Router::remote_server`] says which server to publish it to).
//!
//! - A remote client is a session like a local one, with a user that may do nothing here, so
//!   calls to it, links across workspaces, the manager's questions and the clean-up when it goes
//!   work per client exactly as they do locally.
//! - Each other server's workspace manager is a remote client at `*/<its manager id>`: the
//!   answers to the questions it puts to clients of this server go back to it.
//! - A frame from another server was stamped there: it is routed as its sender's, without
//!   re-stamping, only to clients of this server, and to this server's manager only as an answer
//!   to one of its questions. Broadcasts reach this server's subscribers only.
//! - A frame between two clients of this server never leaves it.

use std::collections::BTreeSet;

use crate::hashing::HashMap;

use rmpv::Value;

use super::{Frame, Router, Session};
use crate::auth::User;
use crate::manager::Notice;
use crate::registry::{ClientAddr, ClientRecord, ConnId, RegistryError, ServiceId};
use crate::time::Timestamp;
use crate::wire::Envelope;

/// Connection ids from here up to [`super::FIRST_ROUTER_CONN`] stand for clients of other
/// servers; drivers number their own connections below it.
pub const FIRST_REMOTE_CONN: u64 = 1 << 61;

/// What the driver must tell the other servers (through shared storage).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "the other servers must hear of it"]
pub enum ClusterOut {
    /// A client connected to this server.
    ClientJoined {
        /// Its address.
        client: ClientAddr,
        /// Its user, as stamped on its frames.
        user: Value,
        /// It came back with its reconnection token: if another server still holds it (news of
        /// it had not arrived here yet), that server must let it go.
        reconnected: bool,
    },
    /// A client of this server left.
    ClientLeft {
        /// Its address.
        client: ClientAddr,
    },
    /// A client of this server registered or replaced a service.
    ServiceRegistered {
        /// The ServiceInfo as listed.
        info: Value,
    },
    /// A service of a client of this server is gone.
    ServiceUnregistered {
        /// Its id (`ws/client:name`).
        id: String,
    },
    /// A client reconnected here while another server still held it: that server must close
    /// its old connection.
    TakenOver {
        /// The client.
        client: ClientAddr,
        /// The server that held it.
        server: String,
    },
}

/// A client of another server known here only by its calls (one of that server's HTTP
/// requests' peers).
#[derive(Debug)]
struct AdoptedPeer {
    addr: ClientAddr,
    /// True while no frame went to or came from it since the last sweep. Its server's "left"
    /// news is at-most-once; one that never arrives must not leave the client here for good,
    /// so a client idle for a whole sweep interval is dropped.
    idle: bool,
    /// The clients of its own workspace it called: no workspace hears that it left, so they
    /// are told (those of other workspaces are linked to it, and told as links are).
    called: super::departures::Callees,
}

/// The clients of other servers this Router knows, by the connection ids standing for them.
#[derive(Debug, Default)]
pub(super) struct Remotes {
    next: u64,
    server_of: HashMap<ConnId, String>,
    by_server: HashMap<String, BTreeSet<ConnId>>,
    /// `*/<manager id>` of each other server → the connection standing for that manager.
    managers: HashMap<String, ConnId>,
    /// Clients of other servers that were never announced (their HTTP requests' peers), known
    /// from their first call here until their server says they left.
    adopted: HashMap<ClientAddr, ConnId>,
    /// Each adopted client, by its connection.
    adopted_peers: HashMap<ConnId, AdoptedPeer>,
    /// When adopted clients are next looked at (while there are any).
    adopted_sweep: Option<Timestamp>,
    /// Each other server's incarnation, as it announced it.
    incarnations: HashMap<String, String>,
    /// This server's HTTP peers that called clients of other servers: their end is news.
    pub(super) calling_out: BTreeSet<ConnId>,
}

impl Remotes {
    /// True if one more client of `server` may be known: at most [`MAX_SERVERS`] servers and
    /// [`MAX_PER_SERVER`] clients of each (what reaches this Router through Redis is bounded
    /// like what reaches it through sockets).
    fn has_room(&self, server: &str) -> bool {
        match self.by_server.get(server) {
            Some(conns) => conns.len() < MAX_PER_SERVER,
            None => self.by_server.len() < MAX_SERVERS,
        }
    }

    fn allocate(&mut self, server: &str) -> ConnId {
        let conn = ConnId(FIRST_REMOTE_CONN + self.next);
        self.next += 1;
        self.server_of.insert(conn, server.to_owned());
        self.by_server
            .entry(server.to_owned())
            .or_default()
            .insert(conn);
        conn
    }

    fn release(&mut self, conn: ConnId) {
        if let Some(server) = self.server_of.remove(&conn) {
            if let Some(conns) = self.by_server.get_mut(&server) {
                conns.remove(&conn);
                if conns.is_empty() {
                    self.by_server.remove(&server);
                }
            }
        }
        self.managers.retain(|_, c| *c != conn);
        if let Some(peer) = self.adopted_peers.remove(&conn) {
            self.adopted.remove(&peer.addr);
        }
    }

    /// A frame went to or came from `conn`: if it is an adopted client, it is not idle.
    pub(super) fn touch(&mut self, conn: ConnId) {
        if let Some(peer) = self.adopted_peers.get_mut(&conn) {
            peer.idle = false;
        }
    }

    /// Adopted client `conn` called `callee`, a client of its own workspace.
    pub(super) fn adopted_called(&mut self, conn: ConnId, callee: ConnId) {
        if let Some(peer) = self.adopted_peers.get_mut(&conn) {
            peer.called.add(callee);
        }
    }

    /// Whom adopted client `conn` called in its own workspace, forgotten.
    pub(super) fn take_adopted_callees(&mut self, conn: ConnId) -> super::departures::Callees {
        self.adopted_peers
            .get_mut(&conn)
            .map(|peer| std::mem::take(&mut peer.called))
            .unwrap_or_default()
    }

    pub(super) fn next_sweep(&self) -> Option<Timestamp> {
        self.adopted_sweep
    }

    /// The manager address known for `server`, if any.
    fn server_of_manager(&self, server: &str) -> Option<&str> {
        self.managers
            .iter()
            .find(|(_, conn)| self.server_of(**conn) == Some(server))
            .map(|(addr, _)| addr.as_str())
    }

    pub(super) fn adopted_conn(&self, addr: &ClientAddr) -> Option<ConnId> {
        self.adopted.get(addr).copied()
    }

    pub(super) fn server_of(&self, conn: ConnId) -> Option<&str> {
        self.server_of.get(&conn).map(String::as_str)
    }

    pub(super) fn manager_conn(&self, addr: &str) -> Option<ConnId> {
        self.managers.get(addr).copied()
    }

    fn conns_of(&self, server: &str) -> Vec<ConnId> {
        self.by_server
            .get(server)
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Clients of one other server this one keeps track of, announced or adopted.
const MAX_PER_SERVER: usize = 1_000_000;
/// Other servers this one keeps track of.
const MAX_SERVERS: usize = 1024;

/// True for connection ids that stand for clients of other servers.
pub(super) fn is_remote_conn(conn: ConnId) -> bool {
    (FIRST_REMOTE_CONN..super::FIRST_ROUTER_CONN).contains(&conn.0)
}

impl Router {
    /// Which server holds the client a connection id stands for, if it is a remote one: where
    /// the driver publishes a [`super::Transmit`] to it.
    pub fn remote_server(&self, conn: ConnId) -> Option<&str> {
        self.remotes.server_of(conn)
    }

    /// Next thing the other servers must hear of. Call until `None` after every `handle_*`
    /// (only a Router configured with [`crate::Config::cluster`] produces any).
    pub fn poll_cluster(&mut self) -> Option<ClusterOut> {
        self.cluster_out.pop_front()
    }

    pub(super) fn cluster_push(&mut self, out: ClusterOut) {
        if self.config.cluster {
            self.cluster_out.push_back(out);
        }
    }

    /// Server `server` joined, with its workspace manager at `*/<manager_id>`: the answers to its
    /// manager's questions may now go back to it. `incarnation` is new at each start of that
    /// server: a different one than known means it restarted, so every client this Router knew
    /// on it is gone first.
    pub fn handle_server_joined(
        &mut self,
        now: Timestamp,
        server: &str,
        manager_id: &str,
        incarnation: &str,
    ) {
        if server == self.config.server_id
            || (!self.remotes.incarnations.contains_key(server) && !self.remotes.has_room(server))
        {
            return;
        }
        match self.remotes.incarnations.get(server) {
            Some(known) if known == incarnation => {}
            Some(_) => self.handle_server_gone(now, server),
            None => {}
        }
        self.remotes
            .incarnations
            .insert(server.to_owned(), incarnation.to_owned());
        self.add_remote_manager(now, server, manager_id);
    }

    /// Know `*/<manager_id>` as the manager of `server`.
    fn add_remote_manager(&mut self, now: Timestamp, server: &str, manager_id: &str) {
        let addr = format!("*/{manager_id}");
        if server == self.config.server_id
            || addr == self.manager_addr
            || !self.remotes.has_room(server)
        {
            return;
        }
        if let Some(old) = self.remotes.manager_conn(&addr) {
            if self.remotes.server_of(old) == Some(server) {
                // Already known (loading a server twice changes nothing).
                return;
            }
            self.drop_session(now, old);
        }
        let conn = self.remotes.allocate(server);
        self.remotes.managers.insert(addr, conn);
        let session = Session::new(
            ClientAddr::new("*", manager_id),
            User::remote(format!("{server}/{manager_id}")),
            Some(Value::Nil),
        );
        self.sessions.insert(conn, session);
    }

    /// A client connected to server `server`, with the `user` its frames carry. Refused if a
    /// client of this server holds the address; a record of another server is replaced (the
    /// client moved).
    pub fn handle_remote_client(
        &mut self,
        now: Timestamp,
        server: &str,
        client: ClientAddr,
        user: &Value,
    ) -> Result<(), RegistryError> {
        if let Some(existing) = self.registry.client(&client).map(|c| c.conn) {
            if !is_remote_conn(existing) {
                return Err(RegistryError::ClientExists(client));
            }
            if self.remotes.server_of(existing) == Some(server) {
                // Already known: news and a load of the same client change nothing.
                return Ok(());
            }
            self.drop_session(now, existing);
        }
        if !self.remotes.has_room(server) {
            return Err(RegistryError::ClusterFull(server.to_owned()));
        }
        let user_id = crate::manager::map_str(user, "id").unwrap_or("anonymous");
        let user = User::remote(user_id.to_owned());
        let conn = self.remotes.allocate(server);
        let record = ClientRecord {
            conn,
            user: user.clone(),
            subscriptions: Default::default(),
        };
        if let Err(e) = self.registry.add_client(client.clone(), record) {
            self.remotes.release(conn);
            return Err(e);
        }
        let session = Session::new(client, user, Some(Value::Nil));
        self.sessions.insert(conn, session);
        Ok(())
    }

    /// A client of another server registered (or replaced) the service `info` (as listed).
    /// Subscribers here hear of it as of a local one.
    pub fn handle_remote_service(
        &mut self,
        now: Timestamp,
        server: &str,
        info: &Value,
    ) -> Result<(), String> {
        let record = crate::manager::record_from_info(info).ok_or("malformed service info")?;
        let provider = record.id.provider.clone();
        if !self.held_by(&provider, server) {
            return Err(format!("{provider} is not a client of server {server}"));
        }
        if self
            .registry
            .service(&record.id)
            .is_some_and(|known| known.encoded_info == record.encoded_info)
        {
            // Already known as it is.
            return Ok(());
        }
        let id = record.id.clone();
        let replaced = self.registry.register(record).map_err(|e| e.to_string())?;
        crate::manager::registration_notices(&mut self.notices, &id, replaced, info);
        let _ = now;
        self.flush_notices();
        Ok(())
    }

    /// A service of a client of server `server` is gone.
    pub fn handle_remote_service_removed(&mut self, now: Timestamp, server: &str, id: &str) {
        let Some((provider, name)) = id.split_once(':') else {
            return;
        };
        let Some(provider) = ClientAddr::parse(provider) else {
            return;
        };
        if !self.held_by(&provider, server) {
            return;
        }
        let name = name.split('@').next().unwrap_or(name);
        if let Some(old) = self
            .registry
            .unregister(&ServiceId::new(provider.clone(), name))
        {
            self.notices.push(Notice {
                workspace: provider.workspace,
                event: "service_removed",
                data: old.info(),
            });
        }
        let _ = now;
        self.flush_notices();
    }

    /// A client of server `server` left: its services go, and calls waiting on it are rejected.
    /// (News from a server that no longer holds the client, which moved, changes nothing.)
    pub fn handle_remote_client_gone(&mut self, now: Timestamp, server: &str, client: &ClientAddr) {
        let conn = self
            .registry
            .client(client)
            .map(|c| c.conn)
            .or_else(|| self.remotes.adopted_conn(client));
        if let Some(conn) = conn.filter(|c| self.remotes.server_of(*c) == Some(server)) {
            self.drop_session(now, conn);
        }
    }

    /// True if `server` holds the client at `addr`, as far as this Router knows.
    fn held_by(&self, addr: &ClientAddr, server: &str) -> bool {
        self.registry
            .client(addr)
            .is_some_and(|c| self.remotes.server_of(c.conn) == Some(server))
    }

    /// Server `server` is gone (its heartbeat expired, or it left): every client it held is gone.
    pub fn handle_server_gone(&mut self, now: Timestamp, server: &str) {
        self.remotes.incarnations.remove(server);
        for conn in self.remotes.conns_of(server) {
            self.drop_session(now, conn);
        }
    }

    /// A service of a client of this server was registered or removed while it stays
    /// connected: tell the other servers. (A departing client's services go with its
    /// [`ClusterOut::ClientLeft`].)
    pub(super) fn share_service_notice(&mut self, notice: &Notice) {
        if !self.config.cluster {
            return;
        }
        let Some(id) = crate::manager::map_str(&notice.data, "id") else {
            return;
        };
        let provider = id.split_once(':').and_then(|(p, _)| ClientAddr::parse(p));
        let local = provider
            .and_then(|p| self.registry.client(&p).map(|c| c.conn))
            .is_some_and(|conn| !is_remote_conn(conn));
        if !local {
            return;
        }
        let out = match notice.event {
            "service_added" => ClusterOut::ServiceRegistered {
                info: notice.data.clone(),
            },
            "service_removed" => ClusterOut::ServiceUnregistered { id: id.to_owned() },
            _ => return,
        };
        self.cluster_push(out);
    }

    /// What the other servers must know of this server's clients and their services, as
    /// [`ClusterOut`]s: to rebuild a shared store that lost it (Redis restarted empty).
    pub fn cluster_snapshot(&self) -> Vec<ClusterOut> {
        let mut out = Vec::new();
        for session in self.sessions.values() {
            let local = self
                .registry
                .client(&session.addr)
                .is_some_and(|c| !is_remote_conn(c.conn));
            if !local {
                continue;
            }
            out.push(ClusterOut::ClientJoined {
                client: session.addr.clone(),
                user: session.user_value().clone(),
                reconnected: false,
            });
            for service in self.registry.services_of(&session.addr) {
                out.push(ClusterOut::ServiceRegistered {
                    info: service.info(),
                });
            }
        }
        out
    }

    /// Forget what a departing remote session stood for (called by `drop_session`).
    pub(super) fn release_remote(&mut self, conn: ConnId) {
        self.remotes.release(conn);
    }

    /// A frame server `server` routed to a client of this one, stamped there. Dropped unless its
    /// sender is a client that server holds and its target is here.
    pub fn handle_cluster_frame(&mut self, now: Timestamp, server: &str, bytes: Vec<u8>) {
        self.route_cluster_frame(now, server, bytes);
        // As after any input: HTTP requests waiting on what arrived go on, subscribers hear.
        #[cfg(feature = "http")]
        self.pump_http(now);
        self.flush_notices();
    }

    fn route_cluster_frame(&mut self, now: Timestamp, server: &str, bytes: Vec<u8>) {
        // The same checks as a client's frame: another server's Redis is not trusted further.
        let Some(envelope) = super::route::checked_envelope(bytes) else {
            return;
        };
        let Some(to) = envelope.str("to").map(str::to_owned) else {
            return;
        };
        // The server's own word that a call cannot complete (the callee it held left).
        if envelope.str("type") == Some("peer_not_found") && envelope.str("from").is_none() {
            let Some(caller) = self.local_conn(&to) else {
                return;
            };
            // Delivered only while this server still tracks the call, and then no longer: the
            // caller hears once, whether this word or the news that the callee left comes first.
            let session = envelope.str("session").unwrap_or_default();
            let tracked = self
                .calls
                .callee_of(caller, session)
                .filter(|callee| self.remotes.server_of(*callee) == Some(server))
                .is_some_and(|callee| self.calls.complete(caller, session, callee));
            if tracked {
                self.send_envelope(caller, envelope);
            }
            return;
        }
        if envelope
            .str("type")
            .is_none_or(super::route::is_reserved_event)
        {
            return;
        }
        let Some(from) = envelope.str("from").map(str::to_owned) else {
            return;
        };
        // The manager of a server this one has not seen join yet (its first question can come
        // before the heartbeat that announces it).
        if let Some(manager_id) = from.strip_prefix("*/") {
            if self.remotes.manager_conn(&from).is_none()
                && crate::auth::is_valid_name(manager_id)
                && self.remotes.server_of_manager(server).is_none()
            {
                self.add_remote_manager(now, server, manager_id);
            }
        }
        let known = self.remotes.manager_conn(&from).or_else(|| {
            let addr = ClientAddr::parse(&from)?;
            self.registry
                .client(&addr)
                .map(|c| c.conn)
                .or_else(|| self.remotes.adopted_conn(&addr))
        });
        let Some(sender) = known.or_else(|| self.adopt(now, server, &from, &envelope)) else {
            return;
        };
        self.remotes.touch(sender);
        if self.remotes.server_of(sender) != Some(server) {
            return;
        }
        self.frames_routed += 1;
        if to == self.manager_addr {
            // Only answers to this manager's questions; clients call their own server's manager.
            let method = envelope.str("method").unwrap_or_default();
            let answers = method
                .rsplit_once('.')
                .is_some_and(|(ask, _)| self.asks.is_pending(ask, sender));
            if answers {
                self.manager_call(now, sender, envelope, 0);
            }
            return;
        }
        let sender_ws = envelope.str("ws").unwrap_or_default().to_owned();
        if let Some(workspace) = to.strip_suffix("/*") {
            if workspace == sender_ws {
                self.fan_out_local(workspace, envelope);
            }
            return;
        }
        let Some(target) = ClientAddr::parse(&to) else {
            return;
        };
        if self.local_conn(&to).is_none() {
            return;
        }
        self.direct(now, sender, &sender_ws, target, envelope);
    }

    /// A call from a client `server` never announced (one of its HTTP requests): known from
    /// now on, so that answers and callbacks find their way back, until `server` says it left.
    fn adopt(
        &mut self,
        now: Timestamp,
        server: &str,
        from: &str,
        envelope: &Envelope,
    ) -> Option<ConnId> {
        if !envelope
            .str("method")
            .is_some_and(|m| m.starts_with("services."))
        {
            return None;
        }
        let addr = ClientAddr::parse(from)?;
        if !self.remotes.by_server.contains_key(server) || !self.remotes.has_room(server) {
            // Unknown server, or one that would grow this table past its budget.
            return None;
        }
        let user = envelope.get("user");
        let user_id = user
            .as_ref()
            .and_then(|u| crate::manager::map_str(u, "id"))
            .unwrap_or("anonymous")
            .to_owned();
        let conn = self.remotes.allocate(server);
        self.remotes.adopted.insert(addr.clone(), conn);
        let peer = AdoptedPeer {
            addr: addr.clone(),
            idle: false,
            called: Default::default(),
        };
        self.remotes.adopted_peers.insert(conn, peer);
        if self.remotes.adopted_sweep.is_none() {
            self.remotes.adopted_sweep = Some(now + self.adopted_idle_interval());
        }
        let session = Session::new(addr, User::remote(user_id), Some(Value::Nil));
        self.sessions.insert(conn, session);
        Some(conn)
    }

    /// How long an adopted client may go without a frame before it is dropped: an HTTP request
    /// ends on its own server after `client_call_timeout` without progress, so four of them
    /// leave a live one alone.
    fn adopted_idle_interval(&self) -> std::time::Duration {
        self.config.client_call_timeout * 4
    }

    /// Drop the adopted clients that saw no frame since the last sweep (their server's "left"
    /// news was lost): what is waiting on them is released as for any client that leaves.
    pub(super) fn sweep_adopted(&mut self, now: Timestamp) {
        if self.remotes.adopted_sweep.is_none_or(|at| at > now) {
            return;
        }
        let idle: Vec<ConnId> = self
            .remotes
            .adopted_peers
            .iter()
            .filter(|(_, peer)| peer.idle)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in idle {
            self.drop_session(now, conn);
        }
        for peer in self.remotes.adopted_peers.values_mut() {
            peer.idle = true;
        }
        self.remotes.adopted_sweep =
            (!self.remotes.adopted_peers.is_empty()).then(|| now + self.adopted_idle_interval());
    }

    /// The connection of a client of this server at `addr` (text form).
    fn local_conn(&self, addr: &str) -> Option<ConnId> {
        let addr = ClientAddr::parse(addr)?;
        self.conn_of(&addr).filter(|c| !is_remote_conn(*c))
    }

    /// Deliver a broadcast of `workspace` to this server's subscribers of its event type.
    pub(super) fn fan_out_local(&mut self, workspace: &str, envelope: Envelope) {
        let Some(event) = envelope.str("type").map(str::to_owned) else {
            return;
        };
        let frame = bytes::Bytes::from(envelope.encode());
        let recipients: Vec<ConnId> = self
            .registry
            .clients_in(workspace)
            .filter(|(_, c)| !is_remote_conn(c.conn) && c.subscriptions.contains(&event))
            .map(|(_, c)| c.conn)
            .collect();
        for conn in recipients {
            self.send(conn, Frame::Binary(frame.clone()));
        }
    }

    /// One connection per other server with clients in `workspace`: where a broadcast of it is
    /// published once per server.
    pub(super) fn remote_servers_in(&self, workspace: &str) -> Vec<ConnId> {
        let mut seen = BTreeSet::new();
        self.registry
            .clients_in(workspace)
            .map(|(_, c)| c.conn)
            .filter(|conn| {
                self.remotes
                    .server_of(*conn)
                    .is_some_and(|s| seen.insert(s.to_owned()))
            })
            .collect()
    }
}
