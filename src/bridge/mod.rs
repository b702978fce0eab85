//! The browser drivers (wasm32 only), each behind a cargo feature so the browser build is two
//! modules and a page downloads only the one it needs:
//! - `server-bridge` (default): [`server::HyphaServer`], the in-tab server;
//! - `plugin-bridge`: `parsePlugin`/`isPluginSource` (the plugin parser and its YAML and JSON
//!   readers), which the page loads only when an app is plugin source.

#[cfg(feature = "server-bridge")]
mod convert;
mod error;
#[cfg(all(feature = "server-bridge", feature = "http"))]
mod http;
#[cfg(feature = "plugin-bridge")]
pub(crate) mod plugin;
#[cfg(feature = "server-bridge")]
pub(crate) mod server;

/// The wasm heap of the page's modules: talc instead of std's dlmalloc, ~7 KB less wasm. It
/// grows the wasm memory as needed and reuses what is freed, as a long-running server must.
/// The server-mode build (the one with `http`) is built for speed and keeps std's dlmalloc:
/// talc's allocate and free were ~3 % of a server's CPU under HTTP load, and dlmalloc served
/// 1–2 % more requests/s.
#[cfg(not(feature = "http"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
