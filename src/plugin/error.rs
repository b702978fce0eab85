//! Why plugin source was rejected. Every message names the block at fault, and positions are
//! lines and columns of the plugin source (1-based), so an author can go straight to the spot.

/// A plugin source that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The source is larger than [`MAX_SOURCE_BYTES`](super::MAX_SOURCE_BYTES).
    #[error("plugin source is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// There is no top-level `<config>` block.
    #[error("plugin source has no <config> block")]
    NoConfig,
    /// A top-level element is still open at the end of the source.
    #[error("<{tag}> block opened at line {line} is never closed")]
    Unclosed {
        /// Its tag name.
        tag: String,
        /// Line of its start tag.
        line: usize,
    },
    /// `<config>` content is not valid JSON.
    #[error("<config> block: invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        /// Line in the source.
        line: usize,
        /// Column in the source.
        column: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// `<config>` content is not valid YAML.
    #[error("<config> block: invalid YAML{}: {reason}", position(*.line, *.column))]
    InvalidYaml {
        /// Line in the source, when the YAML parser gave one.
        line: Option<usize>,
        /// Column in the source, when the YAML parser gave one.
        column: Option<usize>,
        /// What the YAML parser said.
        reason: String,
    },
    /// `<config lang="...">` names a language other than JSON or YAML.
    #[error("<config> block: unsupported lang \"{0}\" (use \"json\" or \"yaml\")")]
    UnsupportedLang(String),
    /// The config is valid but not a mapping.
    #[error("<config> block must be an object")]
    NotAnObject,
    /// The config has no `name`.
    #[error("<config> block: \"name\" is required")]
    MissingName,
    /// A config field has the wrong type.
    #[error("<config> block: \"{field}\" must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be, e.g. "a string".
        expected: &'static str,
    },
    /// A configurable field is given per tag, but there are no tags to pick one with.
    #[error("<config> block: \"{0}\" is given per tag but the plugin has no \"tags\"")]
    PerTagWithoutTags(&'static str),
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}
