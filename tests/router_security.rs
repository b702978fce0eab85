//! Attacks a peer can try, and what the Router must do about each.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use hypha_core::{ClientAddr, Event};
use rmpv::Value;
use serde_json::json;

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn root_claims_json() -> String {
    let mut c = claims("root");
    c.roles = vec!["admin".into()];
    serde_json::to_string(&c).unwrap()
}

fn assert_refused(h: &mut Harness, hello: &str, why: &str) -> String {
    let (code, message) = h.connect_err(hello);
    assert_eq!(code, close_code::POLICY_VIOLATION, "{why}: {message}");
    message
}

// ------------------------------------------------------------------------------ tokens

#[test]
fn a_token_with_a_forged_payload_is_refused() {
    let mut h = Harness::new();
    let honest = user_token("mallory", None);
    let parts: Vec<&str> = honest.split('.').collect();
    // Same header and signature, payload swapped for root's.
    let forged = format!("{}.{}.{}", parts[0], b64(&root_claims_json()), parts[2]);
    let message = assert_refused(
        &mut h,
        &hello(Some("c1"), Some("default"), Some(&forged)),
        "forged",
    );
    assert!(message.contains("signature"), "{message}");
    // Flipping a signature character is refused too.
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[0] = if sig[0] == 'A' { 'B' } else { 'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        sig.into_iter().collect::<String>()
    );
    assert_refused(
        &mut h,
        &hello(Some("c1"), None, Some(&tampered)),
        "tampered",
    );
    assert_eq!(h.router.open_connections(), 0);
}

#[test]
fn an_expired_or_not_yet_valid_token_is_refused() {
    let mut h = Harness::new();
    let mut expired = claims("alice");
    expired.exp = T0 / 1000;
    let message = assert_refused(
        &mut h,
        &hello(Some("c1"), None, Some(&sign(&expired))),
        "expired",
    );
    assert!(message.contains("expired"), "{message}");

    let mut early = claims("alice");
    early.nbf = Some(T0 / 1000 + 60);
    assert_refused(&mut h, &hello(Some("c1"), None, Some(&sign(&early))), "nbf");

    // Valid at T0, but no longer an hour later.
    let token = user_token("alice", None);
    h.advance(3_600_000);
    assert_refused(&mut h, &hello(Some("c1"), None, Some(&token)), "aged");
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let mut h = Harness::new();
    let mut c = claims("root");
    c.roles = vec!["admin".into()];
    let token = hypha_core::jwt::sign(&c, b"some-other-secret");
    assert_refused(
        &mut h,
        &hello(Some("c1"), Some("default"), Some(&token)),
        "secret",
    );
}

#[test]
fn an_alg_none_token_is_refused() {
    let mut h = Harness::new();
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"HS512","typ":"JWT"}"#,
    ] {
        let token = format!("{}.{}.", b64(header), b64(&root_claims_json()));
        let message = assert_refused(
            &mut h,
            &hello(Some("c1"), Some("default"), Some(&token)),
            header,
        );
        assert!(message.contains("authentication failed"), "{message}");
    }
}

#[test]
fn garbage_tokens_are_refused_not_treated_as_anonymous() {
    let mut h = Harness::new();
    for token in ["x", "a.b.c", "....", &"A".repeat(10_000)] {
        assert_refused(&mut h, &hello(Some("c1"), None, Some(token)), "garbage");
    }
}

#[test]
fn a_token_bound_to_another_client_id_is_refused() {
    let mut h = Harness::new();
    let mut c = claims("alice");
    c.client_id = Some("the-real-one".into());
    let token = sign(&c);
    let message = assert_refused(
        &mut h,
        &hello(Some("impostor"), None, Some(&token)),
        "bound",
    );
    assert!(message.contains("bound to client id"), "{message}");
    // The right client id is admitted.
    let ok = h.connect_ok(&hello(Some("the-real-one"), None, Some(&token)));
    assert_eq!(ok.workspace, "ws-user-alice");
}

#[test]
fn a_reconnection_token_is_not_an_api_token_and_vice_versa() {
    let mut h = Harness::new();
    let alice = h.user("alice", "c1", "ws-user-alice");
    h.disconnect(&alice);
    let message = assert_refused(
        &mut h,
        &hello(Some("c1"), None, Some(&alice.reconnection_token)),
        "reconnection token as token",
    );
    assert!(message.contains("audience"), "{message}");
    // An API token in the reconnection slot does not admit, and does not degrade to anonymous.
    let api = user_token("alice", None);
    assert_refused(
        &mut h,
        &hello_full(Some("c1"), None, None, Some(&api)),
        "api token as reconnection token",
    );
}

#[test]
fn a_reconnection_token_only_fits_its_own_client_and_workspace() {
    let mut h = Harness::new();
    let alice = h.user("alice", "c1", "lab");
    h.disconnect(&alice);
    let rt = alice.reconnection_token.as_str();
    let message = assert_refused(&mut h, &hello_full(Some("c2"), None, None, Some(rt)), "cid");
    assert!(message.contains("another client id"), "{message}");
    let message = assert_refused(
        &mut h,
        &hello_full(Some("c1"), Some("other"), None, Some(rt)),
        "ws",
    );
    assert!(message.contains("another workspace"), "{message}");
    // The right pair reconnects, as alice, in lab.
    let back = h.connect_ok(&hello_full(Some("c1"), Some("lab"), None, Some(rt)));
    assert_eq!(
        (back.workspace.as_str(), back.user_id.as_str()),
        ("lab", "alice")
    );
}

// ------------------------------------------------------------------------------ workspaces

#[test]
fn anonymous_users_cannot_enter_default_or_someone_elses_workspace() {
    let mut h = Harness::new();
    let other = h.anonymous("c0", None);
    for ws in ["default", "ws-user-alice", "lab", other.workspace.as_str()] {
        let message = assert_refused(&mut h, &hello(Some("c1"), Some(ws), None), ws);
        // Both phrasings clients match (hypha-core's and Python hypha's), and no more: a
        // workspace that exists reads the same as one that does not.
        assert!(message.contains("permission denied"), "{message}");
        assert!(
            message.contains("does not exist or is not accessible"),
            "{message}"
        );
    }
}

#[test]
fn a_user_cannot_enter_a_workspace_its_token_does_not_grant() {
    let mut h = Harness::new();
    let token = user_token("alice", Some("lab"));
    for ws in ["default", "ws-user-bob", "other-lab"] {
        assert_refused(&mut h, &hello(Some("c1"), Some(ws), Some(&token)), ws);
    }
}

#[test]
fn a_second_live_connection_with_the_same_address_is_refused() {
    let mut h = Harness::new();
    let first = h.user("alice", "c1", "lab");
    h.register(&first, service(&first, "svc", "protected"))
        .unwrap();
    let message = assert_refused(
        &mut h,
        &hello(
            Some("c1"),
            Some("lab"),
            Some(&user_token("alice", Some("lab"))),
        ),
        "duplicate",
    );
    assert!(message.contains("already exists"), "{message}");
    // The first connection is untouched: still connected and still providing its service.
    assert!(!h.closed.contains(&first.conn));
    assert_eq!(
        h.router.client_of(first.conn),
        Some(&ClientAddr::new("lab", "c1"))
    );
    assert_eq!(h.listed_ids(&first, None), vec!["lab/c1:svc".to_owned()]);
}

#[test]
fn a_reconnection_takes_over_the_address_and_closes_the_old_connection() {
    let mut h = Harness::new();
    let old = h.user("alice", "c1", "lab");
    let watcher = h.user("alice", "w", "lab");
    h.subscribe(&watcher, &["client_disconnected", "service_removed"]);
    h.register(&old, service(&old, "svc", "protected")).unwrap();
    h.take_events();
    h.take_frames(watcher.conn);

    let new = h.connect_ok(&hello_full(
        Some("c1"),
        Some("lab"),
        None,
        Some(&old.reconnection_token),
    ));
    assert_ne!(new.conn, old.conn);
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Close { conn, code, .. }
            if *conn == old.conn && *code == close_code::GOING_AWAY)),
        "{events:?}"
    );
    assert!(events.contains(&Event::ClientDisconnected {
        client: ClientAddr::new("lab", "c1")
    }));
    assert_eq!(h.router.client_of(old.conn), None);
    assert_eq!(
        h.router
            .registry()
            .client(&ClientAddr::new("lab", "c1"))
            .map(|c| c.conn),
        Some(new.conn)
    );
    // The old registration is gone; the new connection registers again and keeps it, even once
    // the driver reports the old transport closed.
    assert!(h.listed_ids(&new, None).is_empty());
    h.register(&new, service(&new, "svc", "protected")).unwrap();
    h.router.handle_disconnect(h.now, old.conn);
    h.drive();
    assert_eq!(h.listed_ids(&new, None), vec!["lab/c1:svc".to_owned()]);
    // Frames on the old connection are ignored.
    h.send_text(old.conn, r#"{"type":"ping"}"#);
    assert!(h.inbox.get(&old.conn).is_none_or(|f| f
        .iter()
        .all(|f| !matches!(f, hypha_core::Frame::Text(t) if t.contains("pong")))));
}

#[test]
fn an_old_reconnection_token_cannot_evict_another_user_from_the_address() {
    let mut h = Harness::new();
    // Bob once held lab/c1 and kept its reconnection token.
    let bob = h.user("bob", "c1", "lab");
    let stale = bob.reconnection_token.clone();
    h.router.handle_disconnect(h.now, bob.conn);
    h.drive();
    // Alice holds lab/c1 now.
    let alice = h.user("alice", "c1", "lab");
    h.take_events();
    let (code, message) = h.connect_err(&hello_full(Some("c1"), Some("lab"), None, Some(&stale)));
    assert_eq!(code, close_code::POLICY_VIOLATION);
    assert!(message.contains("already exists"), "{message}");
    assert_eq!(
        h.router
            .registry()
            .client(&ClientAddr::new("lab", "c1"))
            .map(|c| c.conn),
        Some(alice.conn),
        "alice was evicted"
    );
}

#[test]
fn reconnection_tokens_never_outlive_the_token_that_opened_the_session() {
    let mut h = Harness::new();
    // The API token expires in one hour; reconnection tokens live a day by default.
    let client = h.user("alice", "c1", "lab");
    let token_exp = T0 / 1000 + 3600;
    let verify = |token: &str, now: u64| {
        hypha_core::jwt::verify(token, SECRET, now, hypha_core::jwt::Audience::Reconnection)
    };
    let first = verify(&client.reconnection_token, T0 / 1000).expect("valid now");
    assert_eq!(first.exp, token_exp);
    // Refreshing later does not extend it either.
    h.advance(1_800_000);
    h.send_text(client.conn, r#"{"type":"refresh_token"}"#);
    let refreshed = h
        .take_frames(client.conn)
        .iter()
        .filter_map(|m| m.text().cloned())
        .find(|t| t["type"] == "reconnection_token")
        .expect("refreshed");
    let claims = verify(
        refreshed["reconnection_token"].as_str().unwrap(),
        h.now.as_secs(),
    )
    .unwrap();
    assert_eq!(claims.exp, token_exp);
    // Anonymous sessions have no credential to outlive: theirs keep the full lifetime.
    let anon = h.anonymous("c2", None);
    let claims = verify(&anon.reconnection_token, h.now.as_secs()).unwrap();
    assert_eq!(claims.exp, h.now.as_secs() + 86_400);
}

// ------------------------------------------------------------------------------ registration

#[test]
fn only_root_registers_in_default_and_public() {
    let mut h = Harness::new();
    let anon = h.anonymous("c1", Some("public"));
    let err = h
        .register(&anon, service(&anon, "svc", "public"))
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    // Its built-in service is allowed (hypha-rpc registers it on every connect).
    h.register_built_in(&anon).expect("built-in in public");

    // A token for public does not grant writing to it either.
    let lab = h.connect_ok(&hello(
        Some("c2"),
        Some("public"),
        Some(&user_token("alice", Some("public"))),
    ));
    assert!(h.register(&lab, service(&lab, "svc", "public")).is_err());

    let root_pub = h.root("host", "public");
    h.register(&root_pub, service(&root_pub, "svc", "public"))
        .expect("root registers in public");
    let root_def = h.root("host", "default");
    h.register(&root_def, service(&root_def, "svc", "protected"))
        .expect("root registers in default");
    assert_eq!(
        h.listed_ids(&anon, None),
        vec![
            "public/c1:built-in".to_owned(),
            "public/host:svc".to_owned()
        ]
    );
}

#[test]
fn a_read_only_grant_cannot_register_or_broadcast() {
    let mut h = Harness::new();
    let mut c = claims("reader");
    c.scope = "ws:lab#r".into();
    let token = sign(&c);
    let reader = h.connect_ok(&hello(Some("r"), Some("lab"), Some(&token)));
    let writer = h.user("alice", "w", "lab");
    h.subscribe(&writer, &["news"]);
    assert!(h
        .register(&reader, service(&reader, "svc", "public"))
        .is_err());
    h.send_raw(
        &reader,
        vec![("type", "news".into()), ("to", "*".into())],
        None,
    );
    assert!(h.take_rpc(&writer).is_empty());
}

#[test]
fn a_client_cannot_register_services_for_another_client_or_workspace() {
    let mut h = Harness::new();
    let me = h.user("alice", "me", "lab");
    let other = h.user("alice", "other-client", "lab");
    for id in [
        "lab/other-client:svc",
        "other-client:svc",
        "other-ws/me:svc",
        "ws-user-alice/me:svc",
        "*/me:svc",
    ] {
        let svc = mp(json!({"id": id, "name": "svc", "config": {"visibility": "public"}}));
        let err = h.register(&me, svc).unwrap_err();
        assert!(!err.is_empty(), "{id}");
    }
    assert!(h.listed_ids(&other, Some("*".into())).is_empty());
    // Short forms name the caller itself.
    for id in ["svc", "me:svc2"] {
        let svc = mp(json!({"id": id, "config": {"visibility": "protected"}}));
        h.register(&me, svc).expect(id);
    }
    assert_eq!(
        h.listed_ids(&other, None),
        vec!["lab/me:svc".to_owned(), "lab/me:svc2".to_owned()]
    );
}

// ------------------------------------------------------------------------------ visibility

#[test]
fn a_protected_service_is_unreachable_from_another_workspace() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register_built_in(&provider).unwrap();
    h.register(&provider, service(&provider, "svc", "protected"))
        .unwrap();
    let outsider = h.user("mallory", "m", "ws-user-mallory");

    let err = h
        .get_service(&outsider, vec!["lab/p:svc".into()], None)
        .unwrap_err();
    assert!(err.contains("not found"), "{err}");
    assert!(h
        .call_manager(
            &outsider,
            "get_service_info",
            vec!["lab/p:svc".into()],
            None
        )
        .is_err());
    // Only the (public) built-in service shows, not the protected one.
    assert_eq!(
        h.listed_ids(&outsider, Some("lab".into())),
        vec!["lab/p:built-in"]
    );

    // A direct call, skipping the manager, is not delivered and the caller is told.
    h.take_frames(provider.conn);
    let session = h.send_call(
        &outsider,
        "lab/p",
        "services.svc.add",
        vec![1.into(), 2.into()],
        None,
        Promise::Star,
    );
    assert!(h.take_rpc(&provider).is_empty(), "protected call delivered");
    let pnf = h.take_peer_not_found(&outsider);
    assert_eq!(pnf.len(), 1);
    assert_eq!(pnf[0].str("session"), Some(session.as_str()));
    assert!(pnf[0].str("error").unwrap().contains("Permission denied"));

    // Fire-and-forget is dropped silently.
    h.send_call(
        &outsider,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::None,
    );
    assert!(h.take_rpc(&provider).is_empty());
    assert!(h.take_rpc(&outsider).is_empty());

    // A service the provider never registered is not callable across workspaces either.
    h.send_call(
        &outsider,
        "lab/p",
        "services.hidden.run",
        vec![],
        None,
        Promise::Star,
    );
    assert!(h.take_rpc(&provider).is_empty());
    assert_eq!(h.take_peer_not_found(&outsider).len(), 1);

    // From inside the workspace the same call goes through.
    let insider = h.user("alice", "i", "lab");
    h.send_call(
        &insider,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(&provider).len(), 1);
    assert!(h.get_service(&insider, vec!["svc".into()], None).is_ok());
}

#[test]
fn authorized_workspaces_open_a_protected_service_to_them_only() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    let svc = mp(json!({
        "id": provider.service_id("svc"),
        "config": {"visibility": "protected", "authorized_workspaces": ["friends"]},
    }));
    h.register(&provider, svc).unwrap();
    let friend = h.user("bob", "f", "friends");
    let stranger = h.user("eve", "s", "strangers");
    assert!(h
        .get_service(&friend, vec!["lab/p:svc".into()], None)
        .is_ok());
    assert!(h
        .get_service(&stranger, vec!["lab/p:svc".into()], None)
        .is_err());
    h.take_frames(provider.conn);
    h.send_call(
        &friend,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(&provider).len(), 1);
    h.send_call(
        &stranger,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert!(h.take_rpc(&provider).is_empty());
}

#[test]
fn a_public_service_is_reachable_from_everywhere() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "svc", "public"))
        .unwrap();
    let outsider = h.anonymous("m", None);
    let got = h
        .get_service(&outsider, vec!["lab/p:svc".into()], None)
        .expect("public get_service");
    assert_eq!(got["id"], "lab/p:svc");
    assert_eq!(got["add"]["_rtarget"], "lab/p");
    assert_eq!(
        h.listed_ids(&outsider, Some("lab".into())),
        vec!["lab/p:svc"]
    );
    assert_eq!(h.listed_ids(&outsider, Some("*".into())), vec!["lab/p:svc"]);

    h.take_frames(provider.conn);
    let session = h.send_call(
        &outsider,
        "lab/p",
        "services.svc.add",
        vec![1.into(), 2.into()],
        None,
        Promise::Star,
    );
    let delivered = h.take_rpc(&provider);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].str("session"), Some(session.as_str()));
    assert_eq!(delivered[0].str("from"), Some(outsider.addr().as_str()));
    assert_eq!(delivered[0].str("ws"), Some(outsider.workspace.as_str()));
}

#[test]
fn an_unlisted_service_is_gettable_by_id_but_never_listed() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "secret", "unlisted"))
        .unwrap();
    let outsider = h.anonymous("m", None);
    let got = h
        .get_service(&outsider, vec!["lab/p:secret".into()], None)
        .expect("unlisted by id");
    assert_eq!(got["id"], "lab/p:secret");
    assert!(h.listed_ids(&outsider, Some("lab".into())).is_empty());
    assert!(h.listed_ids(&outsider, Some("*".into())).is_empty());
    assert!(h.listed_ids(&provider, None).is_empty());
    assert!(h
        .listed_ids(&provider, Some(mp(json!({"visibility": "unlisted"}))))
        .is_empty());
    h.take_frames(provider.conn);
    h.send_call(
        &outsider,
        "lab/p",
        "services.secret.add",
        vec![],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(&provider).len(), 1);
}

// ------------------------------------------------------------------------------ tokens minted

#[test]
fn root_may_grant_any_role_but_the_holder_is_not_root() {
    let mut h = Harness::new();
    let root = h.root("host", "default");
    let token = h
        .call_manager(
            &root,
            "generate_token",
            vec![mp(json!({"workspace": "lab", "roles": ["admin", "user"]}))],
            None,
        )
        .expect("root grants roles it does not hold itself");
    let holder = h.connect_ok(&hello(
        Some("c1"),
        Some("lab"),
        Some(token.as_str().unwrap()),
    ));
    assert_eq!(holder.info["user"]["roles"], json!(["admin", "user"]));
    // The admin role without `sub: root` opens nothing beyond the granted workspace.
    let (code, _) = h.connect_err(&hello(
        Some("c2"),
        Some("default"),
        Some(token.as_str().unwrap()),
    ));
    assert_eq!(code, close_code::POLICY_VIOLATION);
}

#[test]
fn generate_token_cannot_escalate() {
    let mut h = Harness::new();
    let anon = h.anonymous("c1", None);
    let cfg = |v: serde_json::Value| vec![mp(v)];

    let err = h
        .call_manager(
            &anon,
            "generate_token",
            cfg(json!({"roles": ["admin"]})),
            None,
        )
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    for ws in ["lab", "default", "public", "ws-user-alice"] {
        let err = h
            .call_manager(&anon, "generate_token", cfg(json!({"workspace": ws})), None)
            .unwrap_err();
        assert!(err.contains("permission denied"), "{ws}: {err}");
    }
    let err = h
        .call_manager(
            &anon,
            "generate_token",
            cfg(json!({"user_id": "root"})),
            None,
        )
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    // As kwargs too.
    let err = h
        .call_manager(
            &anon,
            "generate_token",
            vec![],
            Some(mp(json!({"config": {"workspace": "default"}}))),
        )
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");

    // A user with only read-write on lab cannot mint for lab.
    let alice = h.user("alice", "a", "lab");
    assert!(h
        .call_manager(&alice, "generate_token", vec![], None)
        .is_err());

    // What it may mint: a token for its own workspace, held by a child identity.
    let token = h
        .call_manager(&anon, "generate_token", vec![], None)
        .expect("own workspace");
    let token = token.as_str().expect("a string token").to_owned();
    let child = h.connect_ok(&hello(Some("c2"), None, Some(&token)));
    assert_eq!(child.workspace, anon.workspace);
    assert_ne!(child.user_id, anon.user_id);
    assert!(child.user_id.starts_with(&anon.user_id));
    assert_eq!(child.info["user"]["roles"], json!(["anonymous"]));
}

// ------------------------------------------------------------------------------ stamping

#[test]
fn forged_routing_fields_are_overwritten_on_delivery() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    h.take_frames(b.conn);
    h.send_raw(
        &a,
        vec![
            ("type", "method".into()),
            ("from", "default/host".into()),
            ("to", "b".into()),
            ("method", "services.x.y".into()),
            ("session", "s1".into()),
            ("ws", "default".into()),
            (
                "user",
                mp(json!({"id": "root", "roles": ["admin"], "is_anonymous": false})),
            ),
            (
                "ctx",
                mp(json!({"from": "default/host", "user": {"id": "root"}})),
            ),
        ],
        Some(mp(json!({"args": [], "promise": "*"}))),
    );
    let got = h.take_rpc(&b);
    assert_eq!(got.len(), 1);
    let main = &got[0].main;
    assert_eq!(main["from"], "lab/a");
    assert_eq!(main["to"], "lab/b");
    assert_eq!(main["ws"], "lab");
    assert_eq!(main["user"]["id"], "alice");
    assert_eq!(main["user"]["roles"], json!([]));
    assert_eq!(main["user"]["is_anonymous"], false);
    assert_eq!(main["user"]["current_workspace"], "lab");
    assert!(main.get("ctx").is_none(), "ctx survived: {main}");
    assert_eq!(got[0].extra, Some(json!({"args": [], "promise": "*"})));
}

#[test]
fn a_payload_that_shadows_routing_fields_is_dropped() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    h.take_frames(b.conn);
    for key in ["from", "ctx", "ws", "user", "to"] {
        let mut extra = vec![(Value::from("args"), Value::Array(vec![]))];
        extra.push((key.into(), "default/host".into()));
        h.send_raw(
            &a,
            vec![
                ("type", "method".into()),
                ("to", "b".into()),
                ("method", "services.x.y".into()),
                ("session", "s1".into()),
            ],
            Some(Value::Map(extra.clone())),
        );
        assert!(h.take_rpc(&b).is_empty(), "payload with {key} delivered");
        // The same payload to the manager is dropped too: no answer at all.
        h.send_raw(
            &a,
            vec![
                ("type", "method".into()),
                ("to", MANAGER.into()),
                ("method", "services.default.echo".into()),
                ("session", "s2".into()),
            ],
            Some(Value::Map(extra)),
        );
        assert!(
            h.take_rpc(&a).is_empty(),
            "manager answered a payload with {key}"
        );
    }
    // Nested keys are fine (only the top level merges over main).
    h.send_raw(
        &a,
        vec![
            ("type", "method".into()),
            ("to", "b".into()),
            ("method", "m".into()),
        ],
        Some(mp(json!({"args": [{"from": "x", "ctx": 1}]}))),
    );
    assert_eq!(h.take_rpc(&b).len(), 1);
}

#[test]
fn broadcasts_into_another_workspace_are_not_delivered() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let victim = h.user("bob", "v", "other");
    h.subscribe(&victim, &["news"]);
    h.take_frames(victim.conn);
    for to in ["other/*", "*/*"] {
        h.send_raw(
            &a,
            vec![
                ("type", "news".into()),
                ("to", to.into()),
                ("data", "spam".into()),
            ],
            None,
        );
    }
    assert!(h.take_rpc(&victim).is_empty());
}

#[test]
fn only_the_asked_client_can_answer_a_manager_question() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "svc", "public"))
        .unwrap();
    let requester = h.user("alice", "r", "lab");
    let attacker = h.user("alice", "x", "lab");
    let session = h.send_manager_call(&requester, "get_service", vec!["svc".into()], None);
    let asks = h.take_asks(provider.conn);
    assert_eq!(asks.len(), 1);
    let ask = asks[0].str("session").unwrap().to_owned();
    // The attacker guesses the question id and answers first with its own descriptors.
    h.answer_ask(
        attacker.conn,
        &ask,
        Ok(mp(
            json!({"id": "svc", "add": {"_rtype": "method", "_rtarget": "x", "_rmethod": "evil"}}),
        )),
    );
    assert!(
        h.reply(&requester, &session).is_none(),
        "attacker's answer accepted"
    );
    h.answer_ask(provider.conn, &ask, Ok(descriptor("p", "svc")));
    let got = h
        .reply(&requester, &session)
        .expect("answer")
        .expect("resolved");
    assert_eq!(got["add"]["_rtarget"], "lab/p");
    assert_eq!(got["add"]["_rmethod"], "services.svc.add");
}

// ------------------------------------------------------------------------------ forged signals

#[test]
fn a_client_cannot_forge_peer_not_found() {
    let mut h = Harness::new();
    let victim = h.user("alice", "victim", "lab");
    let neighbour = h.user("alice", "neighbour", "lab");
    let outsider = h.user("mallory", "m", "evil");
    h.take_frames(victim.conn);
    // hypha-rpc's `_handlePeerNotFound` rejects the session and then every session whose target
    // is `peer_id`: here, every pending call of the victim to the manager.
    for attacker in [&outsider, &neighbour] {
        h.send_raw(
            attacker,
            vec![
                ("type", "peer_not_found".into()),
                ("to", "lab/victim".into()),
                ("session", "s1".into()),
                ("peer_id", MANAGER.into()),
                ("error", "Peer disconnected".into()),
            ],
            None,
        );
        assert!(
            h.take_rpc(&victim).is_empty(),
            "forged peer_not_found from {} delivered",
            attacker.addr()
        );
    }
}

#[test]
fn a_client_cannot_send_events_into_another_workspace() {
    let mut h = Harness::new();
    let victim = h.user("alice", "victim", "lab");
    let colleague = h.user("bob", "colleague", "lab");
    let outsider = h.user("mallory", "m", "evil");
    h.take_frames(victim.conn);
    // A plain (not reserved) event: only the workspace rule stands between it and the victim.
    let news = |from: &Client, h: &mut Harness| {
        h.send_raw(
            from,
            vec![
                ("type", "news".into()),
                ("to", "lab/victim".into()),
                ("data", mp(json!({"headline": "sent by a peer"}))),
            ],
            None,
        );
    };
    news(&outsider, &mut h);
    assert!(
        h.take_rpc(&victim).is_empty(),
        "cross-workspace event delivered"
    );
    // The same event from inside the workspace arrives: the drop above is the workspace rule.
    news(&colleague, &mut h);
    assert_eq!(
        h.take_rpc(&victim).len(),
        1,
        "same-workspace event not delivered"
    );
}

#[test]
fn a_client_cannot_forge_a_reserved_event_even_inside_its_workspace() {
    let mut h = Harness::new();
    let victim = h.user("alice", "victim", "lab");
    let colleague = h.user("bob", "colleague", "lab");
    h.take_frames(victim.conn);
    // hypha-rpc's client_disconnected handler drops every session and `_rintf` callback tied to
    // `data.workspace/data.id`, whoever sent the event.
    h.send_raw(
        &colleague,
        vec![
            ("type", "client_disconnected".into()),
            ("to", "lab/victim".into()),
            (
                "data",
                mp(json!({"id": "workspace-manager", "workspace": "*"})),
            ),
        ],
        None,
    );
    assert!(
        h.take_rpc(&victim).is_empty(),
        "forged client_disconnected delivered"
    );
}

#[test]
fn a_user_id_that_is_not_a_valid_name_does_not_yield_a_broken_workspace() {
    let mut h = Harness::new();
    // Root cannot mint such a token: `user_id` must be a valid name.
    let root = h.root("host", "default");
    let minted = h.call_manager(
        &root,
        "generate_token",
        vec![mp(
            json!({"user_id": "alice@example.com", "workspace": "lab"}),
        )],
        None,
    );
    assert!(
        minted.is_err(),
        "root minted a token for an invalid user id: {minted:?}"
    );

    // A token signed elsewhere with such a subject must not land in `ws-user-alice@example.com`,
    // where hypha-rpc's first registration (`<ws>/<cid>:built-in`) and every absolute address
    // fail to parse: it is refused.
    let message = assert_refused(
        &mut h,
        &hello(
            Some("c1"),
            None,
            Some(&user_token("alice@example.com", None)),
        ),
        "a subject that makes an unusable workspace name",
    );
    assert!(message.contains("workspace"), "{message}");
}
