//! The connection handshake and the text control frames (protocol.md §1).

mod common;

use common::*;
use hypha_core::jwt::{self, Audience};
use hypha_core::{ClientAddr, Event};
use serde_json::json;

#[test]
fn anonymous_connect_gets_connection_info_for_its_own_workspace() {
    let mut h = Harness::new();
    let c = h.connect_ok(&hello(Some("c1"), None, None));
    let info = &c.info;
    assert_eq!(info["type"], "connection_info");
    assert_eq!(c.manager_id, "workspace-manager");
    assert_eq!(c.client_id, "c1");
    assert!(c.user_id.starts_with("anonymouz-"), "{}", c.user_id);
    assert_eq!(c.workspace, format!("ws-user-{}", c.user_id));
    assert_eq!(info["public_base_url"], URL);
    assert_eq!(info["local_base_url"], URL);
    assert_eq!(info["user"]["is_anonymous"], true);
    assert_eq!(info["user"]["roles"], json!(["anonymous"]));
    assert_eq!(info["reconnection_token_life_time"], 86_400);
    assert!(info["hypha_version"].is_string());

    // The reconnection token is ours, for exactly this client.
    let claims = jwt::verify(
        &c.reconnection_token,
        SECRET,
        T0 / 1000,
        Audience::Reconnection,
    )
    .expect("valid reconnection token");
    assert_eq!(claims.client_id.as_deref(), Some("c1"));
    assert_eq!(claims.workspace.as_deref(), Some(c.workspace.as_str()));
    assert_eq!(claims.sub, c.user_id);

    // The host hears about it.
    assert_eq!(
        h.take_events(),
        vec![Event::ClientConnected {
            client: ClientAddr::new(c.workspace.clone(), "c1"),
            user_id: c.user_id.clone(),
            conn: c.conn,
        }]
    );
    assert_eq!(h.router.open_connections(), 1);
}

#[test]
fn two_anonymous_users_get_distinct_identities() {
    let mut h = Harness::new();
    let a = h.anonymous("c1", None);
    let b = h.anonymous("c1", None);
    assert_ne!(a.user_id, b.user_id);
    assert_ne!(a.workspace, b.workspace);
}

#[test]
fn a_missing_client_id_is_generated() {
    let mut h = Harness::new();
    let c = h.connect_ok(&hello(None, None, None));
    assert!(c.client_id.starts_with("client-"), "{}", c.client_id);
}

#[test]
fn the_requested_workspace_is_echoed() {
    let mut h = Harness::new();
    let anon = h.anonymous("c1", Some("public"));
    assert_eq!(anon.workspace, "public");

    let alice = h.user("alice", "c2", "lab");
    assert_eq!(alice.workspace, "lab");
    assert_eq!(alice.user_id, "alice");

    let own = h.connect_ok(&hello(
        Some("c3"),
        Some("ws-user-alice"),
        Some(&user_token("alice", None)),
    ));
    assert_eq!(own.workspace, "ws-user-alice");

    let root = h.root("host", "default");
    assert_eq!(root.workspace, "default");
}

#[test]
fn a_token_without_workspace_lands_in_the_token_or_own_workspace() {
    let mut h = Harness::new();
    let bob = h.connect_ok(&hello(Some("c1"), None, Some(&user_token("bob", None))));
    assert_eq!(bob.workspace, "ws-user-bob");
    let lab = h.connect_ok(&hello(
        Some("c1"),
        None,
        Some(&user_token("bob", Some("lab"))),
    ));
    assert_eq!(lab.workspace, "lab");
    let root = h.connect_ok(&hello(Some("c1"), None, Some(&root_token())));
    assert_eq!(root.workspace, "default");
}

#[test]
fn ping_is_answered_with_pong() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    h.send_text(c.conn, r#"{"type":"ping"}"#);
    let frames = h.take_frames(c.conn);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].text(), Some(&json!({"type": "pong"})));
}

#[test]
fn refresh_token_returns_a_fresh_reconnection_token() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    h.advance(5_000);
    h.send_text(c.conn, r#"{"type":"refresh_token"}"#);
    let frames = h.take_frames(c.conn);
    let reply = frames[0].text().expect("text reply");
    assert_eq!(reply["type"], "reconnection_token");
    let token = reply["reconnection_token"].as_str().expect("token");
    let claims = jwt::verify(token, SECRET, h.now.as_secs(), Audience::Reconnection)
        .expect("valid reconnection token");
    assert_eq!(claims.client_id.as_deref(), Some("c1"));
    assert_eq!(claims.workspace.as_deref(), Some(c.workspace.as_str()));
    assert_eq!(claims.iat, h.now.as_secs());
}

#[test]
fn long_and_unknown_text_frames_are_ignored() {
    let mut h = Harness::new();
    let c = h.anonymous("c1", None);
    let long = json!({"type": "ping", "pad": "x".repeat(1000)}).to_string();
    assert!(long.len() > 1000);
    h.send_text(c.conn, &long);
    h.send_text(c.conn, r#"{"type":"something-else"}"#);
    h.send_text(c.conn, "not json at all");
    h.send_text(c.conn, "[1,2,3]");
    assert!(h.take_frames(c.conn).is_empty());
    assert!(h.router.client_of(c.conn).is_some(), "still connected");
    // A ping of exactly the limit is still answered.
    let pad = 1000 - r#"{"type":"ping","p":""}"#.len();
    let edge = format!(r#"{{"type":"ping","p":"{}"}}"#, "y".repeat(pad));
    assert_eq!(edge.len(), 1000);
    h.send_text(c.conn, &edge);
    assert_eq!(h.take_frames(c.conn).len(), 1);
}

#[test]
fn an_invalid_json_hello_closes_with_1003() {
    let mut h = Harness::new();
    let (code, message) = h.connect_err("{not json");
    assert_eq!(code, close_code::UNSUPPORTED_DATA);
    assert!(
        message.contains("invalid authentication payload"),
        "{message}"
    );
}

#[test]
fn a_hello_that_is_not_an_object_or_has_ill_typed_fields_closes_with_1003() {
    let mut h = Harness::new();
    for bad in [
        r#"["client_id"]"#,
        r#""hello""#,
        r#"{"client_id": 12}"#,
        r#"{"workspace": {"a": 1}}"#,
        r#"{"token": true}"#,
    ] {
        let (code, _) = h.connect_err(bad);
        assert_eq!(code, close_code::UNSUPPORTED_DATA, "{bad}");
    }
    assert_eq!(h.router.open_connections(), 0);
}

#[test]
fn malformed_names_are_refused_with_1008() {
    let mut h = Harness::new();
    for (cid, ws) in [
        (Some("a/b"), None),
        (Some("a:b"), None),
        (Some("*"), None),
        (Some("c1"), Some("*")),
        (Some("c1"), Some("a/b")),
        (Some("c1"), Some("has space")),
    ] {
        let (code, message) = h.connect_err(&hello(cid, ws, None));
        assert_eq!(
            code,
            close_code::POLICY_VIOLATION,
            "{cid:?} {ws:?}: {message}"
        );
    }
}

#[test]
fn frames_from_a_refused_connection_are_ignored() {
    let mut h = Harness::new();
    let conn = h.connect(&hello(Some("c1"), Some("default"), None));
    h.take_frames(conn);
    h.send_text(conn, r#"{"type":"ping"}"#);
    h.send_bytes(
        conn,
        frame(
            vec![
                ("type", "method".into()),
                ("to", MANAGER.into()),
                ("method", "services.default.echo".into()),
                ("session", "s1".into()),
            ],
            Some(mp(json!({"args": ["hi"]}))),
        ),
    );
    assert!(h.take_frames(conn).is_empty());
}

#[test]
fn an_oversized_hello_is_refused_unparsed() {
    let mut h = Harness::new();
    let padding = "x".repeat(70 * 1024);
    let (code, message) = h.connect_err(&format!(r#"{{"client_id":"c","pad":"{padding}"}}"#));
    assert_eq!(code, close_code::POLICY_VIOLATION);
    assert!(message.contains("over 65536 bytes"), "{message}");
    // A hello with a token-sized field still gets in.
    let token_sized = "y".repeat(8 * 1024);
    h.connect_ok(&format!(r#"{{"client_id":"c2","pad":"{token_sized}"}}"#));
}
