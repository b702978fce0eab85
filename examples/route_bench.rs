//! Measures the Router alone (no sockets): how long routing one client→client call frame and
//! its reply takes. Run with `cargo run --release --example route_bench`.

use std::time::Instant;

use hypha_core::wire::Envelope;
use hypha_core::{Config, ConnId, Frame, Router, Timestamp};
use rmpv::Value;

fn connect(
    router: &mut Router,
    conn: u64,
    client_id: &str,
    token: Option<&str>,
    ws: Option<&str>,
) -> String {
    let hello = serde_json::json!({"client_id": client_id, "workspace": ws, "token": token, "reconnection_token": null});
    router.handle_connect(
        Timestamp(1_700_000_000_000),
        ConnId(conn),
        &hello.to_string(),
    );
    let mut workspace = String::new();
    while let Some(t) = router.poll_transmit() {
        if let Frame::Text(text) = t.frame {
            let info: serde_json::Value = serde_json::from_str(&text).expect("json");
            workspace = info["workspace"].as_str().unwrap_or_default().to_owned();
        }
    }
    while router.poll_event().is_some() {}
    workspace
}

fn call_frame(to: &str, session: &str, arg: Value) -> Vec<u8> {
    let main = vec![
        ("type".to_owned(), "method".into()),
        ("from".to_owned(), "caller".into()),
        ("to".to_owned(), to.into()),
        ("method".to_owned(), "services.bench.echo".into()),
        ("session".to_owned(), session.into()),
    ];
    let extra = Value::Map(vec![
        ("args".into(), Value::Array(vec![arg])),
        ("promise".into(), "*".into()),
        ("t".into(), 15.into()),
    ]);
    Envelope::new(main, Some(&extra)).encode()
}

fn reply_frame(to: &str, session: &str, arg: Value) -> Vec<u8> {
    let main = vec![
        ("type".to_owned(), "method".into()),
        ("from".to_owned(), "callee".into()),
        ("to".to_owned(), to.into()),
        ("method".to_owned(), format!("{session}.resolve").into()),
    ];
    Envelope::new(
        main,
        Some(&Value::Map(vec![("args".into(), Value::Array(vec![arg]))])),
    )
    .encode()
}

fn run(label: &str, arg: Value, rounds: u32) {
    let mut router = Router::new(Config::new("http://bench", "secret", 1));
    let ws = connect(&mut router, 1, "callee", None, None);
    // Same workspace for the caller through a generated token would need a manager round trip;
    // a root-minted token for the callee's workspace is the shortest path.
    let claims = hypha_core::jwt::Claims {
        sub: "bench".into(),
        workspace: Some(ws.clone()),
        client_id: None,
        email: None,
        roles: vec![],
        scope: String::new(),
        iat: 0,
        exp: u64::MAX / 2000,
        nbf: None,
        iss: hypha_core::jwt::ISSUER.into(),
        aud: "hypha-api".into(),
    };
    let token = hypha_core::jwt::sign(&claims, b"secret");
    // The token grants rw on `ws`, which is enough to connect there.
    connect(&mut router, 2, "caller", Some(&token), Some(&ws));
    let now = Timestamp(1_700_000_000_000);
    // Frames are built before timing: only the Router's work is measured.
    let frames: Vec<(Vec<u8>, Vec<u8>)> = (0..rounds.min(2_000))
        .map(|i| {
            let session = format!("s{i}");
            (
                call_frame("callee", &session, arg.clone()),
                reply_frame(&format!("{ws}/caller"), &session, arg.clone()),
            )
        })
        .collect();
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..rounds {
        let (call, reply) = &frames[i as usize % frames.len()];
        router.handle_message(now, ConnId(2), Frame::Binary(call.clone().into()));
        router.handle_message(now, ConnId(1), Frame::Binary(reply.clone().into()));
        while let Some(t) = router.poll_transmit() {
            if let Frame::Binary(b) = t.frame {
                bytes += b.len();
            }
        }
    }
    let elapsed = start.elapsed();
    let per_frame = elapsed.as_secs_f64() * 1e6 / f64::from(rounds * 2);
    println!(
        "{label:<22} {per_frame:>8.2} µs/frame  {:>10.0} frames/s  ({} MiB out)",
        f64::from(rounds * 2) / elapsed.as_secs_f64(),
        bytes / (1024 * 1024)
    );
}

fn main() {
    run("small call + reply", Value::from("hello"), 200_000);
    run(
        "100 KiB call + reply",
        Value::Binary(vec![7u8; 100 * 1024]),
        5_000,
    );
}
