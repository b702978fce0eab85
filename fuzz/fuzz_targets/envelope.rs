//! The routing envelope (`hypha_core::wire`): every binary frame a peer sends is decoded here
//! first. Input: the frame's bytes.
//!
//! Checks: decoding never panics; an envelope that decodes re-encodes to bytes that decode again
//! to the same bytes; the payload checks agree with each other (the routing-key scan accepts
//! exactly the payloads `decode_payload` accepts, and reports a routing key exactly when the
//! decoded map has one); a decoded value re-encodes to a value that decodes again.
#![no_main]

use hypha_core::wire::{self, Envelope};
use libfuzzer_sys::fuzz_target;
use rmpv::Value;

/// Payload keys that would shadow routing fields (`wire::ROUTING_KEYS`).
const ROUTING_KEYS: [&[u8]; 5] = [b"from", b"to", b"ws", b"user", b"ctx"];

fn value_round_trips(value: &Value) {
    let bytes = wire::encode_value(value);
    let again = wire::decode_value(&bytes).expect("an encoded value decodes");
    assert_eq!(
        wire::encode_value(&again),
        bytes,
        "a value re-encodes differently"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = wire::decode_value(data) {
        value_round_trips(&value);
    }
    let Ok(env) = Envelope::decode(data.to_vec()) else {
        return;
    };
    for key in ["type", "from", "to", "method", "session", "ws", "user"] {
        let _ = env.str(key);
    }
    let payload = env.decode_payload();
    let shadows = env.payload_shadows_routing();
    assert_eq!(
        payload.is_ok(),
        shadows.is_ok(),
        "decode_payload {payload:?} but payload_shadows_routing {shadows:?}"
    );
    if let (Ok(payload), Ok(shadows)) = (&payload, shadows) {
        let expected = match payload {
            Some(Value::Map(pairs)) => pairs.iter().any(|(k, _)| match k {
                Value::String(s) => ROUTING_KEYS.contains(&s.as_bytes()),
                _ => false,
            }),
            _ => false,
        };
        assert_eq!(
            shadows, expected,
            "payload_shadows_routing disagrees with {payload:?}"
        );
        if let Some(value) = payload {
            value_round_trips(value);
        }
    }
    // Compare bytes, not values: floats may be NaN.
    let bytes = env.encode();
    let again = Envelope::decode(bytes.clone()).expect("a re-encoded envelope decodes");
    assert_eq!(again.encode(), bytes, "an envelope re-encodes differently");
    assert_eq!(
        again.payload_bytes(),
        env.payload_bytes(),
        "the payload bytes changed"
    );
});
