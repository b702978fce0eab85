//! The workspace manager as an RPC peer (protocol.md §4): bootstrap, registry methods, questions
//! put to providers, chunked uploads.

mod common;

use std::collections::HashSet;

use common::*;
use hypha_core::{default_method_names, Event};
use rmpv::Value;
use serde_json::{json, Value as Json};

// ------------------------------------------------------------------------------ bootstrap

#[test]
fn bootstrap_get_service_default_works_in_both_promise_forms() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    let star = h
        .call_built_in(&c, "get_service", vec!["default".into()], Promise::Star)
        .expect("promise *");
    let explicit = h
        .call_built_in(&c, "get_service", vec!["default".into()], Promise::Explicit)
        .expect("explicit promise");
    assert_eq!(star, explicit);

    assert_eq!(star["id"], "default");
    assert_eq!(star["config"]["visibility"], "public");
    assert_eq!(star["config"]["public_base_url"], URL);
    let echo = &star["echo"];
    assert_eq!(echo["_rtype"], "method");
    assert_eq!(echo["_rserver"], URL);
    assert_eq!(echo["_rtarget"], MANAGER);
    assert_eq!(echo["_rmethod"], "services.default.echo");
    assert_eq!(echo["_rpromise"], "*");
    assert!(echo["_rschema"]["description"].is_string());
    for name in default_method_names() {
        assert_eq!(
            star[name]["_rmethod"],
            format!("services.default.{name}"),
            "{name}"
        );
    }
}

#[test]
fn bootstrap_get_service_built_in_and_unknown() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    let built_in = h
        .call_built_in(
            &c,
            "get_service",
            vec!["built-in".into()],
            Promise::Explicit,
        )
        .unwrap();
    assert_eq!(built_in["config"]["api_version"], 3);
    assert_eq!(
        built_in["message_cache"]["set"]["_rmethod"],
        "services.built-in.message_cache.set"
    );
    assert_eq!(built_in["ping"]["_rtarget"], MANAGER);
    let err = h
        .call_built_in(&c, "get_service", vec!["nope".into()], Promise::Star)
        .unwrap_err();
    assert!(err.contains("not found"), "{err}");
    assert_eq!(
        h.call_built_in(&c, "ping", vec![], Promise::Star),
        Ok(json!("pong"))
    );
}

#[test]
fn simple_methods_answer() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    let data = json!({"a": [1, -2, 3.5, {"b": null}], "s": "text"});
    assert_eq!(
        h.call_manager(&c, "echo", vec![mp(data.clone())], None),
        Ok(data.clone())
    );
    assert_eq!(
        h.call_manager(&c, "echo", vec![], Some(mp(json!({"data": data})))),
        Ok(data)
    );
    assert_eq!(
        h.call_manager(&c, "check_status", vec![], None),
        Ok(json!({"status": "ok"}))
    );
    assert_eq!(
        h.call_manager(&c, "log", vec!["hello".into()], None),
        Ok(Json::Null)
    );
    let err = h
        .call_manager(&c, "no_such_method", vec![], None)
        .unwrap_err();
    assert!(err.contains("method not found"), "{err}");
    assert!(h
        .call_manager(&c, "get_service_type", vec!["t".into()], None)
        .is_err());
    // A call to the manager without a session gets no answer.
    h.send_call(
        &c,
        MANAGER,
        "services.default.echo",
        vec![1.into()],
        None,
        Promise::None,
    );
    assert!(h.take_frames(c.conn).is_empty());
}

// ------------------------------------------------------------------------------ registry methods

#[test]
fn register_service_returns_the_stored_info_and_announces_it() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.take_events();
    let info = h
        .register(&p, service(&p, "svc", "public"))
        .expect("registered");
    assert_eq!(info["id"], "lab/p:svc");
    assert_eq!(info["app_id"], "*");
    assert_eq!(info["type"], "generic");
    assert_eq!(info["config"]["workspace"], "lab");
    assert_eq!(info["config"]["visibility"], "public");
    let events = h.take_events();
    assert!(
        matches!(events.as_slice(), [Event::ServiceAdded { info: i }] if js(i) == info),
        "{events:?}"
    );
    // get_service_info answers from the registry without asking the provider.
    assert_eq!(
        h.call_manager(&p, "get_service_info", vec!["svc".into()], None),
        Ok(info)
    );
    assert!(h.take_asks(p.conn).is_empty());
}

#[test]
fn unregister_service_removes_only_own_services() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    let q = h.user("alice", "q", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let err = h
        .call_manager(&q, "unregister_service", vec!["lab/p:svc".into()], None)
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    h.take_events();
    assert_eq!(
        h.call_manager(&p, "unregister_service", vec!["svc".into()], None),
        Ok(Json::Null)
    );
    assert!(matches!(
        h.take_events().as_slice(),
        [Event::ServiceRemoved { .. }]
    ));
    assert!(h.listed_ids(&q, None).is_empty());
    assert!(h
        .call_manager(&p, "unregister_service", vec!["svc".into()], None)
        .is_err());
}

/// lab: p1 provides `svc` (protected) and `tool` (public, type `tool-type`); p2 provides `svc`
/// (public).
fn two_providers(h: &mut Harness) -> (Client, Client) {
    let p1 = h.user("alice", "p1", "lab");
    let p2 = h.user("alice", "p2", "lab");
    h.register(&p1, service(&p1, "svc", "protected")).unwrap();
    let tool = mp(json!({
        "id": p1.service_id("tool"),
        "type": "tool-type",
        "config": {"visibility": "public"},
    }));
    h.register(&p1, tool).unwrap();
    h.register(&p2, service(&p2, "svc", "public")).unwrap();
    (p1, p2)
}

#[test]
fn list_services_understands_string_and_map_queries() {
    let mut h = Harness::new();
    let (p1, _p2) = two_providers(&mut h);
    let all = ["lab/p1:svc", "lab/p1:tool", "lab/p2:svc"];
    let cases: Vec<(Option<Json>, Vec<&str>)> = vec![
        (None, all.to_vec()),
        (Some(json!("lab")), all.to_vec()),
        (Some(json!("lab/svc")), vec!["lab/p1:svc", "lab/p2:svc"]),
        (Some(json!("p1:*")), vec!["lab/p1:svc", "lab/p1:tool"]),
        (Some(json!("lab/p2:svc")), vec!["lab/p2:svc"]),
        (Some(json!({"type": "tool-type"})), vec!["lab/p1:tool"]),
        (
            Some(json!({"visibility": "public"})),
            vec!["lab/p1:tool", "lab/p2:svc"],
        ),
        (Some(json!({"client_id": "p2"})), vec!["lab/p2:svc"]),
        (
            Some(json!({"service_id": "svc"})),
            vec!["lab/p1:svc", "lab/p2:svc"],
        ),
        (
            Some(json!({"workspace": "lab", "id": "p1:tool"})),
            vec!["lab/p1:tool"],
        ),
        (Some(json!({"workspace": "elsewhere"})), vec![]),
    ];
    for (query, expected) in cases {
        let listed = h.listed_ids(&p1, query.clone().map(mp));
        assert_eq!(listed, expected, "query {query:?}");
    }
    for bad in [
        json!({"evil": "x"}),
        json!({"workspace": 3}),
        json!(42),
        json!("a/b/c"),
    ] {
        assert!(
            h.call_manager(&p1, "list_services", vec![mp(bad.clone())], None)
                .is_err(),
            "{bad}"
        );
    }
    // From another workspace only public services show, across workspaces too.
    let outsider = h.anonymous("o", None);
    assert_eq!(
        h.listed_ids(&outsider, Some("lab".into())),
        vec!["lab/p1:tool", "lab/p2:svc"]
    );
    assert_eq!(
        h.listed_ids(&outsider, Some(mp(json!({"workspace": "*"})))),
        vec!["lab/p1:tool", "lab/p2:svc"]
    );
    // Listed infos carry no functions, just what was registered.
    let listed = h
        .call_manager(&p1, "list_services", vec!["lab/p2:svc".into()], None)
        .unwrap();
    assert_eq!(listed[0]["description"], "test service svc");
}

#[test]
fn list_clients_lists_the_callers_workspace() {
    let mut h = Harness::new();
    let (p1, _p2) = two_providers(&mut h);
    let clients = h.call_manager(&p1, "list_clients", vec![], None).unwrap();
    assert_eq!(
        clients,
        json!([
            {"id": "lab/p1", "workspace": "lab", "client_id": "p1", "user": {"id": "alice"}},
            {"id": "lab/p2", "workspace": "lab", "client_id": "p2", "user": {"id": "alice"}},
        ])
    );
    let outsider = h.anonymous("o", None);
    let err = h
        .call_manager(&outsider, "list_clients", vec!["lab".into()], None)
        .unwrap_err();
    assert!(err.contains("permission denied"), "{err}");
    let mine = h
        .call_manager(
            &outsider,
            "list_clients",
            vec![],
            Some(mp(json!({"workspace": null}))),
        )
        .unwrap();
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
}

// ------------------------------------------------------------------------------ get_service

#[test]
fn ws_slash_name_finds_a_service_by_name_before_a_client_by_id() {
    // Python hypha's reading, which both hypha-rpc clients rely on (WebRTC's auto mode looks up
    // `<ws>/<client>-rtc`): `ws/name` is service `name` of any client in `ws`; only if there is
    // none is it client `name`'s default service (hypha-core's reading).
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "p-rtc", "protected")).unwrap();
    let other = h.user("alice", "other", "lab");
    h.register(&other, service(&other, "default", "protected"))
        .unwrap();
    let q = h.user("alice", "q", "lab");
    for (query, id) in [
        ("lab/p-rtc", "lab/p:p-rtc"),
        ("lab/other", "lab/other:default"),
        ("lab/p-rtc@*", "lab/p:p-rtc"),
    ] {
        let got = h.get_service(&q, vec![query.into()], None);
        assert_eq!(got.map(|s| s["id"].clone()), Ok(json!(id)), "{query}");
    }
    // A client without a default service and no such service name: not found.
    let err = h.get_service(&q, vec!["lab/p".into()], None).unwrap_err();
    assert!(err.contains("Service not found"), "{err}");
    // Another workspace's protected service stays hidden under either reading.
    let stranger = h.anonymous("s", None);
    let hidden = h
        .get_service(&stranger, vec!["lab/p-rtc".into()], None)
        .unwrap_err();
    let missing = h
        .get_service(&stranger, vec!["lab/nothing".into()], None)
        .unwrap_err();
    // Worded for clients matching "not found" and those matching "permission denied", and the
    // same whether the service exists or not.
    for err in [&hidden, &missing] {
        assert!(err.contains("Service not found"), "{err}");
        assert!(err.contains("permission denied"), "{err}");
    }
    assert_eq!(
        hidden.replace("lab/p-rtc", "lab/X"),
        missing.replace("lab/nothing", "lab/X")
    );
}

#[test]
fn get_service_id_forms() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    h.register(&p, service(&p, "default", "protected")).unwrap();
    let q = h.user("alice", "q", "lab");
    for (query, id) in [
        (json!("svc"), "lab/p:svc"),
        (json!("p:svc"), "lab/p:svc"),
        (json!("lab/p:svc"), "lab/p:svc"),
        (json!("lab/p"), "lab/p:default"),
        (json!("svc@*"), "lab/p:svc"),
        (json!({"id": "p:svc"}), "lab/p:svc"),
    ] {
        let got = h.get_service(&q, vec![mp(query.clone())], None);
        assert_eq!(got.map(|s| s["id"].clone()), Ok(json!(id)), "{query}");
    }
    for bad in [
        json!("nope"),
        json!("lab/q:svc"),
        json!("*/p:svc"),
        json!(7),
        json!("a:b:c"),
    ] {
        assert!(
            h.get_service(&q, vec![mp(bad.clone())], None).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn get_service_asks_the_provider_and_absolutizes_its_targets() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "public")).unwrap();
    let caller = h.anonymous("c", None);
    let session = h.send_manager_call(&caller, "get_service", vec!["lab/p:svc".into()], None);
    let asks = h.take_asks(p.conn);
    assert_eq!(asks.len(), 1);
    let ask = &asks[0];
    assert_eq!(ask.str("method"), Some("services.built-in.get_service"));
    assert_eq!(ask.str("to"), Some("lab/p"));
    assert_eq!(ask.str("ws"), Some("lab"), "the provider's own workspace");
    assert_eq!(ask.main["user"]["id"], "root");
    assert_eq!(ask.args(), vec![json!("svc")]);
    // The promise spelled out, not hypha-rpc 0.21's "*" shorthand: 0.20 clients misread that.
    let session_id = ask.str("session").expect("the question has a session");
    let promise = &ask.extra.as_ref().unwrap()["promise"];
    for name in ["heartbeat", "resolve", "reject"] {
        assert_eq!(
            promise[name],
            json!({
                "_rtype": "method",
                "_rtarget": "workspace-manager",
                "_rmethod": format!("{session_id}.{name}"),
                "_rpromise": false,
            }),
            "{name}"
        );
    }
    assert_eq!(promise["interval"], 15);
    assert!(
        h.reply(&caller, &session).is_none(),
        "answered before the provider"
    );

    let answer = mp(json!({
        "id": "svc",
        "name": "svc",
        "add": {"_rtype": "method", "_rtarget": "p", "_rmethod": "services.svc.add", "_rpromise": "*"},
        "nested": {"deep": [{"_rtype": "method", "_rtarget": "p", "_rmethod": "services.svc.nested.deep.0"}]},
        "elsewhere": {"_rtype": "method", "_rtarget": "lab/other", "_rmethod": "m"},
    }));
    let ask_session = ask.str("session").unwrap().to_owned();
    h.answer_ask(p.conn, &ask_session, Ok(answer));
    let got = h
        .reply(&caller, &session)
        .expect("answer")
        .expect("resolved");
    assert_eq!(got["id"], "lab/p:svc");
    assert_eq!(got["add"]["_rtarget"], "lab/p");
    assert_eq!(got["nested"]["deep"][0]["_rtarget"], "lab/p");
    assert_eq!(got["elsewhere"]["_rtarget"], "lab/other");
    assert_eq!(got["add"]["_rmethod"], "services.svc.add");
}

#[test]
fn get_service_with_kwargs_and_case_conversion() {
    let mut h = Harness::new();
    let (p1, _p2) = two_providers(&mut h);
    let got = h
        .get_service(
            &p1,
            vec![],
            Some(mp(
                json!({"service_id": "svc", "config": {"mode": "first"}}),
            )),
        )
        .unwrap();
    assert_eq!(got["id"], "lab/p1:svc");
    let got = h
        .get_service(
            &p1,
            vec!["lab/p2:svc".into()],
            Some(mp(json!({"config": {"case_conversion": "camel"}}))),
        )
        .unwrap();
    assert!(got.get("addTwo").is_some(), "{got}");
    assert!(got.get("add_two").is_none());
    assert_eq!(got["addTwo"]["_rtarget"], "lab/p2");
}

#[test]
fn get_service_modes() {
    let mut h = Harness::new();
    let (p1, p2) = two_providers(&mut h);
    let err = h.get_service(&p1, vec!["svc".into()], None).unwrap_err();
    assert!(err.contains("multiple services"), "{err}");
    let mode = |m: &str| vec![Value::from("svc"), mp(json!({"mode": m}))];
    assert_eq!(
        h.get_service(&p1, mode("first"), None).unwrap()["id"],
        "lab/p1:svc"
    );
    assert_eq!(
        h.get_service(&p1, mode("last"), None).unwrap()["id"],
        "lab/p2:svc"
    );
    assert!(h.get_service(&p1, mode("bogus"), None).is_err());

    let mut chosen = HashSet::new();
    for _ in 0..40 {
        let got = h.get_service(&p1, mode("random"), None).unwrap();
        chosen.insert(got["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        chosen,
        HashSet::from(["lab/p1:svc".to_owned(), "lab/p2:svc".to_owned()])
    );
    // The question went to the provider that was chosen.
    let session = h.send_manager_call(&p1, "get_service", mode("last"), None);
    assert!(h.take_asks(p1.conn).is_empty());
    assert_eq!(h.take_asks(p2.conn).len(), 1);
    assert!(h.reply(&p1, &session).is_none());
}

#[test]
fn get_service_in_public_picks_any_provider_by_default() {
    let mut h = Harness::new();
    let h1 = h.root("h1", "public");
    let h2 = h.root("h2", "public");
    h.register(&h1, service(&h1, "svc", "public")).unwrap();
    h.register(&h2, service(&h2, "svc", "public")).unwrap();
    let c = h.anonymous("c", None);
    let got = h
        .get_service(&c, vec!["public/*:svc".into()], None)
        .expect("random mode in public");
    assert!(
        ["public/h1:svc", "public/h2:svc"].contains(&got["id"].as_str().unwrap()),
        "{got}"
    );
}

#[test]
fn a_provider_rejection_or_bad_answer_reaches_the_requester() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");

    let session = h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    let ask = h.take_asks(p.conn)[0].str("session").unwrap().to_owned();
    h.answer_ask(p.conn, &ask, Err("no such thing here"));
    let err = h.reply(&c, &session).unwrap().unwrap_err();
    assert!(err.contains("no such thing here"), "{err}");

    let session = h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    let ask = h.take_asks(p.conn)[0].str("session").unwrap().to_owned();
    h.answer_ask(p.conn, &ask, Ok("not a service".into()));
    let err = h.reply(&c, &session).unwrap().unwrap_err();
    assert!(err.contains("returned no service"), "{err}");
}

#[test]
fn a_provider_that_never_answers_times_out() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");
    let session = h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    assert_eq!(h.take_asks(p.conn).len(), 1);
    assert_eq!(
        h.router.poll_timeout(),
        Some(hypha_core::Timestamp(T0 + 30_000))
    );
    h.advance(29_999);
    assert!(h.reply(&c, &session).is_none());
    h.advance(1);
    let err = h.reply(&c, &session).expect("rejected").unwrap_err();
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn a_provider_heartbeat_extends_the_deadline() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");
    let session = h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    let ask = h.take_asks(p.conn)[0].str("session").unwrap().to_owned();
    h.advance(20_000);
    h.send_raw(
        &p,
        vec![
            ("type", "method".into()),
            ("to", MANAGER.into()),
            ("method", format!("{ask}.heartbeat").into()),
        ],
        Some(mp(json!({"args": []}))),
    );
    // The caller, whose own timer is running, hears the sign of life too.
    let relayed = h.take_where(c.conn, |m| {
        m.rpc()
            .is_some_and(|r| r.str("method") == Some(format!("{session}.heartbeat").as_str()))
    });
    assert_eq!(relayed.len(), 1, "heartbeat not passed on to the caller");
    assert_eq!(relayed[0].rpc().unwrap().str("from"), Some(MANAGER));
    h.advance(20_000);
    assert!(
        h.reply(&c, &session).is_none(),
        "expired despite the heartbeat"
    );
    h.answer_ask(p.conn, &ask, Ok(descriptor("p", "svc")));
    assert!(h.reply(&c, &session).unwrap().is_ok());
}

#[test]
fn a_provider_that_disconnects_mid_question_fails_the_request() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");
    let session = h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    assert_eq!(h.take_asks(p.conn).len(), 1);
    h.disconnect(&p);
    let err = h.reply(&c, &session).expect("rejected").unwrap_err();
    assert!(err.contains("disconnected"), "{err}");
    // Nothing stays armed for it.
    h.advance(31_000);
    assert!(h.reply(&c, &session).is_none());
}

#[test]
fn too_many_questions_in_flight_are_refused() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");
    for _ in 0..64 {
        h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    }
    assert_eq!(h.take_asks(p.conn).len(), 64);
    let err = h
        .call_manager(&c, "get_service", vec!["svc".into()], None)
        .unwrap_err();
    assert!(err.contains("too many"), "{err}");
}

#[test]
fn ping_asks_the_client_in_the_same_workspace() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    let c = h.user("alice", "c", "lab");
    for target in ["p", "lab/p"] {
        let session = h.send_manager_call(&c, "ping", vec![target.into()], None);
        let served = h.serve_asks();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].0, p.conn);
        assert_eq!(served[0].1, "services.built-in.ping");
        assert_eq!(h.reply(&c, &session), Some(Ok(json!("pong"))));
    }
    let outsider = h.user("bob", "o", "elsewhere");
    for target in ["lab/p", "ghost"] {
        let err = h
            .call_manager(&outsider, "ping", vec![target.into()], None)
            .unwrap_err();
        assert!(err.contains("not found"), "{err}");
    }
    assert!(h.take_asks(p.conn).is_empty());
}

// ------------------------------------------------------------------------------ message_cache

fn chunked_register_frame(client: &Client, session: &str) -> Vec<u8> {
    let svc = mp(json!({
        "id": client.service_id("big"),
        "name": "big",
        "config": {"visibility": "protected"},
        "service_schema": {"doc": "x".repeat(20_000)},
    }));
    frame(
        vec![
            ("type", "method".into()),
            ("from", "forged/from".into()),
            ("to", "somewhere/else".into()),
            ("method", "services.default.register_service".into()),
            ("session", session.into()),
        ],
        Some(Value::Map(vec![
            ("args".into(), Value::Array(vec![svc])),
            ("promise".into(), "*".into()),
            ("t".into(), 15.into()),
        ])),
    )
}

#[test]
fn message_cache_reassembles_a_chunked_register_service_call() {
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    let bytes = chunked_register_frame(&c, "inner-1");
    let chunks: Vec<Vec<u8>> = bytes.chunks(7_000).map(<[u8]>::to_vec).collect();
    assert_eq!(chunks.len(), 3);
    let cache = |m: &str| format!("message_cache.{m}");
    assert_eq!(
        h.call_built_in(
            &c,
            &cache("create"),
            vec!["k1".into(), false.into()],
            Promise::Star
        ),
        Ok(Json::Null)
    );
    // Out of order, as concurrent uploads arrive.
    for i in [2usize, 0, 1] {
        let args = vec![
            "k1".into(),
            Value::from(i as u64),
            Value::Binary(chunks[i].clone()),
            false.into(),
        ];
        assert_eq!(
            h.call_built_in(&c, &cache("set"), args, Promise::Star),
            Ok(Json::Null)
        );
    }
    assert!(
        h.listed_ids(&c, None).is_empty(),
        "registered before process"
    );
    h.take_events();
    assert_eq!(
        h.call_built_in(&c, &cache("process"), vec!["k1".into()], Promise::Star),
        Ok(Json::Null)
    );
    // The assembled call is answered on its own session, as the uploader.
    let info = h
        .reply(&c, "inner-1")
        .expect("inner answer")
        .expect("registered");
    assert_eq!(info["id"], "lab/c:big");
    assert_eq!(h.listed_ids(&c, None), vec!["lab/c:big"]);
    assert!(matches!(
        h.take_events().as_slice(),
        [Event::ServiceAdded { .. }]
    ));
    // The key is consumed.
    assert!(h
        .call_built_in(&c, &cache("process"), vec!["k1".into()], Promise::Star)
        .is_err());
}

#[test]
fn message_cache_append_and_its_failures() {
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    let other = h.user("alice", "o", "lab");
    let bytes = chunked_register_frame(&c, "inner-2");
    let cache = |m: &str| format!("message_cache.{m}");
    h.call_built_in(&c, &cache("create"), vec!["k".into()], Promise::Star)
        .unwrap();
    // Another client cannot touch the upload.
    assert!(h
        .call_built_in(
            &other,
            &cache("append"),
            vec!["k".into(), Value::Binary(vec![1])],
            Promise::Star
        )
        .is_err());
    for chunk in bytes.chunks(10_000) {
        h.call_built_in(
            &c,
            &cache("append"),
            vec!["k".into(), Value::Binary(chunk.to_vec())],
            Promise::Star,
        )
        .unwrap();
    }
    h.call_built_in(&c, &cache("process"), vec!["k".into()], Promise::Star)
        .unwrap();
    assert!(h.reply(&c, "inner-2").unwrap().is_ok());

    // A gap is refused; data must be bytes; remove drops an upload.
    h.call_built_in(&c, &cache("create"), vec!["gap".into()], Promise::Star)
        .unwrap();
    let set = vec!["gap".into(), 1.into(), Value::Binary(vec![1])];
    h.call_built_in(&c, &cache("set"), set, Promise::Star)
        .unwrap();
    let err = h
        .call_built_in(&c, &cache("process"), vec!["gap".into()], Promise::Star)
        .unwrap_err();
    assert!(err.contains("missing chunks"), "{err}");
    h.call_built_in(&c, &cache("create"), vec!["r".into()], Promise::Star)
        .unwrap();
    assert!(h
        .call_built_in(
            &c,
            &cache("set"),
            vec!["r".into(), 0.into(), "text".into()],
            Promise::Star
        )
        .is_err());
    assert_eq!(
        h.call_built_in(&c, &cache("remove"), vec!["r".into()], Promise::Star),
        Ok(Json::Null)
    );
    assert!(h
        .call_built_in(&c, &cache("process"), vec!["r".into()], Promise::Star)
        .is_err());
}

#[test]
fn a_chunked_message_cannot_nest_another_process_call() {
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    let cache = |m: &str| format!("message_cache.{m}");
    h.call_built_in(&c, &cache("create"), vec!["inner".into()], Promise::Star)
        .unwrap();
    let inner = chunked_register_frame(&c, "deep");
    h.call_built_in(
        &c,
        &cache("set"),
        vec!["inner".into(), 0.into(), Value::Binary(inner)],
        Promise::Star,
    )
    .unwrap();
    let outer = frame(
        vec![
            ("type", "method".into()),
            ("to", MANAGER.into()),
            ("method", "services.built-in.message_cache.process".into()),
            ("session", "outer-process".into()),
        ],
        Some(mp(json!({"args": ["inner"]}))),
    );
    h.call_built_in(&c, &cache("create"), vec!["outer".into()], Promise::Star)
        .unwrap();
    h.call_built_in(
        &c,
        &cache("set"),
        vec!["outer".into(), 0.into(), Value::Binary(outer)],
        Promise::Star,
    )
    .unwrap();
    h.call_built_in(&c, &cache("process"), vec!["outer".into()], Promise::Star)
        .unwrap();
    let err = h.reply(&c, "outer-process").unwrap().unwrap_err();
    assert!(err.contains("nested"), "{err}");
    assert!(h.listed_ids(&c, None).is_empty());
}

// ------------------------------------------------------------------------------ manager ids

/// Call `services.default.echo("hi")` at `to` from `c`; the answers it got, taken.
fn echo_at(h: &mut Harness, c: &Client, to: &str) -> Vec<Msg> {
    let session = h.send_call(
        c,
        to,
        "services.default.echo",
        vec!["hi".into()],
        None,
        Promise::Star,
    );
    h.take_where(c.conn, |m| {
        m.rpc().and_then(|r| r.str("method")) == Some(&format!("{session}.resolve"))
    })
}

#[test]
fn the_manager_answers_an_id_from_before_a_restart_from_that_id() {
    // A server may announce `workspace-manager-<suffix>`, a new one per start. hypha-rpc 0.21.47
    // keeps calling the previous id after the first restart it sees, and accepts an answer only
    // from the address it called: the manager answers there, from there.
    let mut config = Config::new(URL, SECRET, 7);
    config.manager_id = "workspace-manager-0badcafe".into();
    let mut h = Harness::with_config(config);
    let c = h.anonymous("c", None);
    assert_eq!(c.manager_id, "workspace-manager-0badcafe");
    for old in ["*/workspace-manager-1234abcd", "*/workspace-manager"] {
        let answers = echo_at(&mut h, &c, old);
        let answer = answers.first().and_then(Msg::rpc).expect("an answer");
        assert_eq!(answer.str("from"), Some(old));
        assert_eq!(answer.args(), vec![json!("hi")]);
    }
    // Only that family of ids: anything else under `*` is no one.
    let answers = echo_at(&mut h, &c, "*/workspace-managerX");
    assert!(answers.is_empty(), "{answers:?}");
}

// ------------------------------------------------------------------------------ budgets

/// A service of `client` whose description is `size` bytes.
fn sized_service(client: &Client, name: &str, size: usize) -> Value {
    mp(json!({
        "id": client.service_id(name),
        "name": name,
        "type": "generic",
        "description": "x".repeat(size),
        "config": {"visibility": "public", "require_context": false},
    }))
}

#[test]
fn service_records_are_bounded_per_record_per_user_and_in_all() {
    let mut config = Config::new(URL, SECRET, 7);
    config.limits.service_bytes = 3_000;
    config.limits.user_registry_bytes = 6_000;
    config.limits.registry_bytes = 8_000;
    let mut h = Harness::with_config(config);
    let alice = h.user("alice", "a", "lab");
    // One record too big.
    let err = h
        .register(&alice, sized_service(&alice, "huge", 5_000))
        .unwrap_err();
    assert!(err.contains("more than the 3000"), "{err}");
    // A user's records together: ~2 KiB each, the fourth is over 6,000 bytes.
    for name in ["s1", "s2"] {
        h.register(&alice, sized_service(&alice, name, 1_900))
            .unwrap();
    }
    let err = h
        .register(&alice, sized_service(&alice, "s3", 1_900))
        .and_then(|_| h.register(&alice, sized_service(&alice, "s4", 1_900)))
        .unwrap_err();
    assert!(err.contains("services of user alice"), "{err}");
    // Replacing a record counts only the difference.
    h.register(&alice, sized_service(&alice, "s1", 1_900))
        .unwrap();
    // All users together.
    let bob = h.user("bob", "b", "lab");
    let refused = (0..10)
        .map(|i| h.register(&bob, sized_service(&bob, &format!("b{i}"), 1_900)))
        .find_map(Result::err)
        .expect("the registry's budget refuses at last");
    assert!(refused.contains("try again later"), "{refused}");
    // What a client leaves is free again.
    h.disconnect(&alice);
    h.register(&bob, sized_service(&bob, "after", 1_900))
        .unwrap();
}

#[test]
fn a_listing_over_its_budget_is_refused_before_anything_is_copied() {
    let mut config = Config::new(URL, SECRET, 7);
    config.limits.listing_bytes = 5_000;
    let mut h = Harness::with_config(config);
    let alice = h.user("alice", "a", "lab");
    let bob = h.user("bob", "b", "lab");
    for name in ["s1", "s2"] {
        h.register(&alice, sized_service(&alice, name, 1_900))
            .unwrap();
    }
    h.register(&bob, sized_service(&bob, "s3", 1_900)).unwrap();
    // Three records of ~2 KiB, plus each client's small built-in: over 5,000 bytes together.
    let err = h
        .call_manager(&alice, "list_services", vec!["lab/*:*".into()], None)
        .unwrap_err();
    assert!(err.contains("narrow the query"), "{err}");
    assert!(err.contains("more than the 5000"), "{err}");
    // A narrower query fits, and is answered in full.
    let mine = h
        .call_manager(&alice, "list_services", vec!["lab/a:*".into()], None)
        .unwrap();
    let names: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"s1") && names.contains(&"s2"), "{names:?}");
}
