//! Routing of RPC frames between clients (protocol.md §2.2, §2.5, §2.6, §2.9, §2.10).

mod common;

use common::*;
use hypha_core::Frame;
use rmpv::Value;
use serde_json::{json, Value as Json};

#[test]
fn a_direct_call_is_stamped_and_delivered() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    let session = h.send_call(
        &a,
        "b",
        "services.svc.add",
        vec![1.into(), 2.into()],
        None,
        Promise::Star,
    );
    let got = h.take_rpc(&b);
    assert_eq!(got.len(), 1);
    let call = &got[0];
    assert_eq!(call.str("type"), Some("method"));
    assert_eq!(call.str("from"), Some("lab/a"));
    assert_eq!(call.str("to"), Some("lab/b"), "bare target absolutized");
    assert_eq!(call.str("ws"), Some("lab"));
    assert_eq!(call.str("method"), Some("services.svc.add"));
    assert_eq!(call.str("session"), Some(session.as_str()));
    assert_eq!(call.main["user"]["id"], "alice");
    assert_eq!(
        call.extra,
        Some(json!({"args": [1, 2], "promise": "*", "t": 15}))
    );
    assert!(h.take_rpc(&a).is_empty(), "nothing goes back to the caller");

    // An absolute target in the same workspace is delivered the same way.
    h.send_call(&a, "lab/b", "services.svc.add", vec![], None, Promise::None);
    let got = h.take_rpc(&b);
    assert_eq!(got[0].str("to"), Some("lab/b"));
    assert!(got[0].main.get("session").is_none());
}

#[test]
fn the_payload_is_forwarded_byte_for_byte() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    // An end-to-end encrypted payload, opaque to the server, with a float and binary.
    let extra = Value::Map(vec![
        ("_enc".into(), mp(json!({"pub": "k", "nonce": 7}))),
        ("data".into(), Value::Binary((0..=255).collect())),
        ("f".into(), Value::F32(1.5)),
    ]);
    let extra_bytes = hypha_core::wire::encode_value(&extra);
    h.send_raw(
        &a,
        vec![
            ("type", "method".into()),
            ("to", "b".into()),
            ("method", "m".into()),
        ],
        Some(extra),
    );
    let frames = h.inbox.remove(&b.conn).expect("delivered");
    let [Frame::Binary(bytes)] = frames.as_slice() else {
        panic!("{frames:?}")
    };
    assert!(bytes.ends_with(&extra_bytes));
}

#[test]
fn the_receiver_is_told_its_full_address_however_the_sender_wrote_it() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    // A bare client id (resolved in the sender's workspace) is rewritten; the full address,
    // as hypha-rpc writes it, arrives as it was sent.
    for to in ["b", "lab/b"] {
        h.send_raw(
            &a,
            vec![
                ("type", "method".into()),
                ("to", to.into()),
                ("method", "m".into()),
            ],
            None,
        );
        let got = h.take_rpc(&b);
        assert_eq!(got.len(), 1, "{to}");
        assert_eq!(got[0].str("to"), Some("lab/b"), "{to}");
        assert_eq!(got[0].str("from"), Some("lab/a"), "{to}");
    }
}

#[test]
fn a_reply_routes_back_to_the_caller() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    let session = h.send_call(
        &a,
        "b",
        "services.svc.add",
        vec![1.into()],
        None,
        Promise::Star,
    );
    h.take_rpc(&b);

    // The callee heartbeats, then resolves: `<session>.heartbeat|resolve` sent to the caller.
    for kind in ["heartbeat", "resolve"] {
        h.send_raw(
            &b,
            vec![
                ("type", "method".into()),
                ("to", "lab/a".into()),
                ("method", format!("{session}.{kind}").into()),
                ("parent", session.as_str().into()),
            ],
            Some(mp(json!({"args": [3]}))),
        );
        let got = h.take_rpc(&a);
        assert_eq!(got.len(), 1, "{kind}");
        assert_eq!(
            got[0].str("method"),
            Some(format!("{session}.{kind}").as_str())
        );
        assert_eq!(got[0].str("from"), Some("lab/b"));
        assert_eq!(got[0].str("to"), Some("lab/a"));
        assert_eq!(got[0].args(), vec![json!(3)]);
    }
    // The call is complete: the callee leaving later does not fail it.
    h.disconnect(&b);
    assert!(h.take_peer_not_found(&a).is_empty());
}

#[test]
fn a_rejection_also_completes_the_call() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("bob", "b", "lab");
    let session = h.send_call(&a, "b", "services.svc.add", vec![], None, Promise::Star);
    h.send_raw(
        &b,
        vec![
            ("type", "method".into()),
            ("to", "a".into()),
            ("method", format!("{session}.reject").into()),
        ],
        Some(mp(
            json!({"args": [{"_rtype": "error", "_rvalue": "boom"}]}),
        )),
    );
    let got = h.take_rpc(&a);
    assert_eq!(got[0].args()[0]["_rvalue"], "boom");
    h.disconnect(&b);
    assert!(h.take_peer_not_found(&a).is_empty());
}

#[test]
fn a_reply_to_a_caller_in_another_workspace_is_delivered() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "svc", "public"))
        .unwrap();
    let caller = h.anonymous("c", None);
    let session = h.send_call(
        &caller,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(&provider).len(), 1);
    h.send_raw(
        &provider,
        vec![
            ("type", "method".into()),
            ("to", caller.addr().as_str().into()),
            ("method", format!("{session}.resolve").into()),
        ],
        Some(mp(json!({"args": ["ok"]}))),
    );
    let got = h.take_rpc(&caller);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].str("from"), Some("lab/p"));
    assert_eq!(got[0].str("ws"), Some("lab"));
}

#[test]
fn one_broadcast_or_notice_to_many_subscribers_is_one_buffer() {
    let mut h = Harness::new();
    let sender = h.user("alice", "s", "lab");
    let fans: Vec<Client> = (0..3)
        .map(|i| h.user("alice", &format!("fan{i}"), "lab"))
        .collect();
    for fan in &fans {
        h.subscribe(fan, &["news", "service_added"]);
        h.take_frames(fan.conn);
    }
    // The address each copy points at: the same for all, or a big event to many subscribers
    // would be copied once per subscriber.
    let shared = |h: &mut Harness| -> Vec<*const u8> {
        fans.iter()
            .map(
                |fan| match h.inbox.remove(&fan.conn).unwrap_or_default().as_slice() {
                    [Frame::Binary(bytes)] => bytes.as_ptr(),
                    other => panic!("expected one frame, got {other:?}"),
                },
            )
            .collect()
    };
    h.send_raw(
        &sender,
        vec![("type", "news".into()), ("to", "*".into())],
        Some(mp(json!({"big": "x".repeat(100_000)}))),
    );
    let copies = shared(&mut h);
    assert!(
        copies.iter().all(|p| *p == copies[0]),
        "broadcast copied per subscriber"
    );
    h.register(&sender, service(&sender, "svc", "public"))
        .unwrap();
    let copies = shared(&mut h);
    assert!(
        copies.iter().all(|p| *p == copies[0]),
        "notice copied per subscriber"
    );
}

#[test]
fn the_user_map_goes_only_to_receivers_that_read_it() {
    let mut h = Harness::new();
    let caller = h.user("alice", "c", "lab");
    let provider = h.user("bob", "p", "lab");
    h.register(
        &provider,
        context_service(&provider, "plain", "protected", json!(false)),
    )
    .unwrap();
    h.register(
        &provider,
        context_service(&provider, "ctx", "protected", json!(true)),
    )
    .unwrap();
    h.register(
        &provider,
        context_service(&provider, "some", "protected", json!(["add", "nested.f"])),
    )
    .unwrap();
    h.take_frames(provider.conn);
    let user_of = |h: &mut Harness, method: &str| -> Option<serde_json::Value> {
        h.send_call(&caller, "p", method, vec![], None, Promise::None);
        let got = h.take_rpc(&provider);
        assert_eq!(got.len(), 1, "{method} delivered");
        got[0].main.get("user").cloned()
    };
    assert_eq!(user_of(&mut h, "services.plain.add"), None);
    assert_eq!(user_of(&mut h, "services.ctx.add").unwrap()["id"], "alice");
    assert_eq!(user_of(&mut h, "services.some.add").unwrap()["id"], "alice");
    assert!(user_of(&mut h, "services.some.nested.f").is_some());
    assert_eq!(user_of(&mut h, "services.some.sub"), None);
    // A service the registry does not know (a client's built-in, interface objects): stamped.
    assert!(user_of(&mut h, "services.built-in.ping").is_some());
    assert!(user_of(&mut h, "services.unknown.f").is_some());

    // Answers and callbacks carry no user, and one the sender forged is taken out.
    h.send_raw(
        &provider,
        vec![
            ("type", "method".into()),
            ("to", "c".into()),
            ("method", "s1.resolve".into()),
            ("user", mp(json!({"id": "root", "roles": ["admin"]}))),
        ],
        None,
    );
    let answer = h.take_rpc(&caller);
    assert_eq!(answer.len(), 1);
    assert!(answer[0].main.get("user").is_none(), "{:?}", answer[0].main);
    // Events: handlers get the whole message, so the sender is stamped.
    h.subscribe(&provider, &["news"]);
    h.take_frames(provider.conn);
    h.send_raw(
        &caller,
        vec![("type", "news".into()), ("to", "*".into())],
        None,
    );
    assert_eq!(h.take_rpc(&provider)[0].main["user"]["id"], "alice");
}

/// A method frame to `to` that is not a `services.*` call: a callback, an answer, a generator.
fn session_method(h: &mut Harness, from: &Client, to: &str, method: &str, session: Option<&str>) {
    let mut main = vec![
        ("type", "method".into()),
        ("to", to.into()),
        ("method", method.into()),
    ];
    if let Some(session) = session {
        main.push(("session", session.into()));
    }
    h.send_raw(from, main, Some(mp(json!({"args": [1]}))));
}

/// `caller` calls `svc.add` of `provider` (`lab/p`), which answers: a service call that links
/// the two when they are in different workspaces. Returns the call's session.
fn answered_call(h: &mut Harness, caller: &Client, provider: &Client) -> String {
    let session = h.send_call(
        caller,
        "lab/p",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(provider).len(), 1);
    session_method(
        h,
        provider,
        &caller.addr(),
        &format!("{session}.resolve"),
        None,
    );
    session
}

#[test]
fn clients_of_other_workspaces_a_client_called_hear_that_it_left() {
    // hypha-rpc keeps a session for each call it answers until the caller leaves, which it
    // learns from `client_disconnected`, or for 10 minutes. A client's departure is broadcast to
    // its own workspace: a provider of another workspace it called must hear of it too, or each
    // short-lived caller (an anonymous visitor, in a workspace of its own) costs it every session
    // for 10 minutes.
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "svc", "public"))
        .unwrap();
    let colleague = h.user("alice", "q", "lab");
    h.subscribe(&provider, &["client_disconnected"]);
    h.subscribe(&colleague, &["client_disconnected"]);
    let caller = h.anonymous("c", None);
    let bystander = h.anonymous("b", None);
    h.take_frames(provider.conn);
    h.take_frames(colleague.conn);

    answered_call(&mut h, &caller, &provider);
    h.disconnect(&bystander);
    h.disconnect(&caller);
    // A moment later (see src/router/departures.rs): a call of the caller's still being taken
    // in must not find its session gone. The provider hears of its caller only (not of the
    // bystander); a client the caller never called hears of neither.
    h.hears_departure_later(&provider, &colleague, &caller.addr());

    // In its own workspace a client's departure is heard at once, and once, by every
    // subscriber.
    h.disconnect(&colleague);
    assert_eq!(
        h.take_departures(&provider),
        vec![json!({"id": "q", "workspace": "lab"})]
    );
    h.advance(1100);
    assert_eq!(h.take_departures(&provider), Vec::<Json>::new());
}

#[test]
fn session_methods_cross_workspaces_only_between_clients_a_service_call_linked() {
    let mut h = Harness::new();
    let provider = h.user("alice", "p", "lab");
    h.register(&provider, service(&provider, "svc", "public"))
        .unwrap();
    h.take_frames(provider.conn);
    let stranger = h.anonymous("s", None);
    let caller = h.anonymous("c", None);

    // A stranger cannot push callbacks or answers at a client it never called.
    session_method(&mut h, &stranger, "lab/p", "abc.resolve", None);
    session_method(&mut h, &stranger, "lab/p", "abc.next", Some("s1"));
    assert!(
        h.take_rpc(&provider).is_empty(),
        "nothing queued for the provider"
    );
    let refused = h.take_peer_not_found(&stranger);
    assert_eq!(
        refused.len(),
        1,
        "the call with a session is refused at once"
    );
    assert_eq!(refused[0].str("session"), Some("s1"));
    assert!(
        refused[0]
            .str("error")
            .unwrap()
            .contains("no call with the caller"),
        "{refused:?}"
    );

    // A public service call links caller and provider: the answer, later callbacks and
    // the caller's calls into what the provider returned all flow, both ways.
    let session = answered_call(&mut h, &caller, &provider);
    session_method(
        &mut h,
        &provider,
        &caller.addr(),
        &format!("{session}.cb#on_tick"),
        None,
    );
    assert_eq!(
        h.take_rpc(&caller).len(),
        2,
        "answer and a callback after it"
    );
    session_method(&mut h, &caller, "lab/p", "gen9.next", Some("c2"));
    assert_eq!(
        h.take_rpc(&provider).len(),
        1,
        "the caller reaches the returned generator"
    );
    assert_eq!(h.router.cross_linked_connections(), 2);

    // The stranger is still not linked, and a link goes when either end leaves.
    session_method(&mut h, &stranger, "lab/p", "gen9.next", Some("s2"));
    assert!(h.take_rpc(&provider).is_empty());
    assert_eq!(h.take_peer_not_found(&stranger).len(), 1);
    h.disconnect(&caller);
    assert_eq!(h.router.cross_linked_connections(), 0);
    let again = h.anonymous("c", None);
    session_method(
        &mut h,
        &provider,
        &again.addr(),
        &format!("{session}.cb#on_tick"),
        None,
    );
    assert!(
        h.take_rpc(&again).is_empty(),
        "a new client at the address is not linked"
    );
}

#[test]
fn a_broadcast_reaches_only_subscribers_of_the_same_workspace() {
    let mut h = Harness::new();
    let sender = h.user("alice", "s", "lab");
    let fan = h.user("alice", "fan", "lab");
    let deaf = h.user("alice", "deaf", "lab");
    let other_topic = h.user("alice", "other-topic", "lab");
    let elsewhere = h.user("bob", "e", "elsewhere");
    h.subscribe(&fan, &["news"]);
    h.subscribe(&other_topic, &["weather"]);
    h.subscribe(&elsewhere, &["news"]);
    for c in [&sender, &fan, &deaf, &other_topic, &elsewhere] {
        h.take_frames(c.conn);
    }

    h.send_raw(
        &sender,
        vec![
            ("type", "news".into()),
            ("to", "*".into()),
            ("data", mp(json!({"n": 1}))),
        ],
        None,
    );
    let got = h.take_rpc(&fan);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].str("type"), Some("news"));
    assert_eq!(got[0].str("to"), Some("lab/*"));
    assert_eq!(got[0].str("from"), Some("lab/s"));
    assert_eq!(got[0].main["data"], json!({"n": 1}));
    for c in [&sender, &deaf, &other_topic, &elsewhere] {
        assert!(
            h.take_rpc(c).is_empty(),
            "{} got the broadcast",
            c.client_id
        );
    }

    // The explicit form `lab/*` is the same broadcast.
    h.send_raw(
        &sender,
        vec![("type", "news".into()), ("to", "lab/*".into())],
        None,
    );
    assert_eq!(h.take_rpc(&fan).len(), 1);
    assert!(h.take_rpc(&elsewhere).is_empty());

    // Unsubscribing stops delivery.
    h.call_manager(&fan, "unsubscribe", vec!["news".into()], None)
        .unwrap();
    h.send_raw(
        &sender,
        vec![("type", "news".into()), ("to", "*".into())],
        None,
    );
    assert!(h.take_rpc(&fan).is_empty());
}

#[test]
fn a_call_to_an_unknown_client_gets_peer_not_found() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    for (to, peer) in [("ghost", "lab/ghost"), ("other/ghost", "other/ghost")] {
        let session = h.send_call(&a, to, "services.svc.add", vec![], None, Promise::Star);
        let pnf = h.take_peer_not_found(&a);
        assert_eq!(pnf.len(), 1, "{to}");
        assert_eq!(pnf[0].str("session"), Some(session.as_str()));
        assert_eq!(pnf[0].str("peer_id"), Some(peer));
        assert!(pnf[0].str("error").unwrap().contains("not connected"));
    }
    // Without a session nothing comes back.
    h.send_call(&a, "ghost", "services.svc.add", vec![], None, Promise::None);
    assert!(h.take_frames(a.conn).is_empty());
}

#[test]
fn frames_without_a_usable_target_are_dropped() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("alice", "b", "lab");
    h.subscribe(&b, &["method", "evt"]);
    h.take_frames(b.conn);
    let targets: [Option<Value>; 6] = [
        None,
        Some(Value::from(12)),
        Some("*/someone".into()),
        Some("lab/".into()),
        Some("/b".into()),
        Some("lab/b/c".into()),
    ];
    for to in targets {
        let mut main = vec![
            ("type", Value::from("method")),
            ("method", "m".into()),
            ("session", "s".into()),
        ];
        if let Some(to) = to {
            main.push(("to", to));
        }
        h.send_raw(&a, main, None);
    }
    assert!(h.take_frames(b.conn).is_empty());
    assert!(h.router.client_of(a.conn).is_some());
}

#[test]
fn a_client_can_call_itself() {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    h.send_call(&a, "a", "services.svc.add", vec![], None, Promise::Star);
    let got = h.take_rpc(&a);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].str("from"), Some("lab/a"));
}
