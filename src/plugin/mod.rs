//! ImJoy/Hypha plugin source (`*.imjoy.html`): a file of top-level blocks — `<config>` (JSON or
//! YAML settings), `<script>`, `<window>`, `<style>`, `<docs>`, `<attachment>`, `<link>` — read
//! into the plugin description that the app loader and hypha-rpc's `setupLocalClient` consume.
//!
//! Pure and deterministic: no I/O, no randomness (the loader adds the random instance `id`).
//!
//! ```text
//!  source ──blocks::scan──> blocks ──config::read_config──> config object
//!                             │                                   │
//!                             └──> tags: tag, scripts, per-tag fields <──┘
//!                                              │
//!                                              └──> Plugin (serialises like the reference's object)
//! ```
//!
//! The result matches hypha-core 0.20.86's `parsePluginCode`, except where that one is broken:
//! YAML configs work (it throws), a config without `lang` is JSON or YAML (it crashes), `lang`
//! follows the main script (it ignores a matched script's `lang`), a script without `lang`
//! counts as the plugin's language (hypha-rpc would refuse to run it), empty block lists are
//! `null` (it never produces `null`), and malformed source is an error that names the block
//! (it often parses garbage instead). See `blocks` for the tag-level differences.

mod blocks;
mod config;
mod dedent;
mod error;
mod tags;
mod yaml;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

pub use blocks::{Block, BlockKind};
pub use error::PluginError;
pub use tags::CONFIGURABLE_FIELDS;

/// Largest source accepted: far above any real plugin, low enough that hostile input cannot make
/// the browser tab allocate without bound.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// A parsed plugin. Serialises as the object the reference's `parsePluginCode` builds: every
/// field of the config, with the derived fields below on top (they shadow a config field of the
/// same name).
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// `config.name`.
    pub name: String,
    /// `_id`: the name with spaces replaced by `_`.
    pub id: String,
    /// The tag in effect: the one asked for, else the first of `config.tags`.
    pub tag: Option<String>,
    /// Language of the main script (its `lang` attribute), else `config.lang`, else
    /// `"javascript"`.
    pub lang: String,
    /// Content of the main script: the first written for the tag, else the first of all.
    pub script: Option<String>,
    /// The `<script>` blocks that apply under the tag (no `tag` attribute, or the same one).
    /// A script without `lang` gets the plugin's default language, so hypha-rpc, which runs
    /// only scripts whose `lang` is `"javascript"`, runs it.
    pub scripts: Vec<Block>,
    /// `<window>` blocks (`null` when there are none).
    pub windows: Vec<Block>,
    /// `<style>` blocks (`null` when there are none).
    pub styles: Vec<Block>,
    /// `<link>` blocks (`null` when there are none).
    pub links: Vec<Block>,
    /// `<attachment>` blocks (`null` when there are none).
    pub attachments: Vec<Block>,
    /// The first `<docs>` block; `docs` serialises as it, else as `config.docs`, else `null`.
    pub docs_block: Option<Block>,
    /// `false` only when the config says `"runnable": false`.
    pub runnable: bool,
    /// The whole source.
    pub code: String,
    /// The config as written, with per-tag [`CONFIGURABLE_FIELDS`] resolved for the tag.
    pub config: Map<String, Value>,
    /// Top-level blocks of unknown kinds (not serialised; the reference drops them too).
    pub others: Vec<Block>,
}

/// `[]`, for a plugin without requirements.
static NO_REQUIREMENTS: Value = Value::Array(Vec::new());

impl Plugin {
    /// `config.requirements` for the tag, `[]` when absent (or false-y, as in the reference).
    pub fn requirements(&self) -> &Value {
        match self.config.get("requirements") {
            Some(value) if is_truthy(value) => value,
            _ => &NO_REQUIREMENTS,
        }
    }

    /// Documentation: the first `<docs>` block, else `config.docs`, else `null`.
    pub fn docs(&self) -> Docs<'_> {
        match (&self.docs_block, self.config.get("docs")) {
            (Some(block), _) => Docs::Block(block),
            (None, Some(written)) => Docs::Config(written),
            (None, None) => Docs::Config(&Value::Null),
        }
    }
}

/// Where a plugin's documentation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Docs<'a> {
    /// A `<docs>` block.
    Block(&'a Block),
    /// `config.docs` (or `null`).
    Config(&'a Value),
}

/// Fields the parser derives; a config field under one of these names is shadowed.
const DERIVED_FIELDS: [&str; 14] = [
    "name",
    "_id",
    "tag",
    "lang",
    "script",
    "scripts",
    "windows",
    "styles",
    "links",
    "attachments",
    "docs",
    "runnable",
    "requirements",
    "code",
];

impl Serialize for Plugin {
    // By hand rather than `#[serde(flatten)]`: flattening pulls in serde's buffering machinery,
    // and a derived field must win over a config field of the same name anyway.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.config {
            if !DERIVED_FIELDS.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("_id", &self.id)?;
        map.serialize_entry("tag", &self.tag)?;
        map.serialize_entry("lang", &self.lang)?;
        map.serialize_entry("script", &self.script)?;
        map.serialize_entry("scripts", &self.scripts)?;
        map.serialize_entry("windows", &blocks_or_null(&self.windows))?;
        map.serialize_entry("styles", &blocks_or_null(&self.styles))?;
        map.serialize_entry("links", &blocks_or_null(&self.links))?;
        map.serialize_entry("attachments", &blocks_or_null(&self.attachments))?;
        map.serialize_entry("docs", &self.docs())?;
        map.serialize_entry("runnable", &self.runnable)?;
        map.serialize_entry("requirements", self.requirements())?;
        map.serialize_entry("code", &self.code)?;
        map.end()
    }
}

/// Parse plugin source. `tag` overrides the config's first tag (an empty one is ignored).
pub fn parse(source: &str, tag: Option<&str>) -> Result<Plugin, PluginError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(PluginError::TooLarge {
            size: source.len(),
            limit: MAX_SOURCE_BYTES,
        });
    }
    let scan = blocks::scan(source);
    if let Some(open) = scan.unclosed {
        return Err(PluginError::Unclosed {
            tag: open.tag,
            line: line_and_column(source, open.opened_at).0,
        });
    }
    let config_block = scan
        .blocks
        .iter()
        .find(|block| block.kind == BlockKind::Config)
        .ok_or(PluginError::NoConfig)?;
    let mut config = config::read_config(config_block, source)?;
    let name = match config.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        None | Some(Value::Null | Value::String(_)) => return Err(PluginError::MissingName),
        Some(_) => {
            return Err(PluginError::WrongType {
                field: "name",
                expected: "a string",
            })
        }
    };
    let tag = tags::chosen_tag(&config, tag)?;
    tags::resolve_per_tag_fields(&mut config, tag.as_deref())?;

    let default_lang = config
        .get("lang")
        .and_then(Value::as_str)
        .unwrap_or("javascript")
        .to_owned();
    let mut grouped = Grouped::default();
    for mut block in scan.blocks {
        if block.kind == BlockKind::Script && block.lang.is_none() {
            block.lang = Some(default_lang.clone());
        }
        grouped.add(block);
    }
    let main_script = tags::main_script(&grouped.scripts, tag.as_deref());
    let script = main_script.map(|block| block.content.clone());
    let lang = main_script
        .and_then(|block| block.lang.clone())
        .unwrap_or(default_lang);
    let scripts = grouped
        .scripts
        .into_iter()
        .filter(|script| tags::script_applies(script, tag.as_deref()))
        .collect();
    Ok(Plugin {
        id: name.replace(' ', "_"),
        name,
        tag,
        lang,
        script,
        scripts,
        windows: grouped.windows,
        styles: grouped.styles,
        links: grouped.links,
        attachments: grouped.attachments,
        docs_block: grouped.docs.into_iter().next(),
        runnable: config.get("runnable") != Some(&Value::Bool(false)),
        code: source.to_owned(),
        config,
        others: grouped.others,
    })
}

/// Whether `source` looks like plugin source — a top-level `<config>` block and a `<script>` or
/// `<window>` block — without parsing the config. Cheap enough to ask of any string before
/// deciding whether it is HTML.
pub fn is_plugin_source(source: &str) -> bool {
    if source.len() > MAX_SOURCE_BYTES || blocks::find(source, "<config").is_none() {
        return false;
    }
    let scan = blocks::scan(source);
    // An unclosed block still counts: parsing then explains what is wrong with it.
    let kinds: Vec<BlockKind> = scan
        .blocks
        .iter()
        .chain(scan.unclosed.as_ref())
        .map(|block| block.kind)
        .collect();
    kinds.contains(&BlockKind::Config)
        && (kinds.contains(&BlockKind::Script) || kinds.contains(&BlockKind::Window))
}

#[derive(Default)]
struct Grouped {
    scripts: Vec<Block>,
    windows: Vec<Block>,
    styles: Vec<Block>,
    links: Vec<Block>,
    attachments: Vec<Block>,
    docs: Vec<Block>,
    others: Vec<Block>,
}

impl Grouped {
    fn add(&mut self, block: Block) {
        let list = match block.kind {
            BlockKind::Config => return,
            BlockKind::Script => &mut self.scripts,
            BlockKind::Window => &mut self.windows,
            BlockKind::Style => &mut self.styles,
            BlockKind::Link => &mut self.links,
            BlockKind::Attachment => &mut self.attachments,
            BlockKind::Docs => &mut self.docs,
            BlockKind::Other => &mut self.others,
        };
        list.push(block);
    }
}

/// `null` for no blocks, as the loader and hypha-rpc test `windows && windows.length`.
fn blocks_or_null(blocks: &[Block]) -> Option<&[Block]> {
    (!blocks.is_empty()).then_some(blocks)
}

/// JavaScript truthiness, for the reference's `config.requirements || []`.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    (line, before[line_start..].chars().count() + 1)
}
