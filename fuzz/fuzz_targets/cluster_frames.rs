//! What another server of a cluster (or whoever can publish on its Redis) makes this one do:
//! `Router::handle_cluster_frame` and the news inputs, mixed with local traffic. Server `a` (this
//! Router) holds `lab/p` (alice, providing the public `calc`) and `lab/q` (bob); server `b` holds
//! `lab/rb` with the public `calc` too, and server `c` is known but holds nobody.
//!
//! Op code: the low 3 bits pick the action, the high 5 bits a slot (a local client, or which of
//! `b`/`c` the input claims to come from):
//!
//! | action | what |
//! | --- | --- |
//! | 0 | the payload as a frame from server `b` or `c` |
//! | 1 | the payload as a binary frame from the slot's local client |
//! | 2 | the payload (msgpack, lossily) as a service `b` registers |
//! | 3 | the clock moves by the payload's number of ms (at most an hour), timers fire |
//! | 4 | `b` says `lab/rb` (or the payload's address) left |
//! | 5 | `b` is gone, then comes back as a new incarnation holding `lab/rb` and `calc` |
//! | 6 | the slot's local client answers every call it received |
//! | 7 | `b` says a client joined: the payload's text as its address |
//!
//! Checks: the driver's (every frame well-formed, only to open connections or other servers'
//! clients), and that nothing is left once the local clients leave and both servers are gone.
#![no_main]

use hypha_core::{ClientAddr, Config, ConnId, Frame};
use hypha_core_fuzz::{hello, mp, ops, service, token, Answer, Driver, SECRET, URL};
use libfuzzer_sys::fuzz_target;
use rmpv::Value;
use serde_json::json;

fn remote_info() -> Value {
    mp(json!({
        "id": "lab/rb:calc",
        "name": "calc",
        "type": "generic",
        "app_id": "*",
        "config": {"visibility": "public", "workspace": "lab"},
    }))
}

fn join_b(d: &mut Driver, incarnation: &str) {
    let now = d.now;
    d.router
        .handle_server_joined(now, "b", "workspace-manager-b", incarnation);
    let user = mp(json!({"id": "carol"}));
    let _ = d
        .router
        .handle_remote_client(now, "b", ClientAddr::new("lab", "rb"), &user);
    let _ = d.router.handle_remote_service(now, "b", &remote_info());
    d.drive();
}

fuzz_target!(|data: &[u8]| {
    let mut config = Config::new(URL, SECRET, 7);
    config.server_id = "a".to_owned();
    config.manager_id = "workspace-manager-a".to_owned();
    config.cluster = true;
    let mut d = Driver::with_config(config);
    let alice = token("alice", Some("lab"), &[]);
    let bob = token("bob", Some("lab"), &[]);
    let mut slots: Vec<ConnId> = Vec::new();
    for h in [
        hello(Some("p"), Some("lab"), Some(&alice)),
        hello(Some("q"), Some("lab"), Some(&bob)),
    ] {
        slots.push(d.connect_ok(&h));
    }
    assert!(
        d.call_manager(
            slots[0],
            "register_service",
            vec![service("lab", "p", "calc", "generic")]
        ),
        "setup: register calc"
    );
    let now = d.now;
    d.router
        .handle_server_joined(now, "c", "workspace-manager-c", "1");
    join_b(&mut d, "1");
    let mut incarnation = 1u32;
    for (code, payload) in ops::parse(data) {
        let slot = usize::from(code >> 3);
        let now = d.now;
        match code & 7 {
            0 => {
                let server = if slot % 2 == 0 { "b" } else { "c" };
                d.router.handle_cluster_frame(now, server, payload.to_vec());
                d.drive();
            }
            1 => d.send(
                slots[slot % slots.len()],
                Frame::Binary(payload.to_vec().into()),
            ),
            2 => {
                if let Ok(info) = rmpv::decode::read_value(&mut &payload[..]) {
                    let _ = d.router.handle_remote_service(now, "b", &info);
                    d.drive();
                }
            }
            3 => d.advance(u64::from(ops::number(payload) % 3_600_000)),
            4 => {
                let addr = ClientAddr::parse(&String::from_utf8_lossy(payload))
                    .unwrap_or_else(|| ClientAddr::new("lab", "rb"));
                d.router.handle_remote_client_gone(now, "b", &addr);
                d.drive();
            }
            5 => {
                d.router.handle_server_gone(now, "b");
                d.drive();
                incarnation += 1;
                join_b(&mut d, &incarnation.to_string());
            }
            6 => d.serve(slots[slot % slots.len()], Answer::Resolve),
            _ => {
                if let Some(addr) = ClientAddr::parse(&String::from_utf8_lossy(payload)) {
                    let user = mp(json!({"id": "dave"}));
                    let _ = d.router.handle_remote_client(now, "b", addr, &user);
                    d.drive();
                }
            }
        }
    }
    for conn in slots {
        d.disconnect(conn);
    }
    let now = d.now;
    d.router.handle_server_gone(now, "b");
    d.router.handle_server_gone(now, "c");
    d.drive();
    assert_eq!(
        d.router.open_connections(),
        0,
        "sessions left after everyone left"
    );
    assert_eq!(
        d.router.registry().client_count(),
        0,
        "clients left after everyone left"
    );
    assert_eq!(
        d.router.registry().service_count(),
        0,
        "services left after everyone left"
    );
});
