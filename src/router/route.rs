//! Routing of binary RPC frames between clients (protocol.md §2.2, §2.5): stamp the sender's
//! identity, resolve the target, enforce visibility at call time, deliver, and keep the call
//! table that lets a departing client release whoever waits on it.

use rmpv::Value;

use super::{Event, Frame, Router};
use crate::registry::{split_address, ClientAddr, ConnId};
use crate::time::Timestamp;
use crate::wire::Envelope;

/// Event types a client may not send: the server's own notifications (`peer_not_found`,
/// `client_disconnected`, `service_added`, `workspace_*`...) and hypha-rpc's local life-cycle
/// events (`connected`, `disconnected`, `force-exit`...), which receivers trust blindly.
pub(super) fn is_reserved_event(event: &str) -> bool {
    const RESERVED: &[&str] = &[
        "peer_not_found",
        "error",
        "force-exit",
        "connected",
        "disconnected",
        "manager_refreshed",
        "remote_client_disconnected",
        "services_registered",
        "services_registration_failed",
        "client_connected",
        "client_updated",
        "client_disconnected",
        "service_added",
        "service_updated",
        "service_removed",
        "connection_info",
        "reconnection_token",
    ];
    RESERVED.contains(&event) || event.starts_with("workspace_")
}

/// A peer's binary frame as an envelope, if it is one the Router may pass on: it decodes, its
/// payload decodes and repeats no routing key (which would shadow the stamped ones on the
/// receiver), and any `ctx` it brought is gone. For frames from clients and from other servers
/// of a cluster alike.
pub(super) fn checked_envelope(bytes: Vec<u8>) -> Option<Envelope> {
    let mut envelope = Envelope::decode(bytes).ok()?;
    if !matches!(envelope.payload_shadows_routing(), Ok(false)) {
        return None;
    }
    envelope.remove("ctx");
    Some(envelope)
}

/// The client id of root's own client, and of its presence in other workspaces.
const ROOT_CLIENT: &str = crate::registry::ROOT_ADDR.1;

/// Where a frame is going.
enum Target {
    Manager,
    Broadcast,
    Client(ClientAddr),
}

impl Router {
    pub(super) fn route(&mut self, now: Timestamp, conn: ConnId, bytes: Vec<u8>) {
        let Some(envelope) = checked_envelope(bytes) else {
            return;
        };
        // Event types the server or the client library itself fires must never come from a
        // peer: clients act on them without checking the sender.
        if envelope.str("type").is_none_or(is_reserved_event) {
            return;
        }
        self.dispatch_envelope(now, conn, envelope);
    }

    /// Route an envelope from `conn` that passed the frame checks (or that the Router built for
    /// one of its own HTTP peers): stamp the sender's identity, resolve the target, deliver.
    pub(super) fn dispatch_envelope(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        mut envelope: Envelope,
    ) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        self.frames_routed += 1;
        let home = session.addr.workspace.clone();
        let target = match envelope.str("to") {
            None => return,
            Some(to) if to == self.manager_addr => Target::Manager,
            // Answers to another server's manager go back to it; anything else addressed to a
            // manager is for this server's own (clients call the manager of their server).
            Some(to) if self.remotes.manager_conn(to).is_some() && !is_manager_call(&envelope) => {
                let (_, id) = split_address(to).unwrap_or_default();
                Target::Client(ClientAddr::new("*", id))
            }
            Some(to) if is_manager_alias(to) => Target::Manager,
            Some("*") => Target::Broadcast,
            Some(to) => match split_address(to) {
                None => Target::Client(ClientAddr::new(home.clone(), to)),
                Some((ws, "*")) if ws == home => Target::Broadcast,
                Some(_) => match ClientAddr::parse(to) {
                    Some(addr) => Target::Client(addr),
                    None => return,
                },
            },
        };
        // Root administers every workspace: into another one it speaks as `<ws>/root`, its
        // presence there, so the callee's own visibility check (hypha-rpc accepts protected
        // calls only from its workspace) lets it in, and answers come back through
        // `root_presence`.
        let mut sender_ws = home;
        let mut from = session.addr.text();
        if let Target::Client(addr) = &target {
            if addr.workspace != sender_ws && self.root_conn() == Some(conn) {
                // What answers a call the peer made to root's own address (and calls into that
                // call's callbacks) keeps root's own address: the peer checks it.
                // (The peer may be one of the Router's own HTTP peers: `conn_of` knows both.)
                let peer = self.conn_of(addr);
                let method = envelope.str("method").unwrap_or_default();
                // An answer too large for one frame goes through the peer's message cache, under
                // the call's session id, and `process` hands it over with that frame's `from`.
                let chunked = method == CHUNKED_MESSAGE_PROCESS;
                let (head, kind) = method.split_once('.').unwrap_or((method, ""));
                let session = if chunked {
                    chunked_message_id(&envelope).unwrap_or_default()
                } else {
                    head.to_owned()
                };
                // Root's own calls into the workspace (`services.*`) speak as its presence.
                let in_session = chunked || head != "services";
                // (A chunked message may be a callback rather than the answer: what it answers
                // stays remembered until the answer, or until the peer leaves.)
                let last = !chunked && matches!(kind, "resolve" | "reject");
                let answers_direct = in_session
                    && peer.is_some_and(|peer| self.root_direct.answers(peer, &session, last));
                let presence = ClientAddr::new(addr.workspace.clone(), ROOT_CLIENT);
                if !answers_direct && self.registry.client(&presence).is_none() {
                    sender_ws = addr.workspace.clone();
                    from = presence.to_string();
                }
            }
        }
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        envelope.set("from", from.into());
        envelope.set("ws", sender_ws.as_str().into());
        let stamp_user = match &target {
            Target::Client(addr) => self.receiver_reads_user(addr, &envelope),
            Target::Manager | Target::Broadcast => true,
        };
        if stamp_user {
            envelope.set("user", session.user_value().clone());
        } else {
            // Whatever the sender put there is not to be trusted, and the receiver does not
            // read it.
            envelope.remove("user");
        }
        match target {
            Target::Manager => self.manager_call(now, conn, envelope, 0),
            Target::Broadcast => self.broadcast(conn, &sender_ws, envelope),
            Target::Client(addr) => self.direct(now, conn, &sender_ws, addr, envelope),
        }
    }

    /// True if the receiver of `envelope` at `addr` reads the stamped `user` map: events (the
    /// handler gets the whole message) and calls into a service function that takes the
    /// caller's context, or into a service the registry does not know (a client's built-in or
    /// interface objects, whose config only the client has). Answers, heartbeats and callbacks
    /// of a session never take a context in hypha-rpc, so they go without the map that made up
    /// most of their bytes (a small call: 482 bytes with it, 175 without).
    fn receiver_reads_user(&self, addr: &ClientAddr, envelope: &Envelope) -> bool {
        if envelope.str("type") != Some("method") {
            return true;
        }
        self.function_reads_user(addr, envelope.str("method").unwrap_or_default())
    }

    /// True if a call of `method` at `addr` hands the function the caller's context (with its
    /// `user` map): a service function that asks for it, or a member of a service the registry
    /// does not know.
    pub(super) fn function_reads_user(&self, addr: &ClientAddr, method: &str) -> bool {
        let Some((service, function)) = service_call(method) else {
            return false;
        };
        match self.registry.service_of(&addr.text(), service) {
            Some(record) => record.require_context.wants(function),
            None => true,
        }
    }

    /// Calls from other workspaces to root's own address still remembered (for tests and
    /// metrics).
    pub fn root_calls_remembered(&self) -> usize {
        self.root_direct.len()
    }

    /// Connections linked to some connection of another workspace by a service call (for tests
    /// and metrics).
    pub fn cross_linked_connections(&self) -> usize {
        self.links.len()
    }

    /// The connection of root itself (`default/root` held by the superuser), if connected.
    pub(super) fn root_conn(&self) -> Option<ConnId> {
        self.registry.root_conn()
    }

    /// Root's presence `<ws>/root` in a workspace where no client holds that address: frames to
    /// it go to root's own connection.
    pub(super) fn root_presence(&self, addr: &ClientAddr) -> Option<ConnId> {
        (addr.client_id == ROOT_CLIENT && addr.workspace != crate::auth::DEFAULT_WORKSPACE)
            .then(|| self.root_conn())
            .flatten()
    }

    fn broadcast(&mut self, sender: ConnId, workspace: &str, mut envelope: Envelope) {
        if !self.may_write(sender) {
            return;
        }
        let Some(event) = envelope.str("type").map(str::to_owned) else {
            return;
        };
        envelope.set("to", format!("{workspace}/*").into());
        let frame = bytes::Bytes::from(envelope.encode());
        let recipients: Vec<ConnId> = self
            .registry
            .clients_in(workspace)
            .filter(|(_, c)| c.subscriptions.contains(&event))
            .map(|(_, c)| c.conn)
            .collect();
        for conn in recipients {
            self.send(conn, Frame::Binary(frame.clone()));
        }
        // Once to each other server with clients in the workspace; it fans out to its own.
        for server in self.remote_servers_in(workspace) {
            self.send(server, Frame::Binary(frame.clone()));
        }
    }

    pub(super) fn direct(
        &mut self,
        now: Timestamp,
        sender: ConnId,
        sender_ws: &str,
        target: ClientAddr,
        mut envelope: Envelope,
    ) {
        let session = envelope.str("session").map(str::to_owned);
        let presence =
            self.registry.client(&target).is_none() && self.root_presence(&target).is_some();
        let Some(callee) = self.conn_of(&target) else {
            if let Some(session) = session {
                self.peer_not_found(
                    sender,
                    &session,
                    &target.to_string(),
                    &format!("Peer {target} is not connected"),
                );
            }
            return;
        };
        // An HTTP request's peer calling a client of another server: that server will know it
        // (cluster.rs adopts it) until it ends, so its end is news.
        if sender.0 >= super::FIRST_ROUTER_CONN && self.remote_server(callee).is_some() {
            self.remotes.calling_out.insert(sender);
        }
        // A call from another workspace to root's own address: its answers must come from there.
        if !presence && sender_ws != target.workspace && Some(callee) == self.root_conn() {
            if let Some(session) = &session {
                self.root_direct.called(sender, session);
            }
            // The call assembled in root's message cache is answered in a session not seen here.
            if envelope.str("method") == Some(CHUNKED_MESSAGE_PROCESS) {
                self.root_direct.called_chunked(sender);
            }
        }
        let is_method = envelope.str("type") == Some("method");
        let method = envelope.str("method").unwrap_or_default();
        // Plain events stay inside the sender's workspace; only calls (checked below and again
        // by the callee) may cross.
        if !is_method && sender_ws != target.workspace.as_str() {
            return;
        }
        // Answers to another server's manager: it stamps its questions with the recipient's
        // workspace, and takes from here only answers to questions it asked (cluster.rs).
        let to_remote_manager = target.workspace == "*";
        if is_method {
            let denied = (!to_remote_manager)
                .then(|| {
                    self.call_denied(sender_ws, &target, method).or_else(|| {
                        (sender_ws != target.workspace)
                            .then(|| self.cross_link(sender, callee, &target, method))
                            .flatten()
                    })
                })
                .flatten();
            if let Some(denial) = denied {
                if let Some(session) = session {
                    // peer_id left empty: only this call is rejected, not the caller's other
                    // calls to the same peer.
                    self.peer_not_found(sender, &session, "", &denial);
                }
                return;
            }
            if let Some(session) = &session {
                self.calls.track(now, sender, session, callee, &target);
            }
            #[cfg(feature = "http")]
            if super::http::is_peer_conn(sender) {
                self.http.called(sender, callee);
            }
            if super::cluster::is_remote_conn(sender) && sender_ws == target.workspace {
                self.remotes.adopted_called(sender, callee);
            }
            // A callee answering: `<caller session>.resolve|reject|heartbeat` sent to the caller.
            if let Some((caller_session, kind)) = method.rsplit_once('.') {
                match kind {
                    "resolve" | "reject" => {
                        self.calls.complete(callee, caller_session, sender);
                    }
                    "heartbeat" => self.calls.keep_alive(now, callee, caller_session, sender),
                    _ => {}
                }
            }
        }
        // Root is told its own address, as its client expects, whichever presence was used.
        // A `to` that already reads as the target's address (as hypha-rpc writes it) stays.
        if presence {
            let root = format!("{}/{ROOT_CLIENT}", crate::auth::DEFAULT_WORKSPACE);
            envelope.set("to", root.into());
        } else if !envelope.str("to").is_some_and(|to| target.is_text(to)) {
            envelope.set("to", target.text().into());
        }
        self.send_envelope(callee, envelope);
    }

    /// Why a call from a client in `caller_ws` to `method` of `target` is refused, if it is:
    /// calls into a service are checked against the service's visibility here, so a protected
    /// service cannot be reached from another workspace even by a client that skips the
    /// manager and guesses the address.
    ///
    /// The host page's dispatch service runs host methods with the context the manager
    /// forwards, so only the manager's own asks (which are not routed) may reach it: a peer
    /// calling it directly, at the host's address or root's presence in a workspace, could hand
    /// it any context.
    pub(super) fn call_denied(
        &self,
        caller_ws: &str,
        target: &ClientAddr,
        method: &str,
    ) -> Option<String> {
        let (service, _) = service_call(method)?;
        if let Some(host) = &self.config.host {
            let at_host = *target == host.client
                || (host.client.client_id == ROOT_CLIENT && self.root_presence(target).is_some());
            if service == host.service && at_host {
                return Some(format!(
                    "Permission denied for service {target}:{service}: it answers the workspace manager only"
                ));
            }
        }
        if caller_ws == target.workspace {
            return None;
        }
        if service.starts_with("_rintf_") {
            // Interface objects live only in their client, which checks the allowed caller.
            return None;
        }
        #[cfg(feature = "http")]
        if service == "built-in" && self.http.conn_of(target).is_some() {
            // An HTTP peer's `message_cache`, for a provider's large answer: the peer itself
            // accepts only the providers its request waits on.
            return None;
        }
        match self.registry.service_of(&target.text(), service) {
            Some(record) if record.usable_from(caller_ws) => None,
            Some(record) => Some(format!(
                "Permission denied for service {}: it is protected and the caller is in workspace {caller_ws}",
                record.id
            )),
            // Only registered services are callable across workspaces; `built-in` is
            // registered by every client and is public.
            None => Some(format!("Permission denied: {target} has no service {service} reachable from {caller_ws}")),
        }
    }

    /// Why a method frame from `sender` to `callee` in another workspace is refused, if it is
    /// (see [`super::links`]): a `services.*` call (already checked by [`Self::call_denied`])
    /// links the two; anything else needs that link.
    fn cross_link(
        &mut self,
        sender: ConnId,
        callee: ConnId,
        target: &ClientAddr,
        method: &str,
    ) -> Option<String> {
        if method.starts_with("services.") {
            return match self.links.link(sender, callee) {
                Ok(()) => None,
                Err(super::links::Refused::Connection) => Some(format!(
                    "Permission denied: {target} or the caller already talks to {} clients of other workspaces",
                    super::links::MAX_LINKS_PER_CONN
                )),
                Err(super::links::Refused::Server) => Some(
                    "the server holds its most calls across workspaces: try again later".to_owned(),
                ),
            };
        }
        (!self.links.linked(sender, callee)).then(|| {
            format!("Permission denied: {target} is in another workspace and has no call with the caller")
        })
    }

    /// Tell `conn` that its call `session` cannot complete.
    pub(super) fn peer_not_found(&mut self, conn: ConnId, session: &str, peer: &str, error: &str) {
        let mut main = vec![
            ("type".to_owned(), "peer_not_found".into()),
            ("session".to_owned(), session.into()),
            ("peer_id".to_owned(), peer.into()),
            ("error".to_owned(), error.into()),
        ];
        // A caller on another server: its server delivers by address.
        if let Some(caller) = self
            .remotes
            .server_of(conn)
            .and_then(|_| self.sessions.get(&conn))
        {
            main.push(("to".to_owned(), caller.addr.to_string().into()));
        }
        let envelope = Envelope::new(main, None);
        self.send(conn, Frame::Binary(envelope.encode().into()));
    }

    /// The transport of `conn` closed (or the driver closed it after an [`Event::Close`]).
    /// Removes the client and its services, tells subscribers, and releases every caller
    /// waiting on it.
    pub fn handle_disconnect(&mut self, now: Timestamp, conn: ConnId) {
        if super::is_router_conn(conn) {
            return;
        }
        self.drop_session(now, conn);
    }

    /// The client on `conn` is gone, whatever carried it (a driver's connection or one of the
    /// Router's HTTP streams): the cleanup [`Self::handle_disconnect`] describes.
    pub(super) fn drop_session(&mut self, now: Timestamp, conn: ConnId) {
        let Some(session) = self.sessions.remove(&conn) else {
            return;
        };
        let addr = session.addr;
        let remote = super::cluster::is_remote_conn(conn);
        if remote && self.registry.client(&addr).map(|c| c.conn) != Some(conn) {
            // Another server's manager, or the peer of one of its HTTP requests: never listed
            // here, only their calls and questions were.
            self.forget_conn(now, conn, &addr);
            let callees = self.remotes.take_adopted_callees(conn);
            self.tell_left(now, &addr, callees.as_slice());
            self.release_remote(conn);
            return;
        }
        let removed = self.registry.remove_client(&addr);
        let registered = removed.is_some();
        if let Some((_, services)) = removed {
            for service in services {
                self.notices.push(crate::manager::Notice {
                    workspace: addr.workspace.clone(),
                    event: "service_removed",
                    data: service.info(),
                });
            }
        }
        self.notices.push(crate::manager::Notice {
            workspace: addr.workspace.clone(),
            event: "client_disconnected",
            data: departure(&addr),
        });
        self.caches.forget(&addr);
        self.forget_conn(now, conn, &addr);
        // Hosts hear the services go before the client, in the order subscribers do.
        #[cfg(feature = "http")]
        self.pump_http(now);
        self.flush_notices();
        if remote {
            self.release_remote(conn);
        } else if registered {
            // (The Router's own HTTP peers were never announced.)
            self.cluster_push(super::ClusterOut::ClientLeft {
                client: addr.clone(),
            });
        }
        self.events
            .push_back(Event::ClientDisconnected { client: addr });
    }

    /// Tell each of `conns` whose client subscribed to `client_disconnected` that `addr` left,
    /// a moment from `now` (see [`super::departures`]): those its workspace's subscribers do not
    /// include, clients of other workspaces a client was linked with and whoever one of the
    /// Router's HTTP peers called (no workspace hears of a peer's departure).
    pub(super) fn tell_left(&mut self, now: Timestamp, addr: &ClientAddr, conns: &[ConnId]) {
        for &conn in conns {
            if self.hears_departures(conn) {
                if let Some((conn, addr)) = self.departures.defer(now, conn, addr.clone()) {
                    self.send_departure(conn, &addr);
                }
            }
        }
    }

    /// Send the departure notices that are due at `now`.
    pub(super) fn send_due_departures(&mut self, now: Timestamp) {
        while let Some((conn, addr)) = self.departures.pop_due(now) {
            self.send_departure(conn, &addr);
        }
    }

    fn send_departure(&mut self, conn: ConnId, addr: &ClientAddr) {
        // Still there, and still listening.
        if self.hears_departures(conn) {
            let frame = super::notice_frame("client_disconnected", departure(addr));
            self.send(conn, Frame::Binary(frame));
        }
    }

    /// True if the client on `conn` subscribed to `client_disconnected`.
    fn hears_departures(&self, conn: ConnId) -> bool {
        self.sessions
            .get(&conn)
            .and_then(|s| self.registry.client(&s.addr))
            .is_some_and(|c| c.conn == conn && c.subscriptions.contains("client_disconnected"))
    }

    /// Release whoever waits on the departing `conn` (client `addr`), and forget what it waited
    /// on and was linked to.
    fn forget_conn(&mut self, now: Timestamp, conn: ConnId, addr: &ClientAddr) {
        self.calls.forget_caller(conn);
        let linked = self.links.forget(conn);
        self.tell_left(now, addr, &linked);
        self.root_direct.forget(conn);
        for (caller, call_session, callee) in self.calls.take_for_callee(conn) {
            let error = format!("Peer {callee} disconnected before answering");
            self.peer_not_found(caller, &call_session, &callee.to_string(), &error);
        }
        self.asks.forget_requester(conn);
        for (requester, then) in self.asks.take_for_target(conn) {
            let outcome = crate::manager::resume(
                then,
                Err(format!("client {addr} disconnected before answering")),
            );
            self.deliver(now, &requester, outcome);
        }
    }
}

/// What `client_disconnected` says of `addr`.
fn departure(addr: &ClientAddr) -> Value {
    Value::Map(vec![
        ("id".into(), addr.client_id.as_str().into()),
        ("workspace".into(), addr.workspace.as_str().into()),
    ])
}

/// The call that hands a message assembled in a client's message cache over to it.
const CHUNKED_MESSAGE_PROCESS: &str = "services.built-in.message_cache.process";

/// The message id of a `message_cache.process` call (its first argument): for an answer, the
/// session of the call it answers.
fn chunked_message_id(envelope: &Envelope) -> Option<String> {
    let payload = envelope.decode_payload().ok()?;
    let args = crate::manager::Args::from_payload(payload.as_ref());
    args.positional().first()?.as_str().map(str::to_owned)
}

/// The service (its name, without an `@app` suffix) and the function path a
/// `services.<service>.<function>` method calls; `None` for any other method (answers,
/// callbacks and generators of a session).
fn service_call(method: &str) -> Option<(&str, &str)> {
    let call = method.strip_prefix("services.")?;
    let (service, function) = call.split_once('.').unwrap_or((call, ""));
    Some((service.split('@').next().unwrap_or(service), function))
}

/// True if `envelope` calls a service (`services.*`), rather than answering or calling back in a
/// session.
fn is_manager_call(envelope: &Envelope) -> bool {
    envelope
        .str("method")
        .is_none_or(|m| m.starts_with("services."))
}

/// `*/<base>` or `*/<base>-<suffix>`: the manager under an id a client kept from before a restart
/// (see [`crate::config::MANAGER_ID_BASE`]).
fn is_manager_alias(to: &str) -> bool {
    let base = crate::config::MANAGER_ID_BASE;
    to.strip_prefix("*/")
        .and_then(|id| id.strip_prefix(base))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}
