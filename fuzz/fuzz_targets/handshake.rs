//! The connection handshake (`Router::handle_connect`): the first text frame of every WebSocket
//! connection, `{client_id, workspace, token, reconnection_token}`. Input: that frame (lossily
//! UTF-8), sent on two connections in turn to a server where `lab/p` (alice) is connected.
//!
//! Checks (besides the driver's, see `Driver`): each connection is answered first with a JSON
//! `connection_info` — and is then open, with a `ClientConnected` — or with an `error` — and is
//! then refused with a `Close` and not open; after everything disconnects, nothing is left.
#![no_main]

use hypha_core::{ConnId, Event, Frame};
use hypha_core_fuzz::{hello, token, Driver};
use libfuzzer_sys::fuzz_target;

fn check_answer(d: &mut Driver, conn: ConnId) {
    let frames = d.inbox.remove(&conn).unwrap_or_default();
    let Some(Frame::Text(first)) = frames.first() else {
        panic!("{conn} was not answered with a text frame: {frames:?}");
    };
    let first: serde_json::Value = serde_json::from_str(first).expect("checked by the driver");
    let closed = d
        .events
        .iter()
        .any(|e| matches!(e, Event::Close { conn: c, .. } if *c == conn));
    match first["type"].as_str() {
        Some("connection_info") => {
            assert!(!closed, "{conn} closed after connection_info");
            assert!(
                d.router.client_of(conn).is_some(),
                "{conn} not open after connection_info"
            );
            assert!(
                d.events
                    .iter()
                    .any(|e| matches!(e, Event::ClientConnected { conn: c, .. } if *c == conn)),
                "no ClientConnected for {conn}"
            );
        }
        Some("error") => {
            assert!(closed, "{conn} refused without a Close");
            assert!(
                d.router.client_of(conn).is_none(),
                "{conn} open after an error"
            );
        }
        _ => panic!("{conn} was answered with {first}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut d = Driver::new();
    let alice = token("alice", Some("lab"), &[]);
    d.connect_ok(&hello(Some("p"), Some("lab"), Some(&alice)));
    for _ in 0..2 {
        let conn = d.connect(&text);
        check_answer(&mut d, conn);
    }
    d.teardown();
});
