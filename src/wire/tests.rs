use std::time::{Duration, Instant};

use proptest::prelude::*;
use rmpv::Value;

use super::*;

fn s(v: &str) -> Value {
    Value::from(v)
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (s(k), v.clone())).collect())
}

fn frame(main: &Value, extra: Option<&Value>) -> Vec<u8> {
    let mut out = encode_value(main);
    if let Some(extra) = extra {
        out.extend(encode_value(extra));
    }
    out
}

fn example_main() -> Value {
    map(&[
        ("type", s("method")),
        ("from", s("c1")),
        ("to", s("*/mgr")),
        ("method", s("services.built-in.get_service")),
        ("session", s("s1")),
    ])
}

fn example_extra() -> Value {
    map(&[
        ("args", Value::Array(vec![s("default")])),
        ("promise", s("*")),
        ("t", Value::from(15)),
    ])
}

fn e2e_payload() -> Value {
    map(&[
        (
            "_enc",
            map(&[
                ("v", Value::from(2)),
                ("pub", Value::Binary(vec![7; 32])),
                ("nonce", Value::Binary(vec![9; 24])),
            ]),
        ),
        (
            "data",
            Value::Binary((0..=255u8).cycle().take(1000).collect()),
        ),
    ])
}

fn with_payload_bytes(payload: &[u8]) -> Envelope {
    let mut bytes = encode_value(&map(&[("type", s("method"))]));
    bytes.extend_from_slice(payload);
    Envelope::decode(bytes).expect("valid envelope")
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x91; depth - 1];
    bytes.push(0x90);
    bytes
}

fn malformed(r: Result<impl fmt::Debug, WireError>) -> bool {
    matches!(r, Err(WireError::Malformed(_)))
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn worked_example_round_trips() {
    let extra = example_extra();
    let extra_bytes = encode_value(&extra);
    let mut env = Envelope::decode(frame(&example_main(), Some(&extra))).expect("decode");
    assert_eq!(env.str("type"), Some("method"));
    assert_eq!(env.str("to"), Some("*/mgr"));
    assert_eq!(env.str("method"), Some("services.built-in.get_service"));
    assert_eq!(env.payload_bytes(), &extra_bytes[..]);
    assert!(!env.payload_shadows_routing().expect("scan"));

    env.set("from", s("ws1/c1"));
    env.set("ws", s("ws1"));
    env.set(
        "user",
        map(&[("id", s("u1")), ("is_anonymous", Value::from(false))]),
    );
    assert_eq!(env.remove("ctx"), None);
    let out = env.encode();
    assert!(out.ends_with(&extra_bytes));

    let again = Envelope::decode(out).expect("decode again");
    assert_eq!(again.str("from"), Some("ws1/c1"));
    assert_eq!(again.str("ws"), Some("ws1"));
    assert_eq!(again.str("type"), Some("method"));
    assert_eq!(again.str("session"), Some("s1"));
    let user = again.get("user").expect("user");
    assert_eq!(
        user,
        map(&[("id", s("u1")), ("is_anonymous", Value::from(false))])
    );
    let keys: Vec<String> = again.main().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["type", "from", "to", "method", "session", "ws", "user"]
    );
    assert_eq!(again.payload_bytes(), &extra_bytes[..]);
    assert_eq!(again.decode_payload(), Ok(Some(extra)));
    assert_eq!(again, env);
}

#[test]
fn ctx_is_removed() {
    let main = map(&[("type", s("method")), ("ctx", map(&[("ws", s("evil"))]))]);
    let mut env = Envelope::decode(frame(&main, None)).expect("decode");
    assert!(env.remove("ctx").is_some());
    assert_eq!(env.remove("ctx"), None);
    let again = Envelope::decode(env.encode()).expect("decode");
    assert_eq!(again.get("ctx"), None);
    assert_eq!(again.main().len(), 1);
}

#[test]
fn frame_without_payload() {
    let env = Envelope::decode(frame(&example_main(), None)).expect("decode");
    assert!(env.payload_bytes().is_empty());
    assert_eq!(env.decode_payload(), Ok(None));
    assert_eq!(env.payload_shadows_routing(), Ok(false));
    assert_eq!(env.encode(), frame(&example_main(), None));
}

#[test]
fn e2e_payload_passes_through_byte_identical() {
    let payload = e2e_payload();
    let payload_bytes = encode_value(&payload);
    let mut env = Envelope::decode(frame(&example_main(), Some(&payload))).expect("decode");
    assert_eq!(env.payload_shadows_routing(), Ok(false));
    env.set("from", s("ws1/c1"));
    env.remove("session");
    let out = env.encode();
    assert!(out.ends_with(&payload_bytes));
    let again = Envelope::decode(out).expect("decode");
    assert_eq!(again.payload_bytes(), &payload_bytes[..]);
    assert_eq!(again.decode_payload(), Ok(Some(payload)));
}

#[test]
fn unparsed_payload_bytes_are_kept_verbatim() {
    // Even a payload this module would reject is forwarded untouched by decode/encode.
    let env = with_payload_bytes(&[0xc1, 0xff, 0x00]);
    assert!(env.encode().ends_with(&[0xc1, 0xff, 0x00]));
    assert!(malformed(env.decode_payload()));
}

#[test]
fn new_builds_envelope_and_payload() {
    let payload = example_extra();
    let env = Envelope::new(vec![("type".into(), s("method"))], Some(&payload));
    assert_eq!(env.payload_bytes(), &encode_value(&payload)[..]);
    let again = Envelope::decode(env.encode()).expect("decode");
    assert_eq!(again, env);
    assert_eq!(again.decode_payload(), Ok(Some(payload)));

    let bare = Envelope::new(vec![("type".into(), s("pong"))], None);
    assert!(bare.payload_bytes().is_empty());
    assert_eq!(Envelope::decode(bare.encode()), Ok(bare));
}

#[test]
fn accessors() {
    let mut env = Envelope::new(
        vec![("a".into(), Value::from(1)), ("b".into(), s("x"))],
        None,
    );
    assert_eq!(env.get("a"), Some(Value::from(1)));
    assert_eq!(env.str("a"), None, "not a string");
    assert_eq!(env.str("b"), Some("x"));
    assert_eq!(env.str("missing"), None);
    env.set("a", s("y"));
    env.set("c", Value::Nil);
    let keys: Vec<String> = env.main().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert_eq!(env.str("a"), Some("y"));
    assert_eq!(env.remove("b"), Some(s("x")));
    assert_eq!(env.main().len(), 2);
}

#[test]
fn non_utf8_string_value_is_not_a_str() {
    // {"to": <str with invalid utf-8>}
    let bytes = vec![0x81, 0xa2, b't', b'o', 0xa2, 0xff, 0xfe];
    let env = Envelope::decode(bytes.clone()).expect("decode");
    assert!(env.get("to").is_some());
    assert_eq!(env.str("to"), None);
    assert_eq!(env.encode(), bytes);
    // Re-encoding keeps it a str (rmpv's own encoder would turn it into a bin).
    assert_eq!(
        encode_value(&env.get("to").expect("to")),
        [0xa2, 0xff, 0xfe]
    );
    assert_eq!(
        encode_value(&decode_value(&[0xa1, 0xc0]).expect("value")),
        [0xa1, 0xc0]
    );
}

#[test]
fn duplicate_keys_keep_last_value_at_first_position() {
    // {"to": "a", "type": "x", "to": "b"}
    let main = Value::Map(vec![
        (s("to"), s("a")),
        (s("type"), s("x")),
        (s("to"), s("b")),
    ]);
    let env = Envelope::decode(frame(&main, None)).expect("decode");
    assert_eq!(
        env.main(),
        &[("to".to_owned(), s("b")), ("type".to_owned(), s("x"))]
    );

    // Many keys take the hash-map path.
    let mut pairs: Vec<(Value, Value)> = (0..40)
        .map(|i| (s(&format!("k{i}")), Value::from(i)))
        .collect();
    pairs.push((s("k3"), s("last")));
    let env = Envelope::decode(encode_value(&Value::Map(pairs))).expect("decode");
    assert_eq!(env.main().len(), 40);
    assert_eq!(env.str("k3"), Some("last"));
    assert_eq!(env.main()[3].0, "k3");
}

#[test]
fn large_envelope_encodes_with_wide_headers() {
    let long = "x".repeat(70_000);
    let fields: Vec<(String, Value)> = (0..20)
        .map(|i| (format!("key{i}"), Value::from(i)))
        .chain([
            ("a".repeat(40), s("b")),
            ("b".repeat(300), s(&long)),
            (long.clone(), Value::Nil),
        ])
        .collect();
    let env = Envelope::new(fields, None);
    assert_eq!(Envelope::decode(env.encode()), Ok(env));
}

// ---------------------------------------------------------------------------------------------
// Payload shadowing
// ---------------------------------------------------------------------------------------------

#[test]
fn shadowing_keys_are_detected() {
    for key in ["from", "to", "ws", "user", "ctx"] {
        let payload = map(&[("args", Value::Array(vec![])), (key, s("x"))]);
        let env = with_payload_bytes(&encode_value(&payload));
        assert_eq!(env.payload_shadows_routing(), Ok(true), "{key}");
    }
}

#[test]
fn ordinary_payloads_do_not_shadow() {
    let cases = [
        example_extra(),
        e2e_payload(),
        // Routing-like keys only nested deeper, or as values, or as near misses.
        map(&[("args", map(&[("from", s("x"))])), ("t", s("to"))]),
        map(&[("From", s("x")), ("fromx", s("x")), ("t", s("x"))]),
        Value::Map(vec![
            (Value::from(1), s("x")),
            (Value::Binary(b"from".to_vec()), s("x")),
            (Value::Array(vec![s("to")]), s("x")),
        ]),
        Value::Map(vec![]),
    ];
    for payload in cases {
        let env = with_payload_bytes(&encode_value(&payload));
        assert_eq!(env.payload_shadows_routing(), Ok(false), "{payload}");
    }
}

#[test]
fn non_map_payloads_do_not_shadow() {
    for payload in [
        Value::Nil,
        Value::from(3),
        s("from"),
        Value::Binary(vec![1, 2, 3]),
        Value::Array(vec![s("from"), s("to")]),
        Value::Ext(1, vec![0; 4]),
    ] {
        let env = with_payload_bytes(&encode_value(&payload));
        assert_eq!(env.payload_shadows_routing(), Ok(false), "{payload}");
    }
}

#[test]
fn shadow_scan_skips_a_mebibyte_binary_fast() {
    let big = Value::Binary(vec![0xab; 1 << 20]);
    let bytes = encode_value(&map(&[("data", big.clone()), ("to", s("x"))]));
    let clean = encode_value(&map(&[
        ("_enc", map(&[("v", Value::from(2))])),
        ("data", big),
    ]));
    let shadowing = with_payload_bytes(&bytes);
    let clean = with_payload_bytes(&clean);
    let started = Instant::now();
    for _ in 0..1000 {
        assert_eq!(shadowing.payload_shadows_routing(), Ok(true));
        assert_eq!(clean.payload_shadows_routing(), Ok(false));
    }
    // Skipping by length is O(1) per value; copying 1 MiB 2000 times would take far longer.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_payloads_are_errors_for_the_scan() {
    let mut truncated = encode_value(&example_extra());
    truncated.pop();
    let mut trailing = encode_value(&example_extra());
    trailing.push(0xc0);
    let deep = {
        let mut b = vec![0x81, 0xa1, b'a'];
        b.extend(nested_arrays(200));
        b
    };
    let cases: [(&[u8], WireError); 7] = [
        (&truncated, WireError::Malformed(String::new())),
        (&trailing, WireError::TrailingBytes),
        (&[0xc1], WireError::Malformed(String::new())),
        (
            &[0x81, 0xa2, b't', b'o'],
            WireError::Malformed(String::new()),
        ),
        (
            &[0x81, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
            WireError::Malformed(String::new()),
        ),
        (
            &[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'a'],
            WireError::Malformed(String::new()),
        ),
        (&deep, WireError::TooDeep),
    ];
    for (bytes, want) in cases {
        let env = with_payload_bytes(bytes);
        let got = env.payload_shadows_routing();
        let got_payload = env.decode_payload();
        match want {
            WireError::Malformed(_) => {
                assert!(malformed(got.clone()), "{bytes:02x?}: {got:?}");
                assert!(
                    malformed(got_payload.clone()),
                    "{bytes:02x?}: {got_payload:?}"
                );
            }
            want => {
                assert_eq!(got, Err(want.clone()), "{bytes:02x?}");
                assert_eq!(got_payload, Err(want), "{bytes:02x?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed envelopes and hostile lengths
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_frame() {
    assert_eq!(Envelope::decode(Vec::new()), Err(WireError::Empty));
    assert_eq!(decode_value(&[]), Err(WireError::Empty));
}

#[test]
fn envelope_must_be_a_map() {
    for main in [
        s("x"),
        Value::Array(vec![]),
        Value::Nil,
        Value::from(1),
        Value::Binary(vec![]),
    ] {
        assert_eq!(
            Envelope::decode(encode_value(&main)),
            Err(WireError::NotAMap),
            "{main}"
        );
    }
    assert_eq!(Envelope::decode(vec![0xc1]), Err(WireError::NotAMap));
}

#[test]
fn envelope_keys_must_be_utf8_strings() {
    for key in [
        Value::from(1),
        Value::Binary(b"to".to_vec()),
        Value::Nil,
        Value::Array(vec![]),
    ] {
        let main = Value::Map(vec![(s("type"), s("x")), (key.clone(), s("y"))]);
        assert_eq!(
            Envelope::decode(encode_value(&main)),
            Err(WireError::NonStringKey),
            "{key}"
        );
    }
    // A str key with invalid UTF-8.
    assert_eq!(
        Envelope::decode(vec![0x81, 0xa1, 0xff, 0xc0]),
        Err(WireError::NonStringKey)
    );
}

#[test]
fn truncated_and_reserved_envelopes_are_malformed() {
    let full = frame(&example_main(), None);
    for cut in 1..full.len() {
        assert!(
            malformed(Envelope::decode(full[..cut].to_vec())),
            "cut at {cut}"
        );
    }
    // Reserved marker as a value.
    assert!(malformed(Envelope::decode(vec![0x81, 0xa1, b'a', 0xc1])));
    assert!(malformed(decode_value(&[0x92, 0xc0, 0xc1])));
}

#[test]
fn huge_declared_lengths_fail_fast_without_allocating() {
    let cases: &[&[u8]] = &[
        // array32 / map32 with 0xFFFFFFFF elements and 3 bytes behind.
        &[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0],
        &[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'a', 0xc0],
        // str32 / bin32 / ext32 claiming 4 GiB.
        &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a', b'b', b'c'],
        &[0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0xc9, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        // array16 / map16 claiming more than is present.
        &[0xdc, 0xff, 0xff, 0xc0],
        &[0xde, 0xff, 0xff, 0xc0],
        // nested lie.
        &[0x91, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0],
    ];
    let started = Instant::now();
    for bytes in cases {
        assert!(malformed(decode_value(bytes)), "{bytes:02x?}");
        let payload = with_payload_bytes(bytes);
        assert!(malformed(payload.decode_payload()), "{bytes:02x?}");
        assert!(malformed(payload.payload_shadows_routing()), "{bytes:02x?}");
        // The same lies inside an envelope.
        let mut main = vec![0x81, 0xa1, b'a'];
        main.extend_from_slice(bytes);
        assert!(malformed(Envelope::decode(main)), "{bytes:02x?}");
    }
    // Map32 as the envelope itself.
    assert!(malformed(Envelope::decode(vec![
        0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'a', 0xc0
    ])));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn envelope_depth_limit() {
    // The envelope map is level 1, so MAX_MAIN_DEPTH - 1 nested arrays under a key still fit.
    let mut ok = vec![0x81, 0xa1, b'a'];
    ok.extend(nested_arrays(MAX_MAIN_DEPTH - 1));
    assert!(Envelope::decode(ok).is_ok());
    let mut deep = vec![0x81, 0xa1, b'a'];
    deep.extend(nested_arrays(MAX_MAIN_DEPTH));
    assert_eq!(Envelope::decode(deep), Err(WireError::TooDeep));
}

#[test]
fn payload_depth_limit() {
    assert!(decode_value(&nested_arrays(MAX_PAYLOAD_DEPTH)).is_ok());
    assert_eq!(
        decode_value(&nested_arrays(MAX_PAYLOAD_DEPTH + 1)),
        Err(WireError::TooDeep)
    );
    let mut ok = vec![0x81, 0xa1, b'a'];
    ok.extend(nested_arrays(MAX_PAYLOAD_DEPTH - 1));
    let env = with_payload_bytes(&ok);
    assert!(env.decode_payload().is_ok());
    assert_eq!(env.payload_shadows_routing(), Ok(false));
}

#[test]
fn hundred_thousand_nested_arrays_do_not_overflow_the_stack() {
    let deep = nested_arrays(100_000);
    assert_eq!(decode_value(&deep), Err(WireError::TooDeep));
    let env = with_payload_bytes(&deep);
    assert_eq!(env.decode_payload(), Err(WireError::TooDeep));
    assert_eq!(env.payload_shadows_routing(), Err(WireError::TooDeep));
    let mut main = vec![0x81, 0xa1, b'a'];
    main.extend_from_slice(&deep);
    assert_eq!(Envelope::decode(main), Err(WireError::TooDeep));
    let mut maps = [0x81, 0xa1, b'a'].repeat(100_000);
    maps.push(0xc0);
    assert_eq!(Envelope::decode(maps.clone()), Err(WireError::TooDeep));
    assert_eq!(decode_value(&maps), Err(WireError::TooDeep));
}

#[test]
fn decode_value_rejects_trailing_bytes() {
    assert_eq!(decode_value(&[0xc0, 0xc0]), Err(WireError::TrailingBytes));
    assert_eq!(decode_value(&[0x01]), Ok(Value::from(1)));
}

#[test]
fn errors_have_lowercase_messages() {
    let errors = [
        WireError::Empty,
        WireError::NotAMap,
        WireError::NonStringKey,
        WireError::TooDeep,
        WireError::TrailingBytes,
        decode_value(&[0xc1]).expect_err("reserved"),
        decode_value(&[0x92]).expect_err("truncated"),
        decode_value(&[0xdd, 0xff, 0xff, 0xff, 0xff]).expect_err("lie"),
    ];
    for e in errors {
        let msg = e.to_string();
        assert_eq!(msg, msg.to_lowercase(), "{msg}");
        assert!(!msg.is_empty());
    }
}

#[test]
fn every_scalar_marker_round_trips() {
    let values = [
        Value::Nil,
        Value::from(true),
        Value::from(false),
        Value::from(0),
        Value::from(127),
        Value::from(-1),
        Value::from(-32),
        Value::from(200u8),
        Value::from(60_000u16),
        Value::from(4_000_000_000u32),
        Value::from(u64::MAX),
        Value::from(-100i8),
        Value::from(-30_000i16),
        Value::from(-2_000_000_000i32),
        Value::from(i64::MIN),
        Value::F32(1.5),
        Value::F64(-2.25),
        s(""),
        s(&"a".repeat(31)),
        s(&"a".repeat(200)),
        s(&"a".repeat(1000)),
        s(&"a".repeat(70_000)),
        Value::Binary(vec![1; 10]),
        Value::Binary(vec![1; 300]),
        Value::Binary(vec![1; 70_000]),
        Value::Ext(1, vec![1]),
        Value::Ext(2, vec![1; 2]),
        Value::Ext(3, vec![1; 4]),
        Value::Ext(4, vec![1; 8]),
        Value::Ext(5, vec![1; 16]),
        Value::Ext(-6, vec![1; 3]),
        Value::Ext(7, vec![1; 300]),
        Value::Ext(8, vec![1; 70_000]),
        Value::Array((0..20).map(Value::from).collect()),
        Value::Array((0..70_000).map(Value::from).collect()),
        Value::Map((0..20).map(|i| (Value::from(i), Value::Nil)).collect()),
        Value::Map((0..70_000).map(|i| (Value::from(i), Value::Nil)).collect()),
    ];
    for v in values {
        let bytes = encode_value(&v);
        assert_eq!(decode_value(&bytes).as_ref(), Ok(&v));
        let env = with_payload_bytes(&bytes);
        assert_eq!(env.payload_shadows_routing(), Ok(false));
        let env = Envelope::new(vec![("k".into(), v.clone())], Some(&v));
        assert_eq!(Envelope::decode(env.encode()).as_ref(), Ok(&env));
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f32>()
            .prop_filter("no nan", |f| !f.is_nan())
            .prop_map(Value::F32),
        any::<f64>()
            .prop_filter("no nan", |f| !f.is_nan())
            .prop_map(Value::F64),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Binary),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d)),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(Value::Map),
        ]
    })
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    (
        proptest::collection::btree_map("[a-z_]{0,12}", arb_value(), 0..24),
        proptest::option::of(arb_value()),
    )
        .prop_map(|(fields, payload)| Envelope::new(fields.into_iter().collect(), payload.as_ref()))
}

fn exercise(bytes: Vec<u8>) {
    let _ = decode_value(&bytes);
    if let Ok(env) = Envelope::decode(bytes) {
        let _ = env.decode_payload();
        let _ = env.payload_shadows_routing();
        // Compare bytes, not values: random floats may be NaN.
        let bytes = env.encode();
        let again = Envelope::decode(bytes.clone()).expect("re-encoded envelope decodes");
        assert_eq!(again.encode(), bytes);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(bytes);
    }

    #[test]
    fn random_map_prefixed_bytes_never_panic(
        head in prop_oneof![Just(0x81u8), Just(0x82), Just(0x8f), Just(0xde), Just(0xdf)],
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut frame = vec![head];
        frame.extend(bytes);
        exercise(frame);
    }

    #[test]
    fn truncated_frames_never_panic(env in arb_envelope(), cut in any::<prop::sample::Index>()) {
        let bytes = env.encode();
        let cut = cut.index(bytes.len() + 1);
        exercise(bytes[..cut].to_vec());
    }

    #[test]
    fn corrupted_frames_never_panic(
        env in arb_envelope(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = env.encode();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        exercise(bytes);
    }

    #[test]
    fn decode_encode_round_trips(env in arb_envelope()) {
        let bytes = env.encode();
        let decoded = Envelope::decode(bytes.clone()).expect("decode");
        prop_assert_eq!(&decoded, &env);
        prop_assert_eq!(decoded.encode(), bytes);
        let payload = decoded.decode_payload().expect("payload");
        let expected = if env.payload_bytes().is_empty() {
            None
        } else {
            Some(decode_value(env.payload_bytes()).expect("value"))
        };
        prop_assert_eq!(payload, expected);
        prop_assert!(decoded.payload_shadows_routing().is_ok());
    }

    #[test]
    fn value_round_trips(v in arb_value()) {
        prop_assert_eq!(decode_value(&encode_value(&v)), Ok(v));
    }

    #[test]
    fn encoder_matches_rmpv_for_valid_values(v in arb_value()) {
        let mut reference = Vec::new();
        rmpv::encode::write_value(&mut reference, &v).expect("vec write");
        prop_assert_eq!(encode_value(&v), reference);
    }

    #[test]
    fn shadow_scan_agrees_with_decoded_payload(
        keys in proptest::collection::vec(
            prop_oneof![
                Just("from".to_owned()), Just("to".to_owned()), Just("ws".to_owned()),
                Just("user".to_owned()), Just("ctx".to_owned()), "[a-z_]{0,6}",
            ],
            0..6,
        ),
        values in proptest::collection::vec(arb_value(), 6),
    ) {
        let payload = Value::Map(keys.iter().zip(&values).map(|(k, v)| (s(k), v.clone())).collect());
        let expected = keys.iter().any(|k| ["from", "to", "ws", "user", "ctx"].contains(&k.as_str()));
        let env = with_payload_bytes(&encode_value(&payload));
        prop_assert_eq!(env.payload_shadows_routing(), Ok(expected));
    }
}
