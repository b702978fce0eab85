//! The HTTP service API through the wasm Router (feature `http`): what hypha-core's server mode
//! (Deno, Node) feeds it. Same inputs and outputs as the native driver (`server/src/http.rs`):
//! a request head, body chunks, the end of the body, a credit per body chunk written, a
//! cancellation; out come `{type: "head"|"body"|"end"|"abort", id, ...}` objects.

use js_sys::{Array, Function, Object, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::http::{HttpId, HttpOutput, LocalCall, LocalOutcome};

use rmpv::Value;

use super::error::{bridge_error, ErrorCode};
use super::server::{drive, HyphaServer};

#[wasm_bindgen]
impl HyphaServer {
    /// Where HTTP response parts go: `onHttp({type: "head", id, status, headers: [[name,
    /// value], ...]} | {type: "body", id, chunk: Uint8Array} | {type: "end", id} | {type:
    /// "abort", id})`, or a whole answer at once, `onHttp(1, bytes)` (msgpack `[id, status,
    /// headers, body or nil]`). After writing a body chunk (not a whole answer's), report it
    /// with `httpDrained(id)`. Calls to root's functions come as `onHttp(2, bytes)` (msgpack
    /// `[id, method, context, args, withKwargs]`), answered with `httpLocal`.
    #[wasm_bindgen(js_name = setHttpHandler)]
    pub fn set_http_handler(&self, on_http: Function) {
        self.inner.borrow_mut().on_http = Some(on_http);
    }

    /// A request arrived: `head` is msgpack `[method, path, query, [name, value, name, value,
    /// ...], remote or nil, complete]` (`path` percent-encoded, `query` without `?`), packed by
    /// the driver in one go: reading a JS object field by field from here crossed into JS twice
    /// per string. `id` is the driver's number for it, unique while it is open. `complete: true`
    /// says it has no body: it is ended at once, with no `httpEnd` call (one crossing into the
    /// wasm per plain GET).
    #[wasm_bindgen(js_name = httpRequest)]
    pub fn http_request(&self, id: f64, head: &[u8]) -> Result<(), JsValue> {
        let (request, complete) = crate::http::head::unpack(head)
            .map_err(|detail| bridge_error(ErrorCode::InvalidOption, &detail))?;
        let id = HttpId(id as u64);
        drive(&self.inner, |router, now| {
            router.handle_http_request(now, id, request);
            if complete {
                router.handle_http_end(now, id);
            }
        });
        Ok(())
    }

    /// A piece of request `id`'s body.
    #[wasm_bindgen(js_name = httpBody)]
    pub fn http_body(&self, id: f64, chunk: &[u8]) {
        let id = HttpId(id as u64);
        drive(&self.inner, |router, now| {
            router.handle_http_body(now, id, chunk)
        });
    }

    /// Request `id`'s body is complete.
    #[wasm_bindgen(js_name = httpEnd)]
    pub fn http_end(&self, id: f64) {
        let id = HttpId(id as u64);
        drive(&self.inner, |router, now| router.handle_http_end(now, id));
    }

    /// A body chunk of response `id` was written: the credit for the next one.
    #[wasm_bindgen(js_name = httpDrained)]
    pub fn http_drained(&self, id: f64) {
        let id = HttpId(id as u64);
        drive(&self.inner, |router, now| {
            router.handle_http_drained(now, id)
        });
    }

    /// The answer to `{type: "call"}` output `id` (one of root's functions, run in-process:
    /// `http.localRootCalls`): `outcome` is `"resolve"` (`value`: the answer, msgpack-encoded as
    /// root's hypha-rpc encodes one; `keptSession`: encoding it left something in root's client
    /// under the call's session), `"reject"` (`value`: the error, `{_rtype: "error", _rvalue,
    /// _rtrace}`, msgpack) or `"decline"` (the call goes to root's client as a frame).
    #[wasm_bindgen(js_name = httpLocal)]
    pub fn http_local(&self, id: f64, outcome: &str, value: Option<Vec<u8>>, kept_session: bool) {
        let id = HttpId(id as u64);
        let decoded = || {
            value
                .as_deref()
                .map(crate::wire::decode_value)
                .unwrap_or(Ok(Value::Nil))
        };
        let outcome = match (outcome, decoded()) {
            ("decline", _) => LocalOutcome::Declined,
            ("resolve", Ok(value)) => LocalOutcome::Resolved {
                value,
                kept_session,
            },
            ("reject", Ok(error)) => LocalOutcome::Rejected(error),
            _ => LocalOutcome::Rejected("the function's answer could not be read".into()),
        };
        drive(&self.inner, |router, now| {
            router.handle_http_local(now, id, outcome)
        });
    }

    /// The client of request `id` went away.
    #[wasm_bindgen(js_name = httpCancel)]
    pub fn http_cancel(&self, id: f64) {
        let id = HttpId(id as u64);
        drive(&self.inner, |router, now| {
            router.handle_http_cancel(now, id)
        });
    }
}

/// Apply `options.http` (`{maxBody?, allowOrigins?, rateLimit?, rateBurst?}`, as the native
/// server's `--max-body`, `--allow-origin`, `--rate-limit`, `--rate-burst`) to `config`.
pub(super) fn configure(config: &mut crate::Config, options: &JsValue) -> Result<(), JsValue> {
    let http = js_sys::Reflect::get(options, &"http".into()).unwrap_or(JsValue::UNDEFINED);
    if !http.is_object() {
        return Ok(());
    }
    let number = |key: &str| {
        js_sys::Reflect::get(&http, &key.into())
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    if let Some(max) = number("maxBody") {
        config.http.max_body = max as usize;
    }
    let origins = super::convert::get_strings(&http, "allowOrigins")?;
    if !origins.is_empty() {
        config.http.allow_origins = origins;
    }
    let local = js_sys::Reflect::get(&http, &"localRootCalls".into()).unwrap_or(JsValue::FALSE);
    config.http.local_root_calls = local.as_bool() == Some(true);
    if let Some(rate) = number("rateLimit") {
        let burst = number("rateBurst").unwrap_or(rate * 5.0).max(1.0);
        config.http.rate_limit = (rate > 0.0).then_some(crate::http::RateLimit {
            per_second: rate,
            burst,
        });
    }
    Ok(())
}

/// `onHttp`'s first argument for a whole answer, the second then being its msgpack bytes:
/// `[id, status, [[name, value], ...], body or nil]`.
pub(super) const PACKED_COMPLETE: u32 = 1;
/// `onHttp`'s first argument for a call to run in-process, the second then being its msgpack
/// bytes: `[id, method, context, args, withKwargs]`.
pub(super) const PACKED_CALL: u32 = 2;

/// What `onHttp` is called with: an object, or a kind and the msgpack bytes of what it carries.
/// One crossing of bytes, decoded in JS, costs less than an object built from the wasm property
/// by property (each property a call into JS, each key a string decoded).
pub(super) enum ToJs {
    Object(JsValue),
    Packed(u32, Vec<u8>),
}

/// What `onHttp` receives for `outputs`, in order. A whole answer (its head, at most one body
/// chunk and its end, one after the other: every answer but a stream) is one
/// [`PACKED_COMPLETE`]: one call into JS instead of three.
pub(super) fn coalesce(outputs: Vec<HttpOutput>) -> Vec<ToJs> {
    let mut objects = Vec::with_capacity(outputs.len());
    let mut outputs = outputs.into_iter().peekable();
    while let Some(output) = outputs.next() {
        let HttpOutput::Head {
            id,
            status,
            headers,
        } = output
        else {
            objects.push(ToJs::Object(http_output_to_js(output)));
            continue;
        };
        let body = match outputs.peek() {
            Some(HttpOutput::Body { id: of, .. }) if *of == id => match outputs.next() {
                Some(HttpOutput::Body { chunk, .. }) => Some(chunk),
                _ => None,
            },
            _ => None,
        };
        if matches!(outputs.peek(), Some(HttpOutput::End { id: of }) if *of == id) {
            outputs.next();
            objects.push(ToJs::Packed(
                PACKED_COMPLETE,
                complete_packed(id, status, headers, body),
            ));
            continue;
        }
        objects.push(ToJs::Object(http_output_to_js(HttpOutput::Head {
            id,
            status,
            headers,
        })));
        if let Some(chunk) = body {
            objects.push(ToJs::Object(http_output_to_js(HttpOutput::Body {
                id,
                chunk,
            })));
        }
    }
    objects
}

fn complete_packed(
    id: HttpId,
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Vec<u8> {
    let headers = headers
        .into_iter()
        .map(|(name, value)| Value::Array(vec![name.into(), value.into()]))
        .collect();
    crate::wire::encode_value(&Value::Array(vec![
        id.0.into(),
        status.into(),
        Value::Array(headers),
        body.map_or(Value::Nil, Value::Binary),
    ]))
}

/// A call to run in-process, as [`PACKED_CALL`] bytes.
pub(super) fn local_call_packed(call: LocalCall) -> Vec<u8> {
    crate::wire::encode_value(&Value::Array(vec![
        call.id.0.into(),
        call.method.into(),
        call.context,
        Value::Array(call.args),
        call.with_kwargs.into(),
    ]))
}

/// An HTTP output as the object `onHttp` receives.
fn http_output_to_js(output: HttpOutput) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = js_sys::Reflect::set(&object, &key.into(), value);
    };
    let (kind, id) = match output {
        HttpOutput::Head {
            id,
            status,
            headers,
        } => {
            set("status", &JsValue::from(status));
            set("headers", &headers_to_js(headers));
            ("head", id)
        }
        HttpOutput::Body { id, chunk } => {
            set("chunk", &Uint8Array::from(chunk.as_slice()));
            ("body", id)
        }
        HttpOutput::End { id } => ("end", id),
        HttpOutput::Abort { id } => ("abort", id),
    };
    set("type", &kind.into());
    set("id", &JsValue::from(id.0 as f64));
    object.into()
}

fn headers_to_js(headers: Vec<(String, String)>) -> Array {
    headers
        .into_iter()
        .map(|(name, value)| Array::of2(&name.into(), &value.into()))
        .collect()
}
