//! The HTTP service API (`Router::handle_http_*`, feature `http`): routes, query and body
//! decoding, identity, service calls, ASGI and functions apps, streaming and back-pressure.
//! Input: a sequence of ops (`hypha_core_fuzz::ops`) played against a server where `lab/p`
//! (alice) is connected and provides the public services `calc` (generic), `site` (an ASGI app)
//! and `fns` (a functions app).
//!
//! Op code: the low 4 bits pick the action, the high 4 bits a request (0 is the latest opened,
//! 1 the one before, ...):
//!
//! | action | what |
//! | --- | --- |
//! | 0 | a new request, head from the payload (`METHOD /path?query` then `name: value` lines) |
//! | 1 | the same, its body empty and complete at once |
//! | 2 | a new request like 0 without a remote address |
//! | 3 | the payload as a piece of the request's body |
//! | 4 | the request's body is complete |
//! | 5 | one body chunk of the request written out (`handle_http_drained`) |
//! | 6 | every outstanding body chunk written out |
//! | 7 | the client of the request goes away (`handle_http_cancel`) |
//! | 8 | the clock moves by the payload's number of ms (at most an hour), timers fire |
//! | 9 | `p` answers every call it received (descriptors, results, the apps' responses) |
//! | 10 | `p` rejects every call it received |
//! | 11 | the payload as a binary frame from `p` |
//! | 12 | `p` disconnects and connects again, registering its services anew |
//! | others | nothing |
//!
//! Checks: the driver's (response parts in order, none after a cancel, see `Driver`), and that
//! once every request is cancelled none is in flight and nothing is left after everything
//! disconnects.
#![no_main]

use hypha_core::{ConnId, Frame};
use hypha_core_fuzz::{hello, ops, parse_head, service, token, Answer, Driver};
use libfuzzer_sys::fuzz_target;

/// Connect `lab/p` and register its services; at setup (`strict`) all of it must succeed.
fn provider(d: &mut Driver, strict: bool) -> ConnId {
    let alice = token("alice", Some("lab"), &[]);
    let p = d.connect(&hello(Some("p"), Some("lab"), Some(&alice)));
    assert!(
        !strict || d.is_open(p) && d.router.client_of(p).is_some(),
        "setup: p refused"
    );
    for (name, kind) in [("calc", "generic"), ("site", "asgi"), ("fns", "functions")] {
        let info = service("lab", "p", name, kind);
        let registered = d.is_open(p) && d.call_manager(p, "register_service", vec![info]);
        assert!(!strict || registered, "setup: register {name}");
    }
    d.inbox.remove(&p);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut d = Driver::new();
    let mut p = provider(&mut d, true);
    for (code, payload) in ops::parse(data) {
        let back = usize::from(code >> 4);
        let id = d.requests.iter().rev().nth(back).copied();
        match code & 15 {
            0 | 1 => {
                let id = d.http_open(parse_head(payload, true));
                if code & 15 == 1 {
                    d.http_end(id);
                }
            }
            2 => {
                d.http_open(parse_head(payload, false));
            }
            3 => {
                if let Some(id) = id {
                    d.http_body(id, payload);
                }
            }
            4 => {
                if let Some(id) = id {
                    d.http_end(id);
                }
            }
            5 => {
                if let Some(id) = id {
                    d.http_drained(id);
                }
            }
            6 => d.http_drain_all(),
            7 => {
                if let Some(id) = id {
                    d.cancel(id);
                }
            }
            8 => d.advance(u64::from(ops::number(payload) % 3_600_000)),
            9 => d.serve(p, Answer::Resolve),
            10 => d.serve(p, Answer::Reject),
            11 if d.is_open(p) => d.send(p, Frame::Binary(payload.to_vec().into())),
            12 => {
                d.disconnect(p);
                p = provider(&mut d, false);
            }
            _ => {}
        }
    }
    d.teardown();
});
