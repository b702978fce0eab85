//! The `built-in` service of an HTTP peer, as far as a provider needs it to answer: hypha-rpc
//! sends a result over `long_message_chunk_size` (256 KiB) through the receiver's
//! `message_cache` (protocol.md §2.8), after fetching the receiver's `built-in` descriptor. Only
//! the providers the exchange called may use it, one upload at a time, within a byte budget.

use std::collections::BTreeMap;

use rmpv::Value;

use super::call::method_frame;
use super::{Failure, Router};
use crate::http::HttpId;
use crate::manager;
use crate::time::Timestamp;
use crate::wire::Envelope;

/// Largest answer a provider may upload to one HTTP request.
pub(super) const MAX_UPLOAD: usize = 64 * 1024 * 1024;
/// Most chunks in one upload (256 KiB each from hypha-rpc: far above `MAX_UPLOAD`).
const MAX_CHUNKS: u64 = 4096;

/// An answer being uploaded to an HTTP peer.
#[derive(Debug, Default)]
pub(super) struct Upload {
    key: String,
    chunks: BTreeMap<u64, Vec<u8>>,
    size: usize,
}

/// Why a chunk was refused: a bad call (the provider is told), or the budget (the request fails).
pub(super) enum Refusal {
    Bad(String),
    TooLarge,
}

impl Router {
    /// A call to the peer's `services.built-in.<method>` from `from`.
    pub(super) fn peer_built_in(
        &mut self,
        now: Timestamp,
        id: HttpId,
        from: &str,
        method: &str,
        envelope: &Envelope,
    ) {
        let Some(exchange) = self.http.exchanges.get(&id) else {
            return;
        };
        // Only a provider this request is waiting on.
        if !exchange.pending.iter().any(|p| p.responder == from) {
            return;
        }
        let args = match envelope.decode_payload() {
            Ok(Some(payload)) => match manager::map_get(&payload, "args") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let session = envelope.str("session").map(str::to_owned);
        let outcome = match method {
            "get_service" => Ok(self.peer_built_in_descriptor(id)),
            "message_cache.create" => self.upload_create(id, &args),
            "message_cache.set" | "message_cache.append" => {
                match self.upload_chunk(id, method, &args) {
                    Err(Refusal::TooLarge) => {
                        let message = format!("too large (over {MAX_UPLOAD} bytes)");
                        self.peer_answer(now, id, from, session.as_deref(), Err(message.clone()));
                        let failure =
                            Failure::new(502, format!("the provider's answer is {message}"));
                        return self.fail(now, id, failure);
                    }
                    Err(Refusal::Bad(message)) => Err(message),
                    Ok(value) => Ok(value),
                }
            }
            "message_cache.remove" => {
                if let Some(exchange) = self.http.exchanges.get_mut(&id) {
                    exchange.upload = None;
                }
                Ok(Value::Nil)
            }
            "message_cache.process" => match self.upload_take(id, &args) {
                Ok(inner) => {
                    self.peer_answer(now, id, from, session.as_deref(), Ok(Value::Nil));
                    // The assembled message is the provider's, as if sent whole: its routing
                    // fields are those the Router stamped on this call.
                    let mut inner = inner;
                    for key in ["from", "to", "ws", "user"] {
                        if let Some(v) = envelope.get(key) {
                            inner.set(key, v);
                        }
                    }
                    self.peer_frame(now, id, inner);
                    return;
                }
                Err(e) => Err(e),
            },
            _ => Err(format!("method not found: services.built-in.{method}")),
        };
        self.peer_answer(now, id, from, session.as_deref(), outcome);
    }

    fn peer_built_in_descriptor(&self, id: HttpId) -> Value {
        let addr = self.http.exchanges[&id]
            .addr
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let function = |name: &str| {
            Value::Map(vec![
                ("_rtype".into(), "method".into()),
                ("_rtarget".into(), addr.as_str().into()),
                (
                    "_rmethod".into(),
                    format!("services.built-in.{name}").into(),
                ),
                ("_rpromise".into(), "*".into()),
            ])
        };
        Value::Map(vec![
            ("id".into(), "built-in".into()),
            ("type".into(), "built-in".into()),
            (
                "config".into(),
                Value::Map(vec![
                    ("visibility".into(), "public".into()),
                    ("api_version".into(), 3.into()),
                ]),
            ),
            (
                "message_cache".into(),
                Value::Map(
                    ["create", "set", "append", "process", "remove"]
                        .into_iter()
                        .map(|m| (m.into(), function(&format!("message_cache.{m}"))))
                        .collect(),
                ),
            ),
        ])
    }

    fn upload_create(&mut self, id: HttpId, args: &[Value]) -> Result<Value, String> {
        let key = args
            .first()
            .and_then(Value::as_str)
            .ok_or("message_cache: key must be a string")?;
        let exchange = self.http.exchanges.get_mut(&id).ok_or("request gone")?;
        exchange.upload = Some(Upload {
            key: key.to_owned(),
            ..Upload::default()
        });
        Ok(Value::Nil)
    }

    fn upload_chunk(&mut self, id: HttpId, method: &str, args: &[Value]) -> Result<Value, Refusal> {
        let bad = |message: &str| Refusal::Bad(message.to_owned());
        let exchange = self
            .http
            .exchanges
            .get_mut(&id)
            .ok_or_else(|| bad("request gone"))?;
        let upload = exchange
            .upload
            .as_mut()
            .ok_or_else(|| bad("message_cache: no upload open"))?;
        if args.first().and_then(Value::as_str) != Some(upload.key.as_str()) {
            return Err(bad("message_cache: unknown key"));
        }
        let (index, data) = if method.ends_with(".set") {
            (args.get(1).and_then(Value::as_u64), args.get(2))
        } else {
            (Some(upload.chunks.len() as u64), args.get(1))
        };
        let index = index
            .filter(|i| *i < MAX_CHUNKS)
            .ok_or_else(|| bad("message_cache: bad chunk index"))?;
        let Some(Value::Binary(bytes)) = data else {
            return Err(bad("message_cache: data must be bytes"));
        };
        let replaced = upload.chunks.get(&index).map_or(0, Vec::len);
        if upload.size - replaced + bytes.len() > MAX_UPLOAD {
            exchange.upload = None;
            return Err(Refusal::TooLarge);
        }
        upload.size = upload.size - replaced + bytes.len();
        upload.chunks.insert(index, bytes.clone());
        Ok(Value::Nil)
    }

    fn upload_take(&mut self, id: HttpId, args: &[Value]) -> Result<Envelope, String> {
        let exchange = self.http.exchanges.get_mut(&id).ok_or("request gone")?;
        let upload = exchange
            .upload
            .take()
            .ok_or("message_cache: no upload open")?;
        if args.first().and_then(Value::as_str) != Some(upload.key.as_str()) {
            return Err("message_cache: unknown key".to_owned());
        }
        if upload
            .chunks
            .keys()
            .copied()
            .ne(0..upload.chunks.len() as u64)
        {
            return Err("message_cache: chunks missing".to_owned());
        }
        let mut bytes = Vec::with_capacity(upload.size);
        for chunk in upload.chunks.into_values() {
            bytes.extend_from_slice(&chunk);
        }
        Envelope::decode(bytes).map_err(|e| format!("message_cache: {e}"))
    }

    /// Resolve or reject a provider's call to this peer.
    fn peer_answer(
        &mut self,
        now: Timestamp,
        id: HttpId,
        to: &str,
        session: Option<&str>,
        outcome: Result<Value, String>,
    ) {
        let (Some(session), Some(conn)) = (session, self.http.exchanges.get(&id).map(|e| e.conn))
        else {
            return;
        };
        let (kind, value) = crate::wire::settlement(outcome);
        let frame = method_frame(to, &format!("{session}.{kind}"), None, vec![value], false);
        self.dispatch_envelope(now, conn, frame);
    }
}
