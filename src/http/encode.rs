//! From results to response bytes (http-and-cluster.md §5 items 4–6): the response format a
//! request asked for, values as JSON or msgpack, stream items as NDJSON, server-sent events or
//! concatenated msgpack, and the `{"success": false, "detail": …}` error body.

use std::borrow::Cow;

use base64ct::{Base64, Encoding as _};
use rmpv::Value;
use serde::ser::{Serialize, SerializeMap as _, Serializer};

use super::args::{bare_media_type, is_msgpack};
use crate::wire;

/// How a response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Msgpack,
}

/// How a generator result is streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFormat {
    /// `application/x-ndjson`: one JSON value per line (hypha-core's choice, the default).
    Ndjson,
    /// `text/event-stream`: `data: <json>` events, then `data: [DONE]` (Python hypha's choice).
    Sse,
    /// `application/msgpack`: one msgpack object after another (self-delimiting).
    Msgpack,
}

/// The response format: `Accept` first, then the request's own body format (as Python does).
pub(crate) fn negotiate(
    accept: Option<&str>,
    request_media: Option<&str>,
) -> (Format, StreamFormat) {
    // Every request passes here: media types are compared in place, not copied to lower case.
    let accepts = |pred: &dyn Fn(&str) -> bool| {
        accept.is_some_and(|a| a.split(',').any(|part| pred(bare_media_type(part))))
    };
    if accepts(&|m| m.eq_ignore_ascii_case("text/event-stream")) {
        let format = if accepts(&|m| is_msgpack(m)) {
            Format::Msgpack
        } else {
            Format::Json
        };
        return (format, StreamFormat::Sse);
    }
    if accepts(&|m| is_msgpack(m)) {
        return (Format::Msgpack, StreamFormat::Msgpack);
    }
    let asks_json = accepts(&|m| {
        m.eq_ignore_ascii_case("application/json") || m.eq_ignore_ascii_case("application/x-ndjson")
    });
    if !asks_json && request_media.is_some_and(|m| is_msgpack(bare_media_type(m))) {
        return (Format::Msgpack, StreamFormat::Msgpack);
    }
    (Format::Json, StreamFormat::Ndjson)
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Msgpack => "application/msgpack",
        }
    }

    /// A whole response body holding `value`.
    pub(crate) fn body(self, value: &Value) -> Vec<u8> {
        match self {
            Self::Json => json_bytes(value),
            Self::Msgpack => wire::encode_value(value),
        }
    }
}

impl StreamFormat {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Sse => "text/event-stream",
            Self::Msgpack => "application/msgpack",
        }
    }

    /// The bytes of one stream item.
    pub(crate) fn item(self, value: &Value) -> Vec<u8> {
        match self {
            Self::Ndjson => {
                let mut line = json_bytes(value);
                line.push(b'\n');
                line
            }
            Self::Sse => [&b"data: "[..], &json_bytes(value), b"\n\n"].concat(),
            Self::Msgpack => wire::encode_value(value),
        }
    }

    /// The item that ends a stream with an error.
    pub(crate) fn error_item(self, detail: &str) -> Vec<u8> {
        let item = Value::Map(vec![
            ("type".into(), "error".into()),
            ("error".into(), detail.into()),
        ]);
        let mut bytes = self.item(&item);
        bytes.extend(self.end());
        bytes
    }

    /// What closes a stream that ended well.
    pub(crate) fn end(self) -> Vec<u8> {
        match self {
            Self::Sse => b"data: [DONE]\n\n".to_vec(),
            Self::Ndjson | Self::Msgpack => Vec::new(),
        }
    }
}

/// The JSON body of every error: `{"detail": …, "success": false}`. Written straight from a
/// struct (one allocation; a `json!` map and its `Display` took eight and the format machinery):
/// every refusal of an anonymous flood passes here.
pub(crate) fn error_body(detail: &str) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        detail: &'a str,
        success: bool,
    }
    // Cannot fail: a string and a bool.
    serde_json::to_vec(&ErrorBody {
        detail,
        success: false,
    })
    .unwrap_or_default()
}

/// A msgpack value as JSON text. Bytes become `{"_rtype": "bytes", "_rvalue": <base64>}` (so a
/// bytes or ndarray result is never a 500); non-finite floats, extension values (timestamps)
/// and nil become `null`; map keys are sorted, a repeated key keeps its last value, and a key
/// that is not a string is written as its JSON text. Written straight from the value: every
/// answer passes here.
pub(crate) fn json_bytes(value: &Value) -> Vec<u8> {
    // Cannot fail: every key written is a string.
    serde_json::to_vec(&JsonText(value)).unwrap_or_else(|_| b"null".to_vec())
}

/// [`json_bytes`]'s rules as a serde value.
struct JsonText<'a>(&'a Value);

impl Serialize for JsonText<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil | Value::Ext(..) => out.serialize_unit(),
            Value::Boolean(b) => out.serialize_bool(*b),
            Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(signed), _) => out.serialize_i64(signed),
                (None, Some(unsigned)) => out.serialize_u64(unsigned),
                (None, None) => out.serialize_unit(),
            },
            // serde_json writes a non-finite float as `null`.
            Value::F32(f) => out.serialize_f64(f64::from(*f)),
            Value::F64(f) => out.serialize_f64(*f),
            Value::String(s) => out.serialize_str(&String::from_utf8_lossy(s.as_bytes())),
            Value::Binary(bytes) => {
                let mut map = out.serialize_map(Some(2))?;
                map.serialize_entry("_rtype", "bytes")?;
                map.serialize_entry("_rvalue", &Base64::encode_string(bytes))?;
                map.end()
            }
            Value::Array(items) => out.collect_seq(items.iter().map(JsonText)),
            Value::Map(entries) => {
                let mut keyed: Vec<(Cow<'_, str>, &Value)> = entries
                    .iter()
                    .map(|(k, v)| match k.as_str() {
                        Some(s) => (Cow::Borrowed(s), v),
                        None => (
                            Cow::Owned(String::from_utf8_lossy(&json_bytes(k)).into_owned()),
                            v,
                        ),
                    })
                    .collect();
                // Stable: of equal keys the last stays last, and is the one kept.
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                let mut map = out.serialize_map(None)?;
                for (i, (key, value)) in keyed.iter().enumerate() {
                    if keyed.get(i + 1).is_some_and(|next| next.0 == *key) {
                        continue;
                    }
                    map.serialize_entry(key.as_ref(), &JsonText(value))?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_is_the_json_of_its_detail() {
        for detail in [
            "",
            "Permission denied for service default/root:vault",
            "quotes \" and \\ backslashes, a tab\t, a nul \u{0}, é, 😀",
        ] {
            let body = error_body(detail);
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                serde_json::json!({"success": false, "detail": detail}),
            );
            // Keys in the order every earlier answer had them (serde_json's sorted map).
            assert_eq!(
                body,
                serde_json::json!({"success": false, "detail": detail})
                    .to_string()
                    .into_bytes()
            );
        }
    }

    #[test]
    fn accept_wins_then_the_request_format() {
        assert_eq!(negotiate(None, None), (Format::Json, StreamFormat::Ndjson));
        assert_eq!(
            negotiate(Some("text/event-stream"), None),
            (Format::Json, StreamFormat::Sse)
        );
        assert_eq!(
            negotiate(Some("application/msgpack"), None),
            (Format::Msgpack, StreamFormat::Msgpack)
        );
        assert_eq!(
            negotiate(None, Some("application/msgpack")),
            (Format::Msgpack, StreamFormat::Msgpack)
        );
        assert_eq!(
            negotiate(Some("application/json"), Some("application/msgpack")),
            (Format::Json, StreamFormat::Ndjson)
        );
    }

    #[test]
    fn media_types_match_in_any_case_and_with_parameters() {
        assert_eq!(
            negotiate(
                Some("Text/Event-Stream, Application/X-MsgPack; q=0.9"),
                None
            ),
            (Format::Msgpack, StreamFormat::Sse)
        );
        assert_eq!(
            negotiate(Some("APPLICATION/JSON"), Some("Application/MsgPack; v=1")),
            (Format::Json, StreamFormat::Ndjson)
        );
        assert_eq!(
            negotiate(Some("text/html"), Some(" application/VND.msgpack ")),
            (Format::Msgpack, StreamFormat::Msgpack)
        );
        assert_eq!(
            negotiate(
                Some("application/msgpackx"),
                Some("application/msgpack-ish")
            ),
            (Format::Json, StreamFormat::Ndjson),
            "a longer name is another media type"
        );
    }

    #[test]
    fn json_never_fails_on_bytes_or_nan() {
        let v = Value::Map(vec![
            ("n".into(), Value::F64(f64::NAN)),
            ("b".into(), Value::Binary(vec![1, 2, 3])),
            (Value::from(7), Value::Ext(1, vec![0])),
        ]);
        assert_eq!(
            String::from_utf8(json_bytes(&v)).unwrap(),
            r#"{"7":null,"b":{"_rtype":"bytes","_rvalue":"AQID"},"n":null}"#
        );
    }

    /// The conversion `json_bytes` replaced (a `serde_json::Value` tree, then its text), kept
    /// as the oracle of what the HTTP API has always written.
    fn to_json(value: &Value) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            Value::Nil | Value::Ext(..) => J::Null,
            Value::Boolean(b) => J::Bool(*b),
            Value::Integer(i) => i
                .as_i64()
                .map(J::from)
                .or_else(|| i.as_u64().map(J::from))
                .unwrap_or(J::Null),
            Value::F32(f) => serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number),
            Value::F64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            Value::Binary(bytes) => serde_json::json!({
                "_rtype": "bytes",
                "_rvalue": Base64::encode_string(bytes),
            }),
            Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k.as_str() {
                            Some(s) => s.to_owned(),
                            None => to_json(k).to_string(),
                        };
                        (key, to_json(v))
                    })
                    .collect(),
            ),
        }
    }

    /// A pseudo-random msgpack value: every kind `to_json` treats apart, nested, with repeated,
    /// unordered and non-string map keys.
    fn arbitrary_value(seed: &mut u64, depth: u32) -> Value {
        fn next(seed: &mut u64) -> u64 {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        }
        let pick = next(seed) % if depth == 0 { 9 } else { 11 };
        let texts = ["", "a", "b", "é\"\\\n\u{1}", "\u{1F600}", "b", "_rtype"];
        match pick {
            0 => Value::Nil,
            1 => Value::Boolean(next(seed) % 2 == 0),
            2 => Value::from(next(seed) as i64),
            3 => Value::from(next(seed)),
            4 => Value::F64(
                [0.0, -0.0, 1.5, 1e300, f64::NAN, f64::INFINITY, 0.1][next(seed) as usize % 7],
            ),
            5 => Value::F32([1.25_f32, f32::NEG_INFINITY, 3.4e38][next(seed) as usize % 3]),
            6 => Value::from(texts[next(seed) as usize % texts.len()]),
            7 => Value::Binary((0..next(seed) % 5).map(|b| b as u8).collect()),
            8 => match next(seed) % 2 {
                0 => Value::Ext(1, vec![1, 2]),
                // A msgpack string that is not UTF-8.
                _ => rmpv::decode::read_value(&mut &[0xa2_u8, 0xff, b'x'][..]).unwrap(),
            },
            9 => Value::Array(
                (0..next(seed) % 4)
                    .map(|_| arbitrary_value(seed, depth - 1))
                    .collect(),
            ),
            _ => Value::Map(
                (0..next(seed) % 5)
                    .map(|_| {
                        let key = match next(seed) % 4 {
                            0 => Value::from(7),
                            1 => Value::Nil,
                            _ => Value::from(texts[next(seed) as usize % texts.len()]),
                        };
                        (key, arbitrary_value(seed, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn json_text_is_the_json_tree_written_out() {
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5_000 {
            let value = arbitrary_value(&mut seed, 3);
            assert_eq!(
                String::from_utf8(json_bytes(&value)).unwrap(),
                to_json(&value).to_string(),
                "{value:?}"
            );
        }
        let repeated = Value::Map(vec![
            ("b".into(), 1.into()),
            ("a".into(), 2.into()),
            ("b".into(), 3.into()),
        ]);
        assert_eq!(json_bytes(&repeated), br#"{"a":2,"b":3}"#);
    }

    #[test]
    fn stream_items_are_framed() {
        let one = Value::from(1);
        assert_eq!(StreamFormat::Ndjson.item(&one), b"1\n");
        assert_eq!(StreamFormat::Sse.item(&one), b"data: 1\n\n");
        assert_eq!(StreamFormat::Sse.end(), b"data: [DONE]\n\n");
        let err = String::from_utf8(StreamFormat::Sse.error_item("boom")).unwrap();
        assert_eq!(
            err,
            "data: {\"error\":\"boom\",\"type\":\"error\"}\n\ndata: [DONE]\n\n"
        );
    }
}
