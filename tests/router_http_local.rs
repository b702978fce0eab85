#![cfg(feature = "http")]
//! HTTP calls to root's own service functions, handed to the driver to run in-process
//! (`HttpConfig::local_root_calls`, src/router/http/local.rs): what the driver is handed, how its
//! answers become responses, and what still goes over the wire.

mod common;

use common::http::*;
use common::*;
use hypha_core::http::{HttpId, LocalCall, LocalOutcome};
use rmpv::Value;
use serde_json::json;

/// A server whose driver runs root's functions, with root providing public `calc` (its `add_two`
/// takes the caller's context) and protected `vault` in `default`, subscribed to departures.
fn with_local_root() -> (Http, Client) {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.local_root_calls = true;
    let mut x = Http::with_config(config);
    let root = x.root("root", "default");
    x.register(
        &root,
        context_service(&root, "calc", "public", json!(["add_two"])),
    )
    .unwrap();
    x.register(&root, service(&root, "vault", "protected"))
        .unwrap();
    x.subscribe(&root, &["client_disconnected"]);
    (x, root)
}

/// GET `path`, and the one local call it made.
fn get_local(x: &mut Http, path: &str) -> (HttpId, LocalCall) {
    let id = x.get(path);
    x.describe();
    let call = one_local(x, id);
    (id, call)
}

/// The one local call for request `id`.
fn one_local(x: &mut Http, id: HttpId) -> LocalCall {
    let mut calls = x.local_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = calls.remove(0);
    assert_eq!(call.id, id);
    call
}

fn answer(x: &mut Http, id: HttpId, outcome: LocalOutcome) {
    let now = x.h.now;
    x.h.router.handle_http_local(now, id, outcome);
    x.drive();
}

fn resolved(value: Value) -> LocalOutcome {
    LocalOutcome::Resolved {
        value,
        kept_session: false,
    }
}

#[test]
fn roots_function_runs_in_the_driver_with_the_callers_context() {
    let (mut x, root) = with_local_root();
    let id = x.get("/default/services/calc/add?a=2&b=3");
    x.describe();
    assert!(x.calls(&root).is_empty(), "no frame goes to root");
    let call = one_local(&mut x, id);
    assert_eq!(call.method, "services.calc.add");
    assert_eq!(
        js(&Value::Array(call.args.clone())),
        json!([{"a": 2, "b": 3}])
    );
    assert!(call.with_kwargs);
    let context = js(&call.context);
    let from = context["from"].as_str().unwrap();
    assert!(from.starts_with("ws-anonymous/~http-"), "{context}");
    assert_eq!(context["to"], "default/root");
    assert_eq!(context["ws"], "ws-anonymous");
    assert_eq!(context["type"], "method");
    assert_eq!(context["method"], "services.calc.add");
    assert!(context["session"].as_str().is_some_and(|s| !s.is_empty()));
    // `add` does not take the context: as on the wire, the caller's `user` map is not sent.
    assert!(context.get("user").is_none(), "{context}");
    x.assert_waiting(id);

    answer(&mut x, id, resolved(5.into()));
    let r = x.resp(id);
    assert_eq!((r.status, r.text().as_str()), (Some(200), "5"));
    assert!(r.ended);
    x.assert_nothing_left(1);
    // Root's client kept nothing for the caller: no departure notice to process.
    x.advance(1100);
    assert_eq!(x.take_departures(&root), Vec::<serde_json::Value>::new());
}

#[test]
fn a_function_that_takes_the_context_gets_the_callers_user() {
    let (mut x, _root) = with_local_root();
    let (id, call) = get_local(&mut x, "/default/services/calc/add_two");
    let context = js(&call.context);
    assert_eq!(context["user"]["id"], "anonymouz-http", "{context}");
    assert_eq!(context["user"]["is_anonymous"], true, "{context}");
    answer(&mut x, id, resolved(Value::Nil));
    assert_eq!(x.resp(id).text(), "null");
}

#[test]
fn a_thrown_error_maps_to_a_status_as_over_the_wire() {
    let (mut x, _root) = with_local_root();
    for (thrown, status, detail) in [
        (
            "TypeError: a is not a number",
            400,
            "TypeError: a is not a number",
        ),
        ("Error: boom", 500, "Error: boom"),
    ] {
        let (id, _) = get_local(&mut x, "/default/services/calc/add?a=x");
        let error = mp(json!({"_rtype": "error", "_rvalue": thrown, "_rtrace": "at add"}));
        answer(&mut x, id, LocalOutcome::Rejected(error));
        assert_eq!(x.resp(id).assert_error(status), detail);
    }
    x.assert_nothing_left(1);
}

#[test]
fn a_declined_call_goes_to_root_as_a_frame_in_the_same_session() {
    let (mut x, root) = with_local_root();
    let (id, local) = get_local(&mut x, "/default/services/calc/add?a=2&b=3");
    answer(&mut x, id, LocalOutcome::Declined);
    let call = x.one_call(&root);
    assert_eq!(call.str("method"), Some("services.calc.add"));
    assert_eq!(call.str("session"), js(&local.context)["session"].as_str());
    assert_eq!(
        call.extra.clone().unwrap()["args"],
        json!([{"a": 2, "b": 3}])
    );
    x.resolve(&root, &call, 5.into());
    assert_eq!(x.resp(id).text(), "5");
    x.assert_nothing_left(1);
}

#[test]
fn a_kept_session_can_be_pulled_from_and_root_hears_when_the_caller_left() {
    // An answer only hypha-rpc could encode (here a generator) stays in root's client, in a
    // session of the caller: the stream pulls from it over the wire, which needs the caller's
    // link to root, and root must hear when the caller leaves, to drop the session.
    let (mut x, root) = with_local_root();
    let (id, local) = get_local(&mut x, "/default/services/calc/add");
    let session = js(&local.context)["session"].as_str().unwrap().to_owned();
    let peer = js(&local.context)["from"].as_str().unwrap().to_owned();
    let generator = mp(json!({
        "_rtype": "generator", "_rtarget": "root",
        "_rmethod": format!("{session}.g1"), "_rclose_method": format!("{session}.g1:close"),
        "_rpromise": "*",
    }));
    answer(
        &mut x,
        id,
        LocalOutcome::Resolved {
            value: generator,
            kept_session: true,
        },
    );
    let pull = x.one_call(&root);
    assert_eq!(pull.str("method"), Some(format!("{session}.g1").as_str()));
    assert_eq!(pull.str("from"), Some(peer.as_str()));
    x.resolve(&root, &pull, 7.into());
    let next = x.one_call(&root);
    x.resolve(&root, &next, mp(json!({"_rtype": "stop_iteration"})));
    let r = x.resp(id);
    assert_eq!((r.status, r.ended), (Some(200), true), "{r:?}");
    assert_eq!(r.text(), "7\n");
    x.assert_nothing_left(1);
    x.advance(1100);
    let (workspace, client) = peer.split_once('/').unwrap();
    assert_eq!(
        x.take_departures(&root),
        vec![json!({"id": client, "workspace": workspace})]
    );
}

/// Request `id` (described) went to `provider` as a frame, not to the driver; answered.
fn assert_over_the_wire(x: &mut Http, id: HttpId, provider: &Client) {
    x.describe();
    assert!(x.local_calls().is_empty());
    let call = x.one_call(provider);
    x.resolve(provider, &call, 1.into());
    assert_eq!(x.resp(id).status, Some(200));
}

#[test]
fn what_root_does_not_run_itself_goes_over_the_wire_or_is_refused() {
    let (mut x, root) = with_local_root();
    // Another client's function.
    let p = x.user("alice", "p", "lab");
    x.register(&p, service(&p, "calc", "public")).unwrap();
    let id = x.get("/lab/services/calc/add?a=1");
    assert_over_the_wire(&mut x, id, &p);

    // An argument hypha-rpc would decode into something else (a remote function).
    let id = x.post_json(
        "/default/services/calc/add",
        r#"{"f": {"_rtype": "method", "_rtarget": "x", "_rmethod": "m"}}"#,
    );
    assert_over_the_wire(&mut x, id, &root);

    // Root's protected service, for an anonymous caller: refused before any call.
    let id = x.get("/default/services/vault/add");
    x.describe();
    assert!(x.local_calls().is_empty());
    assert!(x.calls(&root).is_empty());
    x.resp(id).assert_error(403);

    // A driver that did not ask for local calls gets none.
    let mut x = Http::new();
    let root = x.root("root", "default");
    x.register(&root, service(&root, "calc", "public")).unwrap();
    let id = x.get("/default/services/calc/add?a=1");
    assert_over_the_wire(&mut x, id, &root);
}

#[test]
fn a_local_call_never_times_out_and_an_answer_after_the_client_left_is_dropped() {
    let (mut x, _root) = with_local_root();
    let (id, _) = get_local(&mut x, "/default/services/calc/add");
    // Past the call timeout: in this process the function is as alive as the server.
    x.advance(120_000);
    x.assert_waiting(id);
    x.cancel(id);
    answer(&mut x, id, resolved(5.into()));
    let r = x.resp(id);
    assert_eq!((r.status, r.ended), (None, false), "{r:?}");
    x.assert_nothing_left(1);
}
