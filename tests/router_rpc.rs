#![cfg(feature = "http")]
//! hypha-rpc's HTTP streaming transport (`GET`/`POST /rpc`) driven through the Router with no
//! sockets: a client connected by a stream is a client like any WebSocket one, and only its
//! owner may write to it.

mod common;

use common::http::*;
use common::*;
use hypha_core::http::HttpId;
use hypha_core::registry::ClientAddr;
use rmpv::Value;
use serde_json::{json, Value as Json};

/// One message of a stream body: the main object, and the payload after it (RPC frames).
#[derive(Debug, Clone)]
struct StreamMsg {
    main: Json,
    extra: Option<Json>,
}

/// Split a stream body into its messages (4-byte big-endian length, then msgpack).
fn messages(body: &[u8]) -> Vec<StreamMsg> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "a truncated length: {rest:?}");
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(rest.len() >= 4 + len, "a truncated frame");
        let mut frame = &rest[4..4 + len];
        let main = rmpv::decode::read_value(&mut frame).expect("a msgpack message");
        let extra = (!frame.is_empty())
            .then(|| rmpv::decode::read_value(&mut frame).expect("a msgpack payload"));
        out.push(StreamMsg {
            main: js(&main),
            extra: extra.as_ref().map(js),
        });
        rest = &rest[4 + len..];
    }
    out
}

/// A client connected with `GET /rpc`, as hypha-rpc's HTTP transport connects.
#[derive(Debug, Clone)]
struct StreamClient {
    id: HttpId,
    workspace: String,
    client_id: String,
    reconnection_token: String,
    /// `name=value` of the cookie the stream set.
    cookie: String,
    /// Messages already looked at.
    seen: usize,
}

impl StreamClient {
    fn post_target(&self) -> String {
        format!(
            "/rpc?client_id={}&workspace={}",
            self.client_id, self.workspace
        )
    }
}

fn open_stream(x: &mut Http, query: &str, headers: &[(&str, &str)]) -> StreamClient {
    open_stream_at(x, &format!("/rpc?{query}"), headers)
}

fn open_stream_at(x: &mut Http, target: &str, headers: &[(&str, &str)]) -> StreamClient {
    let id = x.get_as(target, headers);
    let resp = x.resp(id);
    assert_eq!(resp.status, Some(200), "{:?}", resp.text());
    assert!(!resp.ended, "the stream stays open");
    assert_eq!(
        resp.header("content-type"),
        Some("application/x-msgpack-stream")
    );
    let cookie = resp
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a stream cookie")
        .to_owned();
    let info = messages(&resp.body)
        .first()
        .expect("a first message")
        .main
        .clone();
    assert_eq!(info["type"], "connection_info", "{info}");
    let field = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
    StreamClient {
        id,
        workspace: field("workspace"),
        client_id: field("client_id"),
        reconnection_token: field("reconnection_token"),
        cookie,
        seen: 1,
    }
}

/// Messages the stream received since the last look.
fn new_messages(x: &mut Http, client: &mut StreamClient) -> Vec<StreamMsg> {
    let all = messages(&x.resp(client.id).body);
    let fresh = all[client.seen..].to_vec();
    client.seen = all.len();
    fresh
}

/// POST one message as `client`, with `headers`; the response.
fn post(x: &mut Http, client: &StreamClient, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    post_from(x, REMOTE, client, headers, body)
}

/// [`post`] from the peer address `remote`.
fn post_from(
    x: &mut Http,
    remote: &str,
    client: &StreamClient,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let id = x.open_from(remote, "POST", &client.post_target(), headers);
    x.body(id, body);
    x.end(id);
    x.resp(id)
}

/// Where attackers post from in these tests (streams are opened from [`REMOTE`]).
const ELSEWHERE: &str = "198.51.100.9:5555";

/// A manager call (`services.default.<method>`) as hypha-rpc encodes it, from `session`.
fn manager_call(method: &str, session: &str, args: Vec<Value>) -> Vec<u8> {
    frame(
        vec![
            ("type", "method".into()),
            ("from", "forged/elsewhere".into()),
            ("to", MANAGER.into()),
            ("method", format!("services.default.{method}").into()),
            ("session", session.into()),
        ],
        Some(Value::Map(vec![
            ("args".into(), Value::Array(args)),
            ("promise".into(), "*".into()),
            ("t".into(), 15.into()),
        ])),
    )
}

fn connected(x: &Http, workspace: &str, client_id: &str) -> bool {
    x.router
        .registry()
        .client(&ClientAddr::new(workspace, client_id))
        .is_some()
}

fn control(json: Json) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &mp(json)).unwrap();
    out
}

// ------------------------------------------------------------------------------ connecting

#[test]
fn an_anonymous_client_connects_by_stream_and_calls_the_manager() {
    let mut x = Http::new();
    let mut c = open_stream(&mut x, "client_id=c1", &[]);
    assert_eq!(c.client_id, "c1");
    assert!(c.workspace.starts_with("ws-user-anonymouz-"), "{c:?}");
    assert!(connected(&x, &c.workspace, "c1"));

    let body = manager_call("echo", "s1", vec!["hello".into()]);
    let cookie = c.cookie.clone();
    let resp = post(&mut x, &c, &[("cookie", &cookie)], &body);
    assert_eq!(resp.status, Some(200));
    assert!(resp.ended && resp.body.is_empty(), "{resp:?}");
    let answers = new_messages(&mut x, &mut c);
    assert_eq!(answers.len(), 1, "{answers:?}");
    let answer = &answers[0];
    assert_eq!(answer.main["method"], "s1.resolve");
    assert_eq!(answer.main["to"], format!("{}/c1", c.workspace));
    assert_eq!(answer.extra.as_ref().unwrap()["args"], json!(["hello"]));
}

#[test]
fn a_refused_stream_is_an_error_response() {
    let mut x = Http::new();
    let id = x.get("/rpc?client_id=c1&workspace=lab");
    let detail = x.resp(id).assert_error(403);
    assert!(
        detail.contains("does not exist or is not accessible"),
        "{detail}"
    );
    let id = x.get_as(
        "/rpc?client_id=c1",
        &[("authorization", "Bearer not-a-jwt")],
    );
    x.resp(id).assert_error(403);
    // A client id a live client holds is refused, whoever asks.
    let taken = x.user("alice", "p", "lab");
    let token = user_token("alice", Some("lab"));
    let auth = format!("Bearer {token}");
    let id = x.get_as(
        &format!("/rpc?client_id={}&workspace=lab", taken.client_id),
        &[("authorization", &auth)],
    );
    let detail = x.resp(id).assert_error(403);
    assert!(detail.contains("already exists"), "{detail}");
}

#[test]
fn a_token_places_the_client_in_its_workspace_and_proves_its_posts() {
    let mut x = Http::new();
    let token = user_token("alice", Some("lab"));
    let auth = format!("Bearer {token}");
    // No workspace asked for: the token's.
    let mut c = open_stream(&mut x, "client_id=c1", &[("authorization", &auth)]);
    assert_eq!(c.workspace, "lab");
    // Its owner's token proves a POST without the cookie.
    let body = manager_call("echo", "s1", vec![7.into()]);
    let resp = post(&mut x, &c, &[("authorization", &auth)], &body);
    assert_eq!(resp.status, Some(200));
    assert_eq!(new_messages(&mut x, &mut c).len(), 1);
}

// ------------------------------------------------------------------------------ ownership

#[test]
fn only_the_streams_owner_may_post_as_its_client() {
    // Python hypha lets anyone who knows `workspace/client_id` post as that client
    // (http-and-cluster.md §1.12); here a POST must bring the stream's cookie or its owner's
    // token.
    let mut x = Http::new();
    let token = user_token("alice", Some("lab"));
    let auth = format!("Bearer {token}");
    let mut victim = open_stream(&mut x, "client_id=c1", &[("authorization", &auth)]);
    let mut anon = open_stream(&mut x, "client_id=c2", &[]);
    let body = manager_call("echo", "s1", vec!["forged".into()]);

    let bob = format!("Bearer {}", user_token("bob", Some("lab")));
    let wrong_cookie = format!("{}=0000", victim.cookie.split('=').next().unwrap());
    let other_cookie = anon.cookie.clone();
    for (remote, target, headers) in [
        (ELSEWHERE, &victim, vec![]),
        // A token's stream is proved by the token: not by its address.
        (REMOTE, &victim, vec![]),
        (REMOTE, &victim, vec![("authorization", bob.as_str())]),
        (REMOTE, &victim, vec![("cookie", wrong_cookie.as_str())]),
        (REMOTE, &victim, vec![("cookie", other_cookie.as_str())]),
        // An anonymous stream: its cookie proves a POST, or a token of that same anonymous
        // user, or (for a page on another origin, which cannot return the cookie) its
        // address, which this is not.
        (REMOTE, &anon, vec![("authorization", bob.as_str())]),
        (ELSEWHERE, &anon, vec![]),
    ] {
        let resp = post_from(&mut x, remote, target, &headers, &body);
        let detail = resp.assert_error(403);
        assert!(detail.contains("opened by another client"), "{detail}");
    }
    assert!(new_messages(&mut x, &mut victim).is_empty());
    assert!(new_messages(&mut x, &mut anon).is_empty());

    // Nor can a POST speak for a WebSocket client: there is no stream to write to.
    let ws_client = x.user("alice", "w", "lab");
    let fake = StreamClient {
        client_id: ws_client.client_id.clone(),
        workspace: ws_client.workspace.clone(),
        ..victim.clone()
    };
    let resp = post(&mut x, &fake, &[("authorization", &auth)], &body);
    let detail = resp.assert_error(400);
    assert!(detail.contains("no HTTP stream"), "{detail}");
    assert!(x.take_frames(ws_client.conn).is_empty());
}

#[test]
fn a_page_on_another_origin_posts_from_its_streams_address_until_a_cookie_is_seen() {
    // hypha-rpc's fetch sends no credentials, so a page on another origin never returns the
    // stream's cookie: an anonymous stream takes credential-less POSTs from its own address...
    let mut x = Http::new();
    let mut c = open_stream(&mut x, "client_id=c1", &[]);
    let body = manager_call("echo", "s1", vec![1.into()]);
    assert_eq!(post(&mut x, &c, &[], &body).status, Some(200));
    assert_eq!(new_messages(&mut x, &mut c).len(), 1);
    // ...but once its agent has shown that it keeps the cookie, only the cookie will do.
    let cookie = c.cookie.clone();
    assert_eq!(
        post(&mut x, &c, &[("cookie", &cookie)], &body).status,
        Some(200)
    );
    post(&mut x, &c, &[], &body).assert_error(403);
    assert_eq!(new_messages(&mut x, &mut c).len(), 1);
}

#[test]
fn public_is_read_as_no_workspace_asked_for() {
    // hypha-rpc 0.21.15 opens `/public/rpc` when it has no workspace (Python hypha: "choose").
    let mut x = Http::new();
    let anon = open_stream_at(&mut x, "/public/rpc?client_id=c1", &[]);
    assert!(anon.workspace.starts_with("ws-user-anonymouz-"), "{anon:?}");
    let auth = format!("Bearer {}", user_token("alice", Some("lab")));
    let alice = open_stream_at(
        &mut x,
        "/rpc?client_id=c2&workspace=public",
        &[("authorization", &auth)],
    );
    assert_eq!(alice.workspace, "lab");
}

// ------------------------------------------------------------------------------ routing

#[test]
fn stream_and_websocket_clients_call_each_other_with_stamped_identities() {
    let mut x = Http::new();
    let token = user_token("alice", Some("lab"));
    let auth = format!("Bearer {token}");
    let mut h = open_stream(&mut x, "client_id=h", &[("authorization", &auth)]);
    let w = x.user("alice", "w", "lab");

    // WebSocket → stream.
    let session = x.send_call(
        &w,
        "lab/h",
        "services.s.f",
        vec![1.into()],
        None,
        Promise::Star,
    );
    let got = new_messages(&mut x, &mut h);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].main["from"], "lab/w");
    assert_eq!(got[0].main["method"], "services.s.f");

    // Stream → WebSocket: `from` is the stream's, whatever the client wrote; an answer carries
    // no `user` (no receiver reads it).
    let answer = frame(
        vec![
            ("type", "method".into()),
            ("from", "lab/w".into()),
            ("to", "lab/w".into()),
            ("method", format!("{session}.resolve").into()),
        ],
        Some(mp(json!({"args": [42]}))),
    );
    let resp = post(&mut x, &h, &[("authorization", &auth)], &answer);
    assert_eq!(resp.status, Some(200));
    let frames = x.take_frames(w.conn);
    let rpc = frames
        .iter()
        .find_map(|m| {
            m.rpc()
                .filter(|r| r.str("method") == Some(&format!("{session}.resolve")))
        })
        .expect("the answer reached the WebSocket client");
    assert_eq!(rpc.str("from"), Some("lab/h"));
    assert!(rpc.main.get("user").is_none(), "{:?}", rpc.main);
    assert_eq!(rpc.args(), vec![json!(42)]);
}

#[test]
fn refresh_token_is_answered_on_the_stream_and_pings_keep_it_alive() {
    let mut x = Http::new();
    let mut c = open_stream(&mut x, "client_id=c1", &[]);
    let cookie = c.cookie.clone();
    let resp = post(
        &mut x,
        &c,
        &[("cookie", &cookie)],
        &control(json!({"type": "refresh_token"})),
    );
    assert_eq!(resp.status, Some(200));
    let got = new_messages(&mut x, &mut c);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].main["type"], "reconnection_token");
    assert!(got[0].main["reconnection_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    x.advance(9_000);
    assert!(new_messages(&mut x, &mut c).is_empty());
    x.advance(1_000);
    let got = new_messages(&mut x, &mut c);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].main, json!({"type": "ping"}));
    x.advance(10_000);
    assert_eq!(new_messages(&mut x, &mut c).len(), 1);
}

// ------------------------------------------------------------------------------ lifetime

#[test]
fn a_reconnection_takes_the_address_over_and_ends_the_old_stream() {
    let mut x = Http::new();
    let old = open_stream(&mut x, "client_id=c1", &[]);
    let query = format!(
        "client_id=c1&workspace={}&reconnection_token={}",
        old.workspace, old.reconnection_token
    );
    let new = open_stream(&mut x, &query, &[]);
    assert_eq!(new.workspace, old.workspace);
    let old_resp = x.resp(old.id);
    assert!(old_resp.ended && !old_resp.aborted, "{old_resp:?}");
    // The old stream's cookie no longer writes; the new one's does.
    let body = manager_call("echo", "s1", vec![1.into()]);
    let old_cookie = old.cookie.clone();
    post(&mut x, &new, &[("cookie", &old_cookie)], &body).assert_error(403);
    let new_cookie = new.cookie.clone();
    assert_eq!(
        post(&mut x, &new, &[("cookie", &new_cookie)], &body).status,
        Some(200)
    );
    // Without the reconnection token the address is taken.
    let id = x.get(&format!("/rpc?client_id=c1&workspace={}", old.workspace));
    x.resp(id).assert_error(403);
}

#[test]
fn the_client_leaves_with_its_stream() {
    let mut x = Http::new();
    let token = user_token("alice", Some("lab"));
    let auth = format!("Bearer {token}");
    let c = open_stream(&mut x, "client_id=c1", &[("authorization", &auth)]);
    let watcher = x.user("alice", "w", "lab");
    x.call_manager(
        &watcher,
        "subscribe",
        vec![mp(json!(["client_disconnected"]))],
        None,
    )
    .unwrap();
    x.cancel(c.id);
    assert!(!connected(&x, "lab", "c1"));
    let gone = x.take_where(watcher.conn, |m| {
        m.rpc()
            .is_some_and(|r| r.str("type") == Some("client_disconnected"))
    });
    assert_eq!(gone.len(), 1, "{gone:?}");
    // Its address is free again.
    open_stream(&mut x, "client_id=c1", &[("authorization", &auth)]);
}

/// alice's stream `lab/h` on a server whose streams may hold 4 KiB unread.
fn stream_with_small_budget() -> (Http, StreamClient) {
    let mut config = Config::new(URL, SECRET, 7);
    config.http.rpc_stream_buffer = 4096;
    let mut x = Http::with_config(config);
    let auth = format!("Bearer {}", user_token("alice", Some("lab")));
    let c = open_stream(&mut x, "client_id=h", &[("authorization", &auth)]);
    (x, c)
}

/// A fire-and-forget call from `w` to the stream client `lab/h`, carrying `blob`.
fn send_blob(x: &mut Http, w: &Client, blob: &Value) {
    x.send_call(
        w,
        "lab/h",
        "services.s.f",
        vec![blob.clone()],
        None,
        Promise::None,
    );
}

#[test]
fn a_client_that_does_not_read_is_cut_at_its_budget() {
    let (mut x, c) = stream_with_small_budget();
    let w = x.user("alice", "w", "lab");
    // The driver writes nothing out (no `drained`): 1 KiB calls pile up.
    let blob = Value::Binary(vec![7; 1024]);
    for _ in 0..8 {
        send_blob(&mut x, &w, &blob);
    }
    let resp = x.resp(c.id);
    assert!(
        resp.ended && resp.aborted,
        "cut, not ended cleanly: {resp:?}"
    );
    let got = messages(&resp.body);
    let last = &got.last().unwrap().main;
    assert_eq!(last["type"], "error", "{last}");
    assert!(last["message"].as_str().unwrap().contains("does not read"));
    assert!(
        resp.body.len() < 4096 + 2048,
        "{} bytes queued",
        resp.body.len()
    );
    assert!(!connected(&x, "lab", "h"));
}

#[test]
fn written_chunks_free_the_budget() {
    let (mut x, c) = stream_with_small_budget();
    x.drained(c.id);
    let w = x.user("alice", "w", "lab");
    let blob = Value::Binary(vec![7; 1024]);
    for _ in 0..32 {
        send_blob(&mut x, &w, &blob);
        x.drained(c.id);
    }
    let resp = x.resp(c.id);
    assert!(!resp.ended, "a reading client keeps its stream");
    assert_eq!(messages(&resp.body).len(), 33);
}
