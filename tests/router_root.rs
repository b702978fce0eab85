//! Root administers every workspace (issue 15): the Router lists and resolves protected
//! services of any workspace for it, and its calls into another workspace speak as its
//! presence there, `<ws>/root`, so the provider's own visibility check lets them in; answers to
//! that presence come back to root's connection. Nobody else gets either.

mod common;

use common::*;
use serde_json::json;

fn protected_in_lab(h: &mut Harness) -> Client {
    let p = h.user("alice", "p", "lab");
    h.register_built_in(&p).unwrap();
    // Its functions take the caller's context, so calls to it carry the caller's `user`.
    h.register(&p, context_service(&p, "svc", "protected", json!(true)))
        .unwrap();
    p
}

#[test]
fn root_lists_and_gets_protected_services_of_any_workspace() {
    let mut h = Harness::new();
    let p = protected_in_lab(&mut h);
    let root = h.root("root", "default");
    let listed = h.listed_ids(&root, Some("lab".into()));
    assert!(listed.contains(&p.service_id("svc")), "{listed:?}");
    let info = h
        .call_manager(
            &root,
            "get_service_info",
            vec![p.service_id("svc").into()],
            None,
        )
        .unwrap();
    assert_eq!(info["id"], json!(p.service_id("svc")));
    // Not so for a user of another workspace.
    let bob = h.user("bob", "b", "ws-user-bob");
    assert!(!h
        .listed_ids(&bob, Some("lab".into()))
        .contains(&p.service_id("svc")));
    assert!(h
        .call_manager(
            &bob,
            "get_service_info",
            vec![p.service_id("svc").into()],
            None
        )
        .is_err());
}

#[test]
fn roots_calls_into_a_workspace_speak_as_its_presence_there_and_answers_come_back() {
    let mut h = Harness::new();
    let p = protected_in_lab(&mut h);
    let root = h.root("root", "default");
    let session = h.send_call(
        &root,
        &p.addr(),
        "services.svc.add",
        vec![1.into(), 2.into()],
        None,
        Promise::Star,
    );
    let calls = h.take_rpc(&p);
    let call = calls
        .iter()
        .find(|r| r.str("method") == Some("services.svc.add"))
        .expect("the protected call reaches the provider");
    assert_eq!(call.str("from"), Some("lab/root"));
    assert_eq!(call.str("ws"), Some("lab"));
    assert_eq!(call.main["user"]["id"], json!("root"));
    // The provider answers the address it saw; root receives it as its own.
    h.send_raw(
        &p,
        vec![
            ("type", "method".into()),
            ("to", "lab/root".into()),
            ("method", format!("{session}.resolve").into()),
        ],
        Some(mp(json!({"args": [3]}))),
    );
    let answers = h.take_rpc(&root);
    let answer = answers
        .iter()
        .find(|r| r.str("method") == Some(format!("{session}.resolve").as_str()))
        .expect("the answer reaches root");
    assert_eq!(answer.str("to"), Some("default/root"));
    assert_eq!(answer.str("from"), Some(p.addr().as_str()));
}

#[test]
fn nobody_else_gets_roots_rights_or_presence() {
    let mut h = Harness::new();
    let p = protected_in_lab(&mut h);
    // A client called `root` of an ordinary user is not root.
    let fake = h.user("mallory", "root", "ws-user-mallory");
    let session = h.send_call(
        &fake,
        &p.addr(),
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    assert!(h
        .take_rpc(&p)
        .iter()
        .all(|r| r.str("method") != Some("services.svc.add")));
    let refused = h.take_peer_not_found(&fake);
    assert!(refused
        .iter()
        .any(|r| r.str("session") == Some(session.as_str())));
    // A real client holding `lab/root` keeps its address: root's calls then carry its own.
    let holder = h.user("alice", "root", "lab");
    let root = h.root("root", "default");
    h.send_call(
        &root,
        &p.addr(),
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    let call = h
        .take_rpc(&p)
        .into_iter()
        .find(|r| r.str("method") == Some("services.svc.add"));
    assert!(
        call.is_none_or(|c| c.str("from") == Some("default/root")),
        "root must not speak as {}",
        holder.addr()
    );
}

#[test]
fn roots_answers_to_calls_made_to_its_own_address_keep_that_address() {
    let mut h = Harness::new();
    let root = h.root("root", "default");
    h.register_built_in(&root).unwrap();
    h.register(&root, service(&root, "pub", "public")).unwrap();
    let caller = h.user("bob", "b", "ws-user-bob");
    let session = h.send_call(
        &caller,
        &root.addr(),
        "services.pub.add",
        vec![],
        None,
        Promise::Star,
    );
    assert!(h
        .take_rpc(&root)
        .iter()
        .any(|r| r.str("method") == Some("services.pub.add")));
    // Root answers the caller, which called `default/root` and checks the answer comes from it.
    h.send_raw(
        &root,
        vec![
            ("type", "method".into()),
            ("to", caller.addr().into()),
            ("method", format!("{session}.resolve").into()),
        ],
        Some(mp(json!({"args": [5]}))),
    );
    let answers = h.take_rpc(&caller);
    let answer = answers
        .iter()
        .find(|r| r.str("method") == Some(format!("{session}.resolve").as_str()))
        .expect("the answer reaches the caller");
    assert_eq!(answer.str("from"), Some("default/root"));
    // Root's own calls into that workspace still speak as its presence there.
    h.register_built_in(&caller).unwrap();
    h.register(&caller, service(&caller, "own", "protected"))
        .unwrap();
    h.send_call(
        &root,
        &caller.addr(),
        "services.own.add",
        vec![],
        None,
        Promise::Star,
    );
    let call = h
        .take_rpc(&caller)
        .into_iter()
        .find(|r| r.str("method") == Some("services.own.add"))
        .expect("root's call arrives");
    assert_eq!(call.str("from"), Some("ws-user-bob/root"));
}

/// Root providing public `pub` in `default`, and bob's client in `ws-user-bob`, both with their
/// `built-in` service (message caches are part of it).
fn root_and_caller(h: &mut Harness) -> (Client, Client) {
    let root = h.root("root", "default");
    h.register_built_in(&root).unwrap();
    h.register(&root, service(&root, "pub", "public")).unwrap();
    let caller = h.user("bob", "b", "ws-user-bob");
    h.register_built_in(&caller).unwrap();
    (root, caller)
}

/// Root sends `method(args)` to `caller`: the `from` the caller receives it with.
fn from_root(
    h: &mut Harness,
    root: &Client,
    caller: &Client,
    method: &str,
    args: serde_json::Value,
) -> Option<String> {
    h.send_raw(
        root,
        vec![
            ("type", "method".into()),
            ("to", caller.addr().into()),
            ("method", method.into()),
        ],
        Some(mp(json!({ "args": args }))),
    );
    let got = h.take_rpc(caller);
    assert_eq!(got.len(), 1, "{method} reaches the caller: {got:?}");
    got[0].str("from").map(str::to_owned)
}

#[test]
fn roots_answer_through_the_callers_message_cache_keeps_roots_address() {
    // An answer too large for one frame: hypha-rpc uploads it into the caller's message cache
    // under the call's session id, then `process` hands it over, and the caller takes the
    // `from` of that frame as the answer's. A presence address there fails the caller's check
    // ("Access denied for method call ... to target default/root") and the call hangs.
    let mut h = Harness::new();
    let (root, caller) = root_and_caller(&mut h);
    let session = h.send_call(
        &caller,
        &root.addr(),
        "services.pub.echo",
        vec![],
        None,
        Promise::Star,
    );
    h.take_rpc(&root);
    let cache = |h: &mut Harness, function: &str, args: serde_json::Value| {
        let method = format!("services.built-in.message_cache.{function}");
        from_root(h, &root, &caller, &method, args)
    };
    cache(&mut h, "create", json!([session, true]));
    cache(&mut h, "set", json!([session, 0, "chunk", true]));
    assert_eq!(
        cache(&mut h, "process", json!([session, true])).as_deref(),
        Some("default/root"),
        "the assembled answer comes from root's own address"
    );
    // A message of root's own into that workspace (another id) still speaks as its presence.
    assert_eq!(
        cache(&mut h, "process", json!(["root-own-message", false])).as_deref(),
        Some("ws-user-bob/root")
    );
}

#[test]
fn an_answer_to_a_call_too_large_for_one_frame_keeps_roots_address() {
    // A call with a large argument reaches root through root's message cache: the Router sees
    // `message_cache.process` to `default/root`, never the call's own session. Root's answer in
    // that unseen session must still come from `default/root`, once.
    let mut h = Harness::new();
    let (root, caller) = root_and_caller(&mut h);
    let process = h.send_call(
        &caller,
        &root.addr(),
        "services.built-in.message_cache.process",
        vec!["upload-1".into(), false.into()],
        None,
        Promise::Star,
    );
    assert_eq!(h.take_rpc(&root).len(), 1, "process reaches root");
    let answer = |h: &mut Harness, session: &str| {
        from_root(h, &root, &caller, &format!("{session}.resolve"), json!([1]))
    };
    // The process call's own answer, in its seen session; then the assembled call's answer.
    assert_eq!(answer(&mut h, &process).as_deref(), Some("default/root"));
    assert_eq!(
        answer(&mut h, "unseen-session").as_deref(),
        Some("default/root")
    );
    // One chunked call, one answer: another unseen session is root's presence speaking.
    assert_eq!(
        answer(&mut h, "other-session").as_deref(),
        Some("ws-user-bob/root")
    );
    assert_eq!(h.router.root_calls_remembered(), 0);
}

#[test]
fn calls_to_roots_own_address_are_remembered_within_a_budget() {
    let mut h = Harness::new();
    let root = h.root("root", "default");
    h.register_built_in(&root).unwrap();
    h.register(&root, service(&root, "pub", "public")).unwrap();
    let flooder = h.user("bob", "b", "ws-user-bob");
    // A peer that calls root's address over and over, never letting root answer, is
    // remembered only up to the budget; past it the Router stores nothing more.
    let frame = |session: usize| {
        frame(
            vec![
                ("type", "method".into()),
                ("to", "default/root".into()),
                ("method", "services.pub.add".into()),
                ("session", format!("f{session}").into()),
            ],
            Some(mp(json!({"args": [], "promise": "*", "t": 15}))),
        )
    };
    for i in 0..100_050 {
        h.router.handle_message(
            h.now,
            flooder.conn,
            hypha_core::Frame::Binary(frame(i).into()),
        );
        while h.router.poll_transmit().is_some() {}
    }
    assert_eq!(h.router.root_calls_remembered(), 100_000);
    // The peer leaving frees them all.
    h.disconnect(&flooder);
    assert_eq!(h.router.root_calls_remembered(), 0);
}
