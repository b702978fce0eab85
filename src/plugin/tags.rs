//! Tags: one plugin source can describe several variants of a plugin (`"tags": ["cpu", "gpu"]`).
//! The chosen tag decides which `<script tag="...">` blocks take part and resolves the
//! configurable fields that are written per tag (`"requirements": {"cpu": [...], "gpu": [...]}`).

use serde_json::{Map, Value};

use super::blocks::Block;
use super::PluginError;

/// Config fields that may be given as an object keyed by tag.
pub const CONFIGURABLE_FIELDS: [&str; 12] = [
    "env",
    "requirements",
    "dependencies",
    "icon",
    "ui",
    "type",
    "flags",
    "labels",
    "cover",
    "base_frame",
    "base_worker",
    "passive",
];

/// The tag in effect: the caller's choice if it gave a non-empty one, else the first of `tags`.
pub(crate) fn chosen_tag(
    config: &Map<String, Value>,
    requested: Option<&str>,
) -> Result<Option<String>, PluginError> {
    let tags = match config.get("tags") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(tags)) if tags.iter().all(Value::is_string) => tags.as_slice(),
        Some(_) => {
            return Err(PluginError::WrongType {
                field: "tags",
                expected: "a list of strings",
            })
        }
    };
    let requested = requested.filter(|tag| !tag.is_empty());
    Ok(requested
        .map(str::to_owned)
        .or_else(|| tags.first().and_then(Value::as_str).map(str::to_owned)))
}

/// Replace every configurable field written as an object by its entry for `tag`; `null` when
/// it has none (the reference leaves it undefined).
pub(crate) fn resolve_per_tag_fields(
    config: &mut Map<String, Value>,
    tag: Option<&str>,
) -> Result<(), PluginError> {
    for field in CONFIGURABLE_FIELDS {
        let Some(value) = config.get_mut(field) else {
            continue;
        };
        let Value::Object(per_tag) = value else {
            continue;
        };
        let tag = tag.ok_or(PluginError::PerTagWithoutTags(field))?;
        // Taken whole rather than `remove`d: the map's removal code is a few KiB of wasm that
        // nothing else in the crate needs.
        let entry = std::mem::take(per_tag)
            .into_iter()
            .find(|(key, _)| key == tag);
        *value = entry.map_or(Value::Null, |(_, chosen)| chosen);
    }
    Ok(())
}

/// Whether a script takes part under `tag`: it has no `tag` attribute, or the same tag.
pub(crate) fn script_applies(script: &Block, tag: Option<&str>) -> bool {
    match script.attr("tag") {
        None => true,
        Some(own) => Some(own) == tag,
    }
}

/// The script whose content becomes the plugin's `script`: the first one written for `tag`,
/// else the first one of all.
pub(crate) fn main_script<'a>(scripts: &'a [Block], tag: Option<&str>) -> Option<&'a Block> {
    tag.and_then(|tag| {
        scripts
            .iter()
            .find(|script| script.attr("tag") == Some(tag))
    })
    .or_else(|| scripts.first())
}
