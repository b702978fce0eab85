//! Property tests: whatever a connected peer sends, the Router neither panics nor drops the
//! sender, and keeps serving it.
// Native only: proptest needs an OS random source, which wasm32-unknown-unknown lacks.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use hypha_core::Frame;
use proptest::prelude::*;
use rmpv::Value;
use serde_json::json;

/// A small server with two clients in `lab`; `b` subscribed to a few events, `b` provides `svc`.
fn setup() -> (Harness, Client, Client) {
    let mut h = Harness::new();
    let a = h.user("alice", "a", "lab");
    let b = h.user("alice", "b", "lab");
    h.register_built_in(&b).unwrap();
    h.register(&b, service(&b, "svc", "public")).unwrap();
    h.subscribe(&b, &["evt", "method", "service_added"]);
    h.take_frames(a.conn);
    h.take_frames(b.conn);
    (h, a, b)
}

/// `a` is still connected and answered, by the server and by the manager.
fn still_served(h: &mut Harness, a: &Client) {
    assert!(h.router.client_of(a.conn).is_some(), "sender was dropped");
    h.take_frames(a.conn);
    h.send_text(a.conn, r#"{"type":"ping"}"#);
    let frames = h.take_frames(a.conn);
    assert!(
        frames
            .iter()
            .any(|m| m.text() == Some(&json!({"type": "pong"}))),
        "{frames:?}"
    );
    assert_eq!(
        h.call_manager(a, "echo", vec!["still here".into()], None),
        Ok(json!("still here"))
    );
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::Binary),
        prop::sample::select(vec![
            "method",
            "*",
            MANAGER,
            "b",
            "lab/b",
            "lab/*",
            "other/x",
            "ghost",
            "s1",
            "wm1.resolve",
            "services.default.echo",
            "services.default.get_service",
            "services.default.register_service",
            "services.built-in.get_service",
            "services.built-in.message_cache.process",
            "services.svc.add",
            "evt",
            "from",
            "ctx",
            "args",
            "with_kwargs",
            "promise",
            "",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((leaf(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// An envelope a confused or hostile client could send: routing keys with arbitrary values.
fn envelope() -> impl Strategy<Value = Vec<(String, Value)>> {
    let key = prop::sample::select(vec![
        "type", "to", "method", "session", "from", "ws", "user", "ctx", "parent", "data",
    ]);
    prop::collection::vec((key.prop_map(str::to_owned), value()), 0..8)
}

/// The payload: a value, the shape hypha-rpc sends, or raw bytes.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        value().prop_map(|v| hypha_core::wire::encode_value(&v)),
        (prop::collection::vec(value(), 0..4), any::<bool>(), value()).prop_map(
            |(args, kw, promise)| {
                let extra = Value::Map(vec![
                    ("args".into(), Value::Array(args)),
                    ("with_kwargs".into(), kw.into()),
                    ("promise".into(), promise),
                ]);
                hypha_core::wire::encode_value(&extra)
            }
        ),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn encode_envelope(main: Vec<(String, Value)>, payload: &[u8]) -> Vec<u8> {
    let mut bytes = hypha_core::wire::Envelope::new(main, None).encode();
    bytes.extend_from_slice(payload);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_hurt_the_router(frames in prop::collection::vec(
        prop::collection::vec(any::<u8>(), 0..256), 1..8)) {
        let (mut h, a, _b) = setup();
        for bytes in frames {
            h.send_bytes(a.conn, bytes);
            prop_assert!(h.router.client_of(a.conn).is_some());
        }
        still_served(&mut h, &a);
    }

    #[test]
    fn random_envelopes_never_hurt_the_router(frames in prop::collection::vec(
        (envelope(), payload()), 1..8)) {
        let (mut h, a, b) = setup();
        for (main, payload) in frames {
            h.send_bytes(a.conn, encode_envelope(main, &payload));
            prop_assert!(h.router.client_of(a.conn).is_some());
            // Whatever reached b decodes, and carries a's identity if it names a sender.
            for msg in h.take_frames(b.conn) {
                if let Some(rpc) = msg.rpc() {
                    if rpc.main.get("from").is_some() && rpc.str("from") != Some(MANAGER) {
                        prop_assert_eq!(rpc.str("from"), Some("lab/a"));
                        prop_assert!(rpc.main.get("ctx").is_none());
                    }
                }
            }
            // Let b answer whatever the manager asked it, as a real client would.
            h.serve_asks();
        }
        h.advance(31_000);
        still_served(&mut h, &a);
        prop_assert!(h.router.client_of(b.conn).is_some());
    }

    #[test]
    fn random_text_frames_never_hurt_the_router(texts in prop::collection::vec(".{0,64}", 1..8)) {
        let (mut h, a, _b) = setup();
        for text in texts {
            h.router.handle_message(h.now, a.conn, Frame::Text(text));
            h.drive();
        }
        still_served(&mut h, &a);
    }

    #[test]
    fn random_hellos_are_admitted_or_refused_cleanly(hello in prop_oneof![
        ".{0,64}",
        (
            prop::option::of("[a-z*/:@ -]{0,8}"),
            prop::option::of("[a-z*/:@ -]{0,8}"),
            prop::option::of(".{0,16}"),
            prop::option::of(".{0,16}"),
        ).prop_map(|(c, w, t, r)| hello_full(c.as_deref(), w.as_deref(), t.as_deref(), r.as_deref())),
    ]) {
        let mut h = Harness::new();
        let conn = h.connect(&hello);
        let frames = h.take_frames(conn);
        prop_assert_eq!(frames.len(), 1);
        let first = frames[0].text().expect("a text answer").clone();
        if first["type"] == "connection_info" {
            prop_assert!(h.router.client_of(conn).is_some());
            prop_assert!(!h.closed.contains(&conn));
        } else {
            prop_assert_eq!(&first["type"], "error");
            prop_assert!(h.closed.contains(&conn));
            prop_assert_eq!(h.router.open_connections(), 0);
        }
    }
}
