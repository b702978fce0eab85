//! What happens as clients come and go: cleanup, notifications, released callers, timers.

mod common;

use common::*;
use hypha_core::{ClientAddr, Event};
use serde_json::{json, Value as Json};

fn event_types(rpcs: &[Rpc]) -> Vec<&str> {
    rpcs.iter().filter_map(|r| r.str("type")).collect()
}

#[test]
fn disconnect_removes_services_and_tells_subscribers_of_that_workspace_only() {
    let mut h = Harness::new();
    let leaver = h.user("alice", "leaver", "lab");
    let watcher = h.user("alice", "watcher", "lab");
    let deaf = h.user("alice", "deaf", "lab");
    let outsider = h.user("bob", "outsider", "elsewhere");
    let events = ["service_removed", "client_disconnected", "service_added"];
    h.subscribe(&watcher, &events);
    h.subscribe(&outsider, &events);
    h.register_built_in(&leaver).unwrap();
    h.register(&leaver, service(&leaver, "svc", "public"))
        .unwrap();
    h.register(&watcher, service(&watcher, "stays", "protected"))
        .unwrap();
    for c in [&watcher, &deaf, &outsider] {
        h.take_frames(c.conn);
    }
    h.take_events();

    h.disconnect(&leaver);

    assert_eq!(h.listed_ids(&watcher, None), vec!["lab/watcher:stays"]);
    let got = h.take_rpc(&watcher);
    assert_eq!(
        event_types(&got),
        vec!["service_removed", "service_removed", "client_disconnected"]
    );
    let removed: Vec<&Json> = got[..2].iter().map(|r| &r.main["data"]["id"]).collect();
    assert_eq!(removed, vec!["lab/leaver:built-in", "lab/leaver:svc"]);
    assert_eq!(got[2].str("to"), Some("*"));
    assert_eq!(
        got[2].main["data"],
        json!({"id": "leaver", "workspace": "lab"})
    );
    assert!(
        got[2].main.get("from").is_none(),
        "server events carry no sender"
    );
    assert!(h.take_rpc(&deaf).is_empty());
    assert!(h.take_rpc(&outsider).is_empty());

    let events = h.take_events();
    let removed_events = events
        .iter()
        .filter(|e| matches!(e, Event::ServiceRemoved { .. }))
        .count();
    assert_eq!(removed_events, 2);
    assert!(events.contains(&Event::ClientDisconnected {
        client: ClientAddr::new("lab", "leaver")
    }));
    assert_eq!(h.router.open_connections(), 3);
    assert_eq!(h.router.registry().client_count(), 3);
}

#[test]
fn registration_notifies_subscribers_and_the_host() {
    let mut h = Harness::new();
    let watcher = h.user("alice", "watcher", "lab");
    let outsider = h.user("bob", "outsider", "elsewhere");
    h.subscribe(
        &watcher,
        &["service_added", "service_removed", "client_connected"],
    );
    h.subscribe(&outsider, &["service_added", "client_connected"]);
    let newcomer = h.user("alice", "new", "lab");
    h.take_events();
    h.take_frames(watcher.conn);

    // hypha-rpc registers its built-in service first: that is when others learn it connected.
    h.register_built_in(&newcomer).unwrap();
    let got = h.take_rpc(&watcher);
    assert_eq!(event_types(&got), vec!["client_connected", "service_added"]);
    assert_eq!(
        got[0].main["data"],
        json!({"id": "lab/new", "workspace": "lab"})
    );
    assert_eq!(got[1].main["data"]["id"], "lab/new:built-in");

    // Re-registering replaces: removed, then added.
    h.register(&newcomer, service(&newcomer, "svc", "public"))
        .unwrap();
    h.take_frames(watcher.conn);
    let mut again = service(&newcomer, "svc", "public");
    if let rmpv::Value::Map(entries) = &mut again {
        entries.push(("description".into(), "v2".into()));
    }
    h.register(&newcomer, again).unwrap();
    let got = h.take_rpc(&watcher);
    assert_eq!(event_types(&got), vec!["service_removed", "service_added"]);
    assert_eq!(got[1].main["data"]["description"], "v2");
    assert!(h.take_rpc(&outsider).is_empty());

    let added = h
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::ServiceAdded { .. }))
        .count();
    assert_eq!(added, 3);
}

#[test]
fn callers_waiting_on_a_departed_callee_get_peer_not_found() {
    let mut h = Harness::new();
    let callee = h.user("alice", "callee", "lab");
    h.register(&callee, service(&callee, "svc", "public"))
        .unwrap();
    let a = h.user("alice", "a", "lab");
    let b = h.anonymous("b", None);
    let s1 = h.send_call(
        &a,
        "callee",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    let s2 = h.send_call(
        &a,
        "lab/callee",
        "services.svc.add",
        vec![],
        None,
        Promise::Explicit,
    );
    let s3 = h.send_call(
        &b,
        "lab/callee",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    h.send_call(
        &a,
        "callee",
        "services.svc.add",
        vec![],
        None,
        Promise::None,
    );
    let answered = h.send_call(
        &a,
        "callee",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    h.send_raw(
        &callee,
        vec![
            ("type", "method".into()),
            ("to", "a".into()),
            ("method", format!("{answered}.resolve").into()),
        ],
        Some(mp(json!({"args": [1]}))),
    );
    h.take_frames(a.conn);

    h.disconnect(&callee);

    let mut sessions: Vec<String> = h
        .take_peer_not_found(&a)
        .iter()
        .map(|p| {
            assert_eq!(p.str("peer_id"), Some("lab/callee"));
            assert!(p.str("error").unwrap().contains("disconnected"));
            p.str("session").unwrap().to_owned()
        })
        .collect();
    sessions.sort();
    let mut expected = vec![s1, s2];
    expected.sort();
    assert_eq!(sessions, expected);
    let pnf = h.take_peer_not_found(&b);
    assert_eq!(pnf.len(), 1);
    assert_eq!(pnf[0].str("session"), Some(s3.as_str()));
    assert!(h.take_frames(a.conn).is_empty());
}

#[test]
fn a_departed_caller_is_forgotten() {
    let mut h = Harness::new();
    let callee = h.user("alice", "callee", "lab");
    let caller = h.user("alice", "caller", "lab");
    h.send_call(
        &caller,
        "callee",
        "services.svc.add",
        vec![],
        None,
        Promise::Star,
    );
    h.disconnect(&caller);
    h.disconnect(&callee);
    assert!(h.take_peer_not_found(&caller).is_empty());
}

#[test]
fn a_departed_requester_does_not_get_the_late_answer() {
    let mut h = Harness::new();
    let p = h.user("alice", "p", "lab");
    h.register(&p, service(&p, "svc", "protected")).unwrap();
    let c = h.user("alice", "c", "lab");
    h.send_manager_call(&c, "get_service", vec!["svc".into()], None);
    let ask = h.take_asks(p.conn)[0].str("session").unwrap().to_owned();
    h.disconnect(&c);
    h.take_frames(c.conn);
    h.answer_ask(p.conn, &ask, Ok(descriptor("p", "svc")));
    assert!(h.take_frames(c.conn).is_empty());
    assert!(
        h.take_frames(p.conn).is_empty(),
        "the late answer bounced back"
    );
    assert_eq!(h.router.poll_timeout(), None, "a question stayed armed");
}

#[test]
fn timers_disarm_once_their_work_is_done() {
    let mut h = Harness::new();
    assert_eq!(h.router.poll_timeout(), None);
    let a = h.user("alice", "a", "lab");
    let b = h.user("alice", "b", "lab");
    // A tracked call and an open upload arm timers.
    h.send_call(&a, "b", "services.svc.add", vec![], None, Promise::Star);
    h.call_built_in(&a, "message_cache.create", vec!["k".into()], Promise::Star)
        .unwrap();
    assert!(h.router.poll_timeout().is_some());
    // The call record and the upload expire after their TTLs (10 and 5 minutes).
    for _ in 0..12 {
        h.advance(60_000);
    }
    assert_eq!(h.router.poll_timeout(), None);
    let err = h
        .call_built_in(&a, "message_cache.process", vec!["k".into()], Promise::Star)
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    // The expired call record no longer reports anything.
    h.disconnect(&b);
    assert!(h.take_peer_not_found(&a).is_empty());
}

#[test]
fn a_departed_uploader_leaves_no_upload_behind() {
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    h.call_built_in(&c, "message_cache.create", vec!["k".into()], Promise::Star)
        .unwrap();
    h.disconnect(&c);
    let back = h.user("alice", "c", "lab");
    assert!(h
        .call_built_in(
            &back,
            "message_cache.process",
            vec!["k".into()],
            Promise::Star
        )
        .is_err());
}

fn event_kinds(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            Event::ClientConnected { .. } => "connected",
            Event::ServiceAdded { .. } => "added",
            Event::ServiceRemoved { .. } => "removed",
            Event::ClientDisconnected { .. } => "disconnected",
            Event::Close { .. } => "close",
        })
        .collect()
}

#[test]
fn the_host_sees_connect_and_disconnect_events() {
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    h.register(&c, service(&c, "svc", "public")).unwrap();
    assert_eq!(event_kinds(&h.take_events()), vec!["connected", "added"]);
    h.disconnect(&c);
    let events = h.take_events();
    let mut kinds = event_kinds(&events);
    kinds.sort_unstable();
    assert_eq!(kinds, vec!["disconnected", "removed"]);
    assert!(events.contains(&Event::ClientDisconnected {
        client: ClientAddr::new("lab", "c")
    }));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ServiceRemoved { info } if js(info)["id"] == "lab/c:svc")));
    assert_eq!(h.router.open_connections(), 0);
    assert_eq!(h.router.registry().client_count(), 0);
    // A second report of the same close is harmless.
    h.router.handle_disconnect(h.now, c.conn);
    h.drive();
    assert!(h.take_events().is_empty());
}

#[test]
fn host_events_on_disconnect_follow_the_wire_order() {
    // Subscribers get `service_removed` then `client_disconnected`; the host should hear the
    // same order, so that it never sees a service removed from a client it already dropped.
    let mut h = Harness::new();
    let c = h.user("alice", "c", "lab");
    h.register(&c, service(&c, "svc", "public")).unwrap();
    h.take_events();
    h.disconnect(&c);
    assert_eq!(
        event_kinds(&h.take_events()),
        vec!["removed", "disconnected"]
    );
}
