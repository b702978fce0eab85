//! `HyphaServer`: the class JavaScript drives to run the in-tab server.
//!
//! It converts and delegates; every decision stays in the [`Router`]. One loop, as in the
//! native driver: call a `handle_*`, drain every output, re-arm the single `setTimeout`, and
//! only then — with no `RefCell` borrow held — hand the outputs to the JS callbacks, which may
//! call back in.
//!
//! ```js
//! const server = new HyphaServer({ publicBaseUrl, jwtSecret, seed, host });
//! server.setHandlers((conn, data) => ..., (event) => ...);
//! const conn = server.connect(helloJson);   // then server.message(conn, data) / disconnect(conn)
//! ```

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Function, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::jwt::{self, Audience};
use crate::{ClientAddr, Config, ConnId, Event, Frame, HostConfig, Router, Timestamp};

use super::convert::{event_to_js, frame_to_js, get_string, get_strings};
use super::error::{bridge_error, ErrorCode};

pub(super) struct Inner {
    pub(super) router: Router,
    on_transmit: Option<Function>,
    on_event: Option<Function>,
    #[cfg(feature = "http")]
    pub(super) on_http: Option<Function>,
    timer: Option<Timeout>,
    armed_for: Option<Timestamp>,
    next_conn: u64,
}

/// Outputs collected under the borrow, delivered after it is released.
struct Outputs {
    transmits: Vec<(ConnId, Frame)>,
    events: Vec<Event>,
    on_transmit: Option<Function>,
    on_event: Option<Function>,
    #[cfg(feature = "http")]
    http: Vec<crate::http::HttpOutput>,
    #[cfg(feature = "http")]
    on_http: Option<Function>,
    #[cfg(feature = "http")]
    local: Vec<crate::http::LocalCall>,
}

/// The in-tab Hypha server.
#[wasm_bindgen]
pub struct HyphaServer {
    pub(super) inner: Rc<RefCell<Inner>>,
}

fn now() -> Timestamp {
    Timestamp(js_sys::Date::now().max(0.0) as u64)
}

#[wasm_bindgen]
impl HyphaServer {
    /// The methods the manager's `default` service answers itself, as a JS array: host methods
    /// (and page functions) of the same name would never run.
    #[wasm_bindgen(js_name = managerMethods)]
    pub fn manager_methods() -> js_sys::Array {
        crate::default_method_names().map(JsValue::from).collect()
    }

    /// `options`: `{publicBaseUrl: string, jwtSecret: string, seed: number, managerId?: string,
    /// callTimeoutMs?: number, host?: {workspace: string, clientId: string, service: string,
    /// methods: string[]}, http?: {...}}` (`http`: the server-mode build only, see
    /// `bridge/http.rs`). `callTimeoutMs` bounds how long the manager waits for a client it
    /// asked something (default 30 s).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Self, JsValue> {
        let url = get_string(&options, "publicBaseUrl")?
            .ok_or_else(|| bridge_error(ErrorCode::InvalidOption, "publicBaseUrl is required"))?;
        let secret = get_string(&options, "jwtSecret")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bridge_error(ErrorCode::InvalidOption, "jwtSecret is required"))?;
        let seed = js_sys::Reflect::get(&options, &"seed".into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u64;
        let mut config = Config::new(url, secret.into_bytes(), seed);
        if let Some(id) = get_string(&options, "managerId")? {
            config.manager_id = id;
        }
        if let Some(ms) = js_sys::Reflect::get(&options, &"callTimeoutMs".into())
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|ms| ms.is_finite() && *ms > 0.0)
        {
            config.client_call_timeout = std::time::Duration::from_millis(ms as u64);
        }
        let host = js_sys::Reflect::get(&options, &"host".into()).unwrap_or(JsValue::UNDEFINED);
        if host.is_object() {
            let field = |key: &str| -> Result<String, JsValue> {
                get_string(&host, key)?.ok_or_else(|| {
                    bridge_error(ErrorCode::InvalidOption, &format!("host.{key} is required"))
                })
            };
            config.host = Some(HostConfig {
                client: ClientAddr::new(field("workspace")?, field("clientId")?),
                service: field("service")?,
                methods: get_strings(&host, "methods")?,
            });
        }
        #[cfg(feature = "http")]
        super::http::configure(&mut config, &options)?;
        let inner = Inner {
            router: Router::new(config),
            on_transmit: None,
            on_event: None,
            #[cfg(feature = "http")]
            on_http: None,
            timer: None,
            armed_for: None,
            next_conn: 1,
        };
        Ok(Self {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// Where outputs go: `onTransmit(conn: number, data: string | Uint8Array)` and
    /// `onEvent(event: object)`.
    #[wasm_bindgen(js_name = setHandlers)]
    pub fn set_handlers(&self, on_transmit: Function, on_event: Function) {
        let mut inner = self.inner.borrow_mut();
        inner.on_transmit = Some(on_transmit);
        inner.on_event = Some(on_event);
    }

    /// A transport opened and sent its first (text) frame; returns the connection id.
    pub fn connect(&self, hello: &str) -> f64 {
        let conn = {
            let mut inner = self.inner.borrow_mut();
            let conn = ConnId(inner.next_conn);
            inner.next_conn += 1;
            conn
        };
        drive(&self.inner, |router, now| {
            router.handle_connect(now, conn, hello)
        });
        conn.0 as f64
    }

    /// A frame from connection `conn`: a string (control) or bytes (RPC).
    pub fn message(&self, conn: f64, data: JsValue) -> Result<(), JsValue> {
        let frame = if let Some(text) = data.as_string() {
            Frame::Text(text)
        } else if data.is_instance_of::<Uint8Array>() {
            Frame::Binary(Uint8Array::from(data).to_vec().into())
        } else if data.is_instance_of::<js_sys::ArrayBuffer>() {
            Frame::Binary(Uint8Array::new(&data).to_vec().into())
        } else {
            return Err(bridge_error(
                ErrorCode::NotAFrame,
                "a frame must be a string, Uint8Array or ArrayBuffer",
            ));
        };
        let conn = ConnId(conn as u64);
        drive(&self.inner, |router, now| {
            router.handle_message(now, conn, frame)
        });
        Ok(())
    }

    /// The transport of `conn` closed.
    pub fn disconnect(&self, conn: f64) {
        let conn = ConnId(conn as u64);
        drive(&self.inner, |router, now| {
            router.handle_disconnect(now, conn)
        });
    }

    /// The token of the page's own root client (`default/root`, role `admin`). The page holds
    /// the server, so it is root; no other claims can be asked for.
    #[wasm_bindgen(js_name = rootToken)]
    pub fn root_token(&self) -> String {
        self.inner.borrow_mut().router.host_root_token(now())
    }

    /// The token of a client the page mounts itself (`mountWorker`/`mountIframe`): `options`
    /// `{workspace, client_id, user_id?, email?}`; the core mints it as root's `generate_token`
    /// would (no roles, an hour).
    #[wasm_bindgen(js_name = mountToken)]
    pub fn mount_token(&self, options: JsValue) -> Result<String, JsValue> {
        let required = |key: &str| -> Result<String, JsValue> {
            get_string(&options, key)?.ok_or_else(|| {
                bridge_error(ErrorCode::InvalidOption, &format!("{key} is required"))
            })
        };
        let workspace = required("workspace")?;
        let client_id = required("client_id")?;
        let user_id = get_string(&options, "user_id")?;
        let email = get_string(&options, "email")?;
        self.inner
            .borrow_mut()
            .router
            .mounted_client_token(
                now(),
                &workspace,
                &client_id,
                user_id.as_deref(),
                email.as_deref(),
            )
            .map_err(|e| bridge_error(ErrorCode::InvalidOption, &e))
    }

    /// The context of a host call made by the page's root client itself (its root API), as
    /// the manager builds it for forwarded calls: `{ws, from, to, user, visible_workspaces,
    /// child}`. Null while the root client is not connected.
    #[wasm_bindgen(js_name = hostCallContext)]
    pub fn host_call_context(&self) -> JsValue {
        let context = self.inner.borrow_mut().router.host_call_context(now());
        context
            .as_ref()
            .map_or(JsValue::NULL, super::convert::value_to_js)
    }

    /// Check a token with this server's secret; returns its claims or throws (`code`
    /// `INVALID_TOKEN`).
    #[wasm_bindgen(js_name = verifyToken)]
    pub fn verify_token(&self, token: &str) -> Result<JsValue, JsValue> {
        let inner = self.inner.borrow();
        match jwt::verify(
            token,
            &inner.router.config().jwt_secret,
            now().as_secs(),
            Audience::Api,
        ) {
            Ok(claims) => Ok(super::convert::claims_to_js(&claims)),
            Err(e) => Err(bridge_error(ErrorCode::TokenRejected, &e.to_string())),
        }
    }

    /// Number of open connections.
    #[wasm_bindgen(js_name = connectionCount)]
    pub fn connection_count(&self) -> usize {
        self.inner.borrow().router.open_connections()
    }

    /// The client address (`ws/cid`) on connection `conn`, if it completed the handshake.
    #[wasm_bindgen(js_name = clientOf)]
    pub fn client_of(&self, conn: f64) -> Option<String> {
        self.inner
            .borrow()
            .router
            .client_of(ConnId(conn as u64))
            .map(ToString::to_string)
    }

    /// Stop the timer and drop the handlers (the server can be freed afterwards).
    pub fn shutdown(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.timer = None;
        inner.armed_for = None;
        inner.on_transmit = None;
        inner.on_event = None;
        #[cfg(feature = "http")]
        {
            inner.on_http = None;
        }
    }
}

/// One driver step: run `input`, drain outputs, re-arm the timer, then deliver to JS.
pub(super) fn drive(cell: &Rc<RefCell<Inner>>, input: impl FnOnce(&mut Router, Timestamp)) {
    let now = now();
    input(&mut cell.borrow_mut().router, now);
    settle(cell, now);
}

/// The rest of a driver step, the same for every input (so not generic, and in the wasm once):
/// drain outputs, re-arm the timer, then deliver to JS.
fn settle(cell: &Rc<RefCell<Inner>>, now: Timestamp) {
    let outputs = {
        let mut inner = cell.borrow_mut();
        let mut transmits = Vec::new();
        while let Some(t) = inner.router.poll_transmit() {
            transmits.push((t.conn, t.frame));
        }
        let mut events = Vec::new();
        while let Some(e) = inner.router.poll_event() {
            events.push(e);
        }
        #[cfg(feature = "http")]
        let http = std::iter::from_fn(|| inner.router.poll_http()).collect();
        #[cfg(feature = "http")]
        let local = std::iter::from_fn(|| inner.router.poll_local_call()).collect();
        rearm(cell, &mut inner, now);
        Outputs {
            transmits,
            events,
            on_transmit: inner.on_transmit.clone(),
            on_event: inner.on_event.clone(),
            #[cfg(feature = "http")]
            http,
            #[cfg(feature = "http")]
            on_http: inner.on_http.clone(),
            #[cfg(feature = "http")]
            local,
        }
    };
    deliver(outputs);
}

/// Keeps the one timer armed no later than the Router's earliest deadline. A timer already armed
/// for an earlier moment stays: it wakes the Router early once (nothing is due, and the step
/// re-arms for the real deadline), which costs less than clearing and setting a timer on every
/// step while deadlines only move later, as they do under HTTP load (each request pushes its
/// own). A timer whose deadline went away (the request was answered) stays too, for the same
/// reason: a server answering one request at a time would otherwise clear its timer after each
/// answer and set a new one for the next request. Such a timer fires once, finds nothing due and
/// is not re-armed, so an idle process can still exit (at the latest when it fires; `close()`
/// clears it at once).
fn rearm(cell: &Rc<RefCell<Inner>>, inner: &mut Inner, now: Timestamp) {
    let next = inner.router.poll_timeout();
    let keep = match (inner.armed_for, next) {
        (Some(armed), Some(next)) => armed <= next,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    if keep {
        return;
    }
    inner.armed_for = next;
    inner.timer = next.map(|at| {
        let weak: Weak<RefCell<Inner>> = Rc::downgrade(cell);
        let delay = u32::try_from(now.until(at).as_millis()).unwrap_or(u32::MAX);
        Timeout::new(delay, move || {
            if let Some(cell) = weak.upgrade() {
                cell.borrow_mut().armed_for = None;
                drive(&cell, |router, now| router.handle_timeout(now));
            }
        })
    });
}

fn deliver(outputs: Outputs) {
    if let Some(f) = &outputs.on_transmit {
        for (conn, frame) in outputs.transmits {
            let _ = f.call2(
                &JsValue::NULL,
                &JsValue::from(conn.0 as f64),
                &frame_to_js(frame),
            );
        }
    }
    if let Some(f) = &outputs.on_event {
        for event in &outputs.events {
            let _ = f.call1(&JsValue::NULL, &event_to_js(event));
        }
    }
    #[cfg(feature = "http")]
    if let Some(f) = &outputs.on_http {
        let packed = |kind: u32, bytes: Vec<u8>| {
            let bytes = Uint8Array::from(bytes.as_slice());
            let _ = f.call2(&JsValue::NULL, &JsValue::from(kind), &bytes);
        };
        for output in super::http::coalesce(outputs.http) {
            match output {
                super::http::ToJs::Object(object) => {
                    let _ = f.call1(&JsValue::NULL, &object);
                }
                super::http::ToJs::Packed(kind, bytes) => packed(kind, bytes),
            }
        }
        for call in outputs.local {
            packed(
                super::http::PACKED_CALL,
                super::http::local_call_packed(call),
            );
        }
    }
}
