//! The HTTP service API as inputs and outputs of the [`crate::Router`] (design.md §7): a driver
//! hands in a request (head, body chunks, end, or "the client went away") and drains response
//! parts ([`HttpOutput`]) through [`crate::Router::poll_http`], as it drains frames.
//!
//! This module holds the pieces with no Router state: the route table ([`route`]), request
//! decoding ([`args`]: query coercion, bodies by media type, gzip), response encoding
//! ([`encode`]: JSON, msgpack, NDJSON, server-sent events, error bodies), who is calling
//! ([`identity`]: tokens, cookies, CORS), the rate limiter ([`limit`]) and the counters of
//! `/metrics` ([`metrics`]). The exchanges themselves (a call in flight, a stream, an ASGI app)
//! live in `router/http/`, where they are peers of the Router like any client.
//!
//! ```text
//!  driver -> handle_http_request(now, id, head)   ->  poll_http() -> HttpOutput::Head  { id, status, headers }
//!            handle_http_body(now, id, chunk)                        HttpOutput::Body  { id, chunk }
//!            handle_http_end(now, id)                                HttpOutput::End   { id }
//!                                                                    HttpOutput::Abort { id }
//!            handle_http_drained(now, id)   (a body chunk left for the socket: back-pressure credit)
//!            handle_http_cancel(now, id)    (the client went away)
//! ```

pub(crate) mod args;
pub(crate) mod encode;
// Read by the wasm bridge only (the native server gets its requests from hyper).
#[cfg(any(test, all(target_arch = "wasm32", feature = "server-bridge")))]
pub(crate) mod head;
pub(crate) mod identity;
pub(crate) mod limit;
pub(crate) mod metrics;
pub(crate) mod route;

use std::fmt;

/// One HTTP request, numbered by the driver that owns it (unique while it is open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpId(pub u64);

impl fmt::Display for HttpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http#{}", self.0)
    }
}

/// The head of an HTTP request; its body follows through `handle_http_body`/`handle_http_end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ... (upper case).
    pub method: String,
    /// The path as received (percent-encoded), starting with `/`.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: String,
    /// Header names in lower case, values as bytes, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The peer's address (`ip:port`), if the driver knows it: the rate-limit key of anonymous
    /// callers and the ASGI scope's `client`.
    pub remote: Option<String>,
}

impl HttpRequest {
    /// The first value of header `name` (lower case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }
}

/// A part of an HTTP response for the driver to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a response part must be written to its request"]
pub enum HttpOutput {
    /// Status and headers; comes first, once.
    Head {
        /// The request.
        id: HttpId,
        /// Status code.
        status: u16,
        /// Header names (lower case) and values.
        headers: Vec<(String, String)>,
    },
    /// A piece of the body. The driver reports it with `handle_http_drained` once written, which
    /// is the credit that lets the Router produce more (streams pull no faster than the client
    /// reads).
    Body {
        /// The request.
        id: HttpId,
        /// The bytes.
        chunk: Vec<u8>,
    },
    /// The response is complete; the Router forgets the request (the driver stops reading its
    /// body, if any is left).
    End {
        /// The request.
        id: HttpId,
    },
    /// The response was cut short after its head (an app failed or its provider left): the
    /// driver must end it so the client sees it incomplete (reset the stream or connection),
    /// never as a complete body. The Router forgets the request.
    Abort {
        /// The request.
        id: HttpId,
    },
}

/// A call to one of root's own service functions that the driver runs in-process
/// ([`HttpConfig::local_root_calls`]), drained with [`crate::Router::poll_local_call`] and
/// answered with [`crate::Router::handle_http_local`]. The Router has checked everything it
/// checks for a call over the wire; the driver runs the function as root's hypha-rpc would
/// (keyword arguments by parameter name, the context appended when the function asks for it).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalCall {
    /// The request.
    pub id: HttpId,
    /// hypha-rpc's path of the function in root's client: `services.<service>.<key>`.
    pub method: String,
    /// The context hypha-rpc gives a function that asks for it: `type`, `from`, `to`,
    /// `method`, `session`, `ws`, `user`.
    pub context: rmpv::Value,
    /// Positional arguments; with `with_kwargs`, the last one is the keyword arguments.
    pub args: Vec<rmpv::Value>,
    /// The last argument holds keyword arguments.
    pub with_kwargs: bool,
}

/// How the driver answered a [`LocalCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum LocalOutcome {
    /// The function returned `value`, encoded as root's hypha-rpc encodes an answer. With
    /// `kept_session`, encoding it left something in root's client under the call's session (a
    /// generator to pull, a function): the peer is then linked to root and root hears when it
    /// leaves, as after a call over the wire.
    Resolved {
        /// The answer.
        value: rmpv::Value,
        /// Root's client keeps a session for the caller.
        kept_session: bool,
    },
    /// The function threw: the error as hypha-rpc encodes one (`{_rtype: "error", _rvalue,
    /// _rtrace}`).
    Rejected(rmpv::Value),
    /// The driver does not run this one in-process: it goes to root's client over the wire.
    Declined,
}

/// How the HTTP API behaves; fixed when the Router is created.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes (413 past it, without reading it whole).
    pub max_body: usize,
    /// Origins that may send credentials (the `access_token` cookie) and get them reflected in
    /// `Access-Control-Allow-Origin`. Other origins get `*` without credentials.
    pub allow_origins: Vec<String>,
    /// Requests per second per identity (token user, or the peer address of anonymous callers);
    /// `None` turns the limit off.
    pub rate_limit: Option<RateLimit>,
    /// Requests in flight at once across the server; past it, 503.
    pub max_exchanges: usize,
    /// Bytes an HTTP stream (`GET /rpc`) may have waiting for a client that does not read
    /// before it is cut (one message always fits, however big).
    pub rpc_stream_buffer: usize,
    /// Calls from HTTP requests to root's own service functions are handed to the driver to
    /// run in-process ([`LocalCall`]) instead of going to root's client as frames. Only a
    /// driver that hosts root's client in its own process (hypha-core's server mode) turns it on.
    pub local_root_calls: bool,
}

/// A token bucket: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket capacity.
    pub burst: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body: 10 * 1024 * 1024,
            allow_origins: Vec::new(),
            rate_limit: Some(RateLimit {
                per_second: 1000.0,
                burst: 5000.0,
            }),
            max_exchanges: 10_000,
            rpc_stream_buffer: 16 * 1024 * 1024,
            local_root_calls: false,
        }
    }
}

/// Body chunks written but not yet drained that a stream may have outstanding before it stops
/// pulling from its provider.
pub(crate) const STREAM_WINDOW: usize = 4;
/// Body chunks an ASGI app may have queued for a client that does not read before its response
/// is cut: its `send()` calls are answered only within [`STREAM_WINDOW`], so only an app that
/// does not wait for them gets here.
pub(crate) const SEND_HARD_LIMIT: usize = 16 * STREAM_WINDOW;
