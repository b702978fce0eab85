use super::*;
// The tests encode with the `base64` crate: an independent check of base64ct.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;

const SECRET: &[u8] = b"hypha-core-test-secret";
const NOW: u64 = 1_700_000_000;

fn claims(aud: Audience) -> Claims {
    Claims {
        sub: "user-1".into(),
        workspace: Some("ws-user-1".into()),
        client_id: Some("client-a".into()),
        email: Some("user@example.org".into()),
        roles: vec!["admin".into()],
        scope: "ws:ws-user-1#rw".into(),
        iat: NOW - 10,
        exp: NOW + 3600,
        nbf: None,
        iss: ISSUER.into(),
        aud: aud.as_str().into(),
    }
}

/// `token` as the API would take it, at [`NOW`], with [`SECRET`].
fn verify_api(token: &str) -> Result<Claims, JwtError> {
    verify(token, SECRET, NOW, Audience::Api)
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A token with arbitrary header and payload JSON, correctly HS256-signed under `secret`.
fn raw_token(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut mac = mac(secret);
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn malformed_reason(result: Result<Claims, JwtError>) -> String {
    match result {
        Err(JwtError::Malformed(reason)) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn round_trip() {
    for aud in [Audience::Api, Audience::Reconnection] {
        let c = claims(aud);
        let token = sign(&c, SECRET);
        assert_eq!(verify(&token, SECRET, NOW, aud), Ok(c));
    }
}

#[test]
fn round_trip_minimal_claims_and_nbf() {
    let c = Claims {
        sub: "anon".into(),
        workspace: None,
        client_id: None,
        email: None,
        roles: vec![],
        scope: String::new(),
        iat: 0,
        exp: NOW + 1,
        nbf: Some(NOW),
        iss: ISSUER.into(),
        aud: Audience::Api.as_str().into(),
    };
    let token = sign(&c, SECRET);
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let payload = String::from_utf8(payload).unwrap();
    // None fields are skipped, not serialized as null.
    assert!(!payload.contains("null"), "{payload}");
    assert_eq!(verify_api(&token), Ok(c));
}

#[test]
fn sign_emits_the_documented_header() {
    let token = sign(&claims(Audience::Api), SECRET);
    let header = token.split('.').next().unwrap();
    assert_eq!(header, b64(r#"{"alg":"HS256","typ":"JWT"}"#));
}

#[test]
fn audience_strings() {
    assert_eq!(Audience::Api.as_str(), "hypha-api");
    assert_eq!(Audience::Reconnection.as_str(), "hypha-reconnection");
    assert_eq!(Audience::Api.to_string(), "hypha-api");
}

#[test]
fn rejects_alg_none_with_empty_signature() {
    let payload = serde_json::to_string(&claims(Audience::Api)).unwrap();
    let token = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&payload)
    );
    let err = verify_api(&token).unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm("none".into()));
    assert_eq!(err.to_string(), "unsupported jwt algorithm: none");
}

#[test]
fn rejects_other_algorithms_even_when_signed() {
    let payload = serde_json::to_string(&claims(Audience::Api)).unwrap();
    for alg in ["HS512", "RS256", "hs256", "None"] {
        let token = raw_token(&format!(r#"{{"alg":"{alg}"}}"#), &payload, SECRET);
        assert_eq!(
            verify_api(&token),
            Err(JwtError::UnsupportedAlgorithm(alg.into()))
        );
    }
}

#[test]
fn rejects_missing_or_non_string_alg() {
    let payload = serde_json::to_string(&claims(Audience::Api)).unwrap();
    for header in [r#"{"typ":"JWT"}"#, r#"{"alg":null}"#, r#"{"alg":256}"#] {
        let token = raw_token(header, &payload, SECRET);
        malformed_reason(verify_api(&token));
    }
}

#[test]
fn typ_is_case_insensitive_jwt_or_absent() {
    let payload = serde_json::to_string(&claims(Audience::Api)).unwrap();
    for header in [r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","typ":"jwt"}"#] {
        let token = raw_token(header, &payload, SECRET);
        assert!(verify_api(&token).is_ok(), "{header}");
    }
    let token = raw_token(r#"{"alg":"HS256","typ":"JWS"}"#, &payload, SECRET);
    let reason = malformed_reason(verify_api(&token));
    assert_eq!(reason, "unsupported header typ: JWS");
    let token = raw_token(r#"{"alg":"HS256","typ":1}"#, &payload, SECRET);
    malformed_reason(verify_api(&token));
}

#[test]
fn rejects_crit_header() {
    let payload = serde_json::to_string(&claims(Audience::Api)).unwrap();
    let token = raw_token(
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        &payload,
        SECRET,
    );
    let reason = malformed_reason(verify_api(&token));
    assert!(reason.contains("crit"), "{reason}");
}

#[test]
fn rejects_tampered_payload_with_old_signature() {
    let token = sign(&claims(Audience::Api), SECRET);
    let [h, p, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let mut payload = URL_SAFE_NO_PAD.decode(p).unwrap();
    let json = String::from_utf8(payload.clone()).unwrap();
    // Flip one byte: "user-1" becomes "user-0".
    let at = json.find("user-1").unwrap() + 5;
    payload[at] ^= 0x01;
    let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(&payload));
    assert_eq!(verify_api(&forged), Err(JwtError::BadSignature));
}

#[test]
fn rejects_tampered_signature() {
    let token = sign(&claims(Audience::Api), SECRET);
    let (input, s) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    sig[31] ^= 0x80;
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
    assert_eq!(verify_api(&forged), Err(JwtError::BadSignature));
    // Truncated signature (valid base64url, wrong length).
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig[..16]));
    assert_eq!(verify_api(&forged), Err(JwtError::BadSignature));
    // Empty signature with alg HS256.
    let forged = format!("{input}.");
    assert_eq!(verify_api(&forged), Err(JwtError::BadSignature));
}

#[test]
fn rejects_wrong_secret() {
    let token = sign(&claims(Audience::Api), SECRET);
    assert_eq!(
        verify(&token, b"another-secret", NOW, Audience::Api),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn empty_secret_never_verifies() {
    let c = claims(Audience::Api);
    let token = sign(&c, b"");
    assert_eq!(
        verify(&token, b"", NOW, Audience::Api),
        Err(JwtError::BadSignature)
    );
    // Also not a token signed under a real secret.
    let token = sign(&c, SECRET);
    assert_eq!(
        verify(&token, b"", NOW, Audience::Api),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn signature_is_checked_before_claims() {
    // Unsigned garbage payload: reported as a bad signature, not a claim error.
    let token = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS256"}"#),
        b64(r#"{"sub":42}"#),
        URL_SAFE_NO_PAD.encode([0u8; 32])
    );
    assert_eq!(verify_api(&token), Err(JwtError::BadSignature));
    // An expired token under the wrong secret is a bad signature, not expired.
    let mut c = claims(Audience::Api);
    c.exp = NOW - 1;
    assert_eq!(
        verify(&sign(&c, SECRET), b"other", NOW, Audience::Api),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn expired_by_one_second() {
    let mut c = claims(Audience::Api);
    c.exp = NOW - 1;
    let err = verify_api(&sign(&c, SECRET)).unwrap_err();
    assert_eq!(
        err,
        JwtError::Expired {
            exp: NOW - 1,
            now: NOW
        }
    );
    assert_eq!(
        err.to_string(),
        "jwt expired at 1699999999 (now 1700000000)"
    );
}

#[test]
fn expired_exactly_at_exp() {
    let mut c = claims(Audience::Api);
    c.exp = NOW;
    let token = sign(&c, SECRET);
    assert_eq!(
        verify_api(&token),
        Err(JwtError::Expired { exp: NOW, now: NOW })
    );
    assert!(verify(&token, SECRET, NOW - 1, Audience::Api).is_ok());
}

#[test]
fn not_yet_valid() {
    let mut c = claims(Audience::Api);
    c.nbf = Some(NOW + 60);
    let token = sign(&c, SECRET);
    let err = verify_api(&token).unwrap_err();
    assert_eq!(
        err,
        JwtError::NotYetValid {
            nbf: NOW + 60,
            now: NOW
        }
    );
    assert_eq!(
        err.to_string(),
        "jwt not valid before 1700000060 (now 1700000000)"
    );
    // Valid exactly at nbf.
    assert_eq!(verify(&token, SECRET, NOW + 60, Audience::Api), Ok(c));
}

#[test]
fn reconnection_token_is_not_an_api_token() {
    let token = sign(&claims(Audience::Reconnection), SECRET);
    let err = verify_api(&token).unwrap_err();
    assert_eq!(
        err,
        JwtError::WrongAudience {
            expected: Audience::Api,
            found: "hypha-reconnection".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "wrong jwt audience: expected hypha-api, found hypha-reconnection"
    );
}

#[test]
fn api_token_is_not_a_reconnection_token() {
    let token = sign(&claims(Audience::Api), SECRET);
    assert_eq!(
        verify(&token, SECRET, NOW, Audience::Reconnection),
        Err(JwtError::WrongAudience {
            expected: Audience::Reconnection,
            found: "hypha-api".into()
        })
    );
}

#[test]
fn aud_array() {
    let payload = r#"{"sub":"u","exp":4102444800,"aud":["other","hypha-api"]}"#;
    let token = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, payload, SECRET);
    let c = verify_api(&token).unwrap();
    assert_eq!(c.aud, "hypha-api");
    assert_eq!(
        verify(&token, SECRET, NOW, Audience::Reconnection),
        Err(JwtError::WrongAudience {
            expected: Audience::Reconnection,
            found: r#"["other","hypha-api"]"#.into()
        })
    );
    let empty = raw_token(
        r#"{"alg":"HS256"}"#,
        r#"{"sub":"u","exp":4102444800,"aud":[]}"#,
        SECRET,
    );
    assert!(matches!(
        verify_api(&empty),
        Err(JwtError::WrongAudience { .. })
    ));
    let mixed = raw_token(
        r#"{"alg":"HS256"}"#,
        r#"{"sub":"u","exp":4102444800,"aud":["hypha-api",1]}"#,
        SECRET,
    );
    malformed_reason(verify_api(&mixed));
}

#[test]
fn float_numeric_claims_are_floored() {
    let payload = r#"{"sub":"u","iat":1700000000.9,"exp":1700000100.75,"nbf":1699999999.5,"aud":"hypha-api"}"#;
    let token = raw_token(r#"{"alg":"HS256"}"#, payload, SECRET);
    let c = verify_api(&token).unwrap();
    assert_eq!((c.iat, c.exp, c.nbf), (NOW, NOW + 100, Some(NOW - 1)));
    // exp 1700000000.5 floors to NOW: expired.
    let payload = r#"{"sub":"u","exp":1700000000.5,"aud":"hypha-api"}"#;
    let token = raw_token(r#"{"alg":"HS256"}"#, payload, SECRET);
    assert_eq!(
        verify_api(&token),
        Err(JwtError::Expired { exp: NOW, now: NOW })
    );
}

#[test]
fn rejects_bad_numeric_claims() {
    for exp in ["-1", "-0.5", "\"4102444800\"", "true", "1e20", "[1]"] {
        let payload = format!(r#"{{"sub":"u","exp":{exp},"aud":"hypha-api"}}"#);
        let token = raw_token(r#"{"alg":"HS256"}"#, &payload, SECRET);
        let reason = malformed_reason(verify_api(&token));
        assert!(reason.contains("exp"), "{exp}: {reason}");
    }
    for claim in ["iat", "nbf"] {
        let payload = format!(r#"{{"sub":"u","exp":4102444800,"aud":"hypha-api","{claim}":-5}}"#);
        let token = raw_token(r#"{"alg":"HS256"}"#, &payload, SECRET);
        let reason = malformed_reason(verify_api(&token));
        assert_eq!(reason, format!("claim {claim} is not a valid time: -5"));
    }
}

#[test]
fn rejects_missing_or_ill_typed_required_claims() {
    let cases = [
        (
            r#"{"exp":4102444800,"aud":"hypha-api"}"#,
            "missing claim sub",
        ),
        (r#"{"sub":"u","aud":"hypha-api"}"#, "missing claim exp"),
        (r#"{"sub":"u","exp":4102444800}"#, "missing claim aud"),
        (
            r#"{"sub":7,"exp":4102444800,"aud":"hypha-api"}"#,
            "claim sub is not a string: number",
        ),
        (
            r#"{"sub":"u","exp":4102444800,"aud":{"a":1}}"#,
            "claim aud is not a string or array: object",
        ),
        (
            r#"{"sub":"u","exp":4102444800,"aud":"hypha-api","roles":"admin"}"#,
            "claim roles is not an array: string",
        ),
        (
            r#"{"sub":"u","exp":4102444800,"aud":"hypha-api","scope":["a"]}"#,
            "claim scope is not a string: array",
        ),
        ("[1,2]", "payload is not a json object: array"),
    ];
    for (payload, expected) in cases {
        let token = raw_token(r#"{"alg":"HS256"}"#, payload, SECRET);
        let reason = malformed_reason(verify_api(&token));
        assert_eq!(reason, expected, "{payload}");
    }
    // Signed but not JSON.
    let token = raw_token(r#"{"alg":"HS256"}"#, "not json", SECRET);
    let reason = malformed_reason(verify_api(&token));
    assert!(reason.starts_with("payload is not json"), "{reason}");
}

#[test]
fn unknown_claims_are_ignored_and_defaults_apply() {
    let payload = r#"{"sub":"u","exp":4102444800,"aud":"hypha-api","extra":{"x":1},"email":null}"#;
    let token = raw_token(r#"{"alg":"HS256","kid":"k1"}"#, payload, SECRET);
    let c = verify_api(&token).unwrap();
    assert_eq!(
        c,
        Claims {
            sub: "u".into(),
            workspace: None,
            client_id: None,
            email: None,
            roles: vec![],
            scope: String::new(),
            iat: 0,
            exp: 4_102_444_800,
            nbf: None,
            iss: String::new(),
            aud: "hypha-api".into(),
        }
    );
}

#[test]
fn rejects_oversized_token() {
    let mut c = claims(Audience::Api);
    c.scope = "x".repeat(MAX_TOKEN_LEN);
    let token = sign(&c, SECRET);
    assert!(token.len() > MAX_TOKEN_LEN);
    let reason = malformed_reason(verify_api(&token));
    assert_eq!(
        reason,
        format!("token is {} bytes, limit is 8192", token.len())
    );
    // Just under the limit is still accepted.
    let base = sign(&claims(Audience::Api), SECRET).len();
    let mut c = claims(Audience::Api);
    c.scope
        .push_str(&" ".repeat((MAX_TOKEN_LEN - base) * 3 / 4 - 2));
    let token = sign(&c, SECRET);
    assert!(token.len() <= MAX_TOKEN_LEN, "{}", token.len());
    assert_eq!(verify_api(&token), Ok(c));
}

#[test]
fn rejects_wrong_part_count() {
    let token = sign(&claims(Audience::Api), SECRET);
    let (two, _) = token.rsplit_once('.').unwrap();
    let reason = malformed_reason(verify_api(two));
    assert_eq!(reason, "expected 3 dot-separated parts, found 2");
    let four = format!("{token}.{}", b64("x"));
    let reason = malformed_reason(verify_api(&four));
    assert_eq!(reason, "expected 3 dot-separated parts, found 4");
    let err = verify_api("").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed jwt: expected 3 dot-separated parts, found 1"
    );
}

#[test]
fn rejects_garbage() {
    let valid = sign(&claims(Audience::Api), SECRET);
    let (_, rest) = valid.split_once('.').unwrap();
    for garbage in [
        "..",
        "a.b.c",
        "not a token",
        "eyJ.eyJ.eyJ",
        "!!!.???.***",
        "Bearer x.y.z",
        &format!("{}.{rest}", b64("{\"alg\":\"HS256\"")), // truncated header json
        &format!("{}.{rest}", b64("\"HS256\"")),          // header not an object
        &format!("{}=.{rest}", &valid[..valid.find('.').unwrap()]), // padded base64
        &format!(
            "{}.{rest}",
            valid[..valid.find('.').unwrap()].replace('J', "+")
        ), // std alphabet
    ] {
        malformed_reason(verify_api(garbage));
    }
    // Bad base64url in the signature segment.
    let (input, _) = valid.rsplit_once('.').unwrap();
    let reason = malformed_reason(verify_api(&format!("{input}.@@@")));
    assert!(reason.starts_with("signature is not base64url"), "{reason}");
}

#[test]
fn claims_serde_shape() {
    let json = serde_json::to_value(claims(Audience::Api)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "sub": "user-1",
            "workspace": "ws-user-1",
            "client_id": "client-a",
            "email": "user@example.org",
            "roles": ["admin"],
            "scope": "ws:ws-user-1#rw",
            "iat": NOW - 10,
            "exp": NOW + 3600,
            "iss": "hypha-core",
            "aud": "hypha-api",
        })
    );
    let back: Claims = serde_json::from_value(json).unwrap();
    assert_eq!(back, claims(Audience::Api));
}

// ---- Interop vectors -------------------------------------------------------------------
//
// All vectors use INTEROP_SECRET and exp = 4102444800 (2100-01-01), so they stay valid.
// Tokens from other implementations are compared by verification (their JSON key order
// differs from ours), not by string equality.

const INTEROP_SECRET: &[u8] = b"hypha-interop-secret-0123456789abcdef";
const INTEROP_NOW: u64 = 1_750_000_000;

/// The claims behind [`OURS_API_TOKEN`].
fn interop_claims() -> Claims {
    Claims {
        sub: "rust-user".into(),
        workspace: Some("ws-rust".into()),
        client_id: Some("rust-client".into()),
        email: Some("rust@example.org".into()),
        roles: vec!["admin".into(), "user".into()],
        scope: "ws:ws-rust#rw ws:public#r".into(),
        iat: 1_700_000_000,
        exp: 4_102_444_800,
        nbf: Some(1_700_000_000),
        iss: ISSUER.into(),
        aud: Audience::Api.as_str().into(),
    }
}

/// Made by PyJWT 2.15.1:
///
/// ```text
/// python3 -c 'import jwt; print(jwt.encode({"sub":"py-user","workspace":"ws-py",
///   "client_id":"py-client","email":"py@example.org","roles":["admin","user"],
///   "scope":"ws:ws-py#rw","iat":1700000000,"exp":4102444800,"iss":"hypha-core",
///   "aud":"hypha-api"}, b"hypha-interop-secret-0123456789abcdef", algorithm="HS256"))'
/// ```
const PYJWT_API_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJweS11c2VyIiwid29ya3NwYWNlIjoid3MtcHkiLCJjbGllbnRfaWQiOiJweS1jbGllbnQiLCJlbWFpbCI6InB5QGV4YW1wbGUub3JnIiwicm9sZXMiOlsiYWRtaW4iLCJ1c2VyIl0sInNjb3BlIjoid3M6d3MtcHkjcnciLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMCwiaXNzIjoiaHlwaGEtY29yZSIsImF1ZCI6Imh5cGhhLWFwaSJ9.yqmJzJ9TjSFsTxjhdQ9jQ4CPF2x05aOL9Sbp4-zCfC0";

/// Made by PyJWT 2.15.1, with float times (as from `time.time()`) and an `aud` array:
///
/// ```text
/// python3 -c 'import jwt; print(jwt.encode({"sub":"py-user","client_id":"py-client",
///   "iat":1700000000.123456,"nbf":1700000000.5,"exp":4102444800.75,"iss":"hypha-core",
///   "aud":["other","hypha-reconnection"]}, b"hypha-interop-secret-0123456789abcdef",
///   algorithm="HS256"))'
/// ```
const PYJWT_RECONNECTION_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJweS11c2VyIiwiY2xpZW50X2lkIjoicHktY2xpZW50IiwiaWF0IjoxNzAwMDAwMDAwLjEyMzQ1NiwibmJmIjoxNzAwMDAwMDAwLjUsImV4cCI6NDEwMjQ0NDgwMC43NSwiaXNzIjoiaHlwaGEtY29yZSIsImF1ZCI6WyJvdGhlciIsImh5cGhhLXJlY29ubmVjdGlvbiJdfQ.wuYqoUwii9L-zVP5frSLRcJHwZTWBifHts-pXRllxg8";

/// Made with the Python standard library only (header keys in the other order, JSON with
/// spaces, float `exp`/`iat`, no `iss`):
///
/// ```text
/// python3 -c '
/// import base64, hashlib, hmac, json
/// b = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")
/// inp = b({"typ": "JWT", "alg": "HS256"}) + b"." + b({"aud": "hypha-api",
///   "exp": 4102444800.0, "iat": 1700000000.999, "sub": "stdlib-user",
///   "scope": "ws:public#r", "roles": []})
/// sig = base64.urlsafe_b64encode(hmac.new(b"hypha-interop-secret-0123456789abcdef", inp,
///   hashlib.sha256).digest()).rstrip(b"=")
/// print((inp + b"." + sig).decode())'
/// ```
const PYTHON_STDLIB_TOKEN: &str = "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJIUzI1NiJ9.eyJhdWQiOiAiaHlwaGEtYXBpIiwgImV4cCI6IDQxMDI0NDQ4MDAuMCwgImlhdCI6IDE3MDAwMDAwMDAuOTk5LCAic3ViIjogInN0ZGxpYi11c2VyIiwgInNjb3BlIjogIndzOnB1YmxpYyNyIiwgInJvbGVzIjogW119.Ux1Comkcyy-4EAhlruoOne9Nj5gavapGfWOYNC9DTS0";

/// Made by Node v20 `crypto.createHmac`:
///
/// ```text
/// node -e '
/// const c = require("crypto");
/// const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
/// const input = b({alg: "HS256", typ: "JWT"}) + "." + b({sub: "node-user",
///   workspace: "ws-node", roles: ["user"], scope: "ws:ws-node#rw", iat: 1700000000,
///   exp: 4102444800, iss: "hypha-core", aud: "hypha-api"});
/// console.log(input + "." + c.createHmac("sha256",
///   "hypha-interop-secret-0123456789abcdef").update(input).digest("base64url"));'
/// ```
const NODE_API_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJub2RlLXVzZXIiLCJ3b3Jrc3BhY2UiOiJ3cy1ub2RlIiwicm9sZXMiOlsidXNlciJdLCJzY29wZSI6IndzOndzLW5vZGUjcnciLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMCwiaXNzIjoiaHlwaGEtY29yZSIsImF1ZCI6Imh5cGhhLWFwaSJ9.vFGunGFfKNkC5rOcgAoqq9tGB85rMJQm_rS60Tv4AfI";

/// What our [`sign`] makes of [`interop_claims`] under [`INTEROP_SECRET`]. Checked to
/// verify elsewhere with (`T` set to this token):
///
/// ```text
/// python3 -c 'import jwt,sys; print(jwt.decode(sys.argv[1],
///   b"hypha-interop-secret-0123456789abcdef", algorithms=["HS256"],
///   audience="hypha-api", issuer="hypha-core"))' "$T"
///
/// python3 -c 'import base64,hashlib,hmac,sys; h,p,s=sys.argv[1].split(".");
///   d=lambda x: base64.urlsafe_b64decode(x+"="*(-len(x)%4));
///   print(hmac.compare_digest(hmac.new(b"hypha-interop-secret-0123456789abcdef",
///   (h+"."+p).encode(),hashlib.sha256).digest(), d(s)), d(h), d(p))' "$T"
///
/// node -e 'const c=require("crypto"); const [h,p,s]=process.argv[1].split(".");
///   const ok=c.timingSafeEqual(c.createHmac("sha256",
///   "hypha-interop-secret-0123456789abcdef").update(h+"."+p).digest(),
///   Buffer.from(s,"base64url")); console.log(ok, JSON.parse(Buffer.from(h,"base64url")),
///   JSON.parse(Buffer.from(p,"base64url")))' "$T"
/// ```
///
/// All three accepted it (PyJWT returned the claims; the others printed `true`), and PyJWT
/// rejected it with `audience="hypha-reconnection"`.
const OURS_API_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJydXN0LXVzZXIiLCJ3b3Jrc3BhY2UiOiJ3cy1ydXN0IiwiY2xpZW50X2lkIjoicnVzdC1jbGllbnQiLCJlbWFpbCI6InJ1c3RAZXhhbXBsZS5vcmciLCJyb2xlcyI6WyJhZG1pbiIsInVzZXIiXSwic2NvcGUiOiJ3czp3cy1ydXN0I3J3IHdzOnB1YmxpYyNyIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MTcwMDAwMDAwMCwiaXNzIjoiaHlwaGEtY29yZSIsImF1ZCI6Imh5cGhhLWFwaSJ9.s7Y3-9l90UyncHZ1r7M984wPwrOBTGIp_9ooOIeY2DQ";

#[test]
fn interop_pyjwt_api_token_verifies() {
    let c = verify(PYJWT_API_TOKEN, INTEROP_SECRET, INTEROP_NOW, Audience::Api).unwrap();
    assert_eq!(
        c,
        Claims {
            sub: "py-user".into(),
            workspace: Some("ws-py".into()),
            client_id: Some("py-client".into()),
            email: Some("py@example.org".into()),
            roles: vec!["admin".into(), "user".into()],
            scope: "ws:ws-py#rw".into(),
            iat: 1_700_000_000,
            exp: 4_102_444_800,
            nbf: None,
            iss: ISSUER.into(),
            aud: "hypha-api".into(),
        }
    );
    assert!(matches!(
        verify(
            PYJWT_API_TOKEN,
            INTEROP_SECRET,
            INTEROP_NOW,
            Audience::Reconnection
        ),
        Err(JwtError::WrongAudience { .. })
    ));
}

#[test]
fn interop_pyjwt_float_times_and_aud_array_verify() {
    let c = verify(
        PYJWT_RECONNECTION_TOKEN,
        INTEROP_SECRET,
        INTEROP_NOW,
        Audience::Reconnection,
    )
    .unwrap();
    assert_eq!(
        c,
        Claims {
            sub: "py-user".into(),
            workspace: None,
            client_id: Some("py-client".into()),
            email: None,
            roles: vec![],
            scope: String::new(),
            iat: 1_700_000_000,
            exp: 4_102_444_800,
            nbf: Some(1_700_000_000),
            iss: ISSUER.into(),
            aud: "hypha-reconnection".into(),
        }
    );
    assert_eq!(
        verify(
            PYJWT_RECONNECTION_TOKEN,
            INTEROP_SECRET,
            INTEROP_NOW,
            Audience::Api
        ),
        Err(JwtError::WrongAudience {
            expected: Audience::Api,
            found: r#"["other","hypha-reconnection"]"#.into()
        })
    );
    // nbf 1700000000.5 floors to 1700000000.
    assert_eq!(
        verify(
            PYJWT_RECONNECTION_TOKEN,
            INTEROP_SECRET,
            1_699_999_999,
            Audience::Reconnection
        ),
        Err(JwtError::NotYetValid {
            nbf: 1_700_000_000,
            now: 1_699_999_999
        })
    );
}

#[test]
fn interop_python_stdlib_token_verifies() {
    let c = verify(
        PYTHON_STDLIB_TOKEN,
        INTEROP_SECRET,
        INTEROP_NOW,
        Audience::Api,
    )
    .unwrap();
    assert_eq!(
        c,
        Claims {
            sub: "stdlib-user".into(),
            workspace: None,
            client_id: None,
            email: None,
            roles: vec![],
            scope: "ws:public#r".into(),
            iat: 1_700_000_000,
            exp: 4_102_444_800,
            nbf: None,
            iss: String::new(),
            aud: "hypha-api".into(),
        }
    );
}

#[test]
fn interop_node_token_verifies() {
    let c = verify(NODE_API_TOKEN, INTEROP_SECRET, INTEROP_NOW, Audience::Api).unwrap();
    assert_eq!(
        c,
        Claims {
            sub: "node-user".into(),
            workspace: Some("ws-node".into()),
            client_id: None,
            email: None,
            roles: vec!["user".into()],
            scope: "ws:ws-node#rw".into(),
            iat: 1_700_000_000,
            exp: 4_102_444_800,
            nbf: None,
            iss: ISSUER.into(),
            aud: "hypha-api".into(),
        }
    );
}

#[test]
fn interop_foreign_tokens_fail_under_another_secret_or_after_exp() {
    for token in [
        PYJWT_API_TOKEN,
        PYJWT_RECONNECTION_TOKEN,
        PYTHON_STDLIB_TOKEN,
        NODE_API_TOKEN,
        OURS_API_TOKEN,
    ] {
        assert_eq!(
            verify(token, SECRET, INTEROP_NOW, Audience::Api),
            Err(JwtError::BadSignature)
        );
        assert!(matches!(
            verify(token, INTEROP_SECRET, 4_102_444_800, Audience::Api),
            Err(JwtError::Expired { .. })
        ));
    }
}

#[test]
fn interop_our_token_is_byte_stable() {
    assert_eq!(sign(&interop_claims(), INTEROP_SECRET), OURS_API_TOKEN);
    assert_eq!(
        verify(OURS_API_TOKEN, INTEROP_SECRET, INTEROP_NOW, Audience::Api),
        Ok(interop_claims())
    );
}

proptest! {
    #[test]
    fn verify_never_panics_on_random_strings(token in ".{0,300}") {
        let _ = verify_api(&token);
    }

    #[test]
    fn verify_never_panics_on_dotted_base64ish(
        token in "[A-Za-z0-9_\\-=+/.]{0,200}",
    ) {
        let _ = verify_api(&token);
    }

    #[test]
    fn verify_never_panics_on_random_signed_payloads(
        header in "\\{\"alg\":\"HS256\"(,\"typ\":\"[a-zA-Z]{0,4}\")?\\}",
        payload in ".{0,200}",
    ) {
        let token = raw_token(&header, &payload, SECRET);
        let _ = verify_api(&token);
    }

    #[test]
    fn sign_verify_round_trips(
        sub in ".{0,40}",
        scope in ".{0,40}",
        roles in proptest::collection::vec(".{0,10}", 0..4),
        exp in (NOW + 1)..u64::MAX,
        reconnection in any::<bool>(),
    ) {
        let aud = if reconnection { Audience::Reconnection } else { Audience::Api };
        let c = Claims {
            sub,
            workspace: None,
            client_id: None,
            email: None,
            roles,
            scope,
            iat: NOW,
            exp,
            nbf: None,
            iss: ISSUER.into(),
            aud: aud.as_str().into(),
        };
        let token = sign(&c, SECRET);
        prop_assert_eq!(verify(&token, SECRET, NOW, aud), Ok(c));
    }
}
