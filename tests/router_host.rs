//! Host methods: functions the page offers to every client through the manager.

mod common;

use common::*;
use hypha_core::{ClientAddr, Config, HostConfig};
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
