//! YAML config content as JSON values, built straight from the YAML parser's event stream (no
//! intermediate YAML tree), so the rest of the plugin code has one shape to deal with.
//!
//! Plain scalars resolve by the YAML 1.2 core schema: `null`/`~`/empty, `true`/`false`, decimal,
//! `0x` and `0o` integers, floats; everything else (and anything quoted or tagged `!!str`) is a
//! string. Mapping keys become strings. Hostile input is bounded: nesting deeper than
//! [`MAX_DEPTH`] and alias expansion past [`MAX_NODES`] values are errors, never a stack
//! overflow or an allocation without end.
//!
//! The parser is `yaml-rust2`, picked by what it adds to the browser's wasm (release build,
//! wasm-opt -Oz, on top of this module's JSON-only parser): yaml-rust2 +58.0 KB raw / +22.3 KB
//! gzip; saphyr-parser +67.5 / +27.1; serde_yaml_ng and serde_norway (libyaml translated to
//! Rust) +120.8 / +54.2 each.

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Deepest nesting accepted (serde_json's own limit for the JSON path).
pub(crate) const MAX_DEPTH: usize = 128;
/// Most values one config may expand to, aliases counted at their full size (a "billion
/// laughs" document is a few lines of aliases).
pub(crate) const MAX_NODES: usize = 1 << 20;

/// Why YAML was rejected; `position` is the 1-based (line, column) in the text, if known.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub(crate) position: Option<(usize, usize)>,
    pub(crate) reason: String,
}

/// The single YAML document in `text` as a JSON value (an empty text is `null`).
pub(crate) fn parse(text: &str) -> Result<Value, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    loop {
        let (event, mark) = parser.next_token().map_err(|error| YamlError {
            position: Some((error.marker().line(), error.marker().col() + 1)),
            reason: error.info().to_owned(),
        })?;
        let at = |reason: String| YamlError {
            position: Some((mark.line(), mark.col() + 1)),
            reason,
        };
        match event {
            Event::StreamEnd => break,
            // Reported at the second document's start, where the author can see it.
            Event::DocumentStart if builder.root.is_some() => {
                return Err(at("more than one YAML document".to_owned()));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let must_be_string = style != TScalarStyle::Plain
                    || tag.is_some_and(|tag| {
                        tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str"
                    });
                builder.scalar(&text, must_be_string, anchor).map_err(at)?;
            }
            Event::SequenceStart(anchor, _) => builder
                .open(Open::Sequence(Vec::new()), anchor)
                .map_err(at)?,
            Event::MappingStart(anchor, _) => builder
                .open(Open::Mapping(Map::new(), None), anchor)
                .map_err(at)?,
            Event::SequenceEnd | Event::MappingEnd => builder.close().map_err(at)?,
            Event::Alias(anchor) => builder.alias(anchor).map_err(at)?,
            _ => {}
        }
    }
    Ok(builder.root.unwrap_or(Value::Null))
}

/// A collection being filled.
enum Open {
    Sequence(Vec<Value>),
    /// The map, and the key waiting for its value.
    Mapping(Map<String, Value>, Option<String>),
}

/// An open collection, the anchor it will be stored under (0: none) and its size so far.
struct Frame {
    collection: Open,
    anchor: usize,
    size: usize,
}

#[derive(Default)]
struct Builder {
    open: Vec<Frame>,
    /// Anchored values by anchor id (ids count up from 1), with their sizes.
    anchors: Vec<Option<(Value, usize)>>,
    nodes: usize,
    root: Option<Value>,
}

impl Builder {
    fn scalar(&mut self, text: &str, must_be_string: bool, anchor: usize) -> Result<(), String> {
        let value = if must_be_string {
            Value::String(text.to_owned())
        } else {
            resolve_plain(text)
        };
        self.add(value, 1, anchor)
    }

    fn open(&mut self, collection: Open, anchor: usize) -> Result<(), String> {
        if self.open.len() >= MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        self.open.push(Frame {
            collection,
            anchor,
            size: 1,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        let Some(Frame {
            collection,
            anchor,
            size,
        }) = self.open.pop()
        else {
            return Ok(());
        };
        let value = match collection {
            Open::Sequence(items) => Value::Array(items),
            Open::Mapping(map, _) => Value::Object(map),
        };
        // Counted already, child by child, except for the collection node itself.
        self.nodes -= size - 1;
        self.add(value, size, anchor)
    }

    fn alias(&mut self, anchor: usize) -> Result<(), String> {
        let Some(Some((value, size))) = self.anchors.get(anchor) else {
            return Err("alias to an unknown anchor".to_owned());
        };
        let (value, size) = (value.clone(), *size);
        self.add(value, size, 0)
    }

    /// Put a finished value where it belongs: into the open collection, or as the document.
    fn add(&mut self, value: Value, size: usize, anchor: usize) -> Result<(), String> {
        // An anchored value is kept as a second copy, so it counts twice.
        self.nodes += if anchor > 0 { 2 * size } else { size };
        if self.nodes > MAX_NODES {
            return Err(format!("expands to more than {MAX_NODES} values"));
        }
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some((value.clone(), size));
        }
        let Some(parent) = self.open.last_mut() else {
            if self.root.is_some() {
                return Err("more than one YAML document".to_owned());
            }
            self.root = Some(value);
            return Ok(());
        };
        parent.size += size;
        match &mut parent.collection {
            Open::Sequence(items) => items.push(value),
            Open::Mapping(map, pending) => match pending.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => *pending = Some(key_string(value)?),
            },
        }
        Ok(())
    }
}

/// A mapping key as an object key, the way JavaScript would write it.
fn key_string(key: Value) -> Result<String, String> {
    match key {
        Value::String(key) => Ok(key),
        Value::Array(_) | Value::Object(_) => Err("a mapping key must be a scalar".to_owned()),
        scalar => Ok(scalar.to_string()),
    }
}

/// A plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::Null, // JSON has no infinities or NaN
        _ => {}
    }
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|digits| !digits.is_empty() && !digits.starts_with(['+', '-']))
            .and_then(|digits| i64::from_str_radix(digits, radix).ok())
    };
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Value::from(n);
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::from(n);
        }
    }
    if is_core_float(unsigned) {
        if let Some(number) = json_float(text) {
            return number;
        }
    }
    Value::String(text.to_owned())
}

/// A core-schema float through serde_json's number parser, which the crate carries anyway
/// (`str::parse::<f64>` would add core's own float tables, about 20 KiB of wasm). The text is
/// rewritten into JSON's stricter grammar first: no `+`, no leading zeros, digits on both sides
/// of the point.
fn json_float(text: &str) -> Option<Value> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => unsigned.split_at(at),
        None => (unsigned, ""),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let whole = whole.trim_start_matches('0');
    let mut json = String::with_capacity(text.len() + 3);
    if negative {
        json.push('-');
    }
    json.push_str(if whole.is_empty() { "0" } else { whole });
    if !fraction.is_empty() {
        json.push('.');
        json.push_str(fraction);
    }
    json.push_str(exponent);
    serde_json::from_str::<Value>(&json).ok()
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (Rust's float parser alone would also take
/// `inf` and `NaN`).
fn is_core_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{parse, resolve_plain, MAX_DEPTH};

    #[test]
    fn core_schema_scalars() {
        for (text, value) in [
            ("~", json!(null)),
            ("True", json!(true)),
            ("12", json!(12)),
            ("-3", json!(-3)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            (".inf", json!(null)),
            ("inf", json!("inf")),
            ("1_000", json!("1_000")),
            ("+1.5", json!(1.5)),
            ("-01.25e+2", json!(-125.0)),
            ("5.", json!(5)), // JavaScript has one number type
            ("-.5E-1", json!(-0.05)),
            ("0.1.2", json!("0.1.2")),
            ("yes", json!("yes")),
        ] {
            assert_eq!(resolve_plain(text), value, "{text}");
        }
        // Past i64: a float, as JavaScript would have it.
        let big = resolve_plain("123456789012345678901").as_f64().unwrap();
        assert!((big / 1.234_567_890_123_456_8e20 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn documents() {
        let value =
            parse("name: x\nlist: [1, 'two', \"3\"]\nnested:\n  a: null\n  1: b\n").unwrap();
        assert_eq!(
            value,
            json!({"name": "x", "list": [1, "two", "3"], "nested": {"a": null, "1": "b"}})
        );
        assert_eq!(parse("").unwrap(), json!(null));
        assert_eq!(parse("!!str 12").unwrap(), json!("12"));
    }

    #[test]
    fn anchors_and_aliases() {
        let value = parse("base: &b {x: 1}\ncopy: *b\n").unwrap();
        assert_eq!(value, json!({"base": {"x": 1}, "copy": {"x": 1}}));
        assert!(parse("a: *nowhere\n").is_err());
    }

    #[test]
    fn hostile_documents_are_refused() {
        let deep = "- ".repeat(MAX_DEPTH + 1) + "x";
        let error = parse(&deep).unwrap_err();
        assert!(error.reason.contains("nested"), "{}", error.reason);

        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            laughs += &format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n");
        }
        let error = parse(&laughs).unwrap_err();
        assert!(error.reason.contains("expands"), "{}", error.reason);
    }

    #[test]
    fn errors_carry_a_position() {
        let error = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(error.position.is_some());
    }
}
