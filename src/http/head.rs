//! A request head as a JS driver (server mode in Deno and Node) packs it, in one msgpack buffer:
//! `[method, path, query, [name, value, name, value, ...], remote or nil, complete]`. The buffer
//! crosses into the wasm at once; reading a JS object field by field from the wasm crossed into
//! JS twice per string.

use rmpv::Value;

use super::HttpRequest;

/// The request in `head`, and whether it is complete (it has no body: no `handle_http_end` will
/// follow). Header names come out in lower case and the method in upper case, as
/// [`HttpRequest`] holds them.
pub(crate) fn unpack(head: &[u8]) -> Result<(HttpRequest, bool), String> {
    let Ok(Value::Array(fields)) = crate::wire::decode_value(head) else {
        return Err("a request head is a msgpack array".to_owned());
    };
    let [method, path, query, headers, remote, complete] =
        <[Value; 6]>::try_from(fields).map_err(|_| "a request head has six fields".to_owned())?;
    let text = |value: Value, what: &str| match value {
        Value::String(s) => s.into_str().ok_or_else(|| format!("{what} is not UTF-8")),
        _ => Err(format!("{what} must be a string")),
    };
    let Value::Array(flat) = headers else {
        return Err("headers must be an array".to_owned());
    };
    if flat.len() % 2 != 0 {
        return Err("headers must be name, value pairs".to_owned());
    }
    let mut pairs = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        let mut name = text(name, "a header name")?;
        name.make_ascii_lowercase();
        pairs.push((name, text(value, "a header value")?.into_bytes()));
    }
    let mut method = text(method, "method")?;
    method.make_ascii_uppercase();
    let request = HttpRequest {
        method,
        path: text(path, "path")?,
        query: text(query, "query")?,
        headers: pairs,
        remote: match remote {
            Value::Nil => None,
            remote => Some(text(remote, "remote")?),
        },
    };
    Ok((request, complete.as_bool() == Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(fields: Vec<Value>) -> Vec<u8> {
        crate::wire::encode_value(&Value::Array(fields))
    }

    fn head(headers: Vec<&str>, remote: Value, complete: Value) -> Vec<u8> {
        pack(vec![
            "get".into(),
            "/ws/services/s/f".into(),
            "a=1".into(),
            Value::Array(headers.into_iter().map(Value::from).collect()),
            remote,
            complete,
        ])
    }

    #[test]
    fn a_packed_head_becomes_the_request() {
        let bytes = head(
            vec![
                "Content-Type",
                "application/json",
                "x-Two",
                "a",
                "x-two",
                "b",
            ],
            "127.0.0.1:5000".into(),
            true.into(),
        );
        let (request, complete) = unpack(&bytes).unwrap();
        assert!(complete);
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/ws/services/s/f");
        assert_eq!(request.query, "a=1");
        assert_eq!(request.remote.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(
            request.headers,
            vec![
                ("content-type".to_owned(), b"application/json".to_vec()),
                ("x-two".to_owned(), b"a".to_vec()),
                ("x-two".to_owned(), b"b".to_vec()),
            ]
        );
        let (request, complete) = unpack(&head(vec![], Value::Nil, Value::Nil)).unwrap();
        assert!(!complete, "only `true` says the request has no body");
        assert_eq!(request.remote, None);
        assert!(request.headers.is_empty());
    }

    #[test]
    fn a_malformed_head_is_refused() {
        let cases = [
            crate::wire::encode_value(&Value::from("GET")),
            pack(vec![
                "GET".into(),
                "/".into(),
                "".into(),
                Value::Array(vec![]),
            ]),
            head(vec!["name-without-value"], Value::Nil, true.into()),
            pack(vec![
                Value::from(7),
                "/".into(),
                "".into(),
                Value::Array(vec![]),
                Value::Nil,
                true.into(),
            ]),
            head(vec![], Value::from(5000), true.into()),
            // A path that is not UTF-8: [ "GET", <0xff 0xfe>, "", [], nil, true ].
            vec![
                0x96, 0xa3, b'G', b'E', b'T', 0xa2, 0xff, 0xfe, 0xa0, 0x90, 0xc0, 0xc3,
            ],
            [head(vec![], Value::Nil, true.into()), vec![0xc0]].concat(),
            Vec::new(),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            assert!(unpack(bytes).is_err(), "case {i} was accepted");
        }
    }
}
