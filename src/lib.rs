//! Hypha Core: a Hypha server as a sans-IO Rust library.
//!
//! The crate owns everything a Hypha server decides: JWT verification ([`jwt`]), the routing
//! envelope ([`wire`]), users and permissions ([`auth`]), workspaces and the service registry
//! ([`registry`]), the workspace-manager peer (`manager`) and the [`Router`] that ties them
//! together; and the parser of ImJoy/Hypha plugin source ([`plugin`]) that the app loader uses.
//! It performs no I/O and reads no clock: drivers (`src/bridge/` in the browser, `server/`
//! natively) feed it inputs and drain its outputs.
//!
//! ```text
//!            handle_connect(now, conn, hello)       poll_transmit() -> Transmit { conn, frame }
//!  driver -> handle_message(now, conn, frame)  ->   poll_event()    -> Event
//!            handle_disconnect(now, conn)           poll_timeout()  -> Option<Timestamp>
//!            handle_timeout(now)
//! ```
#![warn(missing_docs)]

pub mod auth;
#[cfg(target_arch = "wasm32")]
mod bridge;
mod config;
mod hashing;
#[cfg(feature = "http")]
pub mod http;
pub mod jwt;
mod manager;
pub mod plugin;
pub mod registry;
mod router;
mod time;
pub mod wire;

#[cfg(all(target_arch = "wasm32", feature = "plugin-bridge"))]
pub use bridge::plugin::{is_plugin_source, parse_plugin};
#[cfg(all(target_arch = "wasm32", feature = "server-bridge"))]
pub use bridge::server::HyphaServer;
pub use config::{Config, HostConfig, Limits, MANAGER_ID_BASE};
pub use manager::{default_method_names, ManagerError};
pub use registry::{ClientAddr, ConnId};
pub use router::{
    close_code, ClusterOut, Event, Frame, Router, Transmit, FIRST_REMOTE_CONN, FIRST_ROUTER_CONN,
};
pub use time::Timestamp;
