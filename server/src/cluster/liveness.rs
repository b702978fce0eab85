//! Liveness: the heartbeat, and the state of servers that join, come back or die.

use super::messages::*;
use super::*;

/// What a server knows of the others, as of its last heartbeat.
#[derive(Default)]
pub(super) struct Peers {
    /// Servers whose state this one has loaded, alive at the last heartbeat: their incarnation
    /// (empty: load it again when it shows, since Redis lost what it announced meanwhile).
    known: HashMap<String, String>,
    /// Until then a known server missing from Redis is not taken for dead: Redis came back
    /// empty, and every live server writes itself back at its next heartbeat.
    patient_until: Option<tokio::time::Instant>,
}

impl Cluster {
    pub(super) async fn heartbeat_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.heartbeat_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.heartbeat().await {
                debug!(error = %e, "cluster: heartbeat failed (Redis unreachable?)");
            }
        }
    }

    pub(super) async fn heartbeat(&self) -> redis::RedisResult<()> {
        let mut redis = self.conn();
        let () = redis
            .pset_ex(
                server_key(&self.id),
                &self.incarnation,
                ttl_ms(self.heartbeat_ttl),
            )
            .await?;
        let mut peers = self.peers.lock().await;
        let member: bool = redis.sismember("hc:servers", &self.id).await?;
        if !member {
            // Redis lost this server (it restarted empty, or reaped it), or it is new. Its state
            // goes back first and its name in the member set last: a server that sees it there
            // and loads it must find all of it.
            self.republish().await;
            let _: i64 = redis.sadd("hc:servers", &self.id).await?;
            // If Redis restarted empty, the others are missing from it too until their own next
            // heartbeat: their absence proves nothing for one TTL.
            peers.patient_until = Some(tokio::time::Instant::now() + self.heartbeat_ttl);
            for incarnation in peers.known.values_mut() {
                incarnation.clear();
            }
        }
        let patient = peers
            .patient_until
            .is_some_and(|until| tokio::time::Instant::now() < until);
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
        for (server, incarnation) in others.into_iter().zip(incarnations) {
            let before = peers.known.get(server).cloned();
            match incarnation {
                Some(now) if before.as_ref() == Some(&now) => {}
                Some(now) => {
                    // (A restarted server's old clients go in the Router, which sees the new
                    // incarnation; loading a server again with the same one adds what it lacks.)
                    if before.as_deref() == Some("") {
                        info!(%server, "cluster: loading a server again (Redis lost its state)");
                    } else {
                        info!(%server, "cluster: a server joined");
                    }
                    self.load(server, &now).await?;
                    peers.known.insert(server.clone(), now);
                }
                None if patient => {}
                None => {
                    if peers.known.remove(server).is_some() {
                        warn!(%server, "cluster: a server stopped answering; purging its clients");
                        self.forget_server(server);
                    }
                    self.reap(server).await;
                }
            }
        }
        if patient {
            return Ok(());
        }
        // A server that left the member set (it left, or was reaped) is gone too.
        let gone: Vec<String> = peers
            .known
            .keys()
            .filter(|s| !members.contains(s))
            .cloned()
            .collect();
        for server in gone {
            peers.known.remove(&server);
            self.forget_server(&server);
        }
        Ok(())
    }

    pub(super) fn forget_server(&self, server: &str) {
        self.hub
            .cluster_input(|router, now| router.handle_server_gone(now, server));
    }

    /// Take in a server's manager, clients and services.
    pub(super) async fn load(&self, server: &str, incarnation: &str) -> redis::RedisResult<()> {
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
    pub(super) async fn reap(&self, server: &str) {
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
    pub(super) async fn republish(&self) {
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
}
