//! Server configuration, fixed when the [`crate::Router`] is created.

use std::time::Duration;

use crate::registry::ClientAddr;

/// Methods the host page offers to every client through the manager (`create_window`,
/// `load_app`, `alert`, user `defaultService` functions...). The manager lists them in its
/// `default` service and forwards each call to `services.<service>.dispatch(method, args,
/// kwargs, caller_context)` on `client`, with the caller's identity as `caller_context`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The client that serves them (the page's root client).
    pub client: ClientAddr,
    /// The service on that client with the `dispatch` function.
    pub service: String,
    /// Method names, as clients call them (`create_window`, ...).
    pub methods: Vec<String>,
}

/// The manager's client id, or the start of it: a server may announce `<base>-<suffix>` (the
/// native server draws a suffix per start, so reconnecting clients see that it restarted), and
/// the Router answers at `*/<base>` and `*/<base>-<anything>` alike, because hypha-rpc 0.21.47
/// keeps calling the previous id after the first restart it sees (its wm proxy skips the first
/// `manager_refreshed` event).
pub const MANAGER_ID_BASE: &str = "workspace-manager";

/// What peers may make the server hold, each a budget with a clear refusal past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes all unfinished `message_cache` uploads together may hold.
    pub uploads_total_bytes: usize,
    /// Largest service record one `register_service` may store (msgpack-encoded).
    pub service_bytes: usize,
    /// Bytes of service records one user may have registered, all its clients together.
    pub user_registry_bytes: usize,
    /// Bytes of service records the whole registry may hold.
    pub registry_bytes: usize,
    /// Bytes of service records one `list_services` may answer with: past it the listing is
    /// refused (narrow the query), so no single call makes the Router clone and encode more.
    pub listing_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            uploads_total_bytes: 256 * 1024 * 1024,
            service_bytes: 1024 * 1024,
            user_registry_bytes: 16 * 1024 * 1024,
            registry_bytes: 256 * 1024 * 1024,
            listing_bytes: 8 * 1024 * 1024,
        }
    }
}

/// How a [`crate::Router`] presents itself and signs tokens.
#[derive(Debug, Clone)]
pub struct Config {
    /// The URL clients know the server by; announced as `public_base_url` and stamped as
    /// `_rserver` on every descriptor the manager hands out (they must match, protocol.md §8.3).
    pub public_base_url: String,
    /// Client id of the workspace manager, announced as `manager_id`.
    pub manager_id: String,
    /// HS256 secret for every token this server issues or accepts. Empty accepts no token.
    pub jwt_secret: Vec<u8>,
    /// Seed of the router's random source (anonymous user ids, token subjects, service choice).
    pub rng_seed: u64,
    /// Lifetime of reconnection tokens.
    pub reconnection_token_life: Duration,
    /// How long the manager waits for a client it asked something (e.g. `get_service`).
    pub client_call_timeout: Duration,
    /// Version string announced in `connection_info`.
    pub hypha_version: String,
    /// Identifier of this server instance.
    pub server_id: String,
    /// Whether this server is one of a cluster: it then reports what other servers must know
    /// ([`crate::ClusterOut`]).
    pub cluster: bool,
    /// Host methods forwarded to the page, if the server runs in one.
    pub host: Option<HostConfig>,
    /// Budgets for what peers may make the server hold.
    pub limits: Limits,
    /// The HTTP service API's limits and origins.
    #[cfg(feature = "http")]
    pub http: crate::http::HttpConfig,
}

impl Config {
    /// A configuration with the given public URL and secret, and defaults for the rest.
    pub fn new(
        public_base_url: impl Into<String>,
        jwt_secret: impl Into<Vec<u8>>,
        rng_seed: u64,
    ) -> Self {
        Self {
            public_base_url: public_base_url.into(),
            manager_id: MANAGER_ID_BASE.to_owned(),
            jwt_secret: jwt_secret.into(),
            rng_seed,
            reconnection_token_life: Duration::from_secs(86_400),
            client_call_timeout: Duration::from_secs(30),
            hypha_version: env!("CARGO_PKG_VERSION").to_owned(),
            server_id: "hypha-core".to_owned(),
            cluster: false,
            host: None,
            limits: Limits::default(),
            #[cfg(feature = "http")]
            http: crate::http::HttpConfig::default(),
        }
    }
}
