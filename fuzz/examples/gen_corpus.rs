//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`, built with the
//! crate's own encoders and signed with the fuzzed server's secret, at its clock:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus -- fuzz/corpus
//! ```
//!
//! Deterministic: running it again rewrites the same files. The plugin seeds are copies of
//! `tests/fixtures/plugins/`.

use std::fs;
use std::path::{Path, PathBuf};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use hmac::{Hmac, Mac};
use hypha_core::jwt::{self, Audience, Claims};
use hypha_core::wire::encode_value;
use hypha_core::Frame;
use hypha_core_fuzz::{call, frame, hello, mp, ops, token, Driver, MANAGER, SECRET, T0};
use rmpv::Value;
use serde_json::json;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    fs::write(dir.join(name), bytes).expect("write a seed");
}

/// A token with a hand-written header and payload, signed with `secret`.
fn raw_token(header: &serde_json::Value, payload: &serde_json::Value, secret: &[u8]) -> String {
    let mut t = Base64UrlUnpadded::encode_string(header.to_string().as_bytes());
    t.push('.');
    t.push_str(&Base64UrlUnpadded::encode_string(
        payload.to_string().as_bytes(),
    ));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(t.as_bytes());
    t.push('.');
    t.push_str(&Base64UrlUnpadded::encode_string(
        &mac.finalize().into_bytes(),
    ));
    t
}

/// The reconnection token the server hands `lab/p` (alice) when it connects at T0.
fn reconnection_token() -> String {
    let mut d = Driver::new();
    let alice = token("alice", Some("lab"), &[]);
    let conn = d.connect(&hello(Some("p"), Some("lab"), Some(&alice)));
    let frames = d.inbox.remove(&conn).expect("connection_info");
    let Frame::Text(info) = &frames[0] else {
        panic!("no connection_info")
    };
    let info: serde_json::Value = serde_json::from_str(info).expect("json");
    info["reconnection_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn envelope(dir: &Path) {
    let t = "envelope";
    let register = call(
        MANAGER,
        "services.default.register_service",
        vec![mp(
            json!({"id": "lab/p:calc", "name": "calc", "config": {"visibility": "public"}}),
        )],
        Some("s1"),
    );
    write(dir, t, "register-service", &register);
    let reply = frame(
        &[
            ("type", s("method")),
            ("to", s("lab/q")),
            ("method", s("s1.resolve")),
        ],
        Some(mp(json!({"args": [31]}))),
    );
    write(dir, t, "resolve", &reply);
    let bare = frame(
        &[
            ("type", s("method")),
            ("to", s("*")),
            ("method", s("on_event")),
        ],
        None,
    );
    write(dir, t, "no-payload", &bare);
    let encrypted = frame(
        &[
            ("type", s("method")),
            ("to", s("lab/p")),
            ("method", s("services.calc.add")),
        ],
        Some(Value::Map(vec![
            (s("_enc"), Value::Binary(vec![1, 2, 3, 4])),
            (s("data"), Value::Binary(vec![0xc1, 0xff, 0])),
        ])),
    );
    write(dir, t, "encrypted", &encrypted);
    let shadows = frame(
        &[
            ("type", s("method")),
            ("to", s("lab/p")),
            ("method", s("x")),
        ],
        Some(mp(json!({"args": [], "from": "lab/root", "ws": "default"}))),
    );
    write(dir, t, "shadows-routing", &shadows);
    let rich = frame(
        &[
            ("type", s("method")),
            ("from", s("lab/q")),
            ("to", s("lab/p")),
            (
                "user",
                mp(json!({"id": "bob", "roles": ["a"], "scope": {"workspaces": {"lab": "rw"}}})),
            ),
            (
                "data",
                Value::Array(vec![
                    Value::F32(1.5),
                    Value::F64(-0.0),
                    Value::from(-7i64),
                    Value::from(u64::MAX),
                ]),
            ),
            ("ext", Value::Ext(5, vec![9; 3])),
            ("bin", Value::Binary(vec![0; 20])),
        ],
        Some(Value::Array(vec![Value::Array(vec![Value::Array(vec![
            Value::Nil,
            Value::Boolean(true),
        ])])])),
    );
    write(dir, t, "rich", &rich);
    // Map-16 and str-8 headers, and a truncated frame.
    let mut wide = vec![0xde, 0x00, 0x01, 0xd9, 0x04];
    wide.extend_from_slice(b"type");
    wide.extend_from_slice(&encode_value(&s("method")));
    write(dir, t, "map16-str8", &wide);
    write(dir, t, "truncated", &register[..register.len() / 2]);
}

fn jwt_verify(dir: &Path) -> String {
    let t = "jwt_verify";
    let now = T0 / 1000;
    write(
        dir,
        t,
        "alice-api",
        token("alice", Some("lab"), &[]).as_bytes(),
    );
    write(
        dir,
        t,
        "root-admin",
        token("root", None, &["admin"]).as_bytes(),
    );
    let reconnection = reconnection_token();
    write(dir, t, "reconnection", reconnection.as_bytes());
    let mut expired = Claims::issued(Audience::Api, "bob".into(), now - 7200, 3600);
    expired.email = Some("bob@example.org".into());
    write(dir, t, "expired", jwt::sign(&expired, SECRET).as_bytes());
    let hs = json!({"alg": "HS256", "typ": "jwt"});
    let foreign = json!({
        "sub": "carol", "aud": ["other", "hypha-api"], "exp": now as f64 + 60.5,
        "nbf": now - 1, "iat": null, "roles": null, "scope": "ws:lab#rw",
    });
    write(
        dir,
        t,
        "foreign-aud-array",
        raw_token(&hs, &foreign, SECRET).as_bytes(),
    );
    let future = json!({"sub": "dan", "aud": "hypha-api", "exp": now + 60, "nbf": now + 30});
    write(
        dir,
        t,
        "not-yet-valid",
        raw_token(&hs, &future, SECRET).as_bytes(),
    );
    let none = json!({"alg": "none"});
    let claims = json!({"sub": "eve", "aud": "hypha-api", "exp": now + 60});
    let unsigned = raw_token(&none, &claims, SECRET);
    let unsigned = &unsigned[..=unsigned.rfind('.').expect("three parts")];
    write(dir, t, "alg-none", unsigned.as_bytes());
    let crit = json!({"alg": "HS256", "crit": ["exp"]});
    write(
        dir,
        t,
        "crit-header",
        raw_token(&crit, &claims, SECRET).as_bytes(),
    );
    write(
        dir,
        t,
        "wrong-secret",
        raw_token(&hs, &claims, b"another secret").as_bytes(),
    );
    write(dir, t, "garbage", b"not.a.token");
    reconnection
}

fn handshake(dir: &Path, reconnection: &str) {
    let t = "handshake";
    let alice = token("alice", Some("lab"), &[]);
    write(dir, t, "anonymous", hello(None, None, None).as_bytes());
    write(
        dir,
        t,
        "anonymous-named",
        hello(Some("c1"), Some("public"), None).as_bytes(),
    );
    write(
        dir,
        t,
        "user",
        hello(Some("p2"), Some("lab"), Some(&alice)).as_bytes(),
    );
    write(
        dir,
        t,
        "taken-id",
        hello(Some("p"), Some("lab"), Some(&alice)).as_bytes(),
    );
    let root = token("root", None, &["admin"]);
    write(
        dir,
        t,
        "root",
        hello(Some("root"), Some("lab"), Some(&root)).as_bytes(),
    );
    let other = token("mallory", Some("ws-user-mallory"), &[]);
    write(
        dir,
        t,
        "foreign-workspace",
        hello(Some("m"), Some("lab"), Some(&other)).as_bytes(),
    );
    let reconnect =
        json!({"client_id": "p", "workspace": "lab", "reconnection_token": reconnection});
    write(dir, t, "reconnect", reconnect.to_string().as_bytes());
    write(
        dir,
        t,
        "reserved-id",
        hello(Some("~http-1"), None, None).as_bytes(),
    );
    write(
        dir,
        t,
        "bad-names",
        hello(Some("a/b"), Some("Bad WS!"), None).as_bytes(),
    );
    write(
        dir,
        t,
        "not-a-string",
        br#"{"client_id": 7, "token": ["x"]}"#,
    );
    write(dir, t, "not-json", b"{\"client_id\": \"c");
}

/// Ops of `router_frames`: `(action | slot << 3, payload)`.
fn router_ops(list: &[(u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (action, slot, payload) in list {
        ops::push(&mut out, action | slot << 3, payload);
    }
    out
}

fn router_frames(dir: &Path) {
    let t = "router_frames";
    const P: u8 = 0;
    const Q: u8 = 1;
    const ROOT: u8 = 2;
    let manager = |method: &str, args: Vec<Value>, session: &str| {
        call(
            MANAGER,
            &format!("services.default.{method}"),
            args,
            Some(session),
        )
    };
    // q finds calc through the manager (which asks p for its descriptor), then calls it.
    let get = manager("get_service", vec![s("lab/p:calc")], "g1");
    let add = call(
        "lab/p",
        "services.calc.add",
        vec![s("a"), Value::from(2)],
        Some("c1"),
    );
    write(
        dir,
        t,
        "get-service-and-call",
        &router_ops(&[(0, Q, get), (5, P, vec![]), (0, Q, add), (5, P, vec![])]),
    );
    // Listings, subscriptions, a broadcast, tokens, echo.
    write(
        dir,
        t,
        "manager-methods",
        &router_ops(&[
            (
                0,
                Q,
                manager("list_services", vec![mp(json!({"workspace": "lab"}))], "l1"),
            ),
            (0, Q, manager("list_clients", vec![], "l2")),
            (
                0,
                P,
                manager(
                    "subscribe",
                    vec![mp(json!(["client_connected", "service_added"]))],
                    "l3",
                ),
            ),
            (
                0,
                Q,
                frame(
                    &[("type", s("custom")), ("to", s("*")), ("data", s("hi"))],
                    None,
                ),
            ),
            (
                0,
                Q,
                manager("generate_token", vec![mp(json!({"expires_in": 60}))], "l4"),
            ),
            (
                0,
                P,
                manager("echo", vec![mp(json!({"deep": [1, 2.5, null]}))], "l5"),
            ),
            (
                0,
                P,
                manager("unregister_service", vec![s("lab/p:calc")], "l6"),
            ),
            (3, Q, vec![]),
        ]),
    );
    // Root reaches into lab; p answers root; control frames.
    write(
        dir,
        t,
        "root-and-control",
        &router_ops(&[
            (
                0,
                ROOT,
                call(
                    "lab/p",
                    "services.calc.add",
                    vec![Value::from(1)],
                    Some("r1"),
                ),
            ),
            (5, P, vec![]),
            (
                0,
                ROOT,
                manager("list_services", vec![mp(json!({"workspace": "*"}))], "r2"),
            ),
            (1, Q, br#"{"type": "ping"}"#.to_vec()),
            (1, Q, br#"{"type": "refresh_token"}"#.to_vec()),
        ]),
    );
    // An anonymous client joins and calls p, which never answers: the call times out.
    write(
        dir,
        t,
        "anonymous-timeout",
        &router_ops(&[
            (4, 0, hello(Some("anon"), None, None).into_bytes()),
            (0, 3, call("lab/p", "services.calc.add", vec![], Some("t1"))),
            (2, 0, 31_000u32.to_le_bytes().to_vec()),
            (0, Q, call("lab/gone", "services.x.y", vec![], Some("t2"))),
            (7, P, vec![]),
            (2, 0, 600_000u32.to_le_bytes().to_vec()),
        ]),
    );
    // A large message sent in pieces through the message cache, then processed as a frame.
    let inner = call(
        "lab/p",
        "services.calc.echo",
        vec![Value::Binary(vec![7; 64])],
        Some("m9"),
    );
    let built_in = |method: &str, args: Vec<Value>, session: &str| {
        call(
            MANAGER,
            &format!("services.built-in.{method}"),
            args,
            Some(session),
        )
    };
    write(
        dir,
        t,
        "message-cache",
        &router_ops(&[
            (0, Q, built_in("message_cache.create", vec![s("k1")], "m1")),
            (
                0,
                Q,
                built_in(
                    "message_cache.append",
                    vec![s("k1"), Value::Binary(inner[..20].to_vec())],
                    "m2",
                ),
            ),
            (
                0,
                Q,
                built_in(
                    "message_cache.set",
                    vec![s("k1"), Value::from(1), Value::Binary(inner[20..].to_vec())],
                    "m3",
                ),
            ),
            (0, Q, built_in("message_cache.process", vec![s("k1")], "m4")),
            (6, P, vec![]),
        ]),
    );
}

/// Ops of `http_api`: `(action | back << 4, payload)`.
fn http_ops(list: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (code, payload) in list {
        ops::push(&mut out, *code, payload);
    }
    out
}

fn http_api(dir: &Path) {
    let t = "http_api";
    let alice = token("alice", Some("lab"), &[]);
    write(
        dir,
        t,
        "health-metrics",
        &http_ops(&[
            (1, b"GET /health"),
            (1, b"GET /health/readiness"),
            (1, b"HEAD /metrics"),
            (1, b"POST /health"),
            (1, b"GET /nowhere/at/all"),
        ]),
    );
    write(
        dir,
        t,
        "listings",
        &http_ops(&[
            (1, b"GET /lab/info"),
            (1, b"GET /lab/services?x=1"),
            (1, b"GET /lab/services/"),
            (1, b"GET /lab/services/calc\naccept: application/msgpack"),
            (9, b""),
        ]),
    );
    let auth = format!("GET /lab/services/calc/add?a=1&b=2&c=%7B%22x%22%3A%5B1%5D%7D\nauthorization: Bearer {alice}");
    write(
        dir,
        t,
        "get-call",
        &http_ops(&[(1, auth.as_bytes()), (9, b""), (9, b"")]),
    );
    let json_body = br#"{"a": 1, "b": {"deep": [true, null]}}"#;
    let msgpack = encode_value(&mp(json!([6, 7])));
    let mut gzip_json = Vec::new();
    {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(&mut gzip_json, flate2::Compression::default());
        e.write_all(b"[1, 2]").expect("gzip");
        e.finish().expect("gzip");
    }
    write(dir, t, "post-bodies", &http_ops(&[
        (0, b"POST /lab/services/calc/add\ncontent-type: application/json"),
        (3, &json_body[..10]),
        (3, &json_body[10..]),
        (4, b""),
        (9, b""),
        (0, b"POST /lab/services/calc/echo\ncontent-type: application/msgpack\naccept: application/msgpack"),
        (3, &msgpack),
        (4, b""),
        (0, b"POST /lab/services/calc/add\ncontent-type: application/json\ncontent-encoding: gzip"),
        (3, &gzip_json),
        (4, b""),
        (0, b"POST /lab/services/calc/add\ncontent-type: application/x-www-form-urlencoded"),
        (3, b"a=1&b=two&b=three"),
        (4, b""),
        (9, b""),
        (6, b""),
    ]));
    let cookie = format!("GET /lab/services/calc/echo?data=1\ncookie: theme=dark; access_token={alice}\norigin: https://app.example");
    write(dir, t, "cors-cookie", &http_ops(&[
        (1, b"OPTIONS /lab/services/calc/add\norigin: https://app.example\naccess-control-request-method: POST\naccess-control-request-headers: content-type"),
        (1, cookie.as_bytes()),
        (9, b""),
    ]));
    write(
        dir,
        t,
        "asgi-app",
        &http_ops(&[
            (
                0,
                b"POST /lab/apps/site/api/x%20y?q=1\ncontent-type: text/plain\nx-test: yes",
            ),
            (3, b"hello "),
            (9, b""),
            (3, b"world"),
            (4, b""),
            (9, b""),
            (5, b""),
            (6, b""),
            (1, b"GET /lab/apps/site"),
        ]),
    );
    write(
        dir,
        t,
        "functions-app",
        &http_ops(&[
            (1, b"GET /lab/apps/fns/?x=1"),
            (9, b""),
            (1, b"POST /lab/apps/fns/api/v1\nx-k: v"),
            (9, b""),
            (1, b"GET /lab/apps/fns/some/where"),
            (10, b""),
        ]),
    );
    write(
        dir,
        t,
        "generator-stream",
        &http_ops(&[
            (
                1,
                b"GET /lab/services/calc/count?n=3\naccept: text/event-stream",
            ),
            (9, b""),
            (9, b""),
            (6, b""),
            (9, b""),
            (6, b""),
            (9, b""),
            (
                1,
                b"POST /lab/services/calc/count?_mode=first\naccept: application/x-ndjson",
            ),
            (9, b""),
            (9, b""),
            (7, b""),
        ]),
    );
    write(
        dir,
        t,
        "cancel-timeout",
        &http_ops(&[
            (1, b"GET /lab/services/calc/add?a=1"),
            (2, b"GET /lab/services/calc/add?a=2"),
            (1, b"GET /lab/services/p:calc/add?a=3"),
            (9, b""),
            (7 | 1 << 4, b""),
            (8, &31_000u32.to_le_bytes()),
            (12, b""),
            (1, b"GET /lab/services/calc/add"),
            (7, b""),
        ]),
    );
}

fn plugin(dir: &Path, fixtures: &Path) {
    let mut entries: Vec<PathBuf> = fs::read_dir(fixtures)
        .expect("tests/fixtures/plugins")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let source = fs::read(&path).expect("a fixture");
        write(dir, "plugin", name.trim_end_matches(".imjoy.html"), &source);
    }
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".to_owned()),
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plugins");
    envelope(&dir);
    let reconnection = jwt_verify(&dir);
    handshake(&dir, &reconnection);
    router_frames(&dir);
    http_api(&dir);
    plugin(&dir, &fixtures);
    eprintln!("seeds written to {}", dir.display());
}
