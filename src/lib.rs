//! Hypha Core: a Hypha server as a sans-IO Rust library.
//!
//! The crate owns everything a Hypha server decides: JWT verification, the routing envelope,
//! workspaces, the service registry, the workspace-manager peer and the [`Router`] that ties them
//! together. It performs no I/O and reads no clock: drivers (`src/bridge/` in the browser,
//! `server/` natively) feed it inputs and drain its outputs.
#![warn(missing_docs)]

pub mod jwt;
pub mod wire;
