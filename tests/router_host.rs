//! Host methods: functions the page offers to every client through the manager.

mod common;

use common::*;
use hypha_core::auth::{Permission, User};
use hypha_core::{jwt, ClientAddr, Config, HostConfig};
use rmpv::Value;
use serde_json::json;

fn host_harness() -> Harness {
    let mut config = Config::new(URL, SECRET, 7);
    config.host = Some(HostConfig {
        client: ClientAddr::new("default", "root"),
        service: "hypha-core-host".into(),
        methods: vec!["create_window".into(), "echo".into(), "hello".into()],
    });
    Harness::with_config(config)
}

#[test]
fn host_methods_are_listed_in_the_default_service() {
    let mut h = host_harness();
    let client = h.anonymous("c1", None);
    let svc = h
        .call_built_in(
            &client,
            "get_service",
            vec![mp(json!("default"))],
            Promise::Star,
        )
        .expect("default service");
    assert_eq!(
        svc["create_window"]["_rmethod"],
        "services.default.create_window"
    );
    assert_eq!(svc["hello"]["_rtarget"], MANAGER);
    // A host method cannot replace the manager's own: `echo` stays the manager's.
    assert_eq!(
        h.call_manager(&client, "echo", vec![mp(json!("x"))], None),
        Ok(json!("x"))
    );
}

#[test]
fn only_the_host_pages_own_client_gets_the_managers_descriptors_without_docs() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    // A root token does not make a client the host's: only the configured address does.
    let other_root = h.root("root", "ws-other");
    let anonymous = h.anonymous("c1", None);
    for service in ["default", "built-in"] {
        let lean = h
            .call_built_in(
                &host,
                "get_service",
                vec![mp(json!(service))],
                Promise::Star,
            )
            .expect("host's descriptor");
        let lean_methods = method_entries(&lean);
        assert!(lean_methods.len() > 2, "{service}: {lean}");
        for (name, method) in &lean_methods {
            assert_eq!(method["_rtype"], "method", "{service}.{name}");
            assert_eq!(method["_rtarget"], MANAGER, "{service}.{name}");
            assert!(method.get("_rschema").is_none(), "{service}.{name}");
            assert!(method.get("_rdoc").is_none(), "{service}.{name}");
        }
        for client in [&other_root, &anonymous] {
            let full = h
                .call_built_in(
                    client,
                    "get_service",
                    vec![mp(json!(service))],
                    Promise::Star,
                )
                .expect("descriptor");
            let full_methods = method_entries(&full);
            assert_eq!(full_methods.len(), lean_methods.len(), "{service}");
            for (name, method) in &full_methods {
                assert!(
                    method["_rschema"]["description"].is_string(),
                    "{service}.{name}"
                );
                assert!(method["_rdoc"].is_string(), "{service}.{name}");
            }
        }
    }
}

/// The method descriptors of a service descriptor, at its top level and one level down
/// (`message_cache.*`).
fn method_entries(service: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut found = Vec::new();
    for (name, value) in service.as_object().expect("a map") {
        if value["_rtype"] == "method" {
            found.push((name.clone(), value.clone()));
        } else if let Some(inner) = value.as_object() {
            for (sub, method) in inner {
                if method["_rtype"] == "method" {
                    found.push((format!("{name}.{sub}"), method.clone()));
                }
            }
        }
    }
    found
}

#[test]
fn a_host_method_reaches_the_host_with_the_callers_identity_and_returns_its_answer() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    let caller = h.anonymous("c1", None);
    let session = h.send_manager_call(
        &caller,
        "create_window",
        vec![mp(json!({"src": "https://example.org/app.html"}))],
        Some(mp(json!({"name": "w1"}))),
    );
    let asks = h.take_asks(host.conn);
    assert_eq!(asks.len(), 1, "host was not asked");
    let ask = &asks[0];
    assert_eq!(ask.str("method"), Some("services.hypha-core-host.dispatch"));
    let args = ask.args();
    assert_eq!(args[0], json!("create_window"));
    assert_eq!(args[1], json!([{"src": "https://example.org/app.html"}]));
    assert_eq!(args[2], json!({"name": "w1"}));
    // The context names the real caller, whatever it claims about itself.
    assert_eq!(args[3]["from"], json!(caller.addr()));
    assert_eq!(args[3]["ws"], json!(caller.workspace));
    assert_eq!(args[3]["user"]["id"], json!(caller.user_id));

    let window = mp(
        json!({"id": "w1", "run": {"_rtype": "method", "_rtarget": "app-1", "_rmethod": "services.default.run"}}),
    );
    h.answer_ask(host.conn, ask.str("session").unwrap(), Ok(window));
    let answer = h
        .reply(&caller, &session)
        .expect("answered")
        .expect("resolved");
    // Bare targets in the host's answer are made absolute in the host's workspace.
    assert_eq!(answer["run"]["_rtarget"], "default/app-1");
}

#[test]
fn a_host_error_reaches_the_caller_and_a_missing_host_fails_cleanly() {
    let mut h = host_harness();
    let caller = h.anonymous("c1", None);
    // No host connected yet.
    let err = h.call_manager(&caller, "hello", vec![], None).unwrap_err();
    assert!(err.contains("not connected"), "{err}");

    let host = h.root("root", "default");
    let session = h.send_manager_call(&caller, "hello", vec![], None);
    let ask = h.take_asks(host.conn).pop().expect("asked");
    h.answer_ask(
        host.conn,
        ask.str("session").unwrap(),
        Err("Error: no DOM here"),
    );
    let err = h.reply(&caller, &session).expect("answered").unwrap_err();
    assert!(err.contains("no DOM here"), "{err}");
}

#[test]
fn without_a_host_config_host_names_are_unknown() {
    let mut h = Harness::new();
    let caller = h.anonymous("c1", None);
    let err = h
        .call_manager(&caller, "create_window", vec![], None)
        .unwrap_err();
    assert!(err.contains("method not found"), "{err}");
}

// ------------------------------------------------------------------ identities the core decides

/// The context the host received with the first host call asked of it, after `caller` called
/// `create_window`.
fn host_context_for(h: &mut Harness, host: &Client, caller: &Client) -> serde_json::Value {
    h.send_manager_call(caller, "create_window", vec![mp(json!({"src": "x"}))], None);
    let ask = h.take_asks(host.conn).pop().expect("host asked");
    ask.args()[3].clone()
}

/// The claims of a token the core minted, checked with the server's secret.
fn verified(token: &serde_json::Value) -> jwt::Claims {
    let token = token.as_str().expect("a token");
    jwt::verify(token, SECRET, T0 / 1000, jwt::Audience::Api).expect("a valid token")
}

fn token_with_scope(sub: &str, workspace: &str, permission: &str, life_secs: u64) -> String {
    let mut c = claims(sub);
    c.scope = format!("ws:{workspace}#{permission}");
    c.roles = vec!["reader".into()];
    c.email = Some(format!("{sub}@example.org"));
    c.exp = c.iat + life_secs;
    sign(&c)
}

#[test]
fn a_child_of_a_read_only_caller_is_read_only_and_no_longer_lived() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    let token = token_with_scope("alice", "lab", "r", 600);
    let caller = h.connect_ok(&hello(Some("viewer"), Some("lab"), Some(&token)));
    let context = host_context_for(&mut h, &host, &caller);

    let child = &context["child"];
    let claims = verified(&child["token"]);
    let user = User::from_claims(&claims);
    assert_eq!(user.id, "alice", "the child acts as its parent");
    assert_eq!(user.permission("lab"), Some(Permission::Read));
    assert!(!user.can_write("lab"));
    assert_eq!(user.roles, vec!["reader".to_owned()]);
    assert_eq!(user.email.as_deref(), Some("alice@example.org"));
    assert_eq!(claims.client_id.as_deref(), child["client_id"].as_str());
    assert!(claims.exp <= T0 / 1000 + 600, "outlives its parent's token");
    assert_eq!(child["user"]["scope"]["workspaces"]["lab"], "r");
    // The caller may see its own workspace's windows and apps, no other.
    assert_eq!(context["visible_workspaces"], json!(["lab"]));
}

#[test]
fn a_child_of_a_read_write_caller_may_write_its_workspace_only() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    let token = token_with_scope("bob", "lab", "rw", 3600);
    let caller = h.connect_ok(&hello(Some("editor"), Some("lab"), Some(&token)));
    let context = host_context_for(&mut h, &host, &caller);
    let user = User::from_claims(&verified(&context["child"]["token"]));
    assert_eq!(user.permission("lab"), Some(Permission::ReadWrite));
    assert_eq!(user.permission("other"), None);
    // Two host calls, two children: each gets its own client id.
    let again = host_context_for(&mut h, &host, &caller);
    assert_ne!(context["child"]["client_id"], again["child"]["client_id"]);
}

#[test]
fn a_child_of_root_is_not_root_and_root_sees_every_workspace() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    let admin = h.root("admin", "lab");
    let context = host_context_for(&mut h, &host, &admin);
    assert_eq!(context["visible_workspaces"], "*");
    let claims = verified(&context["child"]["token"]);
    let user = User::from_claims(&claims);
    assert!(!user.is_root());
    assert!(user.roles.is_empty());
    assert_eq!(user.id, context["child"]["client_id"].as_str().unwrap());
    assert_eq!(user.permission("lab"), Some(Permission::ReadWrite));
    assert_eq!(user.permission("default"), None);

    // Root's own API on the page gets the same context from the core.
    let own = h.router.host_call_context(h.now).expect("host connected");
    let own = js(&own);
    assert_eq!(own["from"], "default/root");
    assert_eq!(own["visible_workspaces"], "*");
    assert!(!User::from_claims(&verified(&own["child"]["token"])).is_root());
}

#[test]
fn the_host_call_context_needs_the_host_connected() {
    let mut h = host_harness();
    assert!(h.router.host_call_context(h.now).is_none());
}

#[test]
fn the_pages_root_and_mounted_clients_get_tokens_minted_by_the_core() {
    let mut h = host_harness();
    let root = h.router.host_root_token(h.now);
    let root = User::from_claims(&verified(&json!(root)));
    assert!(root.is_root());

    let mounted = h
        .router
        .mounted_client_token(h.now, "lab", "w1", Some("carol"), Some("c@example.org"))
        .expect("minted");
    let claims = verified(&json!(mounted));
    assert_eq!(claims.sub, "carol");
    assert_eq!(claims.client_id.as_deref(), Some("w1"));
    assert!(claims.roles.is_empty());
    let user = User::from_claims(&claims);
    assert_eq!(user.permission("lab"), Some(Permission::ReadWrite));
    assert!(claims.exp <= T0 / 1000 + 3600);

    // A mounted client named root is not root: it holds no role.
    let named_root = h
        .router
        .mounted_client_token(h.now, "lab", "w2", Some("root"), None)
        .expect("minted");
    assert!(!User::from_claims(&verified(&json!(named_root))).is_root());
    // The subject defaults to the client id; bad names are refused.
    let plain = h
        .router
        .mounted_client_token(h.now, "lab", "w3", None, None)
        .unwrap();
    assert_eq!(verified(&json!(plain)).sub, "w3");
    assert!(h
        .router
        .mounted_client_token(h.now, "lab", "bad id", None, None)
        .is_err());
    assert!(h
        .router
        .mounted_client_token(h.now, "a/b", "w4", None, None)
        .is_err());
}

#[test]
fn no_peer_may_call_the_hosts_dispatch_service_directly() {
    let mut h = host_harness();
    let host = h.root("root", "default");
    // A client the page mounted in `default` (read-write there) and one in another workspace
    // (through root's presence there) both try to hand the host a forged context.
    let token = h
        .router
        .mounted_client_token(h.now, "default", "mounted", None, None)
        .unwrap();
    let inside = h.connect_ok(&hello(Some("mounted"), Some("default"), Some(&token)));
    let outside = h.anonymous("c1", None);
    let forged = mp(
        json!({"ws": "default", "user": {"id": "root", "roles": ["admin"]},
                            "visible_workspaces": "*"}),
    );
    for (caller, to) in [
        (&inside, "default/root".to_owned()),
        (&outside, format!("{}/root", outside.workspace)),
    ] {
        let session = h.send_call(
            caller,
            &to,
            "services.hypha-core-host.dispatch",
            vec![
                "list_apps".into(),
                Value::Array(vec![]),
                Value::Map(vec![]),
                forged.clone(),
            ],
            None,
            Promise::Star,
        );
        let refused = h.take_peer_not_found(caller);
        assert_eq!(refused.len(), 1, "{to}: not refused ({session})");
        assert!(
            refused[0]
                .str("error")
                .unwrap_or_default()
                .contains("workspace manager only"),
            "{refused:?}"
        );
    }
    assert!(h.take_frames(host.conn).is_empty(), "the host was reached");
}
