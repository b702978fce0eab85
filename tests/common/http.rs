//! An HTTP driver for Router tests: hands requests in as head, body and end, and records the
//! response parts `poll_http` gives back, checking their order.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use hypha_core::http::{HttpId, HttpOutput, HttpRequest, LocalCall};
use rmpv::Value;
use serde_json::Value as Json;

use super::{Client, Config, Harness, Rpc, MANAGER, SECRET, URL};

/// Body chunks a stream may have outstanding before it stops pulling (`http::STREAM_WINDOW`).
pub(crate) const WINDOW: usize = 4;
/// Where every test request comes from.
pub(crate) const REMOTE: &str = "203.0.113.7:40000";

// ------------------------------------------------------------------------------ the driver

/// What the Router answered to one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resp {
    pub(crate) status: Option<u16>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) chunks: usize,
    pub(crate) ended: bool,
    /// Cut short after the head (`HttpOutput::Abort`): also `ended`, but not complete.
    pub(crate) aborted: bool,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A finished error response: `{"success": false, "detail": …}` in JSON.
    pub(crate) fn assert_error(&self, status: u16) -> String {
        assert_eq!(self.status, Some(status), "{self:?}");
        assert!(self.ended, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        body["detail"].as_str().unwrap_or_default().to_owned()
    }
}

/// The harness plus an HTTP driver that records the response parts of each request.
pub(crate) struct Http {
    pub(crate) h: Harness,
    next: u64,
    pub(crate) resp: HashMap<HttpId, Resp>,
}

impl Deref for Http {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl DerefMut for Http {
    fn deref_mut(&mut self) -> &mut Harness {
        &mut self.h
    }
}

impl Http {
    pub(crate) fn new() -> Self {
        Self::with_config(Config::new(URL, SECRET, 7))
    }

    pub(crate) fn with_config(config: Config) -> Self {
        Self {
            h: Harness::with_config(config),
            next: 1,
            resp: HashMap::new(),
        }
    }

    /// Deliver frames and events, then read every response part, checking their order.
    pub(crate) fn drive(&mut self) {
        self.h.drive();
        while let Some(out) = self.h.router.poll_http() {
            match out {
                HttpOutput::Head {
                    id,
                    status,
                    headers,
                } => {
                    let r = self.resp.entry(id).or_default();
                    assert!(r.status.is_none() && !r.ended, "a second head for {id}");
                    r.status = Some(status);
                    r.headers = headers;
                }
                HttpOutput::Body { id, chunk } => {
                    let r = self.resp.entry(id).or_default();
                    assert!(r.status.is_some(), "a body before the head of {id}");
                    assert!(!r.ended, "a body after the end of {id}");
                    r.body.extend(chunk);
                    r.chunks += 1;
                }
                HttpOutput::End { id } => {
                    let r = self.resp.entry(id).or_default();
                    assert!(r.status.is_some(), "an end before the head of {id}");
                    assert!(!r.ended, "a second end of {id}");
                    r.ended = true;
                }
                HttpOutput::Abort { id } => {
                    let r = self.resp.entry(id).or_default();
                    assert!(r.status.is_some(), "an abort before the head of {id}");
                    assert!(!r.ended, "an abort after the end of {id}");
                    r.ended = true;
                    r.aborted = true;
                }
            }
        }
    }

    /// Send a request head (`target` is path and query); the body is still to come.
    pub(crate) fn open(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpId {
        self.open_from(REMOTE, method, target, headers)
    }

    /// [`Self::open`], from the peer address `remote`.
    pub(crate) fn open_from(
        &mut self,
        remote: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> HttpId {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let id = HttpId(self.next);
        self.next += 1;
        let request = HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
                .collect(),
            remote: Some(remote.to_owned()),
        };
        let now = self.h.now;
        self.h.router.handle_http_request(now, id, request);
        self.drive();
        id
    }

    pub(crate) fn body(&mut self, id: HttpId, chunk: &[u8]) {
        let now = self.h.now;
        self.h.router.handle_http_body(now, id, chunk);
        self.drive();
    }

    pub(crate) fn end(&mut self, id: HttpId) {
        let now = self.h.now;
        self.h.router.handle_http_end(now, id);
        self.drive();
    }

    pub(crate) fn drained(&mut self, id: HttpId) {
        let now = self.h.now;
        self.h.router.handle_http_drained(now, id);
        self.drive();
    }

    pub(crate) fn cancel(&mut self, id: HttpId) {
        let now = self.h.now;
        self.h.router.handle_http_cancel(now, id);
        self.drive();
    }

    /// A whole request.
    pub(crate) fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpId {
        let id = self.open(method, target, headers);
        if !body.is_empty() {
            self.body(id, body);
        }
        self.end(id);
        id
    }

    pub(crate) fn get(&mut self, target: &str) -> HttpId {
        self.request("GET", target, &[], b"")
    }

    pub(crate) fn get_as(&mut self, target: &str, headers: &[(&str, &str)]) -> HttpId {
        self.request("GET", target, headers, b"")
    }

    pub(crate) fn post_json(&mut self, target: &str, body: &str) -> HttpId {
        self.request(
            "POST",
            target,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }

    pub(crate) fn resp(&mut self, id: HttpId) -> Resp {
        self.drive();
        self.resp.get(&id).cloned().unwrap_or_default()
    }

    /// No answer yet.
    pub(crate) fn assert_waiting(&mut self, id: HttpId) {
        let r = self.resp(id);
        assert!(r.status.is_none() && !r.ended, "{id} answered: {r:?}");
    }

    pub(crate) fn advance(&mut self, ms: u64) {
        self.h.advance(ms);
        self.drive();
    }

    // ------------------------------------------------------------ the provider side

    /// The calls the Router handed the driver to run in-process, taken.
    pub(crate) fn local_calls(&mut self) -> Vec<LocalCall> {
        self.drive();
        std::iter::from_fn(|| self.h.router.poll_local_call()).collect()
    }

    /// The calls `client` received (method frames not from the manager), taken.
    pub(crate) fn calls(&mut self, client: &Client) -> Vec<Rpc> {
        self.drive();
        self.h
            .take_where(client.conn, |m| {
                m.rpc().is_some_and(|r| {
                    r.str("type") == Some("method") && r.str("from") != Some(MANAGER)
                })
            })
            .iter()
            .filter_map(|m| m.rpc().cloned())
            .collect()
    }

    /// The one call `client` received.
    pub(crate) fn one_call(&mut self, client: &Client) -> Rpc {
        let mut calls = self.calls(client);
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls.remove(0)
    }

    /// Answer `call` as hypha-rpc does: `<session>.<kind>` sent to its `from`.
    pub(crate) fn answer(&mut self, client: &Client, call: &Rpc, kind: &str, value: Value) {
        let to = call.str("from").expect("a stamped from").to_owned();
        let session = call.str("session").expect("a session").to_owned();
        self.h.send_raw(
            client,
            vec![
                ("type", "method".into()),
                ("to", to.into()),
                ("method", format!("{session}.{kind}").into()),
            ],
            Some(Value::Map(vec![("args".into(), Value::Array(vec![value]))])),
        );
        self.drive();
    }

    /// Nothing of the finished requests is left in the Router: no exchange, no peer session, no
    /// cross-workspace link, no remembered root call. `clients` WebSocket clients are connected.
    pub(crate) fn assert_nothing_left(&self, clients: usize) {
        assert_eq!(self.router.http_in_flight(), 0, "exchanges left");
        assert_eq!(self.router.open_connections(), clients, "sessions left");
        assert_eq!(self.router.cross_linked_connections(), 0, "links left");
        assert_eq!(self.router.root_calls_remembered(), 0, "root calls left");
    }

    pub(crate) fn resolve(&mut self, client: &Client, call: &Rpc, value: Value) {
        self.answer(client, call, "resolve", value);
    }

    /// Answer the manager's questions with [`descriptor`]; how many were asked.
    pub(crate) fn describe(&mut self) -> usize {
        let n = self.h.serve_asks().len();
        self.drive();
        n
    }
}
