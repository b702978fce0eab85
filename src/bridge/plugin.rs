//! Plugin source for JavaScript: `parsePlugin(source, tag?)` and `isPluginSource(source)`.
//!
//! The parsed plugin crosses as a JSON string that `JSON.parse` turns into a plain object: one
//! call, and far less wasm than building the object field by field.

use wasm_bindgen::prelude::*;

use super::error::{bridge_error, ErrorCode};
use crate::plugin;

/// Parse ImJoy/Hypha plugin source (`*.imjoy.html`) into the plugin object the app loader and
/// hypha-rpc's `setupLocalClient` consume. `tag` overrides the config's first tag. Throws an
/// `Error` with `code: "INVALID_PLUGIN"` and a message naming the block at fault.
#[wasm_bindgen(js_name = parsePlugin)]
pub fn parse_plugin(source: &str, tag: Option<String>) -> Result<JsValue, JsValue> {
    let parsed = plugin::parse(source, tag.as_deref())
        .map_err(|error| bridge_error(ErrorCode::InvalidPlugin, &error.to_string()))?;
    let json = serde_json::to_string(&parsed)
        .map_err(|error| bridge_error(ErrorCode::InvalidPlugin, &error.to_string()))?;
    js_sys::JSON::parse(&json)
}

/// Whether `source` is plugin source (a top-level `<config>` plus a `<script>` or `<window>`
/// block), cheap enough to ask before deciding whether a string is HTML.
#[wasm_bindgen(js_name = isPluginSource)]
pub fn is_plugin_source(source: &str) -> bool {
    plugin::is_plugin_source(source)
}
