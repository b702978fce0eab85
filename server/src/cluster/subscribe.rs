//! The receiving side: this server's channel, `hc:to:<id>`, and what arrives on it.

use super::messages::*;
use super::*;

impl Cluster {
    pub(super) async fn subscribe_loop(self: Arc<Self>) {
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
    pub(super) fn receive(&self, payload: &[u8]) {
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

    pub(super) fn apply_news(&self, items: &[Value]) {
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
}
