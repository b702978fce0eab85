#![cfg(feature = "http")]
//! The HTTP service API driven through the Router with no sockets (design.md §7,
//! http-and-cluster.md §5): every request is handed in as head, body and end, every response is
//! read back from `poll_http`, and the providers are harness clients answering the frames a
//! hypha-rpc client would answer.

mod common;

use std::io::Write as _;

use common::http::*;
use common::*;
use hypha_core::http::{HttpId, RateLimit};
use hypha_core::jwt::{self, Audience};
use rmpv::Value;
use serde_json::{json, Value as Json};

// ---------------------------------------------------------------- the provider side

impl Http {
    fn reject(&mut self, client: &Client, call: &Rpc, error: Json) {
        self.answer(client, call, "reject", mp(error));
    }

    /// The manager's `get_service` questions to `client`, taken; answered with `descriptor`.
    fn describe_with(&mut self, client: &Client, descriptor: &Value) -> usize {
        self.drive();
        let asks = self.h.take_asks(client.conn);
        for ask in &asks {
            assert_eq!(ask.str("method"), Some("services.built-in.get_service"));
            let session = ask.str("session").unwrap_or_default().to_owned();
            self.h
                .answer_ask(client.conn, &session, Ok(descriptor.clone()));
        }
        self.drive();
        asks.len()
    }

    /// Call a function handed to `client` (an ASGI `receive`/`send`): a method frame to its
    /// `_rtarget`/`_rmethod`, with `session`, as hypha-rpc sends it.
    fn call_function(&mut self, client: &Client, function: &Json, session: &str, args: Vec<Value>) {
        self.h.send_raw(
            client,
            vec![
                ("type", "method".into()),
                ("to", function["_rtarget"].as_str().unwrap().into()),
                ("method", function["_rmethod"].as_str().unwrap().into()),
                ("session", session.into()),
            ],
            Some(mp(json!({"promise": "*", "t": 15}))).map(|mut extra| {
                if let Value::Map(m) = &mut extra {
                    m.push(("args".into(), Value::Array(args)));
                }
                extra
            }),
        );
        self.drive();
    }

    /// The answer a peer (not the manager) sent `client` for its call `session`, taken.
    fn peer_reply(&mut self, client: &Client, session: &str) -> Option<Result<Json, String>> {
        self.drive();
        let resolve = format!("{session}.resolve");
        let reject = format!("{session}.reject");
        let found = self.h.take_where(client.conn, |m| {
            m.rpc()
                .and_then(|r| r.str("method"))
                .is_some_and(|method| method == resolve || method == reject)
        });
        let rpc = found.first()?.rpc()?.clone();
        let arg = rpc.args().into_iter().next();
        Some(if rpc.str("method") == Some(resolve.as_str()) {
            Ok(arg.unwrap_or(Json::Null))
        } else {
            Err(error_text(arg.as_ref()))
        })
    }

    /// Call `method` of the HTTP peer `peer` from `client`; its answer, if it gave one.
    fn call_peer(
        &mut self,
        client: &Client,
        peer: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Option<Result<Json, String>> {
        let session = self
            .h
            .send_call(client, peer, method, args, None, Promise::Star);
        self.peer_reply(client, &session)
    }

    /// The answers (`<session>.resolve`) `client` received for `session`, taken.
    fn answers(&mut self, client: &Client, session: &str) -> Vec<Json> {
        self.drive();
        let resolve = format!("{session}.resolve");
        self.h
            .take_where(client.conn, |m| {
                m.rpc().and_then(|r| r.str("method")) == Some(resolve.as_str())
            })
            .iter()
            .filter_map(|m| {
                m.rpc()
                    .map(|r| r.args().first().cloned().unwrap_or(Json::Null))
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------ fixtures

/// alice's client `p` in `lab`, providing public service `calc` (functions `add`, `add_two`).
fn with_calc(x: &mut Http) -> Client {
    let p = x.user("alice", "p", "lab");
    x.register(&p, context_service(&p, "calc", "public", json!(true)))
        .unwrap();
    p
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// bob's token for workspace `lab`.
fn bob_lab() -> String {
    user_token("bob", Some("lab"))
}

/// Percent-encode a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A JSON array of byte values (how the harness shows msgpack binary) as bytes.
fn bytes(value: &Json) -> Vec<u8> {
    match value {
        Json::Array(items) => items
            .iter()
            .map(|b| u8::try_from(b.as_u64().expect("a byte")).expect("a byte"))
            .collect(),
        Json::String(s) => s.as_bytes().to_vec(),
        other => panic!("not bytes: {other}"),
    }
}

fn function(cid: &str, method: &str) -> Json {
    json!({"_rtype": "method", "_rtarget": cid, "_rmethod": method, "_rpromise": "*"})
}

fn app_service(client: &Client, name: &str, service_type: &str) -> Value {
    mp(json!({
        "id": client.service_id(name),
        "name": name,
        "type": service_type,
        "config": {"visibility": "public", "require_context": false},
    }))
}

/// The value of counter line `series` in a `/metrics` text (0 if absent).
fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

// ------------------------------------------------------------------------------ 1. calls

#[test]
fn a_get_call_reaches_the_provider_as_keyword_arguments_and_returns_its_value() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/lab/services/calc/add?a=9&b=22");
    x.assert_waiting(id);
    let asked = x.describe();
    assert_eq!(asked, 1, "the provider is asked for its descriptor");

    let call = x.one_call(&p);
    assert_eq!(call.str("method"), Some("services.calc.add"));
    assert_eq!(call.str("to"), Some("lab/p"));
    let from = call.str("from").unwrap();
    assert!(from.starts_with("ws-anonymous/~http-"), "{from}");
    assert_eq!(call.str("ws"), Some("ws-anonymous"));
    assert_eq!(call.main["user"]["id"], "anonymouz-http");
    let extra = call.extra.clone().unwrap();
    assert_eq!(extra["args"], json!([{"a": 9, "b": 22}]));
    assert_eq!(extra["with_kwargs"], true);
    assert!(call.str("session").is_some());
    x.assert_waiting(id);

    x.resolve(&p, &call, 31.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), "31");
    assert!(r.ended);
    assert_eq!(x.router.http_in_flight(), 0);
    x.assert_nothing_left(1);
}

#[test]
fn root_answers_an_http_caller_from_its_own_address() {
    // The page's (or server mode's) root client provides a public service in `default`: its
    // answer to an anonymous HTTP caller (in `ws-anonymous`) must come from `default/root`, the
    // address the request was sent to, not root's presence in the caller's workspace.
    let mut x = Http::new();
    let root = x.root("root", "default");
    x.register(&root, service(&root, "calc", "public")).unwrap();
    let id = x.get("/default/services/calc/add?a=2&b=3");
    x.describe();
    let call = x.one_call(&root);
    assert_eq!(call.str("method"), Some("services.calc.add"));
    x.resolve(&root, &call, 5.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200), "{}", r.text());
    assert_eq!(r.text(), "5");
}

#[test]
fn a_finished_request_leaves_no_cross_workspace_link_behind() {
    // Each anonymous request is a peer in `ws-anonymous` linked to the provider it calls in
    // another workspace. The link must go with the request: a provider holds at most 10,000
    // links, and one left per request refused every call after the 10,000th.
    let mut x = Http::new();
    let root = x.root("root", "default");
    x.register(&root, service(&root, "calc", "public")).unwrap();
    let p = with_calc(&mut x);
    for (i, (path, provider)) in [
        ("/default/services/calc/add?a=2&b=3", &root),
        ("/lab/services/calc/add?a=2&b=3", &p),
    ]
    .into_iter()
    .cycle()
    .take(6)
    .enumerate()
    {
        let id = x.get(path);
        if i < 2 {
            x.describe();
        }
        let call = x.one_call(provider);
        assert!(
            x.router.cross_linked_connections() >= 2,
            "the call links the peer and the provider"
        );
        x.resolve(provider, &call, 5.into());
        let r = x.resp(id);
        assert_eq!(r.status, Some(200), "{}", r.text());
        assert_eq!(x.router.cross_linked_connections(), 0, "request {i}");
        assert_eq!(x.router.root_calls_remembered(), 0, "request {i}");
    }
}

#[test]
fn the_providers_a_request_called_hear_that_its_peer_left() {
    // hypha-rpc keeps a session for every call it answers (the one its `resolve` goes out in)
    // until the caller leaves, which it learns from `client_disconnected`, or for 10 minutes.
    // A request's peer leaves with the request, and no workspace hears of it: the providers
    // it called must, or every request costs them ~1 KB for 10 minutes.
    let mut x = Http::new();
    let root = x.root("root", "default");
    x.register(&root, service(&root, "calc", "public")).unwrap();
    let p = with_calc(&mut x);
    x.subscribe(&root, &["client_disconnected"]);
    let bob = bearer(&bob_lab());
    let cases = [
        // An anonymous caller, from ws-anonymous into default.
        ("/default/services/calc/add?a=2&b=3", None, &root, true),
        // bob, from lab into lab: a client of lab would have been heard of by lab's
        // subscribers; p did not subscribe.
        (
            "/lab/services/calc/add?a=2&b=3",
            Some(bob.as_str()),
            &p,
            false,
        ),
    ];
    for (path, authorization, provider, subscribed) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let id = x.get_as(path, &headers);
        x.describe();
        let call = x.one_call(provider);
        let (workspace, peer) = call.str("from").unwrap().split_once('/').unwrap();
        let expected = json!({"id": peer, "workspace": workspace});
        assert_eq!(x.take_departures(provider), Vec::<Json>::new(), "{path}");
        x.resolve(provider, &call, 5.into());
        assert_eq!(x.resp(id).status, Some(200), "{path}");
        // A moment later (see src/router/departures.rs), not with the answer.
        assert_eq!(x.take_departures(provider), Vec::<Json>::new(), "{path}");
        x.advance(1100);
        let heard = x.take_departures(provider);
        if subscribed {
            assert_eq!(heard, vec![expected], "{path}");
        } else {
            assert_eq!(heard, Vec::<Json>::new(), "{path}: not subscribed");
        }
    }
    // Subscribed, p hears of bob's next request too, in its own workspace.
    x.subscribe(&p, &["client_disconnected"]);
    let id = x.get_as("/lab/services/calc/add?a=2&b=3", &[("authorization", &bob)]);
    let call = x.one_call(&p);
    let peer = call
        .str("from")
        .unwrap()
        .split_once('/')
        .unwrap()
        .1
        .to_owned();
    x.resolve(&p, &call, 5.into());
    assert_eq!(x.resp(id).status, Some(200));
    x.advance(1100);
    assert_eq!(
        x.take_departures(&p),
        vec![json!({"id": peer, "workspace": "lab"})]
    );
    assert_eq!(
        x.take_departures(&root),
        Vec::<Json>::new(),
        "root was not called"
    );
}

#[test]
fn descriptors_are_cached_until_the_service_changes_or_its_client_reconnects() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let call_once = |x: &mut Http, p: &Client, expect_ask: bool| {
        let id = x.get("/lab/services/calc/add?a=1&b=2");
        let asked = x.describe();
        assert_eq!(asked, usize::from(expect_ask), "descriptor asked: {asked}");
        let call = x.one_call(p);
        x.resolve(p, &call, 3.into());
        assert_eq!(x.resp(id).text(), "3");
    };
    call_once(&mut x, &p, true);
    call_once(&mut x, &p, false);
    call_once(&mut x, &p, false);

    // Registering the service again replaces it: its descriptor may have changed.
    x.register(&p, service(&p, "calc", "public")).unwrap();
    call_once(&mut x, &p, true);
    call_once(&mut x, &p, false);

    // The client reconnects (a new connection, the same address) and registers again.
    x.disconnect(&p);
    let p = with_calc(&mut x);
    call_once(&mut x, &p, true);
    call_once(&mut x, &p, false);
}

// ------------------------------------------------------------------------------ 2. bodies

#[test]
fn post_bodies_are_positional_or_keyword_arguments() {
    let mut x = Http::new();
    let p = with_calc(&mut x);

    let id = x.post_json("/lab/services/calc/add", "[6, 7]");
    x.describe();
    let call = x.one_call(&p);
    let extra = call.extra.clone().unwrap();
    assert_eq!(extra["args"], json!([6, 7]));
    assert!(extra.get("with_kwargs").is_none(), "{extra}");
    x.resolve(&p, &call, 13.into());
    assert_eq!(x.resp(id).text(), "13");

    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[("content-type", "application/json; charset=utf-8")],
        br#"{"a": 1, "b": {"deep": [true, null]}}"#,
    );
    let call = x.one_call(&p);
    let extra = call.extra.clone().unwrap();
    assert_eq!(
        extra["args"],
        json!([{"a": 1, "b": {"deep": [true, null]}}])
    );
    assert_eq!(extra["with_kwargs"], true);
    x.resolve(&p, &call, mp(json!({"ok": [1, "two"]})));
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.json(), json!({"ok": [1, "two"]}));

    // A JSON body without a content type is JSON.
    let id = x.request("POST", "/lab/services/calc/add", &[], b"[1]");
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!(1)]);
    x.resolve(&p, &call, Value::Nil);
    assert_eq!(x.resp(id).text(), "null");
}

#[test]
fn unreadable_bodies_are_refused_before_any_call() {
    let mut x = Http::new();
    let p = with_calc(&mut x);

    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[("content-type", "text/plain")],
        b"a=1",
    );
    let detail = x.resp(id).assert_error(415);
    assert!(detail.contains("text/plain"), "{detail}");

    let id = x.post_json("/lab/services/calc/add", "{\"a\": ");
    x.resp(id).assert_error(400);

    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[("content-encoding", "br")],
        b"[1]",
    );
    x.resp(id).assert_error(415);

    // A query value that looks like JSON but is not.
    let id = x.get(&format!("/lab/services/calc/add?a={}", enc("{oops")));
    x.resp(id).assert_error(400);

    x.describe();
    assert!(x.calls(&p).is_empty(), "the provider was called");
}

#[test]
fn a_gzip_body_is_inflated() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &gzip(br#"{"a": 40, "b": 2}"#),
    );
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!({"a": 40, "b": 2})]);
    x.resolve(&p, &call, 42.into());
    assert_eq!(x.resp(id).text(), "42");

    // Not gzip after all.
    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[("content-encoding", "gzip")],
        b"[1, 2]",
    );
    x.resp(id).assert_error(400);
    assert!(x.calls(&p).is_empty());
}

#[test]
fn bodies_over_the_cap_are_refused_with_413() {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.max_body = 1000;
    let mut x = Http::with_config(config);
    let p = with_calc(&mut x);

    // A declared length over the cap: refused on the head, before reading any body.
    let id = x.open(
        "POST",
        "/lab/services/calc/add",
        &[
            ("content-type", "application/json"),
            ("content-length", "1001"),
        ],
    );
    x.resp(id).assert_error(413);
    // The rest of the request is ignored.
    x.body(id, b"[1]");
    x.end(id);
    assert_eq!(x.resp(id).chunks, 1);

    // No length, and a body that grows past the cap: refused as soon as it does.
    let id = x.open("POST", "/lab/services/calc/add", &[]);
    x.body(id, &[b' '; 600]);
    x.assert_waiting(id);
    x.body(id, &[b' '; 401]);
    x.resp(id).assert_error(413);
    x.end(id);

    // A gzip body whose inflated size passes the cap.
    let mut big = b"[\"".to_vec();
    big.extend([b'x'; 2000]);
    big.extend(b"\"]");
    let id = x.request(
        "POST",
        "/lab/services/calc/add",
        &[("content-encoding", "gzip")],
        &gzip(&big),
    );
    x.resp(id).assert_error(413);

    // Exactly at the cap is fine.
    let mut body = b"[1]".to_vec();
    body.resize(1000, b' ');
    let id = x.request("POST", "/lab/services/calc/add", &[], &body);
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!(1)]);
    x.resolve(&p, &call, 1.into());
    assert_eq!(x.resp(id).status, Some(200));
}

// ------------------------------------------------------------------------------ 3. security

#[test]
fn a_protected_service_needs_a_token_for_its_workspace() {
    let mut x = Http::new();
    let p = x.user("alice", "p", "lab");
    x.register(&p, context_service(&p, "secret", "protected", json!(true)))
        .unwrap();

    let id = x.get("/lab/services/secret/add?a=1");
    x.resp(id).assert_error(403);
    let id = x.get("/lab/services/secret");
    x.resp(id).assert_error(403);
    // A token for another workspace does not open it either.
    let other = user_token("carol", Some("elsewhere"));
    let id = x.get_as(
        "/lab/services/secret/add?a=1",
        &[("authorization", &bearer(&other))],
    );
    x.resp(id).assert_error(403);
    x.describe();
    assert!(x.calls(&p).is_empty());

    let token = bob_lab();
    let auth = bearer(&token);
    let id = x.get_as("/lab/services/secret/add?a=1", &[("authorization", &auth)]);
    x.describe();
    let call = x.one_call(&p);
    assert!(call.str("from").unwrap().starts_with("lab/~http-"));
    assert_eq!(call.main["user"]["id"], "bob");
    assert_eq!(call.str("ws"), Some("lab"));
    x.resolve(&p, &call, "ok".into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.json(), json!("ok"));

    // The info route too; Basic auth with the token as password works the same.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("x:{token}")
        )
    );
    let id = x.get_as("/lab/services/secret", &[("authorization", &basic)]);
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.json()["id"], "lab/p:secret");
}

#[test]
fn bad_tokens_are_401_and_never_anonymous() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    // Anonymous callers may call calc: a bad token must not fall back to that.
    let forged = jwt::sign(&claims("bob"), b"not-the-server-secret");
    let mut expired = claims("bob");
    expired.iat -= 7200;
    expired.exp = T0 / 1000 - 10;
    let expired = sign(&expired);
    let mut reconnection = claims("bob");
    reconnection.aud = Audience::Reconnection.as_str().to_owned();
    let reconnection = sign(&reconnection);
    let real_reconnection = p.reconnection_token.clone();
    for (what, token) in [
        ("forged", forged.as_str()),
        ("expired", expired.as_str()),
        ("reconnection audience", reconnection.as_str()),
        ("a client's reconnection token", real_reconnection.as_str()),
        ("garbage", "not-a-jwt"),
    ] {
        let id = x.get_as(
            "/lab/services/calc/add?a=1",
            &[("authorization", &bearer(token))],
        );
        let detail = x.resp(id).assert_error(401);
        assert!(detail.contains("token"), "{what}: {detail}");
        // The cookie form too.
        let cookie = format!("access_token={token}");
        let id = x.get_as("/lab/services/calc/add?a=1", &[("cookie", &cookie)]);
        x.resp(id).assert_error(401);
    }
    // An Authorization header that carries nothing usable is not anonymous either.
    let id = x.get_as(
        "/lab/services/calc/add?a=1",
        &[("authorization", "Basic !!")],
    );
    x.resp(id).assert_error(401);
    x.describe();
    assert!(x.calls(&p).is_empty(), "a call was made with a bad token");
}

#[test]
fn the_cookie_counts_only_for_same_site_or_allowed_origins() {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.allow_origins = vec!["https://app.example".to_owned()];
    let mut x = Http::with_config(config);
    let p = x.user("alice", "p", "lab");
    x.register(&p, context_service(&p, "secret", "protected", json!(true)))
        .unwrap();
    let cookie = format!("theme=dark; access_token={}", bob_lab());

    // No Origin (a same-site navigation): the cookie signs the request in.
    let id = x.get_as("/lab/services/secret/add", &[("cookie", &cookie)]);
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.main["user"]["id"], "bob");
    x.resolve(&p, &call, 1.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert!(r.header("access-control-allow-origin").is_none());

    // A foreign page riding the browser's cookie: the cookie is ignored.
    let id = x.get_as(
        "/lab/services/secret/add",
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    );
    let r = x.resp(id);
    r.assert_error(403);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none());
    assert!(x.calls(&p).is_empty());

    // An allowed origin: honoured, and credentials are allowed in the answer.
    let id = x.get_as(
        "/lab/services/secret/add",
        &[("cookie", &cookie), ("origin", "https://app.example")],
    );
    let call = x.one_call(&p);
    assert_eq!(call.main["user"]["id"], "bob");
    x.resolve(&p, &call, 2.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

    // A foreign origin reading a public service anonymously gets `*` without credentials.
    x.register(&p, context_service(&p, "calc", "public", json!(true)))
        .unwrap();
    let id = x.get_as(
        "/lab/services/calc/add",
        &[("origin", "https://evil.example")],
    );
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.main["user"]["id"], "anonymouz-http");
    x.resolve(&p, &call, 3.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none());

    // Preflight.
    let id = x.request(
        "OPTIONS",
        "/lab/services/calc/add",
        &[("origin", "https://app.example")],
        b"",
    );
    let r = x.resp(id);
    assert_eq!(r.status, Some(204));
    assert!(r.ended);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
}

#[test]
fn an_unlisted_service_is_callable_but_not_listed() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    x.register(&p, service(&p, "hidden", "unlisted")).unwrap();
    x.register(&p, context_service(&p, "secret", "protected", json!(true)))
        .unwrap();

    let id = x.get("/lab/services/");
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    let ids: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec!["p:calc".to_owned()]);

    let id = x.get("/lab/services/hidden/add?a=5");
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.str("method"), Some("services.hidden.add"));
    x.resolve(&p, &call, 5.into());
    assert_eq!(x.resp(id).text(), "5");

    // bob, a member of lab, lists the protected one too, but still not the unlisted one.
    let auth = bearer(&bob_lab());
    let id = x.get_as("/lab/services/", &[("authorization", &auth)]);
    let mut ids: Vec<String> = x
        .resp(id)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["p:calc", "p:secret"]);
}

#[test]
fn no_other_client_can_answer_for_the_provider() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let mate = x.user("alice", "mate", "lab");
    let stranger = x.anonymous("stranger", None);
    let id = x.get("/lab/services/calc/add?a=1&b=1");
    x.describe();
    let call = x.one_call(&p);
    let peer = call.str("from").unwrap().to_owned();
    let session = call.str("session").unwrap().to_owned();

    for attacker in [&mate, &stranger] {
        for kind in ["resolve", "reject", "heartbeat"] {
            x.send_raw(
                attacker,
                vec![
                    ("type", "method".into()),
                    ("to", peer.as_str().into()),
                    ("method", format!("{session}.{kind}").into()),
                ],
                Some(mp(json!({"args": [666]}))),
            );
        }
        // A forged peer_not_found is no better.
        x.send_raw(
            attacker,
            vec![
                ("type", "peer_not_found".into()),
                ("to", peer.as_str().into()),
                ("session", session.as_str().into()),
                ("error", "gone".into()),
            ],
            None,
        );
        x.assert_waiting(id);
    }
    x.resolve(&p, &call, 2.into());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.text(), "2");

    // Their heartbeats do not keep a request alive either.
    let ms = u64::try_from(x.router.config().client_call_timeout.as_millis()).unwrap();
    let id = x.get("/lab/services/calc/add?a=1");
    let call = x.one_call(&p);
    let peer = call.str("from").unwrap().to_owned();
    let session = call.str("session").unwrap().to_owned();
    x.advance(ms - 10);
    for attacker in [&mate, &stranger] {
        x.send_raw(
            attacker,
            vec![
                ("type", "method".into()),
                ("to", peer.as_str().into()),
                ("method", format!("{session}.heartbeat").into()),
            ],
            Some(mp(json!({"args": []}))),
        );
    }
    x.advance(10);
    x.resp(id).assert_error(504);
}

#[test]
fn a_caller_sent_context_is_only_an_argument() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let forged = json!({"user": {"id": "root", "roles": ["admin"]}, "ws": "lab", "from": "lab/p"});
    let id = x.get(&format!(
        "/lab/services/calc/add?a=1&context={}",
        enc(&forged.to_string())
    ));
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!({"a": 1, "context": forged})]);
    assert_eq!(call.extra.as_ref().unwrap()["with_kwargs"], true);
    assert_eq!(call.main["user"]["id"], "anonymouz-http");
    assert_eq!(call.str("ws"), Some("ws-anonymous"));
    assert!(call.str("from").unwrap().starts_with("ws-anonymous/~http-"));
    // Nothing but the call itself in the payload: no `ctx` the callee could mistake.
    let mut keys: Vec<&String> = call
        .extra
        .as_ref()
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .collect();
    keys.sort();
    assert_eq!(keys, ["args", "promise", "t", "with_kwargs"]);
    x.resolve(&p, &call, 0.into());
    assert_eq!(x.resp(id).status, Some(200));

    let id = x.post_json(
        "/lab/services/calc/add",
        &json!({"context": forged, "b": 2}).to_string(),
    );
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!({"context": forged, "b": 2})]);
    assert_eq!(call.main["user"]["id"], "anonymouz-http");
    assert_eq!(call.str("ws"), Some("ws-anonymous"));
    x.resolve(&p, &call, 0.into());
    assert_eq!(x.resp(id).status, Some(200));
}

#[test]
fn websocket_clients_cannot_take_an_http_peer_address() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    // A request is in flight, so ~http-1 is a live peer.
    let id = x.get("/lab/services/calc/add?a=1");
    x.describe();
    let call = x.one_call(&p);
    let peer = call.str("from").unwrap().to_owned();
    let cid = peer.split('/').nth(1).unwrap().to_owned();
    assert!(cid.starts_with("~http-"));
    for wanted in [cid.as_str(), "~http-999", "~http-"] {
        let (_, message) = x.connect_err(&hello(Some(wanted), None, None));
        assert!(message.contains("reserved"), "{message}");
        let (_, message) = x.connect_err(&hello(Some(wanted), Some("lab"), Some(&bob_lab())));
        assert!(message.contains("reserved"), "{message}");
    }
    x.resolve(&p, &call, 1.into());
    assert_eq!(x.resp(id).status, Some(200));
}

#[test]
fn the_rate_limit_refuses_with_429_but_never_health() {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.rate_limit = Some(RateLimit {
        per_second: 1.0,
        burst: 2.0,
    });
    let mut x = Http::with_config(config);
    with_calc(&mut x);
    for _ in 0..2 {
        let id = x.get("/lab/services/");
        assert_eq!(x.resp(id).status, Some(200));
    }
    let id = x.get("/lab/services/");
    let r = x.resp(id);
    r.assert_error(429);
    assert_eq!(r.header("retry-after"), Some("1"));
    let id = x.get("/lab/services/calc/add?a=1");
    x.resp(id).assert_error(429);

    for _ in 0..20 {
        let id = x.get("/health");
        assert_eq!(x.resp(id).status, Some(200));
    }
    // A signed-in caller has a bucket of its own.
    let auth = bearer(&bob_lab());
    let id = x.get_as("/lab/services/", &[("authorization", &auth)]);
    assert_eq!(x.resp(id).status, Some(200));

    // One second refills one token.
    x.advance(1000);
    let id = x.get("/lab/services/");
    assert_eq!(x.resp(id).status, Some(200));
    let id = x.get("/lab/services/");
    x.resp(id).assert_error(429);
}

// ------------------------------------------------------------------------------ 4. errors

#[test]
fn provider_errors_map_to_statuses() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let cases = [
        (
            json!({"_rtype": "error", "_rvalue": "TypeError: x", "_rtrace": "at f (a.js:1)"}),
            400,
            "TypeError: x",
        ),
        (
            json!({"_rtype": "error", "_rvalue": "msg", "_rtrace": "Traceback (most recent call last):\n  File \"s.py\", line 3, in add\nValueError: msg\n"}),
            400,
            "ValueError: msg",
        ),
        (
            json!({"_rtype": "error", "_rvalue": "RuntimeError: boom", "_rtrace": ""}),
            500,
            "RuntimeError: boom",
        ),
        (
            json!({"_rtype": "error", "_rvalue": "it broke", "_rtrace": "Traceback...\nException: it broke"}),
            500,
            "it broke",
        ),
        (json!("plain string"), 500, "plain string"),
    ];
    let mut first = true;
    for (error, status, detail) in cases {
        let id = x.get("/lab/services/calc/add?a=1");
        if first {
            x.describe();
            first = false;
        }
        let call = x.one_call(&p);
        x.reject(&p, &call, error.clone());
        let got = x.resp(id).assert_error(status);
        assert!(got.contains(detail), "{error}: {got}");
        assert!(!got.contains("Traceback"), "a trace leaked: {got}");
    }
    x.assert_nothing_left(1);
}

#[test]
fn unknown_things_are_404_and_wrong_methods_405() {
    let mut x = Http::new();
    let p = with_calc(&mut x);

    let id = x.get("/lab/services/calc/nope?a=1");
    x.describe();
    let detail = x.resp(id).assert_error(404);
    assert!(detail.contains("nope"), "{detail}");
    let id = x.get("/lab/services/calc/add.deeper");
    x.resp(id).assert_error(404);
    assert!(x.calls(&p).is_empty());

    let id = x.get("/lab/services/ghost/add");
    x.resp(id).assert_error(404);
    let id = x.get("/lab/services/ghost");
    x.resp(id).assert_error(404);
    let id = x.get("/nowhere/services/calc/add");
    x.resp(id).assert_error(404);
    let id = x.get("/lab/elsewhere");
    x.resp(id).assert_error(404);
    assert!(x.take_asks(p.conn).is_empty());

    let id = x.request("PUT", "/lab/services/calc/add", &[], b"[1]");
    let r = x.resp(id);
    r.assert_error(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let id = x.request("POST", "/health", &[], b"");
    let r = x.resp(id);
    assert_eq!(r.status, Some(405));
    assert_eq!(r.header("allow"), Some("GET"));
    assert!(x.calls(&p).is_empty());
}

#[test]
fn a_provider_that_leaves_fails_the_request_at_once() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/lab/services/calc/add?a=1");
    x.describe();
    let _call = x.one_call(&p);
    x.assert_waiting(id);
    x.disconnect(&p);
    let r = x.resp(id);
    let status = r.status.expect("answered at once");
    assert!((500..600).contains(&status), "{r:?}");
    r.assert_error(status);
    assert_eq!(x.router.http_in_flight(), 0);
}

#[test]
fn a_provider_that_leaves_while_describing_fails_the_request() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/lab/services/calc/add?a=1");
    assert_eq!(x.take_asks(p.conn).len(), 1);
    x.disconnect(&p);
    let r = x.resp(id);
    let status = r.status.expect("answered at once");
    assert!((500..600).contains(&status), "{r:?}");
}

#[test]
fn a_silent_provider_times_out_with_504_unless_it_heartbeats() {
    let mut x = Http::new();
    let timeout = x.router.config().client_call_timeout;
    let ms = u64::try_from(timeout.as_millis()).unwrap();
    let p = with_calc(&mut x);

    let id = x.get("/lab/services/calc/add?a=1");
    x.describe();
    let _call = x.one_call(&p);
    x.advance(ms - 1);
    x.assert_waiting(id);
    x.advance(1);
    let detail = x.resp(id).assert_error(504);
    assert!(!detail.is_empty());
    assert_eq!(x.router.http_in_flight(), 0);

    // A heartbeat before the deadline buys another timeout.
    let id = x.get("/lab/services/calc/add?a=2");
    let call = x.one_call(&p);
    x.advance(ms - 1000);
    x.answer(&p, &call, "heartbeat", Value::Nil);
    x.advance(2000);
    x.assert_waiting(id);
    x.advance(ms - 2000 - 1);
    x.assert_waiting(id);
    x.resolve(&p, &call, 7.into());
    assert_eq!(x.resp(id).text(), "7");

    // The same after a heartbeat, when the provider falls silent again.
    let id = x.get("/lab/services/calc/add?a=3");
    let call = x.one_call(&p);
    x.advance(ms / 2);
    x.answer(&p, &call, "heartbeat", Value::Nil);
    x.advance(ms - 1);
    x.assert_waiting(id);
    x.advance(1);
    x.resp(id).assert_error(504);
}

// ------------------------------------------------------------------------------ 5. generators

fn generator(target: &str) -> Value {
    mp(json!({
        "_rtype": "generator",
        "_rtarget": target,
        "_rmethod": "s1.g",
        "_rclose_method": "s1.g:close",
    }))
}

/// Start a streaming call and answer it with a generator of `target`; returns the request.
fn start_stream(x: &mut Http, p: &Client, headers: &[(&str, &str)], target: &str) -> HttpId {
    let id = x.get_as("/lab/services/calc/add", headers);
    x.describe();
    let call = x.one_call(p);
    x.resolve(p, &call, generator(target));
    id
}

/// The one pull `p` received.
fn pull(x: &mut Http, p: &Client) -> Rpc {
    let call = x.one_call(p);
    assert_eq!(call.str("method"), Some("s1.g"));
    assert_eq!(call.str("to"), Some("lab/p"));
    assert!(call.str("session").is_some(), "a pull expects an answer");
    call
}

#[test]
fn a_generator_streams_as_ndjson_one_pull_per_item() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = start_stream(&mut x, &p, &[], "p");
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert!(!r.ended);

    for item in [json!({"n": 1}), json!("two"), json!([3])] {
        let call = pull(&mut x, &p);
        assert!(x.calls(&p).is_empty(), "one pull at a time");
        x.resolve(&p, &call, mp(item));
        x.drained(id);
    }
    let call = pull(&mut x, &p);
    x.resolve(&p, &call, mp(json!({"_rtype": "stop_iteration"})));
    let r = x.resp(id);
    assert!(r.ended);
    assert_eq!(r.text(), "{\"n\":1}\n\"two\"\n[3]\n");
    assert!(x.calls(&p).is_empty(), "no pull after the end");
    assert_eq!(x.router.http_in_flight(), 0);
    x.assert_nothing_left(1);
}

#[test]
fn a_generator_streams_as_server_sent_events_when_asked() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = start_stream(&mut x, &p, &[("accept", "text/event-stream")], "lab/p");
    assert_eq!(x.resp(id).header("content-type"), Some("text/event-stream"));
    for item in [json!(1), json!({"a": "b"})] {
        let call = pull(&mut x, &p);
        x.resolve(&p, &call, mp(item));
        x.drained(id);
    }
    let call = pull(&mut x, &p);
    x.resolve(&p, &call, mp(json!({"_rtype": "stop_iteration"})));
    let r = x.resp(id);
    assert!(r.ended);
    assert_eq!(
        r.text(),
        "data: 1\n\ndata: {\"a\":\"b\"}\n\ndata: [DONE]\n\n"
    );
}

#[test]
fn a_stream_pulls_no_faster_than_the_client_reads() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = start_stream(&mut x, &p, &[], "p");
    for n in 0..WINDOW {
        let call = pull(&mut x, &p);
        x.resolve(&p, &call, n.into());
    }
    assert_eq!(x.resp(id).chunks, WINDOW);
    assert!(x.calls(&p).is_empty(), "pulled past the window");
    x.advance(1000);
    assert!(x.calls(&p).is_empty());

    x.drained(id);
    let call = pull(&mut x, &p);
    assert!(x.calls(&p).is_empty());
    x.resolve(&p, &call, 99.into());
    assert!(x.calls(&p).is_empty(), "the window is full again");
    x.drained(id);
    x.drained(id);
    let call = pull(&mut x, &p);
    assert!(
        x.calls(&p).is_empty(),
        "one pull at a time, however much room"
    );
    x.resolve(&p, &call, mp(json!({"_rtype": "stop_iteration"})));
    let r = x.resp(id);
    assert!(r.ended);
    assert_eq!(r.text(), "0\n1\n2\n3\n99\n");
}

#[test]
fn a_client_that_leaves_closes_the_generator() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = start_stream(&mut x, &p, &[], "p");
    let call = pull(&mut x, &p);
    x.resolve(&p, &call, 1.into());
    let _next = pull(&mut x, &p);
    x.cancel(id);
    let close = x.one_call(&p);
    assert_eq!(close.str("method"), Some("s1.g:close"));
    assert_eq!(close.str("to"), Some("lab/p"));
    assert!(close
        .str("from")
        .unwrap()
        .starts_with("ws-anonymous/~http-"));
    assert!(!x.resp(id).ended, "a cancelled response is not ended");
    assert_eq!(x.router.http_in_flight(), 0);
    x.drained(id);
    assert!(x.calls(&p).is_empty());
    x.assert_nothing_left(1);
}

#[test]
fn a_generator_of_another_client_is_refused() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let victim = x.user("alice", "victim", "lab");
    for target in ["victim", "lab/victim"] {
        let id = start_stream(&mut x, &p, &[], target);
        let r = x.resp(id);
        let status = r.status.unwrap();
        assert!((500..600).contains(&status), "{r:?}");
        r.assert_error(status);
        assert!(
            x.take_frames(victim.conn).is_empty(),
            "the victim was pulled"
        );
        assert!(x.calls(&p).is_empty());
    }
}

#[test]
fn a_generator_that_fails_midway_ends_the_stream_with_an_error_item() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = start_stream(&mut x, &p, &[], "p");
    let call = pull(&mut x, &p);
    x.resolve(&p, &call, 1.into());
    let call = pull(&mut x, &p);
    x.reject(
        &p,
        &call,
        json!({"_rtype": "error", "_rvalue": "RuntimeError: midway"}),
    );
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert!(r.ended);
    let lines: Vec<Json> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!(1));
    assert_eq!(lines[1]["type"], "error");
    assert!(lines[1]["error"].as_str().unwrap().contains("midway"));

    // Nothing but (at most) the close of the generator follows.
    for call in x.calls(&p) {
        assert_eq!(call.str("method"), Some("s1.g:close"));
    }

    // The provider leaving mid-stream ends it the same way, at once.
    let id = start_stream(&mut x, &p, &[], "p");
    let call = pull(&mut x, &p);
    x.resolve(&p, &call, 1.into());
    let _pending = pull(&mut x, &p);
    x.disconnect(&p);
    let r = x.resp(id);
    assert!(r.ended);
    let last: Json = serde_json::from_str(r.text().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(x.router.http_in_flight(), 0);
    x.assert_nothing_left(0);
}

// ------------------------------------------------------------------------------ 6. ASGI

fn asgi_descriptor(cid: &str) -> Value {
    mp(json!({
        "id": "site",
        "name": "site",
        "type": "asgi",
        "serve": function(cid, "services.site.serve"),
    }))
}

/// alice's `p` serving ASGI app `site`.
fn with_site(x: &mut Http) -> Client {
    let p = x.user("alice", "p", "lab");
    x.register(&p, app_service(&p, "site", "asgi")).unwrap();
    p
}

#[test]
fn an_asgi_app_gets_the_scope_and_streams_the_body_both_ways() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let auth = bearer(&bob_lab());
    let id = x.open(
        "POST",
        "/lab/apps/site/api/x%20y?q=1&r=two",
        &[
            ("authorization", &auth),
            ("x-test", "yes"),
            ("content-type", "text/plain"),
        ],
    );
    x.body(id, b"hello ");
    assert_eq!(x.describe_with(&p, &asgi_descriptor("p")), 1);

    let serve = x.one_call(&p);
    assert_eq!(serve.str("method"), Some("services.site.serve"));
    let args = serve.args();
    assert_eq!(args.len(), 1);
    assert!(serve.extra.as_ref().unwrap().get("with_kwargs").is_none());
    let arg = &args[0];
    let scope = &arg["scope"];
    assert_eq!(scope["type"], "http");
    assert_eq!(scope["path"], "/api/x y");
    assert_eq!(scope["root_path"], "/lab/apps/site");
    assert_eq!(scope["method"], "POST");
    assert_eq!(bytes(&scope["query_string"]), b"q=1&r=two");
    assert_eq!(scope["user"]["id"], "bob");
    let headers: Vec<(Vec<u8>, Vec<u8>)> = scope["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (bytes(&pair[0]), bytes(&pair[1])))
        .collect();
    assert!(
        headers.contains(&(b"x-test".to_vec(), b"yes".to_vec())),
        "{headers:?}"
    );
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(b"authorization")),
        "the caller's token reached the app"
    );
    let receive = arg["receive"].clone();
    let send = arg["send"].clone();
    assert!(receive["_rtarget"]
        .as_str()
        .unwrap()
        .starts_with("lab/~http-"));

    // receive(): the body so far, more to come.
    x.call_function(&p, &receive, "r1", vec![]);
    let got = x.answers(&p, "r1");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "http.request");
    assert_eq!(bytes(&got[0]["body"]), b"hello ");
    assert_eq!(got[0]["more_body"], true);
    // The next receive() waits for the body.
    x.call_function(&p, &receive, "r2", vec![]);
    assert!(x.answers(&p, "r2").is_empty());
    x.body(id, b"world");
    let got = x.answers(&p, "r2");
    assert_eq!(bytes(&got[0]["body"]), b"world");
    assert_eq!(got[0]["more_body"], true);
    // The end of the body, once it comes.
    x.call_function(&p, &receive, "r3", vec![]);
    assert!(x.answers(&p, "r3").is_empty());
    x.end(id);
    let got = x.answers(&p, "r3");
    assert_eq!(bytes(&got[0]["body"]), b"");
    assert_eq!(got[0]["more_body"], false);

    // send(): the head whenever it comes, then the body in chunks.
    x.assert_waiting(id);
    let start = Value::Map(vec![
        ("type".into(), "http.response.start".into()),
        ("status".into(), 201.into()),
        (
            "headers".into(),
            Value::Array(vec![
                Value::Array(vec![
                    Value::Binary(b"content-type".to_vec()),
                    Value::Binary(b"text/html".to_vec()),
                ]),
                Value::Array(vec![
                    Value::Binary(b"x-app".to_vec()),
                    Value::Binary(b"1".to_vec()),
                ]),
                Value::Array(vec![
                    Value::Binary(b"content-length".to_vec()),
                    Value::Binary(b"999".to_vec()),
                ]),
            ]),
        ),
    ]);
    x.call_function(&p, &send, "s1", vec![start]);
    assert_eq!(x.answers(&p, "s1").len(), 1);
    let r = x.resp(id);
    assert_eq!(r.status, Some(201));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("x-app"), Some("1"));
    assert!(
        r.header("content-length").is_none(),
        "the driver frames the body"
    );

    let body = |chunk: &[u8], more: bool| {
        Value::Map(vec![
            ("type".into(), "http.response.body".into()),
            ("body".into(), Value::Binary(chunk.to_vec())),
            ("more_body".into(), more.into()),
        ])
    };
    // The first WINDOW-1 sends are answered at once; the one that fills the window waits.
    for n in 1..WINDOW {
        x.call_function(
            &p,
            &send,
            &format!("b{n}"),
            vec![body(format!("<{n}>").as_bytes(), true)],
        );
        assert_eq!(x.answers(&p, &format!("b{n}")).len(), 1, "send {n}");
    }
    x.call_function(&p, &send, "b4", vec![body(b"<4>", true)]);
    assert!(
        x.answers(&p, "b4").is_empty(),
        "send answered past the window"
    );
    assert_eq!(x.resp(id).chunks, WINDOW);
    x.drained(id);
    assert_eq!(x.answers(&p, "b4").len(), 1);

    x.call_function(&p, &send, "b5", vec![body(b"<end>", false)]);
    assert_eq!(x.answers(&p, "b5").len(), 1);
    let r = x.resp(id);
    assert!(r.ended);
    assert_eq!(r.text(), "<1><2><3><4><end>");
    assert_eq!(x.router.http_in_flight(), 0);
    // serve() returning afterwards changes nothing.
    x.resolve(&p, &serve, Value::Nil);
    assert_eq!(x.resp(id).text(), "<1><2><3><4><end>");
    x.assert_nothing_left(1);
}

#[test]
fn a_client_that_leaves_releases_a_waiting_receive() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let id = x.open("POST", "/lab/apps/site/upload", &[]);
    x.describe_with(&p, &asgi_descriptor("p"));
    let serve = x.one_call(&p);
    let arg = serve.args()[0].clone();
    x.call_function(&p, &arg["receive"], "r1", vec![]);
    assert!(x.answers(&p, "r1").is_empty(), "no body yet");
    x.cancel(id);
    let got = x.answers(&p, "r1");
    assert_eq!(got, vec![json!({"type": "http.disconnect"})]);
    assert_eq!(x.router.http_in_flight(), 0);
}

#[test]
fn only_the_app_may_call_its_callbacks() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let mate = x.user("alice", "mate", "lab");
    let stranger = x.anonymous("stranger", None);
    let id = x.get("/lab/apps/site/");
    x.describe_with(&p, &asgi_descriptor("p"));
    let serve = x.one_call(&p);
    assert_eq!(serve.args()[0]["scope"]["path"], "/");
    let arg = serve.args()[0].clone();
    let start = mp(json!({"type": "http.response.start", "status": 200, "headers": []}));
    for intruder in [&mate, &stranger] {
        x.call_function(intruder, &arg["send"], "i1", vec![start.clone()]);
        x.call_function(intruder, &arg["receive"], "i2", vec![]);
        assert!(x.answers(intruder, "i1").is_empty());
        assert!(x.answers(intruder, "i2").is_empty());
        x.assert_waiting(id);
    }
    // The app itself still can.
    x.call_function(
        &p,
        &arg["send"],
        "s1",
        vec![mp(
            json!({"type": "http.response.start", "status": 204, "headers": []}),
        )],
    );
    x.call_function(
        &p,
        &arg["send"],
        "s2",
        vec![mp(json!({"type": "http.response.body"}))],
    );
    let r = x.resp(id);
    assert_eq!(r.status, Some(204));
    assert!(r.ended);
    // The intruders' calls were never answered; once the request is over they hear the peer is
    // gone instead of waiting for ever.
    for intruder in [&mate, &stranger] {
        let mut sessions: Vec<String> = x
            .take_peer_not_found(intruder)
            .iter()
            .map(|f| f.str("session").unwrap_or_default().to_owned())
            .collect();
        sessions.sort();
        assert_eq!(sessions, ["i1", "i2"], "{}", intruder.client_id);
    }
}

#[test]
fn an_asgi_app_that_returns_without_answering_is_a_502() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let id = x.get("/lab/apps/site/x");
    x.describe_with(&p, &asgi_descriptor("p"));
    let serve = x.one_call(&p);
    x.resolve(&p, &serve, Value::Nil);
    x.resp(id).assert_error(502);

    // A rejected serve() maps like any call.
    let id = x.get("/lab/apps/site/x");
    let serve = x.one_call(&p);
    x.reject(
        &p,
        &serve,
        json!({"_rtype": "error", "_rvalue": "ValueError: no"}),
    );
    x.resp(id).assert_error(400);
}

#[test]
fn an_app_mount_without_slash_redirects() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let id = x.get("/lab/apps/site");
    let r = x.resp(id);
    assert_eq!(r.status, Some(307));
    assert_eq!(r.header("location"), Some("/lab/apps/site/"));
    assert!(r.ended);
    assert!(x.take_asks(p.conn).is_empty());

    // A generic service is not an app.
    x.register(&p, service(&p, "calc", "public")).unwrap();
    let id = x.get("/lab/apps/calc/");
    x.resp(id).assert_error(404);
    let id = x.get("/lab/apps/ghost/");
    x.resp(id).assert_error(404);

    // A protected app is the workspace's only.
    let mut private = app_service(&p, "private", "asgi");
    if let Value::Map(entries) = &mut private {
        entries.retain(|(k, _)| k.as_str() != Some("config"));
        entries.push(("config".into(), mp(json!({"visibility": "protected"}))));
    }
    x.register(&p, private).unwrap();
    let id = x.get("/lab/apps/private/");
    x.resp(id).assert_error(403);
    assert!(x.take_asks(p.conn).is_empty());
    let auth = bearer(&bob_lab());
    let id = x.get_as("/lab/apps/private/", &[("authorization", &auth)]);
    assert_eq!(x.describe_with(&p, &asgi_descriptor("p")), 1);
    assert_eq!(x.one_call(&p).str("method"), Some("services.site.serve"));
    x.cancel(id);
}

// ------------------------------------------------------------------------------ 7. functions apps

fn functions_descriptor(cid: &str) -> Value {
    mp(json!({
        "id": "fns",
        "name": "fns",
        "type": "functions",
        "index": function(cid, "services.fns.index"),
        "api": {"v1": {"index": function(cid, "services.fns.api.v1.index")}},
        "default": function(cid, "services.fns.default"),
    }))
}

#[test]
fn functions_apps_route_by_path_and_answer_status_headers_body() {
    let mut x = Http::new();
    let p = x.user("alice", "p", "lab");
    x.register(&p, app_service(&p, "fns", "functions")).unwrap();

    let id = x.get("/lab/apps/fns/?x=1");
    assert_eq!(x.describe_with(&p, &functions_descriptor("p")), 1);
    let call = x.one_call(&p);
    assert_eq!(call.str("method"), Some("services.fns.index"));
    let scope = &call.args()[0];
    assert_eq!(scope["method"], "GET");
    assert_eq!(scope["path"], "/");
    assert_eq!(scope["query_string"], "x=1");
    assert!(scope.get("function_path").is_none());
    x.resolve(
        &p,
        &call,
        mp(json!({"status": 201, "headers": {"x-f": "1", "content-type": "text/html"}, "body": "<p>hi</p>"})),
    );
    let r = x.resp(id);
    assert_eq!(r.status, Some(201));
    assert_eq!(r.header("x-f"), Some("1"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.text(), "<p>hi</p>");
    assert!(r.ended);

    let id = x.request("POST", "/lab/apps/fns/api/v1", &[("x-k", "v")], b"payload");
    assert_eq!(x.describe_with(&p, &functions_descriptor("p")), 0, "cached");
    let call = x.one_call(&p);
    assert_eq!(call.str("method"), Some("services.fns.api.v1.index"));
    let scope = &call.args()[0];
    assert_eq!(bytes(&scope["body"]), b"payload");
    assert_eq!(scope["headers"]["x-k"], "v");
    x.resolve(&p, &call, mp(json!({"body": {"json": true}})));
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"json": true}));

    let id = x.get("/lab/apps/fns/some/where");
    let call = x.one_call(&p);
    assert_eq!(call.str("method"), Some("services.fns.default"));
    assert_eq!(call.args()[0]["function_path"], "/some/where");
    x.resolve(&p, &call, mp(json!({"status": 404, "body": "not here"})));
    let r = x.resp(id);
    assert_eq!(r.status, Some(404));
    assert_eq!(r.text(), "not here");
    x.assert_nothing_left(1);
}

#[test]
fn a_functions_app_without_default_is_404_for_unknown_paths() {
    let mut x = Http::new();
    let p = x.user("alice", "p", "lab");
    x.register(&p, app_service(&p, "fns", "functions")).unwrap();
    let descriptor = mp(json!({"index": function("p", "services.fns.index")}));
    let id = x.get("/lab/apps/fns/missing");
    x.describe_with(&p, &descriptor);
    x.resp(id).assert_error(404);
    assert!(x.calls(&p).is_empty());
}

// ------------------------------------------------------------------------------ 8. the rest

#[test]
fn health_reports_what_the_server_holds() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/health");
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    let health = r.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["clients"], 1);
    assert_eq!(health["connections"], 1);
    assert_eq!(health["services"], 1);
    assert_eq!(health["http_in_flight"], 0);
    assert!(health["uptime"].is_number());
    assert!(health["version"].is_string());

    let pending = x.get("/lab/services/calc/add");
    x.describe();
    let call = x.one_call(&p);
    let _q = x.anonymous("q", None);
    x.advance(2500);
    let health = {
        let id = x.get("/health/");
        x.resp(id)
    };
    // `/health/` is not `/health`.
    assert_eq!(health.status, Some(404));
    let id = x.get("/health");
    let health = x.resp(id).json();
    assert_eq!(health["clients"], 2);
    assert_eq!(health["connections"], 2);
    assert_eq!(health["http_in_flight"], 1);
    assert_eq!(health["uptime"], 2.5);
    x.resolve(&p, &call, 0.into());
    assert_eq!(x.resp(pending).status, Some(200));

    for probe in ["/health/liveness", "/health/readiness"] {
        let id = x.get(probe);
        assert_eq!(x.resp(id).json(), json!({"status": "ok"}));
    }
}

#[test]
fn metrics_count_requests_by_route_and_status() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let scrape = |x: &mut Http| {
        let id = x.get("/metrics");
        let r = x.resp(id);
        assert_eq!(r.status, Some(200));
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        r.text()
    };
    let ok = "hypha_http_requests_total{route=\"call\",status=\"200\"}";
    let missing = "hypha_http_requests_total{route=\"call\",status=\"404\"}";
    let before = scrape(&mut x);
    assert_eq!(counter(&before, ok), 0);
    assert_eq!(counter(&before, "hypha_services"), 1);
    let frames_before = counter(&before, "hypha_frames_routed_total");

    for n in 0..2 {
        let id = x.get("/lab/services/calc/add?a=1");
        if n == 0 {
            x.describe();
        }
        let call = x.one_call(&p);
        x.resolve(&p, &call, 1.into());
        assert_eq!(x.resp(id).status, Some(200));
    }
    let id = x.get("/lab/services/calc/nope");
    x.resp(id).assert_error(404);

    let after = scrape(&mut x);
    assert_eq!(counter(&after, ok), 2, "{after}");
    assert_eq!(counter(&after, missing), 1, "{after}");
    assert!(counter(&after, "hypha_frames_routed_total") > frames_before);
    assert_eq!(
        counter(
            &after,
            "hypha_http_requests_total{route=\"metrics\",status=\"200\"}"
        ),
        1,
        "the first scrape is counted"
    );
    assert_eq!(
        counter(&after, "hypha_http_request_duration_seconds_count"),
        counter(&before, "hypha_http_request_duration_seconds_count") + 4
    );
}

#[test]
fn workspace_info_needs_a_permission_and_an_existing_workspace() {
    let mut x = Http::new();
    let _p = with_calc(&mut x);
    let id = x.get("/lab/info");
    x.resp(id).assert_error(403);

    let auth = bearer(&bob_lab());
    let id = x.get_as("/lab/info", &[("authorization", &auth)]);
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    let info = r.json();
    assert_eq!(info["id"], "lab");
    assert_eq!(info["clients"], 1);
    assert_eq!(info["services"], 1);

    let empty = bearer(&user_token("carol", Some("empty")));
    let id = x.get_as("/empty/info", &[("authorization", &empty)]);
    x.resp(id).assert_error(404);

    let id = x.get("/public/info");
    assert_eq!(x.resp(id).status, Some(200));
}

#[test]
fn the_services_listing_without_slash_redirects() {
    let mut x = Http::new();
    let id = x.get("/lab/services");
    let r = x.resp(id);
    assert_eq!(r.status, Some(307));
    assert_eq!(r.header("location"), Some("/lab/services/"));
    assert!(r.body.is_empty());
}

#[test]
fn the_ws_service_is_the_manager_with_the_callers_rights() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    x.register(&p, context_service(&p, "secret", "protected", json!(true)))
        .unwrap();

    let listed = |x: &mut Http, headers: &[(&str, &str)]| -> Vec<String> {
        let id = x.get_as("/lab/services/ws/list_services?query=lab", headers);
        let r = x.resp(id);
        assert_eq!(r.status, Some(200), "{r:?}");
        let mut ids: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let anonymous = listed(&mut x, &[]);
    assert!(
        anonymous.contains(&"lab/p:calc".to_owned()),
        "{anonymous:?}"
    );
    assert!(
        !anonymous.contains(&"lab/p:secret".to_owned()),
        "{anonymous:?}"
    );
    let auth = bearer(&bob_lab());
    let member = listed(&mut x, &[("authorization", &auth)]);
    assert!(member.contains(&"lab/p:secret".to_owned()), "{member:?}");
    assert!(x.calls(&p).is_empty(), "the manager answers itself");

    // Anonymous callers cannot change anything through it.
    let id = x.post_json(
        "/lab/services/ws/register_service",
        &json!({"service": {"id": "lab/p:evil", "name": "evil"}}).to_string(),
    );
    let detail = x.resp(id).assert_error(403);
    assert!(detail.contains("permission denied"), "{detail}");
    assert!(!listed(&mut x, &[("authorization", &auth)]).contains(&"lab/p:evil".to_owned()));
    // Rights are the caller's: bob may mint a token for his own workspace, an anonymous
    // caller may not.
    let mint = json!({"config": {"workspace": "ws-user-bob"}}).to_string();
    let id = x.request(
        "POST",
        "/lab/services/ws/generate_token",
        &[("authorization", &auth)],
        mint.as_bytes(),
    );
    let r = x.resp(id);
    assert_eq!(r.status, Some(200), "{r:?}");
    let minted = r.json().as_str().unwrap().to_owned();
    let claims = jwt::verify(&minted, SECRET, T0 / 1000, Audience::Api).unwrap();
    assert_eq!(claims.workspace.as_deref(), Some("ws-user-bob"));
    let id = x.post_json("/lab/services/ws/generate_token", &mint);
    x.resp(id).assert_error(403);
    // The manager's refusals keep their meaning.
    let id = x.get("/lab/services/ws/no_such_method");
    x.resp(id).assert_error(404);
    let id = x.get("/lab/services/ws/get_service_info?service_id=lab/p:ghost");
    x.resp(id).assert_error(404);

    // What the manager asks a provider for comes back too.
    let id = x.get("/lab/services/ws/get_service?service_id=lab/p:calc");
    assert_eq!(x.describe(), 1);
    let r = x.resp(id);
    assert_eq!(r.status, Some(200), "{r:?}");
    assert_eq!(r.json()["add"]["_rtarget"], "lab/p");
    // ... and with a token, as that user.
    let id = x.get_as(
        "/lab/services/ws/get_service?service_id=secret",
        &[("authorization", &auth)],
    );
    assert_eq!(x.describe(), 1);
    assert_eq!(x.resp(id).json()["id"], "lab/p:secret");
    // Anonymous callers do not get it (the manager hides it, as from WebSocket clients).
    let id = x.get("/lab/services/ws/get_service?service_id=lab/p:secret");
    x.resp(id).assert_error(404);
    assert!(x.take_asks(p.conn).is_empty());

    // The manager's info route.
    let id = x.get("/lab/services/ws");
    assert_eq!(x.resp(id).json()["type"], "manager");
    x.assert_nothing_left(1);
}

#[test]
fn a_body_that_never_ends_times_out() {
    let mut x = Http::new();
    let ms = u64::try_from(x.router.config().client_call_timeout.as_millis()).unwrap();
    let p = with_calc(&mut x);
    let id = x.open("POST", "/lab/services/calc/add", &[]);
    x.body(id, b"[1,");
    x.advance(ms - 1);
    x.assert_waiting(id);
    x.advance(1);
    x.resp(id).assert_error(504);
    assert_eq!(x.router.http_in_flight(), 0);
    // The rest arriving late changes nothing.
    x.body(id, b"2]");
    x.end(id);
    assert!(x.take_asks(p.conn).is_empty());
    assert!(x.calls(&p).is_empty());
}

#[test]
fn requests_in_flight_are_capped() {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.max_exchanges = 2;
    let mut x = Http::with_config(config);
    let p = with_calc(&mut x);
    let first = x.get("/lab/services/calc/add?a=1");
    x.describe();
    let second = x.get("/lab/services/calc/add?a=2");
    let third = x.get("/lab/services/calc/add?a=3");
    x.resp(third).assert_error(503);
    // Health still answers.
    let id = x.get("/health");
    assert_eq!(x.resp(id).json()["http_in_flight"], 2);
    let calls = x.calls(&p);
    assert_eq!(calls.len(), 2);
    for call in &calls {
        x.resolve(&p, call, 0.into());
    }
    assert_eq!(x.resp(first).status, Some(200));
    assert_eq!(x.resp(second).status, Some(200));
    let again = x.get("/lab/services/calc/add?a=4");
    let call = x.one_call(&p);
    x.resolve(&p, &call, 4.into());
    assert_eq!(x.resp(again).text(), "4");
}

#[test]
fn msgpack_in_and_out_and_the_mode_is_not_an_argument() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let body = hypha_core::wire::encode_value(&mp(json!({"a": 1, "b": [1, 2]})));
    let id = x.request(
        "POST",
        "/lab/services/calc/add?_mode=first",
        &[("content-type", "application/msgpack")],
        &body,
    );
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.args(), vec![json!({"a": 1, "b": [1, 2]})]);
    x.resolve(&p, &call, Value::Binary(vec![0, 1, 2]));
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("content-type"), Some("application/msgpack"));
    assert_eq!(
        hypha_core::wire::decode_value(&r.body).unwrap(),
        Value::Binary(vec![0, 1, 2])
    );

    // Accept chooses the format of the answer.
    let id = x.get_as(
        "/lab/services/calc/add",
        &[("accept", "application/msgpack")],
    );
    let call = x.one_call(&p);
    x.resolve(&p, &call, mp(json!({"n": 5})));
    let r = x.resp(id);
    assert_eq!(r.header("content-type"), Some("application/msgpack"));
    assert_eq!(
        hypha_core::wire::decode_value(&r.body).unwrap(),
        mp(json!({"n": 5}))
    );

    // Bytes in a JSON answer are a base64 `_rtype: bytes` object, not a failure.
    let id = x.get("/lab/services/calc/add");
    let call = x.one_call(&p);
    x.resolve(&p, &call, Value::Binary(vec![1, 2, 3]));
    assert_eq!(
        x.resp(id).json(),
        json!({"_rtype": "bytes", "_rvalue": "AQID"})
    );
}

/// Let the app `p` describe itself, take its `serve` call, and send a 200 head with `send()` as
/// session `session`; returns serve's `{scope, receive, send}` argument.
fn serve_started(x: &mut Http, p: &Client, session: &str) -> Json {
    x.describe_with(p, &asgi_descriptor("p"));
    let serve = x.one_call(p);
    let arg = serve.args()[0].clone();
    let start = mp(json!({"type": "http.response.start", "status": 200, "headers": []}));
    x.call_function(p, &arg["send"], session, vec![start]);
    arg
}

#[test]
fn an_asgi_response_cut_short_is_aborted_not_ended() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let id = x.get("/lab/apps/site/page");
    let arg = serve_started(&mut x, &p, "s1");
    let part = mp(json!({"type": "http.response.body", "body": "part", "more_body": true}));
    x.call_function(&p, &arg["send"], "s2", vec![part]);
    // The provider leaves before the app finished its body.
    let provider = p.clone();
    x.disconnect(&provider);
    x.drive();
    let r = x.resp(id);
    assert_eq!((r.status, r.text().as_str()), (Some(200), "part"));
    assert!(
        r.aborted,
        "a truncated body must not end like a complete one"
    );

    // A complete response still ends normally.
    let p = with_site(&mut x);
    let id = x.get("/lab/apps/site/page");
    let arg = serve_started(&mut x, &p, "s1");
    x.call_function(
        &p,
        &arg["send"],
        "s2",
        vec![mp(json!({"type": "http.response.body", "body": "all"}))],
    );
    let r = x.resp(id);
    assert!(r.ended && !r.aborted);
    x.assert_nothing_left(1);
}

#[test]
fn the_anonymous_http_user_owns_no_workspace() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    // Its would-be own workspace is nobody's: no token, no info, no admin rights.
    let token = x.post_json(
        "/ws-user-anonymouz-http/services/ws/generate_token",
        r#"{"config": {"expires_in": 3600}}"#,
    );
    x.resp(token).assert_error(403);
    let info = x.get("/ws-user-anonymouz-http/info");
    x.resp(info).assert_error(403);
    // Providers see an identity that holds no workspace.
    let id = x.get("/lab/services/calc/add?a=1&b=2");
    x.describe();
    let call = x.one_call(&p);
    assert_eq!(call.main["user"]["id"], "anonymouz-http");
    assert_eq!(call.main["user"]["scope"]["workspaces"], json!({}));
    x.resolve(&p, &call, 3.into());
    assert_eq!(x.resp(id).json(), json!(3));
}

#[test]
fn a_body_streaming_into_an_asgi_app_is_capped_too() {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.max_body = 1000;
    let mut x = Http::with_config(config);
    let p = with_site(&mut x);
    let id = x.open("POST", "/lab/apps/site/upload", &[]);
    x.describe_with(&p, &asgi_descriptor("p"));
    let serve = x.one_call(&p);
    let arg = serve.args()[0].clone();
    // The app reads what has come so far...
    x.body(id, &[b'a'; 600]);
    x.call_function(&p, &arg["receive"], "r1", vec![]);
    let got = x.answers(&p, "r1");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["more_body"], json!(true));
    // ...and a body that grows past the cap ends the request with 413, while the app's next
    // receive() hears the client is gone instead of getting the excess.
    x.call_function(&p, &arg["receive"], "r2", vec![]);
    x.body(id, &[b'a'; 401]);
    x.resp(id).assert_error(413);
    assert_eq!(
        x.answers(&p, "r2"),
        vec![json!({"type": "http.disconnect"})]
    );
    assert_eq!(x.router.http_in_flight(), 0);
}

#[test]
fn an_app_that_sends_without_waiting_is_cut_at_the_hard_window() {
    let mut x = Http::new();
    let p = with_site(&mut x);
    let id = x.get("/lab/apps/site/flood");
    let arg = serve_started(&mut x, &p, "s0");
    // The client reads nothing; the app does not wait for its send() calls to return.
    let chunk = mp(json!({"type": "http.response.body", "body": "x", "more_body": true}));
    for i in 0..200 {
        x.call_function(&p, &arg["send"], &format!("b{i}"), vec![chunk.clone()]);
        if x.router.http_in_flight() == 0 {
            break;
        }
    }
    let r = x.resp(id);
    assert!(r.aborted, "the response is cut, not left to grow");
    assert!(r.chunks <= 64, "{} chunks queued", r.chunks);
    assert_eq!(x.router.http_in_flight(), 0);
}

#[test]
fn root_calls_an_asgi_apps_receive_and_send_from_its_own_address() {
    // Server mode's root client serves a public ASGI app in `default`; the anonymous HTTP caller
    // acts from `ws-anonymous`. Root's calls into the exchange's receive()/send() belong to the
    // call made to root's own address, so they keep `default/root`, which the exchange checks.
    let mut x = Http::new();
    let root = x.root("root", "default");
    x.register(&root, app_service(&root, "site", "asgi"))
        .unwrap();
    let id = x.get("/default/apps/site/hello");
    x.describe_with(&root, &asgi_descriptor("root"));
    let serve = x.one_call(&root);
    let arg = serve.args()[0].clone();
    x.call_function(&root, &arg["receive"], "r1", vec![]);
    let got = x.answers(&root, "r1");
    assert_eq!(got.len(), 1, "receive() was not answered");
    assert_eq!(got[0]["type"], "http.request");
    let start = Value::Map(vec![
        ("type".into(), "http.response.start".into()),
        ("status".into(), 200.into()),
        ("headers".into(), Value::Array(vec![])),
    ]);
    x.call_function(&root, &arg["send"], "s1", vec![start]);
    assert_eq!(x.answers(&root, "s1").len(), 1, "send() was not answered");
    let body = Value::Map(vec![
        ("type".into(), "http.response.body".into()),
        ("body".into(), Value::Binary(b"hi".to_vec())),
        ("more_body".into(), false.into()),
    ]);
    x.call_function(&root, &arg["send"], "s2", vec![body]);
    assert_eq!(x.answers(&root, "s2").len(), 1);
    let r = x.resp(id);
    assert_eq!(r.status, Some(200), "{}", r.text());
    assert_eq!(r.text(), "hi");
}

#[test]
fn a_providers_answer_over_256_kib_arrives_through_the_peers_message_cache() {
    // hypha-rpc sends a result over 256 KiB through the receiver's built-in message_cache:
    // it fetches the peer's `built-in` descriptor, then create, set (any order), process.
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/lab/services/calc/add?a=1&b=2");
    x.describe();
    let call = x.one_call(&p);
    let peer = call.str("from").unwrap().to_owned();
    let session = call.str("session").unwrap().to_owned();
    let ask = |x: &mut Http, method: &str, args: Vec<Value>| -> Result<Json, String> {
        x.call_peer(&p, &peer, method, args)
            .expect("the peer answered")
    };
    let built_in = ask(
        &mut x,
        "services.built-in.get_service",
        vec!["built-in".into()],
    )
    .expect("descriptor");
    assert_eq!(built_in["config"]["api_version"], 3);
    assert_eq!(
        built_in["message_cache"]["set"]["_rmethod"],
        "services.built-in.message_cache.set"
    );
    assert_eq!(built_in["message_cache"]["set"]["_rtarget"], json!(peer));

    let big = "z".repeat(600_000);
    let whole = frame(
        vec![
            ("type", "method".into()),
            ("to", peer.as_str().into()),
            ("method", format!("{session}.resolve").into()),
        ],
        Some(Value::Map(vec![(
            "args".into(),
            Value::Array(vec![big.as_str().into()]),
        )])),
    );
    let chunks: Vec<&[u8]> = whole.chunks(256 * 1024).collect();
    assert_eq!(chunks.len(), 3);
    let create = "services.built-in.message_cache.create";
    assert!(ask(&mut x, create, vec!["k1".into(), false.into()]).is_ok());
    for i in [2usize, 0, 1] {
        let args = vec![
            "k1".into(),
            (i as u64).into(),
            Value::Binary(chunks[i].to_vec()),
            false.into(),
        ];
        assert!(ask(&mut x, "services.built-in.message_cache.set", args).is_ok());
    }
    x.assert_waiting(id);
    let process = "services.built-in.message_cache.process";
    assert!(ask(&mut x, process, vec!["k1".into(), false.into()]).is_ok());
    let r = x.resp(id);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.text(), format!("\"{big}\""));
}

#[test]
fn only_the_called_provider_may_upload_to_a_peer_and_within_its_budget() {
    let mut x = Http::new();
    let p = with_calc(&mut x);
    let id = x.get("/lab/services/calc/add?a=1&b=2");
    x.describe();
    let call = x.one_call(&p);
    let peer = call.str("from").unwrap().to_owned();
    let create = "services.built-in.message_cache.create";
    // Another client of the same workspace is not the provider: the peer does not answer it.
    let other = x.user("alice", "o", "lab");
    let stranger = x.call_peer(&other, &peer, create, vec!["k".into(), false.into()]);
    assert!(stranger.is_none(), "a stranger was answered");
    // An upload past the budget fails the request (502) instead of growing.
    let created = x.call_peer(&p, &peer, create, vec!["k".into(), false.into()]);
    assert!(created.unwrap().is_ok());
    let chunk = Value::Binary(vec![0u8; 8 * 1024 * 1024]);
    let mut refused = None;
    for i in 0..9u64 {
        let args = vec!["k".into(), i.into(), chunk.clone(), false.into()];
        let set = "services.built-in.message_cache.set";
        if let Some(Err(e)) = x.call_peer(&p, &peer, set, args) {
            refused = Some((i, e));
            break;
        }
    }
    let (at, error) = refused.expect("never refused");
    assert_eq!(at, 8, "refused at chunk {at}");
    assert!(error.contains("too large"), "{error}");
    let r = x.resp(id);
    assert_eq!(r.status, Some(502), "{}", r.text());
    assert_eq!(x.router.http_in_flight(), 0);
}
