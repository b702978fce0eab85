//! The `<config>` block: its content read as JSON (`lang="json"`), YAML (`lang="yaml"`), or —
//! with no `lang` — JSON and, failing that, YAML, into one JSON object. YAML is converted to
//! JSON values so everything after this point has a single shape.
//!
//! Parser positions are relative to the de-indented block content; errors report them as
//! positions in the plugin source.

use serde_json::{Map, Value};

use super::blocks::Block;
use super::{line_and_column, yaml, PluginError};

/// The config as a JSON object.
pub(crate) fn read_config(block: &Block, source: &str) -> Result<Map<String, Value>, PluginError> {
    let lang = block
        .attr("lang")
        .map(|lang| lang.trim().to_ascii_lowercase());
    let value = match lang.as_deref() {
        Some("json") => parse_json(block, source)?,
        Some("yaml" | "yml") => parse_yaml(block, source)?,
        None | Some("") => parse_json_or_yaml(block, source)?,
        Some(_) => {
            let lang = block.attr("lang").unwrap_or_default().to_owned();
            return Err(PluginError::UnsupportedLang(lang));
        }
    };
    match value {
        Value::Object(config) => Ok(config),
        _ => Err(PluginError::NotAnObject),
    }
}

fn parse_json_or_yaml(block: &Block, source: &str) -> Result<Value, PluginError> {
    let json_error = match parse_json(block, source) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    parse_yaml(block, source).map_err(|yaml_error| {
        // Report in the language the author evidently meant.
        let looks_like_json = block.content.trim_start().starts_with(['{', '[']);
        if looks_like_json {
            json_error
        } else {
            yaml_error
        }
    })
}

fn parse_json(block: &Block, source: &str) -> Result<Value, PluginError> {
    // serde_json refuses nesting deeper than 128, so hostile input cannot exhaust the stack.
    serde_json::from_str(&block.content).map_err(|error| {
        let message = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let reason = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        let (line, column) = source_position(block, source, error.line(), error.column());
        PluginError::InvalidJson {
            line,
            column,
            reason,
        }
    })
}

fn parse_yaml(block: &Block, source: &str) -> Result<Value, PluginError> {
    yaml::parse(&block.content).map_err(|error| {
        let position = error
            .position
            .map(|(line, column)| source_position(block, source, line, column));
        PluginError::InvalidYaml {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            reason: error.reason,
        }
    })
}

/// A 1-based (line, column) in the block content as a (line, column) in the source: lines are
/// offset by where the content starts; columns get back the removed indentation, and on the
/// first line also the start tag that precedes the content.
fn source_position(block: &Block, source: &str, line: usize, column: usize) -> (usize, usize) {
    let (first_line, first_column) = line_and_column(source, block.content_at);
    let line = line.max(1);
    let shift = if line == 1 { first_column - 1 } else { 0 };
    (first_line + line - 1, column + block.dedented_by + shift)
}
