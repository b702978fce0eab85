//! Answers too large for one frame reach hypha-rpc peers through their own `message_cache`
//! (protocol.md §2.8): the Python client drops any frame over ~512 KB, so the manager sends
//! `create`, `set` per 256 KiB chunk and `process`, each once the previous one was acknowledged.

mod common;

use common::*;
use hypha_core::wire::Envelope;
use rmpv::Value;
use serde_json::json;

/// A client with enough services, each with a long description, that listing them takes
/// about `bytes`.
fn big_listing(h: &mut Harness, bytes: usize) -> Client {
    let p = h.user("alice", "p", "lab");
    let description = "x".repeat(20_000);
    for i in 0..bytes / 20_000 + 1 {
        let mut svc = service(&p, &format!("svc{i}"), "protected");
        if let Value::Map(entries) = &mut svc {
            for (k, v) in entries.iter_mut() {
                if k.as_str() == Some("description") {
                    *v = description.as_str().into();
                }
            }
        }
        h.register(&p, svc).unwrap();
    }
    p
}

#[test]
fn a_large_answer_is_uploaded_in_chunks_each_step_after_the_last_one_was_acknowledged() {
    let mut h = Harness::new();
    let p = big_listing(&mut h, 700_000);
    let session = h.send_manager_call(&p, "list_services", vec![], None);
    // Not sent whole: the first step is `create`, alone.
    let mut asks = h.take_asks(p.conn);
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert_eq!(
        asks[0].str("method"),
        Some("services.built-in.message_cache.create")
    );
    let key = asks[0].args()[0].as_str().unwrap().to_owned();
    assert!(h.reply(&p, &session).is_none(), "answered in one frame");

    let mut assembled = Vec::new();
    let mut largest = 0;
    loop {
        let ask = asks.pop().expect("a next step");
        assert!(asks.is_empty(), "steps overlap: {asks:?}");
        let method = ask.str("method").unwrap().to_owned();
        let args = ask.args();
        assert_eq!(args[0], json!(key));
        if method.ends_with(".set") {
            assert_eq!(
                args[1],
                json!(assembled.len() / (256 * 1024)),
                "chunk index"
            );
            let chunk: Vec<u8> = args[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            largest = largest.max(chunk.len());
            assembled.extend_from_slice(&chunk);
        }
        let done = method.ends_with(".process");
        h.answer_ask(p.conn, ask.str("session").unwrap(), Ok(Value::Nil));
        if done {
            break;
        }
        asks = h.take_asks(p.conn);
    }
    assert_eq!(largest, 256 * 1024);
    assert!(assembled.len() > 700_000);
    // What the client assembles is the manager's answer to its call.
    let envelope = Envelope::decode(assembled).expect("a routing envelope");
    assert_eq!(
        envelope.str("method"),
        Some(format!("{session}.resolve").as_str())
    );
    assert_eq!(envelope.str("from"), Some(MANAGER));
    let payload = envelope.decode_payload().unwrap().unwrap();
    let listed = js(&payload)["args"][0].as_array().unwrap().len();
    assert!(listed >= 35, "{listed} services listed");
    // Nothing is left pending once the upload is done.
    assert!(h.take_asks(p.conn).is_empty());
}

#[test]
fn a_refused_step_ends_the_upload_and_small_answers_go_whole() {
    let mut h = Harness::new();
    let p = big_listing(&mut h, 300_000);
    h.send_manager_call(&p, "list_services", vec![], None);
    let ask = h.take_asks(p.conn).pop().expect("create");
    h.answer_ask(p.conn, ask.str("session").unwrap(), Err("cache full"));
    assert!(h.take_asks(p.conn).is_empty(), "went on after a refusal");

    let q = h.user("bob", "q", "ws-user-bob");
    assert_eq!(
        h.call_manager(&q, "list_services", vec![], None),
        Ok(json!([]))
    );
}
