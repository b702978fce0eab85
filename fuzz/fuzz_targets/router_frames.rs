//! Frames after the handshake (`Router::handle_message`): routing, the manager's methods, calls
//! and their answers, control text frames. Input: a sequence of ops (`hypha_core_fuzz::ops`)
//! played against a server where three clients are connected — `lab/p` (alice, providing the
//! public service `calc`), `lab/q` (bob) and `default/root` (root) — as slots 0, 1 and 2.
//!
//! Op code: the low 3 bits pick the action, the high 5 bits a client slot (modulo the slots):
//!
//! | action | what |
//! | --- | --- |
//! | 0 | the payload as a binary frame from the slot's client |
//! | 1 | the payload (lossily UTF-8) as a text frame from the slot's client |
//! | 2 | the clock moves by the payload's number of ms (at most an hour), timers fire |
//! | 3 | the slot's client disconnects and connects again with the hello it first used |
//! | 4 | a new connection with the payload as its hello becomes a new slot (at most 8) |
//! | 5 | the slot's client answers every call it received (hypha-rpc's answers) |
//! | 6 | the same, rejecting them |
//! | 7 | the slot's client disconnects |
//!
//! Checks: the driver's (see `Driver`), and that nothing is left after everything disconnects.
#![no_main]

use hypha_core::{ConnId, Frame};
use hypha_core_fuzz::{hello, ops, service, token, Answer, Driver};
use libfuzzer_sys::fuzz_target;

const MAX_SLOTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let mut d = Driver::new();
    let alice = token("alice", Some("lab"), &[]);
    let bob = token("bob", Some("lab"), &[]);
    let root = token("root", None, &["admin"]);
    let mut slots: Vec<(String, ConnId)> = Vec::new();
    for h in [
        hello(Some("p"), Some("lab"), Some(&alice)),
        hello(Some("q"), Some("lab"), Some(&bob)),
        hello(Some("root"), Some("default"), Some(&root)),
    ] {
        let conn = d.connect_ok(&h);
        slots.push((h, conn));
    }
    assert!(
        d.call_manager(
            slots[0].1,
            "register_service",
            vec![service("lab", "p", "calc", "generic")]
        ),
        "setup: register calc"
    );
    for (code, payload) in ops::parse(data) {
        let slot = usize::from(code >> 3) % slots.len();
        let conn = slots[slot].1;
        match code & 7 {
            0 => d.send(conn, Frame::Binary(payload.to_vec().into())),
            1 => d.send(
                conn,
                Frame::Text(String::from_utf8_lossy(payload).into_owned()),
            ),
            2 => d.advance(u64::from(ops::number(payload) % 3_600_000)),
            3 => {
                d.disconnect(conn);
                let hello = slots[slot].0.clone();
                slots[slot].1 = d.connect(&hello);
            }
            4 if slots.len() < MAX_SLOTS => {
                let hello = String::from_utf8_lossy(payload).into_owned();
                let conn = d.connect(&hello);
                slots.push((hello, conn));
            }
            4 => {}
            5 => d.serve(conn, Answer::Resolve),
            6 => d.serve(conn, Answer::Reject),
            _ => d.disconnect(conn),
        }
    }
    d.teardown();
});
