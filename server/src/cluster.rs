//! The cluster driver: several servers share workspaces through Redis (`--redis-uri`). The
//! Router decides; this file only carries its cluster inputs and outputs (router/cluster.rs):
//!
//! - **State** (for servers that join or come back): `hc:clients:<server>` (client address →
//!   its user, msgpack) and `hc:services:<server>` (service id → its info, msgpack) per server,
//!   `hc:client:<address>` → the server holding that client (set with NX: the duplicate check is
//!   atomic across servers), `hc:servers` (members) and `hc:server:<id>` (its manager id and a random incarnation, with
//!   a TTL: the heartbeat). No keyspace scans: every read names its key.
//! - **Messages**: one channel per server, `hc:to:<server>`, carrying both the frames for its
//!   clients and the news of the others' clients and services, so news of a client always comes
//!   before its frames. Pub/sub is at-most-once: what is published while a server is cut off is
//!   lost, and callers' own timeouts report it.
//! - **Liveness**: every server refreshes its heartbeat three times per `--heartbeat-ttl-ms`
//!   (1.5 s by default); one whose heartbeat expires is gone: every survivor purges its clients (the Router rejects the calls
//!   that waited on them), and one of them deletes its keys.
//! - **Recovery**: a server that lost Redis keeps serving its own clients, reconnects with
//!   back-off, and writes its state again if Redis came back without it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use hypha_core::{ClientAddr, ClusterOut};
use redis::aio::ConnectionManager;
use redis::AsyncCommands as _;
use rmpv::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::driver::Hub;

/// Messages waiting to be written to Redis; past it they are dropped (at-most-once anyway).
const OUTGOING_CAPACITY: usize = 100_000;
/// Bytes of frames waiting to be written to Redis; past it they are dropped.
const OUTGOING_BYTES: usize = 256 * 1024 * 1024;
/// Frames sent to Redis in one pipeline at most.
const MAX_BATCH: usize = 256;
/// Longest wait between two attempts to reach Redis again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

const FRAME: u8 = 1;
const NEWS: u8 = 2;

/// What the driver loop hands to the cluster writer.
pub(crate) enum Outgoing {
    /// A frame for a client of `server`.
    Frame {
        server: String,
        bytes: axum::body::Bytes,
    },
    /// News for the other servers.
    News(ClusterOut),
}

/// The sending side the Hub holds. Frames waiting for Redis are bounded in bytes as well as in
/// number: a client sending large frames to clients of other servers faster than Redis takes
/// them loses frames (pub/sub is at-most-once anyway), the server does not grow.
#[derive(Clone)]
pub(crate) struct ClusterLink {
    tx: mpsc::Sender<Outgoing>,
    queued: Arc<AtomicUsize>,
    budget: usize,
}

impl ClusterLink {
    fn new(tx: mpsc::Sender<Outgoing>, queued: Arc<AtomicUsize>, budget: usize) -> Self {
        Self { tx, queued, budget }
    }

    pub(crate) fn send(&self, outgoing: Outgoing) {
        let len = match &outgoing {
            Outgoing::Frame { bytes, .. } => bytes.len(),
            Outgoing::News(_) => 0,
        };
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.budget {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            debug!(
                len,
                "cluster: frames for other servers over budget: one was dropped"
            );
            return;
        }
        if self.tx.try_send(outgoing).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            debug!("cluster writer behind: a message for another server was dropped");
        }
    }
}

/// Accept only the schemes the redis crate connects to: TCP, TLS and Unix sockets. Anything
/// else is an error, not a silent single-server fallback.
pub(crate) fn check_uri(uri: &str) -> Result<(), String> {
    let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "redis" | "rediss" | "unix" | "redis+unix" => Ok(()),
        _ => Err(format!(
            "unsupported --redis-uri {uri:?}: use redis://[user:password@]host:port[/db], rediss:// (TLS) or unix:///path"
        )),
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

fn server_key(id: &str) -> String {
    format!("hc:server:{id}")
}
fn clients_key(id: &str) -> String {
    format!("hc:clients:{id}")
}
fn services_key(id: &str) -> String {
    format!("hc:services:{id}")
}
fn client_key(addr: &str) -> String {
    format!("hc:client:{addr}")
}
fn channel(id: &str) -> String {
    format!("hc:to:{id}")
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("invariant: writing to a Vec cannot fail");
    out
}

fn decode(bytes: &[u8]) -> Option<Value> {
    rmpv::decode::read_value(&mut &bytes[..]).ok()
}

/// `[NEWS] msgpack [kind, origin, a?]`.
fn news_message(origin: &str, news: &ClusterOut) -> Vec<u8> {
    let (kind, arg) = match news {
        ClusterOut::ClientJoined { client, user, .. } => (
            "client",
            Value::Array(vec![client.to_string().into(), user.clone()]),
        ),
        ClusterOut::ClientLeft { client } => ("left", client.to_string().into()),
        ClusterOut::ServiceRegistered { info } => ("service", info.clone()),
        ClusterOut::ServiceUnregistered { id } => ("unservice", id.as_str().into()),
        ClusterOut::TakenOver { client, .. } => ("takeover", client.to_string().into()),
    };
    let mut out = vec![NEWS];
    out.extend(encode(&Value::Array(vec![kind.into(), origin.into(), arg])));
    out
}

/// `[FRAME] len(origin) origin frame`.
fn frame_message(origin: &str, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + origin.len() + frame.len());
    out.push(FRAME);
    out.push(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(frame);
    out
}

/// One server of the cluster.
pub(crate) struct Cluster {
    id: String,
    /// `<manager id> <random>`: the heartbeat's value, new at every start, so that the others
    /// tell a restarted server (whose old clients are all gone) from one that kept running.
    incarnation: String,
    /// A server whose heartbeat is this old is gone (refreshed three times as often).
    heartbeat_ttl: Duration,
    client: redis::Client,
    redis: ConnectionManager,
    hub: Arc<Hub>,
    /// Bytes of frames handed to the writer and not yet in a pipeline.
    queued: Arc<AtomicUsize>,
    /// Servers whose state this one has loaded, alive at the last heartbeat: their incarnation.
    known: tokio::sync::Mutex<HashMap<String, String>>,
}

impl Cluster {
    /// Connect, refuse an id that is live elsewhere, subscribe, and load the others' state.
    pub(crate) async fn join(
        uri: &str,
        id: &str,
        manager_id: &str,
        heartbeat_ttl: Duration,
        hub: Arc<Hub>,
    ) -> Result<(Arc<Self>, ClusterLink, mpsc::Receiver<Outgoing>), String> {
        check_uri(uri)?;
        let client = redis::Client::open(uri).map_err(|e| format!("--redis-uri: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let mut redis = tokio::time::timeout(
            Duration::from_secs(10),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| format!("Redis at {uri} did not answer within 10 s"))?
        .map_err(|e| format!("cannot reach Redis at {uri}: {e}"))?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| format!("random: {e}"))?;
        let incarnation = format!("{manager_id} {:016x}", u64::from_le_bytes(nonce));
        let claimed: bool = redis::cmd("SET")
            .arg(server_key(id))
            .arg(&incarnation)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(heartbeat_ttl))
            .query_async::<Option<String>>(&mut redis)
            .await
            .map_err(|e| format!("Redis: {e}"))?
            .is_some();
        if !claimed {
            return Err(format!(
                "server id {id:?} is already live in the cluster (its heartbeat {} exists): give each server its own --server-id",
                server_key(id)
            ));
        }
        // Tell the others at once, before any client of this incarnation: a restarted server's
        // old clients are gone before its new ones are news.
        let members: Vec<String> = redis.smembers("hc:servers").await.unwrap_or_default();
        let hello = {
            let mut out = vec![NEWS];
            out.extend(encode(&Value::Array(vec![
                "hello".into(),
                id.into(),
                incarnation.as_str().into(),
            ])));
            out
        };
        for server in members.iter().filter(|s| s.as_str() != id) {
            let _: redis::RedisResult<()> = redis.publish(channel(server), &hello).await;
        }
        let cluster = Arc::new(Self {
            id: id.to_owned(),
            incarnation,
            heartbeat_ttl,
            client,
            redis,
            hub,
            queued: Arc::new(AtomicUsize::new(0)),
            known: tokio::sync::Mutex::new(HashMap::new()),
        });
        // What this id held before a crash is stale: start clean.
        cluster.forget_own_state().await;
        let (tx, rx) = mpsc::channel(OUTGOING_CAPACITY);
        let link = ClusterLink::new(tx, cluster.queued.clone(), OUTGOING_BYTES);
        Ok((cluster, link, rx))
    }

    /// Run the subscriber, the heartbeat and the writer until the process ends.
    pub(crate) fn spawn(self: &Arc<Self>, outgoing: mpsc::Receiver<Outgoing>) {
        tokio::spawn(self.clone().subscribe_loop());
        tokio::spawn(self.clone().heartbeat_loop());
        tokio::spawn(self.clone().write_loop(outgoing));
    }

    /// Leave on shutdown: the others purge this server's clients at once, and its id may be
    /// used again right away.
    pub(crate) async fn leave(&self) {
        let mut redis = self.conn();
        let clients: Vec<String> = redis.hkeys(clients_key(&self.id)).await.unwrap_or_default();
        for addr in clients {
            let _ = release_client(&mut redis, &addr, &self.id).await;
        }
        let _: redis::RedisResult<()> = redis.srem("hc:servers", &self.id).await;
        let _: redis::RedisResult<()> = redis
            .del(&[
                server_key(&self.id),
                clients_key(&self.id),
                services_key(&self.id),
            ])
            .await;
        info!("cluster: left");
    }

    fn conn(&self) -> ConnectionManager {
        self.redis.clone()
    }

    async fn forget_own_state(&self) {
        let mut redis = self.conn();
        let _: redis::RedisResult<()> = redis
            .del(&[clients_key(&self.id), services_key(&self.id)])
            .await;
    }

    // ------------------------------------------------------------------ incoming

    async fn subscribe_loop(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(channel(&self.id)).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        info!(channel = %channel(&self.id), "cluster: subscribed");
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            self.receive(msg.get_payload_bytes());
                        }
                        warn!("cluster: lost the subscription to Redis; reconnecting");
                    }
                    Err(e) => warn!(error = %e, "cluster: cannot subscribe"),
                },
                Err(e) => debug!(error = %e, "cluster: Redis unreachable for the subscription"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A message on this server's channel.
    fn receive(&self, payload: &[u8]) {
        match payload.split_first() {
            Some((&FRAME, rest)) => {
                let Some((&len, rest)) = rest.split_first() else {
                    return;
                };
                let len = usize::from(len);
                if rest.len() < len {
                    return;
                }
                let Ok(origin) = std::str::from_utf8(&rest[..len]) else {
                    return;
                };
                let frame = rest[len..].to_vec();
                self.hub
                    .cluster_input(|router, now| router.handle_cluster_frame(now, origin, frame));
            }
            Some((&NEWS, rest)) => {
                if let Some(Value::Array(items)) = decode(rest) {
                    self.apply_news(&items);
                }
            }
            _ => {}
        }
    }

    fn apply_news(&self, items: &[Value]) {
        let (Some(kind), Some(origin)) = (
            items.first().and_then(Value::as_str),
            items.get(1).and_then(Value::as_str),
        ) else {
            return;
        };
        if origin == self.id {
            return;
        }
        let arg = items.get(2).cloned().unwrap_or(Value::Nil);
        let addr_of = |v: &Value| v.as_str().and_then(ClientAddr::parse);
        match kind {
            "hello" => {
                let Some(incarnation) = arg.as_str() else {
                    return;
                };
                let manager = incarnation.split(' ').next().unwrap_or_default();
                self.hub.cluster_input(|router, now| {
                    router.handle_server_joined(now, origin, manager, incarnation);
                });
            }
            "client" => {
                let Value::Array(parts) = arg else { return };
                let (Some(client), Some(user)) = (parts.first().and_then(addr_of), parts.get(1))
                else {
                    return;
                };
                self.hub.cluster_input(|router, now| {
                    if let Err(e) = router.handle_remote_client(now, origin, client, user) {
                        debug!(error = %e, "cluster: a client of another server was refused");
                    }
                });
            }
            "left" => {
                if let Some(client) = addr_of(&arg) {
                    self.hub.cluster_input(|router, now| {
                        router.handle_remote_client_gone(now, origin, &client)
                    });
                }
            }
            "service" => self.hub.cluster_input(|router, now| {
                if let Err(e) = router.handle_remote_service(now, origin, &arg) {
                    debug!(error = %e, "cluster: a service of another server was refused");
                }
            }),
            "unservice" => {
                if let Some(id) = arg.as_str() {
                    self.hub.cluster_input(|router, now| {
                        router.handle_remote_service_removed(now, origin, id)
                    });
                }
            }
            "takeover" => {
                if let Some(client) = addr_of(&arg) {
                    self.hub.close_local_client(
                        &client,
                        "replaced by a reconnection of the same client on another server",
                    );
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ liveness

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.heartbeat_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.heartbeat().await {
                debug!(error = %e, "cluster: heartbeat failed (Redis unreachable?)");
            }
        }
    }

    async fn heartbeat(&self) -> redis::RedisResult<()> {
        let mut redis = self.conn();
        let () = redis
            .pset_ex(
                server_key(&self.id),
                &self.incarnation,
                ttl_ms(self.heartbeat_ttl),
            )
            .await?;
        let added: i64 = redis.sadd("hc:servers", &self.id).await?;
        if added == 1 {
            // Redis lost this server (restarted empty, or it is new): write its state again.
            self.republish().await;
        }
        let members: Vec<String> = redis.smembers("hc:servers").await?;
        let others: Vec<&String> = members.iter().filter(|s| **s != self.id).collect();
        // One MGET for every other server's heartbeat: a tick costs four commands whatever the
        // size of the cluster.
        let incarnations: Vec<Option<String>> = if others.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<String> = others.iter().map(|s| server_key(s)).collect();
            redis::cmd("MGET").arg(keys).query_async(&mut redis).await?
        };
        let mut known = self.known.lock().await;
        for (server, incarnation) in others.into_iter().zip(incarnations) {
            let before = known.get(server).cloned();
            match incarnation {
                Some(now) if before.as_ref() == Some(&now) => {}
                Some(now) => {
                    // (A restarted server's old clients go in the Router, which sees the new
                    // incarnation.)
                    info!(%server, "cluster: a server joined");
                    self.load(server, &now).await?;
                    known.insert(server.clone(), now);
                }
                None => {
                    if known.remove(server).is_some() {
                        warn!(%server, "cluster: a server stopped answering; purging its clients");
                        self.forget_server(server);
                    }
                    self.reap(server).await;
                }
            }
        }
        // A server that left the member set (it left, or was reaped) is gone too.
        let gone: Vec<String> = known
            .keys()
            .filter(|s| !members.contains(s))
            .cloned()
            .collect();
        for server in gone {
            known.remove(&server);
            self.forget_server(&server);
        }
        Ok(())
    }

    fn forget_server(&self, server: &str) {
        self.hub
            .cluster_input(|router, now| router.handle_server_gone(now, server));
    }

    /// Take in a server's manager, clients and services.
    async fn load(&self, server: &str, incarnation: &str) -> redis::RedisResult<()> {
        let manager = incarnation.split(' ').next().unwrap_or_default();
        let mut redis = self.conn();
        let clients: HashMap<String, Vec<u8>> = redis.hgetall(clients_key(server)).await?;
        let services: HashMap<String, Vec<u8>> = redis.hgetall(services_key(server)).await?;
        self.hub.cluster_input(|router, now| {
            router.handle_server_joined(now, server, manager, incarnation);
            for (addr, user) in &clients {
                if let (Some(addr), Some(user)) = (ClientAddr::parse(addr), decode(user)) {
                    let _ = router.handle_remote_client(now, server, addr, &user);
                }
            }
            for info in services.values().filter_map(|v| decode(v)) {
                let _ = router.handle_remote_service(now, server, &info);
            }
        });
        Ok(())
    }

    /// Delete a dead server's keys: atomically, and only while its heartbeat is absent (it may
    /// have restarted since this server looked).
    async fn reap(&self, server: &str) {
        let script = redis::Script::new(
            r"
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            for _, addr in ipairs(redis.call('HKEYS', KEYS[2])) do
              local key = 'hc:client:' .. addr
              if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
            end
            redis.call('DEL', KEYS[2], KEYS[3])
            redis.call('SREM', 'hc:servers', ARGV[1])
            return 1
            ",
        );
        let mut redis = self.conn();
        let reaped: redis::RedisResult<i64> = script
            .key(server_key(server))
            .key(clients_key(server))
            .key(services_key(server))
            .arg(server)
            .invoke_async(&mut redis)
            .await;
        if matches!(reaped, Ok(1)) {
            info!(%server, "cluster: removed a dead server's state");
        }
    }

    /// Write this server's clients and services again (Redis lost them).
    async fn republish(&self) {
        let snapshot = self.hub.cluster_snapshot();
        info!(
            records = snapshot.len(),
            "cluster: writing this server's state to Redis"
        );
        for news in snapshot {
            self.store(&news).await;
        }
    }

    // ------------------------------------------------------------------ outgoing

    async fn write_loop(self: Arc<Self>, mut outgoing: mpsc::Receiver<Outgoing>) {
        let mut frames = redis::pipe();
        let mut batched = 0usize;
        while let Some(first) = outgoing.recv().await {
            let mut next = Some(first);
            // Frames waiting together go out in one pipeline (one round trip to Redis), in
            // order; news keeps its place after the frames before it.
            while let Some(message) = next.take() {
                match message {
                    Outgoing::Frame { server, bytes } => {
                        self.queued.fetch_sub(bytes.len(), Ordering::Relaxed);
                        frames
                            .publish(channel(&server), frame_message(&self.id, &bytes))
                            .ignore();
                        batched += 1;
                    }
                    Outgoing::News(news) => {
                        self.flush_frames(&mut frames, &mut batched).await;
                        self.send_news(news).await;
                    }
                }
                if batched < MAX_BATCH {
                    next = outgoing.try_recv().ok();
                }
            }
            self.flush_frames(&mut frames, &mut batched).await;
        }
    }

    async fn flush_frames(&self, frames: &mut redis::Pipeline, batched: &mut usize) {
        if *batched == 0 {
            return;
        }
        let mut redis = self.conn();
        if let Err(e) = frames.query_async::<()>(&mut redis).await {
            debug!(error = %e, frames = *batched, "cluster: frames were lost");
        }
        frames.clear();
        *batched = 0;
    }

    async fn send_news(&self, news: ClusterOut) {
        // Announced before it is stored: the other servers' copies are what their clients' next
        // calls see. A duplicate client is the exception: checked first, so that the others
        // never hear of it.
        if matches!(news, ClusterOut::ClientJoined { .. }) {
            if self.store(&news).await {
                self.announce(&news).await;
            }
        } else {
            self.announce(&news).await;
            self.store(&news).await;
        }
    }

    /// Record `news` in Redis; false if it must not be announced (a duplicate client, closed).
    async fn store(&self, news: &ClusterOut) -> bool {
        let mut redis = self.conn();
        let result: redis::RedisResult<bool> = async {
            match news {
                ClusterOut::ClientJoined {
                    client,
                    user,
                    reconnected,
                } => {
                    let addr = client.to_string();
                    let set: Option<String> = redis::cmd("SET")
                        .arg(client_key(&addr))
                        .arg(&self.id)
                        .arg("NX")
                        .query_async(&mut redis)
                        .await?;
                    if set.is_none() {
                        let owner: Option<String> = redis.get(client_key(&addr)).await?;
                        let live = match &owner {
                            Some(owner) if *owner != self.id => {
                                redis.exists::<_, bool>(server_key(owner)).await?
                            }
                            _ => false,
                        };
                        if live && !reconnected {
                            self.hub.close_local_client(
                                client,
                                "client already exists and is connected on another server",
                            );
                            return Ok(false);
                        }
                        let () = redis.set(client_key(&addr), &self.id).await?;
                        if let (true, Some(owner)) = (live, owner) {
                            // Its reconnection token won: the server that held it lets it go.
                            let takeover = ClusterOut::TakenOver {
                                client: client.clone(),
                                server: owner,
                            };
                            self.announce(&takeover).await;
                        }
                    }
                    let () = redis
                        .hset(clients_key(&self.id), &addr, encode(user))
                        .await?;
                }
                ClusterOut::ClientLeft { client } => {
                    let addr = client.to_string();
                    release_client(&mut redis, &addr, &self.id).await?;
                    let () = redis.hdel(clients_key(&self.id), &addr).await?;
                    let prefix = format!("{addr}:");
                    let ids: Vec<String> = redis.hkeys(services_key(&self.id)).await?;
                    let own: Vec<&String> = ids.iter().filter(|i| i.starts_with(&prefix)).collect();
                    if !own.is_empty() {
                        let () = redis.hdel(services_key(&self.id), own).await?;
                    }
                }
                ClusterOut::ServiceRegistered { info } => {
                    let Some(id) = map_str(info, "id") else {
                        return Ok(false);
                    };
                    let () = redis.hset(services_key(&self.id), id, encode(info)).await?;
                }
                ClusterOut::ServiceUnregistered { id } => {
                    let () = redis.hdel(services_key(&self.id), id).await?;
                }
                ClusterOut::TakenOver { client, .. } => {
                    let () = redis.set(client_key(&client.to_string()), &self.id).await?;
                }
            }
            Ok(true)
        }
        .await;
        result.unwrap_or_else(|e| {
            debug!(error = %e, "cluster: could not record a change in Redis (it is republished when Redis is back)");
            true
        })
    }

    /// Publish `news` to every other server (only to the one that held a taken-over client).
    async fn announce(&self, news: &ClusterOut) {
        let mut redis = self.conn();
        let message = news_message(&self.id, news);
        let targets: Vec<String> = match news {
            ClusterOut::TakenOver { server, .. } => vec![server.clone()],
            _ => redis.smembers("hc:servers").await.unwrap_or_default(),
        };
        for server in targets.iter().filter(|s| **s != self.id) {
            if let Err(e) = redis.publish::<_, _, ()>(channel(server), &message).await {
                debug!(error = %e, %server, "cluster: news was lost");
            }
        }
    }
}

/// Delete `hc:client:<addr>` if `server` still holds it (atomically: another server may have
/// taken the client over meanwhile).
async fn release_client(
    redis: &mut ConnectionManager,
    addr: &str,
    server: &str,
) -> redis::RedisResult<()> {
    let script = redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
    );
    let _: i64 = script
        .key(client_key(addr))
        .arg(server)
        .invoke_async(redis)
        .await?;
    Ok(())
}

fn map_str<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_redis_schemes_are_accepted() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://user:pw@host:1/2",
            "rediss://host:6380",
            "unix:///run/redis.sock",
        ] {
            assert!(check_uri(ok).is_ok(), "{ok}");
        }
        for bad in ["http://host", "file.db", "", "redis:/x", "memory://"] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_for_other_servers_are_bounded_in_bytes() {
        let (tx, mut rx) = mpsc::channel(100);
        let queued = Arc::new(AtomicUsize::new(0));
        let link = ClusterLink::new(tx, queued.clone(), 1000);
        let frame = |n: usize| Outgoing::Frame {
            server: "b".into(),
            bytes: axum::body::Bytes::from(vec![0u8; n]),
        };
        link.send(frame(600));
        link.send(frame(600)); // over the budget: dropped
        link.send(frame(400));
        assert_eq!(queued.load(Ordering::Relaxed), 1000);
        let mut taken = Vec::new();
        while let Ok(Outgoing::Frame { bytes, .. }) = rx.try_recv() {
            taken.push(bytes.len());
        }
        assert_eq!(taken, [600, 400]);
    }

    #[test]
    fn messages_carry_their_origin() {
        let frame = frame_message("s1", b"\x81\xa1a\x01");
        assert_eq!(frame[0], FRAME);
        assert_eq!(&frame[2..4], b"s1");
        assert_eq!(&frame[4..], b"\x81\xa1a\x01");
        let news = news_message(
            "s1",
            &ClusterOut::ClientLeft {
                client: ClientAddr::new("ws", "c"),
            },
        );
        assert_eq!(news[0], NEWS);
        let decoded = decode(&news[1..]).expect("msgpack");
        assert_eq!(
            decoded,
            Value::Array(vec!["left".into(), "s1".into(), "ws/c".into()])
        );
    }
}
