//! From an HTTP request to the arguments of a call (http-and-cluster.md §5 items 2–4).
//!
//! - Query parameters are keyword arguments. A value is coerced when it reads as one of: an
//!   integer (`-12`, fits in 64 bits), a finite decimal number (`3.5`, `1e3`), `true`, `false`,
//!   `null`, or JSON starting with `{` or `[` (malformed JSON is a 400). Anything else is the
//!   string itself (`abc`, `nan`, `007x`). A repeated key keeps its last value. `_mode` (the
//!   service selection mode) is not an argument.
//! - A JSON or msgpack body: a map is keyword arguments (merged over the query's), an array is
//!   positional arguments (then the query may carry no arguments: hypha-rpc callees cannot
//!   take both), any other value is one positional argument; an empty body is none.
//! - `Content-Type` is parsed as a media type (`application/json; charset=utf-8` is JSON);
//!   without one, a body is JSON. `Content-Encoding: gzip` is inflated, within the body cap.

use std::io::Read;

use rmpv::Value;

use crate::wire;

/// Keys of the query string that steer the request instead of being arguments.
const CONTROL_KEYS: &[&str] = &["_mode"];

/// Why a request's arguments cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ArgsError {
    /// Malformed JSON or msgpack, or arguments that cannot be combined (400).
    #[error("{0}")]
    Bad(String),
    /// A media type or encoding the API does not read (415).
    #[error("{0}")]
    Unsupported(String),
    /// The body grows past the cap once inflated (413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
}

/// Arguments for a call: positional values and keyword arguments (`with_kwargs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CallArgs {
    pub(crate) positional: Vec<Value>,
    pub(crate) keywords: Vec<(String, Value)>,
}

impl CallArgs {
    /// The `args` array and `with_kwargs` flag of a hypha-rpc call payload.
    pub(crate) fn into_wire(self) -> (Vec<Value>, bool) {
        let mut args = self.positional;
        if self.keywords.is_empty() {
            return (args, false);
        }
        let map = self
            .keywords
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect();
        args.push(Value::Map(map));
        (args, true)
    }
}

/// The body formats the API reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Json,
    Msgpack,
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    bare_media_type(content_type).to_ascii_lowercase()
}

/// The media type of a `Content-Type` value or an `Accept` item, without parameters, as
/// written (media types are compared ignoring case).
pub(crate) fn bare_media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

/// True for the msgpack media types clients use, in any case.
pub(crate) fn is_msgpack(media: &str) -> bool {
    [
        "application/msgpack",
        "application/x-msgpack",
        "application/vnd.msgpack",
    ]
    .iter()
    .any(|m| media.eq_ignore_ascii_case(m))
}

/// Which format a call body is in, from its `Content-Type` (absent = JSON).
pub(crate) fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ArgsError> {
    let Some(content_type) = content_type else {
        return Ok(BodyFormat::Json);
    };
    let media = media_type(content_type);
    if media == "application/json" || media.is_empty() {
        Ok(BodyFormat::Json)
    } else if is_msgpack(&media) {
        Ok(BodyFormat::Msgpack)
    } else {
        Err(ArgsError::Unsupported(format!(
            "unsupported content type {media:?}: send application/json or application/msgpack"
        )))
    }
}

/// Undo `Content-Encoding` (only `gzip`/`identity`), refusing to inflate past `cap` bytes.
pub(crate) fn decode_content(
    encoding: Option<&str>,
    body: Vec<u8>,
    cap: usize,
) -> Result<Vec<u8>, ArgsError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::GzDecoder::new(body.as_slice())
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| ArgsError::Bad(format!("invalid gzip body: {e}")))?;
            if out.len() > cap {
                return Err(ArgsError::TooLarge(cap));
            }
            Ok(out)
        }
        Some(other) => Err(ArgsError::Unsupported(format!(
            "unsupported content encoding {other:?}: send gzip or none"
        ))),
    }
}

/// One query value, coerced as the module docs say.
pub(crate) fn coerce(text: &str) -> Result<Value, ArgsError> {
    match text {
        "true" => return Ok(Value::Boolean(true)),
        "false" => return Ok(Value::Boolean(false)),
        "null" => return Ok(Value::Nil),
        _ => {}
    }
    if text.starts_with('{') || text.starts_with('[') {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ArgsError::Bad(format!("invalid JSON in query value {text:?}: {e}")))?;
        return Ok(from_json(json));
    }
    let numeric = text.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-+.eE".contains(&b));
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return Ok(Value::from(f));
            }
        }
    }
    Ok(Value::from(text))
}

/// Keyword arguments from a query string, without the control keys.
pub(crate) fn query_kwargs(query: &str) -> Result<Vec<(String, Value)>, ArgsError> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if CONTROL_KEYS.contains(&key.as_ref()) {
            continue;
        }
        let value = coerce(&value)?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key.into_owned(), value)),
        }
    }
    Ok(out)
}

/// The value of query key `key`, if present (the last one).
pub(crate) fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == key)
        .last()
        .map(|(_, v)| v.into_owned())
}

/// The arguments of a call from its query and (already inflated) body.
pub(crate) fn call_args(
    query: &str,
    format: BodyFormat,
    body: &[u8],
) -> Result<CallArgs, ArgsError> {
    let mut args = CallArgs {
        positional: Vec::new(),
        keywords: query_kwargs(query)?,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(args);
    }
    let value = match format {
        BodyFormat::Json => {
            let json: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ArgsError::Bad(format!("invalid JSON body: {e}")))?;
            from_json(json)
        }
        BodyFormat::Msgpack => wire::decode_value(body)
            .map_err(|e| ArgsError::Bad(format!("invalid msgpack body: {e}")))?,
    };
    match value {
        Value::Map(entries) => {
            for (key, value) in entries {
                let Some(key) = key.as_str().map(str::to_owned) else {
                    return Err(ArgsError::Bad("argument names must be strings".into()));
                };
                match args.keywords.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => args.keywords.push((key, value)),
                }
            }
        }
        Value::Array(items) => {
            if !args.keywords.is_empty() {
                return Err(ArgsError::Bad(
                    "positional arguments (an array body) and query arguments cannot be mixed"
                        .into(),
                ));
            }
            args.positional = items;
        }
        other => {
            if !args.keywords.is_empty() {
                return Err(ArgsError::Bad(
                    "a positional argument and query arguments cannot be mixed".into(),
                ));
            }
            args.positional.push(other);
        }
    }
    Ok(args)
}

/// A msgpack value from JSON (integers stay integers).
pub(crate) fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::from(k), from_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_coerced_as_documented() {
        let cases: &[(&str, Value)] = &[
            ("3", Value::from(3)),
            ("-5", Value::from(-5)),
            ("007", Value::from(7)),
            ("3.5", Value::from(3.5)),
            ("1e3", Value::from(1000.0)),
            ("true", Value::Boolean(true)),
            ("null", Value::Nil),
            ("abc", Value::from("abc")),
            ("nan", Value::from("nan")),
            ("inf", Value::from("inf")),
            ("1e999", Value::from("1e999")),
            ("--1", Value::from("--1")),
            ("[1,2]", Value::Array(vec![1.into(), 2.into()])),
            (r#"{"x":1}"#, Value::Map(vec![("x".into(), 1.into())])),
        ];
        for (text, want) in cases {
            assert_eq!(&coerce(text).unwrap(), want, "{text}");
        }
        assert!(matches!(coerce("{oops"), Err(ArgsError::Bad(_))));
    }

    #[test]
    fn query_becomes_keywords_without_control_keys() {
        let kw = query_kwargs("a=9&b=22&_mode=first&s=x%20y&a=10").unwrap();
        assert_eq!(
            kw,
            vec![
                ("a".into(), Value::from(10)),
                ("b".into(), Value::from(22)),
                ("s".into(), Value::from("x y"))
            ]
        );
    }

    #[test]
    fn bodies_map_to_keywords_or_positions() {
        let args = call_args("a=1", BodyFormat::Json, br#"{"b": 2, "a": 3}"#).unwrap();
        assert_eq!(
            args.keywords,
            vec![("a".into(), 3.into()), ("b".into(), 2.into())]
        );
        let args = call_args("", BodyFormat::Json, b"[6, 7]").unwrap();
        assert_eq!(args.into_wire(), (vec![6.into(), 7.into()], false));
        assert!(matches!(
            call_args("a=1", BodyFormat::Json, b"[6, 7]"),
            Err(ArgsError::Bad(_))
        ));
        assert!(matches!(
            call_args("", BodyFormat::Json, b"{bad"),
            Err(ArgsError::Bad(_))
        ));
        let packed = wire::encode_value(&Value::Map(vec![("data".into(), 5.into())]));
        let args = call_args("", BodyFormat::Msgpack, &packed).unwrap();
        assert_eq!(
            args.into_wire(),
            (vec![Value::Map(vec![("data".into(), 5.into())])], true)
        );
        assert_eq!(
            call_args("", BodyFormat::Json, b"  ").unwrap(),
            CallArgs::default()
        );
    }

    #[test]
    fn media_types_are_parsed_not_matched() {
        assert_eq!(
            body_format(Some("application/json; charset=utf-8")),
            Ok(BodyFormat::Json)
        );
        assert_eq!(
            body_format(Some("Application/MsgPack")),
            Ok(BodyFormat::Msgpack)
        );
        assert_eq!(body_format(None), Ok(BodyFormat::Json));
        assert!(matches!(
            body_format(Some("application/x-www-form-urlencoded")),
            Err(ArgsError::Unsupported(_))
        ));
    }

    #[test]
    fn gzip_bodies_inflate_within_the_cap() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[b'x'; 5000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(
            decode_content(Some("gzip"), gz.clone(), 5000)
                .unwrap()
                .len(),
            5000
        );
        assert_eq!(
            decode_content(Some("gzip"), gz, 4999),
            Err(ArgsError::TooLarge(4999))
        );
        assert!(matches!(
            decode_content(Some("br"), vec![1], 10),
            Err(ArgsError::Unsupported(_))
        ));
        assert!(matches!(
            decode_content(Some("gzip"), b"not gzip".to_vec(), 100),
            Err(ArgsError::Bad(_))
        ));
    }
}
