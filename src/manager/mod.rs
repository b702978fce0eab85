//! The workspace manager: the RPC peer every client talks to at `*/<manager_id>`.
//!
//! It answers `services.default.*` (workspace management) and `services.built-in.*` (the
//! bootstrap `get_service`, `ping`, `message_cache`). Each method is one function in
//! [`methods`]; it reads and changes the [`Registry`], and reports what others must hear as
//! [`Notice`]s. When an answer needs a client (e.g. `get_service` fetches the provider's
//! descriptors) the method returns [`Outcome::Ask`] with a [`Continuation`]; the Router sends the
//! call, parks the continuation, and calls [`resume`] with the reply. No I/O, no clock.

mod args;
mod cache;
mod case;
mod descriptor;
mod host;
mod methods;
mod query;
mod tokens;

use rand::rngs::StdRng;
use rmpv::Value;

pub(crate) use args::{map_get, map_set, map_str, Args};
pub(crate) use cache::MessageCaches;
pub(crate) use host::host_context;
#[cfg(feature = "http")]
pub(crate) use methods::{hidden_from, resolve_service};
pub(crate) use methods::{record_from_info, registration_notices};
pub(crate) use tokens::{host_root_token, mounted_client_token, reconnection_claims};

use crate::auth::User;
use crate::config::Config;
use crate::registry::{ClientAddr, Registry, RegistryError, ServiceId};
use crate::time::Timestamp;

/// Why a manager call failed; the message reaches the caller as the rejection reason.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ManagerError {
    /// Nothing matches the id or query.
    #[error("{0}")]
    NotFound(String),
    /// The caller lacks the permission.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// An argument is missing or malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// More than one service matches in `exact` mode.
    #[error("{0}")]
    Ambiguous(String),
    /// The method does not exist or is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// The registry refused the change.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A client the manager asked failed or went away.
    #[error("{0}")]
    Client(String),
}

/// The authenticated client making a call.
#[derive(Debug, Clone)]
pub(crate) struct Caller<'a> {
    pub(crate) addr: &'a ClientAddr,
    pub(crate) user: &'a User,
}

/// What a manager method may touch.
pub(crate) struct Env<'a> {
    pub(crate) registry: &'a mut Registry,
    pub(crate) caches: &'a mut MessageCaches,
    pub(crate) config: &'a Config,
    pub(crate) now: Timestamp,
    pub(crate) rng: &'a mut StdRng,
    pub(crate) notices: &'a mut Vec<Notice>,
}

/// Something other clients must hear about: an event for the subscribers of a workspace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    pub(crate) workspace: String,
    pub(crate) event: &'static str,
    pub(crate) data: Value,
}

/// What a manager call produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Resolve the caller's promise with this value.
    Value(Value),
    /// Reject the caller's promise.
    Error(ManagerError),
    /// Call `method(args)` on `target`, then continue with the reply.
    Ask {
        target: ClientAddr,
        method: String,
        args: Vec<Value>,
        then: Continuation,
    },
    /// Resolve with nil, then handle these bytes as a frame from the same caller (a chunked
    /// message assembled by `message_cache.process`).
    Reenter(Vec<u8>),
}

impl From<Result<Value, ManagerError>> for Outcome {
    fn from(result: Result<Value, ManagerError>) -> Self {
        match result {
            Ok(v) => Self::Value(v),
            Err(e) => Self::Error(e),
        }
    }
}

/// What to do with a client's answer to a manager question.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Continuation {
    /// Return the provider's service descriptors for `id`, cased as asked.
    GetService {
        id: ServiceId,
        case: Option<CaseConversion>,
    },
    /// Return "pong" if the client answered.
    Ping,
    /// Return what the host answered for a forwarded host method; its bare targets live in
    /// the host's `workspace`.
    Host { workspace: String },
    /// A message too large for one frame goes to `target` through its `message_cache`
    /// (hypha-rpc peers drop frames over ~512 KB, protocol.md §2.8): after `create` or a `set`
    /// was acknowledged, send the next chunk (`index`), then `process`.
    Upload {
        target: ClientAddr,
        key: String,
        chunks: std::collections::VecDeque<Vec<u8>>,
        index: u64,
    },
    /// The recipient assembled and handled the message.
    Uploaded,
}

pub(crate) use case::CaseConversion;

/// Handle one call to the manager. `method` is the path after the manager address, e.g.
/// `services.default.list_services`.
pub(crate) fn dispatch(
    env: &mut Env<'_>,
    caller: &Caller<'_>,
    method: &str,
    args: &Args,
) -> Outcome {
    if let Some(name) = method.strip_prefix("services.default.") {
        return methods::call_default(env, caller, name, args);
    }
    if let Some(name) = method.strip_prefix("services.built-in.") {
        return methods::call_built_in(env, caller, name, args);
    }
    Outcome::Error(ManagerError::Unsupported(format!(
        "method not found: {method}"
    )))
}

/// Continue a parked call with the client's reply (`Err` carries the rejection text).
pub(crate) fn resume(then: Continuation, reply: Result<Value, String>) -> Outcome {
    methods::resume(then, reply)
}

/// The manager's `default` service descriptor for this configuration, as `recipient` gets it.
pub(crate) fn default_service(config: &Config, recipient: &ClientAddr) -> Value {
    let target = manager_target(config);
    descriptor::default_service(&facts(config, &target), docs_for(config, recipient))
}

/// The manager's `built-in` service descriptor for this configuration, as `recipient` gets it.
pub(crate) fn built_in_service(config: &Config, recipient: &ClientAddr) -> Value {
    let target = manager_target(config);
    descriptor::built_in_service(&facts(config, &target), docs_for(config, recipient))
}

/// Every client gets the manager's method docs but the host page's own root client.
fn docs_for(config: &Config, recipient: &ClientAddr) -> descriptor::MethodDocs {
    match &config.host {
        Some(host) if host.client == *recipient => descriptor::MethodDocs::Omitted,
        _ => descriptor::MethodDocs::Included,
    }
}

/// The names of the `default` service's methods.
pub fn default_method_names() -> impl Iterator<Item = &'static str> {
    descriptor::default_method_names()
}

/// How often abandoned `message_cache` uploads are looked for.
pub(crate) fn cache_sweep_interval() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

/// The address clients use for the manager: `*/<manager_id>`.
pub(crate) fn manager_target(config: &Config) -> String {
    format!("*/{}", config.manager_id)
}

fn facts<'a>(config: &'a Config, target: &'a str) -> descriptor::ServerFacts<'a> {
    descriptor::ServerFacts {
        host_methods: config.host.as_ref().map_or(&[], |h| h.methods.as_slice()),
        server_url: &config.public_base_url,
        manager_target: target,
        server_id: &config.server_id,
        hypha_version: &config.hypha_version,
    }
}
