//! The cluster without Redis (issue 10): two or three Routers driven against each other on one
//! fake clock. The test driver plays the cluster driver's part: frames a Router addresses to a
//! client of another server are handed to that server's `handle_cluster_frame`, and what a Router
//! says the others must hear of (`poll_cluster`) is applied to every other Router, as the Redis
//! driver does through shared storage.

mod common;

use common::*;
use hypha_core::{ClientAddr, ClusterOut, Frame};
use rmpv::Value;
use serde_json::{json, Value as Json};

/// Servers `a`, `b`, `c`... each with its own manager id, all joined.
struct Cluster {
    nodes: Vec<(String, Harness)>,
}

impl Cluster {
    fn new(ids: &[&str]) -> Self {
        let mut nodes: Vec<(String, Harness)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut config = Config::new(URL, SECRET, 7 + i as u64);
                config.server_id = (*id).to_owned();
                config.manager_id = format!("workspace-manager-{id}");
                config.cluster = true;
                ((*id).to_owned(), Harness::with_config(config))
            })
            .collect();
        let managers: Vec<(String, String)> = ids
            .iter()
            .map(|id| ((*id).to_owned(), format!("workspace-manager-{id}")))
            .collect();
        for (_, h) in &mut nodes {
            for (server, manager) in &managers {
                h.router.handle_server_joined(h.now, server, manager, "1");
            }
        }
        Self { nodes }
    }

    fn index(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .position(|(n, _)| n == id)
            .expect("no such server")
    }

    fn node(&mut self, id: &str) -> &mut Harness {
        let i = self.index(id);
        &mut self.nodes[i].1
    }

    /// Carry frames and cluster news between the servers until every one is quiet.
    fn pump(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let origin = self.nodes[i].0.clone();
                let frames = std::mem::take(&mut self.nodes[i].1.to_servers);
                let news = std::mem::take(&mut self.nodes[i].1.cluster_out);
                moved |= !frames.is_empty() || !news.is_empty();
                for (server, frame) in frames {
                    let Frame::Binary(bytes) = frame else {
                        panic!("a text frame for a client of another server");
                    };
                    let h = self.node(&server);
                    h.router
                        .handle_cluster_frame(h.now, &origin, bytes.to_vec());
                    h.drive();
                }
                for out in news {
                    self.apply(&origin, &out);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the servers keep sending each other frames");
    }

    /// What the Redis driver does with `out` from server `origin`.
    fn apply(&mut self, origin: &str, out: &ClusterOut) {
        if let ClusterOut::TakenOver { client, server } = out {
            let h = self.node(server);
            let conn = h
                .router
                .registry()
                .client(client)
                .expect("taken-over client")
                .conn;
            h.router.handle_disconnect(h.now, conn);
            h.closed.insert(conn);
            h.drive();
            return;
        }
        for (id, h) in &mut self.nodes {
            if id == origin {
                continue;
            }
            let now = h.now;
            match out {
                ClusterOut::ClientJoined { client, user, .. } => h
                    .router
                    .handle_remote_client(now, origin, client.clone(), user)
                    .expect("a client joined elsewhere is known here"),
                ClusterOut::ClientLeft { client } => {
                    h.router.handle_remote_client_gone(now, origin, client)
                }
                ClusterOut::ServiceRegistered { info } => h
                    .router
                    .handle_remote_service(now, origin, info)
                    .expect("a service of another server is accepted"),
                ClusterOut::ServiceUnregistered { id } => {
                    h.router.handle_remote_service_removed(now, origin, id)
                }
                ClusterOut::TakenOver { .. } => unreachable!(),
            }
            h.drive();
        }
    }

    /// Connect a client of user `sub` to `server` in `workspace`, with its built-in service.
    fn user(&mut self, server: &str, sub: &str, cid: &str, workspace: &str) -> Client {
        let h = self.node(server);
        let client = h.user(sub, cid, workspace);
        h.register_built_in(&client).expect("built-in");
        self.pump();
        client
    }

    /// Register a service `name` with `visibility` for `client` of `server`.
    fn register(&mut self, server: &str, client: &Client, name: &str, visibility: &str) {
        let h = self.node(server);
        h.register(client, service(client, name, visibility))
            .expect("register");
        self.pump();
    }
}

/// Send `services.<service>.work` from `caller` of `server` to `lab/<provider>`, and carry it
/// across: the call's session.
fn call_across(
    cluster: &mut Cluster,
    server: &str,
    caller: &Client,
    provider: &str,
    service: &str,
) -> String {
    let method = format!("services.{service}.work");
    let to = format!("lab/{provider}");
    let call = cluster
        .node(server)
        .send_call(caller, &to, &method, vec![], None, Promise::Star);
    cluster.pump();
    call
}

/// Questions another server's manager put to `client`: `(session, method, from)`.
fn remote_asks(h: &mut Harness, client: &Client) -> Vec<(String, String, String)> {
    h.take_where(client.conn, |m| {
        m.rpc().is_some_and(|r| {
            r.str("from")
                .is_some_and(|f| f.starts_with("*/workspace-manager-"))
                && r.main.get("session").is_some()
        })
    })
    .iter()
    .filter_map(|m| m.rpc())
    .map(|r| {
        (
            r.str("session").unwrap_or_default().to_owned(),
            r.str("method").unwrap_or_default().to_owned(),
            r.str("from").unwrap_or_default().to_owned(),
        )
    })
    .collect()
}

/// `client` resolves `session` of `to` (a caller, or a manager at `*/<id>`) with `value`.
/// A `built-in.ping` call from `from` to `to`, as another server carries it (stamped with the
/// workspace of `from`).
fn ping_call(from: &str, to: &str) -> Vec<u8> {
    let (workspace, _) = from.split_once('/').expect("a client address");
    frame(
        vec![
            ("type", "method".into()),
            ("from", from.into()),
            ("to", to.into()),
            ("ws", workspace.into()),
            ("method", "services.built-in.ping".into()),
            ("session", "s1".into()),
        ],
        Some(mp(json!({"args": []}))),
    )
}

fn answer(h: &mut Harness, client: &Client, to: &str, session: &str, value: Value) {
    let main = vec![
        ("type", Value::from("method")),
        ("to", Value::from(to)),
        ("method", Value::from(format!("{session}.resolve"))),
    ];
    let extra = Value::Map(vec![("args".into(), Value::Array(vec![value]))]);
    h.send_bytes(client.conn, frame(main, Some(extra)));
}

/// The `method` frames `client` received, taken.
fn calls_to(h: &mut Harness, client: &Client) -> Vec<Rpc> {
    h.take_where(client.conn, |m| {
        m.rpc().is_some_and(|r| {
            r.str("type") == Some("method")
                && r.str("method").is_some_and(|m| m.starts_with("services."))
        })
    })
    .iter()
    .filter_map(|m| m.rpc().cloned())
    .collect()
}

/// The ids of the services of workspace `lab` that `client` is shown, sorted.
fn listed(h: &mut Harness, client: &Client) -> Vec<String> {
    let listing = h
        .call_manager(
            client,
            "list_services",
            vec![mp(json!({"workspace": "lab"}))],
            None,
        )
        .expect("list");
    let mut ids: Vec<String> = listing
        .as_array()
        .expect("a listing")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_service_of_one_server_is_listed_resolved_and_called_from_another() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "calc", "protected");
    let caller = cluster.user("b", "alice", "c", "lab");

    // Listing on b sees a's services.
    assert_eq!(
        listed(cluster.node("b"), &caller),
        ["lab/c:built-in", "lab/p:built-in", "lab/p:calc"]
    );

    // get_service on b asks the provider on a, through a's copy of b's manager.
    let session = cluster.node("b").send_manager_call(
        &caller,
        "get_service",
        vec![mp(json!("lab/p:calc"))],
        None,
    );
    cluster.pump();
    let asks = remote_asks(cluster.node("a"), &provider);
    assert_eq!(asks.len(), 1, "the provider is asked once: {asks:?}");
    let (ask, method, from) = &asks[0];
    assert_eq!(method, "services.built-in.get_service");
    assert_eq!(from, "*/workspace-manager-b");
    let h = cluster.node("a");
    answer(h, &provider, from, ask, descriptor("p", "calc"));
    cluster.pump();
    let found = cluster
        .node("b")
        .reply(&caller, &session)
        .expect("an answer on b")
        .expect("get_service resolves");
    assert_eq!(found["id"], "lab/p:calc");

    // The call itself: stamped on b with the caller's identity, answered back across.
    let h = cluster.node("b");
    let call = h.send_call(
        &caller,
        "lab/p",
        "services.calc.add",
        vec![mp(json!(2))],
        None,
        Promise::Star,
    );
    cluster.pump();
    let got = calls_to(cluster.node("a"), &provider);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].str("from"), Some("lab/c"));
    assert_eq!(got[0].str("ws"), Some("lab"));
    assert_eq!(got[0].str("session"), Some(call.as_str()));
    answer(cluster.node("a"), &provider, "lab/c", &call, mp(json!(3)));
    cluster.pump();
    let answers: Vec<Rpc> = cluster.node("b").take_rpc(&caller);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers[0].str("method"),
        Some(format!("{call}.resolve").as_str())
    );
    assert_eq!(answers[0].str("from"), Some("lab/p"));
    assert_eq!(answers[0].args(), [json!(3)]);
}

#[test]
fn a_call_between_two_clients_of_one_server_never_leaves_it() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "calc", "protected");
    let caller = cluster.user("a", "alice", "c", "lab");
    let _watcher = cluster.user("b", "alice", "w", "lab");
    let h = cluster.node("a");
    h.send_call(
        &caller,
        "lab/p",
        "services.calc.add",
        vec![mp(json!(1))],
        None,
        Promise::Star,
    );
    assert_eq!(calls_to(h, &provider).len(), 1);
    assert!(
        h.to_servers.is_empty(),
        "a local call was sent to another server"
    );
    assert!(
        h.cluster_out.is_empty(),
        "a call is no news for the cluster"
    );
}

#[test]
fn a_protected_service_is_refused_to_another_workspace_on_another_server() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "secret", "protected");
    cluster.register("a", &provider, "open", "public");
    let stranger = cluster.user("b", "mallory", "m", "other");

    let h = cluster.node("b");
    h.send_call(
        &stranger,
        "lab/p",
        "services.secret.read",
        vec![],
        None,
        Promise::Star,
    );
    cluster.pump();
    assert!(
        calls_to(cluster.node("a"), &provider).is_empty(),
        "the protected call must not arrive"
    );
    let refused = cluster.node("b").take_peer_not_found(&stranger);
    assert_eq!(refused.len(), 1);
    assert!(refused[0]
        .str("error")
        .unwrap_or_default()
        .contains("protected"));

    // A public one may be called, and its answer comes back; a session method the stranger was
    // never linked to does not cross.
    let h = cluster.node("b");
    let call = h.send_call(
        &stranger,
        "lab/p",
        "services.open.hello",
        vec![],
        None,
        Promise::Star,
    );
    cluster.pump();
    assert_eq!(calls_to(cluster.node("a"), &provider).len(), 1);
    let _ = call;
    let other = cluster.user("b", "mallory", "m2", "other");
    let h = cluster.node("b");
    h.send_call(&other, "lab/p", "s999.resolve", vec![], None, Promise::None);
    cluster.pump();
    assert!(
        cluster.node("a").take_rpc(&provider).is_empty(),
        "an unlinked client's session frame crossed workspaces"
    );
}

#[test]
fn events_reach_subscribers_of_the_workspace_on_every_server_and_no_other() {
    let mut cluster = Cluster::new(&["a", "b", "c"]);
    let sender = cluster.user("a", "alice", "s", "lab");
    let on_b = cluster.user("b", "alice", "r1", "lab");
    let on_c = cluster.user("c", "alice", "r2", "lab");
    let elsewhere = cluster.user("c", "bob", "x", "bobs");
    cluster.node("b").subscribe(&on_b, &["ping"]);
    cluster.node("c").subscribe(&on_c, &["ping"]);
    cluster.node("c").subscribe(&elsewhere, &["ping"]);

    let h = cluster.node("a");
    h.send_raw(
        &sender,
        vec![("type", "ping".into()), ("to", "*".into())],
        Some(mp(json!({"n": 1}))),
    );
    cluster.pump();
    for (server, client) in [("b", &on_b), ("c", &on_c)] {
        let got = cluster.node(server).take_rpc(client);
        assert_eq!(got.len(), 1, "{server}: {got:?}");
        assert_eq!(got[0].str("from"), Some("lab/s"));
    }
    assert!(cluster.node("c").take_rpc(&elsewhere).is_empty());

    // State changes are heard as local ones: a service registered on a reaches b's subscriber.
    cluster.node("b").subscribe(&on_b, &["service_added"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "calc", "protected");
    let added: Vec<String> = cluster
        .node("b")
        .take_rpc(&on_b)
        .iter()
        .filter(|r| r.str("type") == Some("service_added"))
        .filter_map(|r| r.main.get("data")?.get("id")?.as_str().map(str::to_owned))
        .collect();
    assert!(added.contains(&"lab/p:calc".to_owned()), "{added:?}");
}

#[test]
fn a_client_id_held_on_one_server_is_refused_on_another_unless_it_reconnects() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let first = cluster.user("a", "alice", "same", "lab");
    let token = user_token("alice", Some("lab"));
    let (_, message) =
        cluster
            .node("b")
            .connect_err(&hello(Some("same"), Some("lab"), Some(&token)));
    assert!(message.contains("already exists"), "{message}");

    // Its reconnection token takes the address over on b; a closes its old connection.
    let moved = cluster.node("b").connect_ok(&hello_full(
        Some("same"),
        Some("lab"),
        None,
        Some(&first.reconnection_token),
    ));
    cluster.pump();
    assert!(cluster.node("a").closed.contains(&first.conn));
    let addr = ClientAddr::new("lab", "same");
    let on_a = cluster
        .node("a")
        .router
        .registry()
        .client(&addr)
        .map(|c| c.conn);
    let b_remote = on_a.and_then(|conn| {
        cluster
            .node("a")
            .router
            .remote_server(conn)
            .map(str::to_owned)
    });
    assert_eq!(
        b_remote.as_deref(),
        Some("b"),
        "a knows the client is on b now"
    );
    assert_eq!(cluster.node("b").router.client_of(moved.conn), Some(&addr));
}

#[test]
fn a_provider_leaving_or_its_server_dying_rejects_the_calls_waiting_on_it_elsewhere() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "slow", "protected");
    let caller = cluster.user("b", "alice", "c", "lab");
    cluster
        .node("b")
        .subscribe(&caller, &["client_disconnected", "service_removed"]);

    let call = call_across(&mut cluster, "b", &caller, "p", "slow");
    assert_eq!(calls_to(cluster.node("a"), &provider).len(), 1);
    let p = provider.clone();
    cluster.node("a").disconnect(&p);
    cluster.pump();
    let rejected = cluster.node("b").take_peer_not_found(&caller);
    assert_eq!(
        rejected.len(),
        1,
        "one rejection, not one per server: {rejected:?}"
    );
    assert_eq!(rejected[0].str("session"), Some(call.as_str()));
    let heard: Vec<String> = cluster
        .node("b")
        .take_rpc(&caller)
        .iter()
        .filter_map(|r| r.str("type").map(str::to_owned))
        .collect();
    assert!(heard.contains(&"service_removed".to_owned()), "{heard:?}");
    assert!(
        heard.contains(&"client_disconnected".to_owned()),
        "{heard:?}"
    );

    // A whole server gone: b purges its clients and rejects what waited on them.
    let provider = cluster.user("a", "alice", "p2", "lab");
    cluster.register("a", &provider, "slow", "protected");
    let call = call_across(&mut cluster, "b", &caller, "p2", "slow");
    let _ = cluster.node("a").take_rpc(&provider);
    let h = cluster.node("b");
    let now = h.now;
    h.router.handle_server_gone(now, "a");
    h.drive();
    let rejected = h.take_peer_not_found(&caller);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].str("session"), Some(call.as_str()));
    assert_eq!(listed(h, &caller), ["lab/c:built-in"]);
}

#[test]
fn frames_from_a_server_are_accepted_only_for_its_own_clients_and_manager_answers() {
    let mut cluster = Cluster::new(&["a", "b", "c"]);
    let victim = cluster.user("a", "alice", "v", "lab");
    let on_b = cluster.user("b", "alice", "bee", "lab");

    // A call from `lab/bee`, stamped as its server stamps it.
    let from_bee = |to: &str, method: &str, extra: Json| {
        frame(
            vec![
                ("type", "method".into()),
                ("from", "lab/bee".into()),
                ("to", to.into()),
                ("ws", "lab".into()),
                ("method", method.into()),
                ("session", "x1".into()),
            ],
            Some(mp(extra)),
        )
    };
    cluster
        .node("a")
        .subscribe(&victim, &["client_disconnected"]);
    // Server c claims to carry a frame from b's client: dropped.
    let forged = from_bee("lab/v", "services.built-in.ping", json!({"args": []}));
    let h = cluster.node("a");
    let now = h.now;
    h.router.handle_cluster_frame(now, "c", forged.clone());
    h.drive();
    assert!(
        h.take_rpc(&victim).is_empty(),
        "a frame forged by another server was delivered"
    );
    // The same frame from b, which holds `lab/bee`, is delivered.
    h.router.handle_cluster_frame(now, "b", forged.clone());
    h.drive();
    assert_eq!(h.take_rpc(&victim).len(), 1);
    // Checked as a client's frame is: a payload with trailing bytes, a reserved event type.
    let mut broken = forged;
    broken.extend_from_slice(b"\x01\x02");
    h.router.handle_cluster_frame(now, "b", broken);
    let reserved = frame(
        vec![
            ("type", "client_disconnected".into()),
            ("from", "lab/bee".into()),
            ("to", "lab/*".into()),
            ("ws", "lab".into()),
        ],
        None,
    );
    h.router.handle_cluster_frame(now, "b", reserved);
    h.drive();
    assert!(
        h.take_rpc(&victim).is_empty(),
        "a malformed or reserved frame from b was delivered"
    );

    // A call to a's manager from a client of b: only answers to a's questions are taken.
    let to_manager = from_bee(
        "*/workspace-manager-a",
        "services.default.register_service",
        json!({"args": [{"id": "lab/bee:evil", "config": {}}], "promise": "*"}),
    );
    h.router.handle_cluster_frame(now, "b", to_manager);
    h.drive();
    assert!(
        h.to_servers.is_empty(),
        "a answered a manager call from another server's client"
    );
    assert!(h
        .router
        .registry()
        .client(&ClientAddr::new("lab", "bee"))
        .is_some());
    let _ = on_b;
}

#[test]
fn loading_a_server_again_changes_nothing_and_disturbs_no_call() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "calc", "public");
    let caller = cluster.user("b", "alice", "c", "lab");
    cluster.node("b").subscribe(
        &caller,
        &["service_removed", "service_added", "client_disconnected"],
    );
    let call = call_across(&mut cluster, "b", &caller, "p", "calc");
    assert_eq!(calls_to(cluster.node("a"), &provider).len(), 1);

    // b's heartbeat finds a again and loads what Redis holds of it: what b knows already.
    let user = mp(json!({"id": "alice"}));
    let info = cluster
        .node("b")
        .router
        .registry()
        .service(&hypha_core::registry::ServiceId::new(
            ClientAddr::new("lab", "p"),
            "calc",
        ))
        .expect("known")
        .info();
    let h = cluster.node("b");
    let now = h.now;
    h.router
        .handle_server_joined(now, "a", "workspace-manager-a", "1");
    h.router
        .handle_remote_client(now, "a", ClientAddr::new("lab", "p"), &user)
        .expect("the same client again");
    h.router
        .handle_remote_service(now, "a", &info)
        .expect("the same service again");
    h.drive();
    assert!(
        h.take_rpc(&caller).is_empty(),
        "subscribers heard of a change that was none"
    );
    // The call in flight is still answered.
    answer(cluster.node("a"), &provider, "lab/c", &call, mp(json!(1)));
    cluster.pump();
    let answers = cluster.node("b").take_rpc(&caller);
    assert_eq!(answers.len(), 1, "{answers:?}");
}

#[test]
fn a_server_that_restarted_loses_the_clients_it_had() {
    let mut cluster = Cluster::new(&["a", "b"]);
    let provider = cluster.user("a", "alice", "p", "lab");
    cluster.register("a", &provider, "calc", "public");
    let caller = cluster.user("b", "alice", "c", "lab");
    let call = call_across(&mut cluster, "b", &caller, "p", "calc");
    let _ = provider;
    // a comes back as a new incarnation: what b knew of it is gone, and the call is rejected.
    let h = cluster.node("b");
    let now = h.now;
    h.router
        .handle_server_joined(now, "a", "workspace-manager-a", "2");
    h.drive();
    let rejected = h.take_peer_not_found(&caller);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].str("session"), Some(call.as_str()));
    assert!(h
        .router
        .registry()
        .client(&ClientAddr::new("lab", "p"))
        .is_none());
    // The same incarnation again changes nothing.
    h.router
        .handle_server_joined(now, "a", "workspace-manager-a", "2");
    h.drive();
    assert!(h.take_rpc(&caller).is_empty());
}

#[test]
fn news_from_a_server_a_client_has_left_does_not_remove_it_where_it_is_now() {
    let mut cluster = Cluster::new(&["a", "b", "c"]);
    let first = cluster.user("a", "alice", "mover", "lab");
    // The client moves to b with its reconnection token.
    let moved = cluster.node("b").connect_ok(&hello_full(
        Some("mover"),
        Some("lab"),
        None,
        Some(&first.reconnection_token),
    ));
    cluster.pump();
    let addr = ClientAddr::new("lab", "mover");
    // a's late news that `mover` left (its old connection closed) reaches c after b's news.
    let h = cluster.node("c");
    let now = h.now;
    h.router.handle_remote_client_gone(now, "a", &addr);
    h.drive();
    let conn = h.router.registry().client(&addr).map(|c| c.conn);
    let server = conn.and_then(|c| h.router.remote_server(c).map(str::to_owned));
    assert_eq!(
        server.as_deref(),
        Some("b"),
        "c must still know the client on b"
    );
    assert_eq!(cluster.node("b").router.client_of(moved.conn), Some(&addr));
}

#[test]
fn what_other_servers_make_a_router_hold_is_bounded() {
    // Whoever can publish on the cluster's Redis can claim to be any number of servers.
    let mut cluster = Cluster::new(&["a"]);
    let h = cluster.node("a");
    let now = h.now;
    for i in 0..1100 {
        let manager = format!("workspace-manager-x{i}");
        h.router
            .handle_server_joined(now, &format!("x{i}"), &manager, "1");
    }
    assert!(
        h.router.open_connections() <= 1024,
        "{} sessions for servers",
        h.router.open_connections()
    );
    let refused = h.router.handle_remote_client(
        now,
        "x1099",
        ClientAddr::new("lab", "z"),
        &mp(json!({"id": "z"})),
    );
    assert!(
        matches!(
            refused,
            Err(hypha_core::registry::RegistryError::ClusterFull(_))
        ),
        "{refused:?}"
    );
    // A frame from yet another server's manager adds nothing either.
    let question = ping_call("*/workspace-manager-y", "lab/nobody");
    let before = h.router.open_connections();
    h.router.handle_cluster_frame(now, "y", question);
    h.drive();
    assert_eq!(h.router.open_connections(), before);
}

#[test]
fn an_adopted_http_peer_whose_left_news_was_lost_is_dropped_once_idle() {
    // Another server's HTTP request peers are never announced: a server adopts one at its first
    // call and forgets it when that server says it left. Pub/sub may lose that news.
    let mut cluster = Cluster::new(&["a", "b"]);
    let victim = cluster.user("a", "alice", "v", "lab");
    let h = cluster.node("a");
    let before = h.router.open_connections();
    let now = h.now;
    h.router
        .handle_cluster_frame(now, "b", ping_call("lab/~http-b-1", "lab/v"));
    h.router
        .handle_cluster_frame(now, "b", ping_call("lab/~http-b-2", "lab/v"));
    h.drive();
    assert_eq!(h.take_rpc(&victim).len(), 2);
    assert_eq!(
        h.router.open_connections(),
        before + 2,
        "both peers adopted"
    );

    // Sweeps come every 4 × client_call_timeout (2 min): a peer with no frame to or from it
    // for a whole interval is dropped; one the provider answers meanwhile stays.
    h.advance(121_000);
    assert_eq!(
        h.router.open_connections(),
        before + 2,
        "seen in the first interval"
    );
    answer(h, &victim, "lab/~http-b-2", "s1", Value::from("pong"));
    h.drive();
    assert_eq!(h.to_servers.len(), 1, "the answer goes to b");
    h.to_servers.clear();
    h.advance(120_000);
    assert_eq!(
        h.router.open_connections(),
        before + 1,
        "the idle peer is gone"
    );
    // The dropped peer's address is unknown again: an answer to it goes nowhere.
    answer(h, &victim, "lab/~http-b-1", "s1", Value::from("late"));
    h.drive();
    assert!(h.to_servers.is_empty(), "a frame went to a dropped peer");
    h.advance(120_000);
    assert_eq!(
        h.router.open_connections(),
        before,
        "every idle peer is gone"
    );
    assert_eq!(
        h.router.poll_timeout(),
        None,
        "no sweep without adopted peers"
    );
}

#[test]
fn the_clients_another_servers_http_peer_called_hear_that_it_left() {
    // hypha-rpc keeps a session for each call it answers until it hears the caller left. An
    // HTTP request's peer joins no workspace: its own server tells whom it called there when the
    // request ends (router_http.rs); a server that adopted it tells whom it called here when
    // that server says it left.
    let mut cluster = Cluster::new(&["a", "b"]);
    let p = cluster.user("a", "alice", "p", "lab");
    let quiet = cluster.user("a", "alice", "q", "lab");
    let h = cluster.node("a");
    h.subscribe(&p, &["client_disconnected"]);
    h.subscribe(&quiet, &["client_disconnected"]);
    h.take_rpc(&p);
    h.take_rpc(&quiet);
    // From lab itself (a caller with a token), and from ws-anonymous: p's built-in is public.
    for peer in ["lab/~http-b-1", "ws-anonymous/~http-b-2"] {
        let now = h.now;
        h.router
            .handle_cluster_frame(now, "b", ping_call(peer, "lab/p"));
        h.drive();
        assert_eq!(calls_to(h, &p).len(), 1, "{peer}'s call");
        answer(h, &p, peer, "s1", Value::from("pong"));
        h.drive();
        assert_eq!(h.to_servers.len(), 1, "the answer goes to b");
        h.to_servers.clear();

        let client = ClientAddr::parse(peer).unwrap();
        h.router.handle_remote_client_gone(h.now, "b", &client);
        h.drive();
        h.hears_departure_later(&p, &quiet, peer);
    }
}
