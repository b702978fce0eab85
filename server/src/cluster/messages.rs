//! What goes through Redis: the key names, and the two kinds of messages on a server's channel
//! (a frame for one of its clients, or news of another server's clients and services).

use std::time::Duration;

use hypha_core::ClusterOut;
use rmpv::Value;

pub(super) const FRAME: u8 = 1;
pub(super) const NEWS: u8 = 2;

pub(super) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn server_key(id: &str) -> String {
    format!("hc:server:{id}")
}

pub(super) fn clients_key(id: &str) -> String {
    format!("hc:clients:{id}")
}

pub(super) fn services_key(id: &str) -> String {
    format!("hc:services:{id}")
}

pub(super) fn client_key(addr: &str) -> String {
    format!("hc:client:{addr}")
}

pub(super) fn channel(id: &str) -> String {
    format!("hc:to:{id}")
}

pub(super) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("invariant: writing to a Vec cannot fail");
    out
}

pub(super) fn decode(bytes: &[u8]) -> Option<Value> {
    rmpv::decode::read_value(&mut &bytes[..]).ok()
}

/// `[NEWS] msgpack [kind, origin, a?]`.
pub(super) fn news_message(origin: &str, news: &ClusterOut) -> Vec<u8> {
    let (kind, arg) = match news {
        ClusterOut::ClientJoined { client, user, .. } => (
            "client",
            Value::Array(vec![client.to_string().into(), user.clone()]),
        ),
        ClusterOut::ClientLeft { client } => ("left", client.to_string().into()),
        ClusterOut::ServiceRegistered { info } => ("service", info.clone()),
        ClusterOut::ServiceUnregistered { id } => ("unservice", id.as_str().into()),
        ClusterOut::TakenOver { client, .. } => ("takeover", client.to_string().into()),
    };
    let mut out = vec![NEWS];
    out.extend(encode(&Value::Array(vec![kind.into(), origin.into(), arg])));
    out
}

/// `[FRAME] len(origin) origin frame`.
pub(super) fn frame_message(origin: &str, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + origin.len() + frame.len());
    out.push(FRAME);
    out.push(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(frame);
    out
}

pub(super) fn map_str<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}
