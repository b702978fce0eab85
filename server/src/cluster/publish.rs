//! The sending side: frames and news for the other servers, and this server's state in Redis.

use super::messages::*;
use super::*;

impl Cluster {
    pub(super) async fn write_loop(self: Arc<Self>, mut outgoing: mpsc::Receiver<Outgoing>) {
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

    pub(super) async fn flush_frames(&self, frames: &mut redis::Pipeline, batched: &mut usize) {
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

    pub(super) async fn send_news(&self, news: ClusterOut) {
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
    pub(super) async fn store(&self, news: &ClusterOut) -> bool {
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
    pub(super) async fn announce(&self, news: &ClusterOut) {
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
pub(super) async fn release_client(
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
