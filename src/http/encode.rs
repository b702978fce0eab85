//! From results to response bytes (http-and-cluster.md §5 items 4–6): the response format a
//! request asked for, values as JSON or msgpack, stream items as NDJSON, server-sent events or
//! concatenated msgpack, and the `{"success": false, "detail": …}` error body.

use base64ct::{Base64, Encoding as _};
use rmpv::Value;

use super::args::{is_msgpack, media_type};
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
    let accepts = |pred: &dyn Fn(&str) -> bool| {
        accept.is_some_and(|a| a.split(',').any(|part| pred(&media_type(part))))
    };
    if accepts(&|m| m == "text/event-stream") {
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
    let asks_json = accepts(&|m| m == "application/json" || m == "application/x-ndjson");
    if !asks_json && request_media.is_some_and(|m| is_msgpack(&media_type(m))) {
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
            Self::Json => to_json(value).to_string().into_bytes(),
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
                let mut line = to_json(value).to_string().into_bytes();
                line.push(b'\n');
                line
            }
            Self::Sse => format!("data: {}\n\n", to_json(value)).into_bytes(),
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

/// The JSON body of every error: `{"success": false, "detail": …}`.
pub(crate) fn error_body(detail: &str) -> Vec<u8> {
    serde_json::json!({"success": false, "detail": detail})
        .to_string()
        .into_bytes()
}

/// A msgpack value as JSON. Bytes become `{"_rtype": "bytes", "_rvalue": <base64>}` (so a bytes
/// or ndarray result is never a 500); non-finite floats become `null`; extension values
/// (timestamps) become `null`; non-string map keys are written as their JSON text.
pub(crate) fn to_json(value: &Value) -> serde_json::Value {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn json_never_fails_on_bytes_or_nan() {
        let v = Value::Map(vec![
            ("b".into(), Value::Binary(vec![1, 2, 3])),
            ("n".into(), Value::F64(f64::NAN)),
        ]);
        assert_eq!(
            to_json(&v),
            serde_json::json!({"b": {"_rtype": "bytes", "_rvalue": "AQID"}, "n": null})
        );
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
