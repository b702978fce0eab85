//! The cluster driver: several servers share workspaces through Redis (`--redis-uri`). The
//! Router decides; this module only carries its cluster inputs and outputs (router/cluster.rs):
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
//!   back-off, and writes its state again if Redis came back without it, before it puts itself
//!   back in the member set (whoever loads it then finds all of it). After Redis came back empty,
//!   every server is missing from it until its own next heartbeat: for one TTL, a missing server
//!   is not taken for dead, and each is loaded again when it shows.
//!
//! Here: joining, leaving and the link the Hub sends through. `messages` holds the key names
//! and message formats, `subscribe` what arrives on this server's channel, `publish` the frames,
//! news and state it writes, `liveness` the heartbeat and the servers that come and go.

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

mod liveness;
mod messages;
mod publish;
mod subscribe;

use messages::*;
use publish::release_client;

/// Messages waiting to be written to Redis; past it they are dropped (at-most-once anyway).
const OUTGOING_CAPACITY: usize = 100_000;
/// Bytes of frames waiting to be written to Redis; past it they are dropped.
const OUTGOING_BYTES: usize = 256 * 1024 * 1024;
/// Frames sent to Redis in one pipeline at most.
const MAX_BATCH: usize = 256;
/// Longest wait between two attempts to reach Redis again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
    /// The other servers, as of this one's last heartbeat.
    peers: tokio::sync::Mutex<liveness::Peers>,
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
            peers: tokio::sync::Mutex::new(liveness::Peers::default()),
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
