//! HS256 JSON Web Tokens: issuing ([`sign`]) and checking ([`verify`]) the tokens hypha-core
//! hands to clients, and the [`Claims`] they carry.
//!
//! This module owns the token format only: header, claims, signature, time window and
//! audience. It is pure: it reads no clock (the caller passes `now` in UNIX seconds), performs no
//! I/O and keeps no state. Which scopes or roles a token grants is decided elsewhere.
//!
//! Tokens arrive from hostile peers, so [`verify`] bounds their size, accepts only `HS256`,
//! checks the signature in constant time before it interprets any claim, and reports every
//! failure as a distinct [`JwtError`].

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `iss` claim hypha-core puts in the tokens it issues.
pub const ISSUER: &str = "hypha-core";

/// How long an API token lives when whoever asks for one does not say (seconds).
pub const DEFAULT_TOKEN_LIFE_SECS: u64 = 3600;

/// The longest token [`verify`] will look at, in bytes; longer ones are malformed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The only signing algorithm this module issues and accepts.
const ALGORITHM: &str = "HS256";

/// The header [`sign`] emits, as JSON.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Which use a token is for; maps to the `aud` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A token for calling the API (`"hypha-api"`).
    Api,
    /// A token that lets a client reconnect under its old identity (`"hypha-reconnection"`).
    Reconnection,
}

impl Audience {
    /// The `aud` claim value for this audience.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "hypha-api",
            Self::Reconnection => "hypha-reconnection",
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Claims as hypha-core issues them.
///
/// [`verify`] also accepts tokens from other implementations: numeric claims may be floats
/// (floored), `aud` may be an array (it is then reported as the matched audience), and the
/// claims hypha-core does not require (`iat`, `iss`, `roles`, `scope`, ...) may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// The workspace the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The client id the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's email, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// Issued at, UNIX seconds (0 when a foreign token omits it).
    pub iat: u64,
    /// Expiry, UNIX seconds: the token is invalid from this instant on.
    pub exp: u64,
    /// Not before, UNIX seconds: the token is invalid before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer: [`ISSUER`] when hypha-core issues the token (empty when a foreign token omits it).
    pub iss: String,
    /// Audience: `"hypha-api"` or `"hypha-reconnection"` (see [`Audience::as_str`]).
    pub aud: String,
}

impl Claims {
    /// Claims this server issues: for `audience`, subject `sub`, issued at `now` (UNIX seconds)
    /// and valid for `life_secs` (at least one second); no workspace, client, email, roles or
    /// scope yet.
    pub fn issued(audience: Audience, sub: String, now: u64, life_secs: u64) -> Self {
        Self {
            sub,
            workspace: None,
            client_id: None,
            email: None,
            roles: Vec::new(),
            scope: String::new(),
            iat: now,
            exp: now + life_secs.max(1),
            nbf: None,
            iss: ISSUER.to_owned(),
            aud: audience.as_str().to_owned(),
        }
    }
}

/// Why [`verify`] rejected a token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// The token is not a well-formed JWT: wrong shape or size, bad base64url, header or payload
    /// not a JSON object, a missing or ill-typed claim, an unsupported `typ` or a `crit` header.
    #[error("malformed jwt: {0}")]
    Malformed(String),
    /// The header names an algorithm other than `HS256` (for instance `none`).
    #[error("unsupported jwt algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signature does not match (or the verifying secret is empty).
    #[error("bad jwt signature")]
    BadSignature,
    /// `now >= exp`.
    #[error("jwt expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp` claim.
        exp: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// `nbf` is present and `now < nbf`.
    #[error("jwt not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf` claim.
        nbf: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// The `aud` claim does not contain the audience the caller asked for.
    #[error("wrong jwt audience: expected {expected}, found {found}")]
    WrongAudience {
        /// The audience the caller asked for.
        expected: Audience,
        /// The token's `aud` claim: the string, or a JSON array when it was an array.
        found: String,
    },
}

/// Sign `claims` with HS256 under `secret` and return the compact token.
///
/// The header is `{"alg":"HS256","typ":"JWT"}`. An empty secret still signs, but [`verify`]
/// never accepts anything under an empty secret.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("Claims has string keys only");
    let mut token = Base64UrlUnpadded::encode_string(HEADER_JSON.as_bytes());
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(&payload));
    let mut mac = mac(secret);
    mac.update(token.as_bytes());
    let signature = mac.finalize().into_bytes();
    token.push('.');
    token.push_str(&Base64UrlUnpadded::encode_string(&signature));
    token
}

/// Verify signature, alg, time window and audience. `now` is UNIX seconds.
///
/// Checks, in order: size and shape, header (`alg` must be `HS256`, `typ` if present must be
/// `JWT`, no `crit`), signature (constant time; an empty `secret` never verifies), claims,
/// `exp` (`now >= exp` is expired), `nbf` (`now < nbf` is not yet valid), then `aud` (a string,
/// or an array that must contain `audience`). No claim is interpreted before the signature
/// has been checked.
pub fn verify(
    token: &str,
    secret: &[u8],
    now: u64,
    audience: Audience,
) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed(format!(
            "token is {} bytes, limit is {MAX_TOKEN_LEN}",
            token.len()
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(malformed(format!(
            "expected 3 dot-separated parts, found {}",
            parts.len()
        )));
    };

    let header = decode_json_object(header_b64, "header")?;
    check_header(&header)?;

    let signature = Base64UrlUnpadded::decode_vec(signature_b64)
        .map_err(|e| malformed(format!("signature is not base64url: {e}")))?;
    if secret.is_empty() {
        return Err(JwtError::BadSignature);
    }
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let mut mac = mac(secret);
    mac.update(&token.as_bytes()[..signing_input_len]);
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;

    let payload = decode_json_object(payload_b64, "payload")?;
    let (mut claims, aud) = parse_claims(&payload)?;

    if now >= claims.exp {
        return Err(JwtError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if let Some(nbf) = claims.nbf {
        if now < nbf {
            return Err(JwtError::NotYetValid { nbf, now });
        }
    }

    let expected = audience.as_str();
    let matches = match &aud {
        AudClaim::One(found) => found == expected,
        AudClaim::Many(found) => found.iter().any(|a| a == expected),
    };
    if !matches {
        let found = match aud {
            AudClaim::One(found) => found,
            AudClaim::Many(found) => Value::from(found).to_string(),
        };
        return Err(JwtError::WrongAudience {
            expected: audience,
            found,
        });
    }
    expected.clone_into(&mut claims.aud);
    Ok(claims)
}

/// A fresh HMAC-SHA256 keyed with `secret`.
fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

fn malformed(reason: impl Into<String>) -> JwtError {
    JwtError::Malformed(reason.into())
}

/// Decode one base64url segment holding a JSON object; `what` names it in errors.
fn decode_json_object(segment: &str, what: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = Base64UrlUnpadded::decode_vec(segment)
        .map_err(|e| malformed(format!("{what} is not base64url: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(malformed(format!(
            "{what} is not a json object: {}",
            json_kind(&other)
        ))),
        Err(e) => Err(malformed(format!("{what} is not json: {e}"))),
    }
}

/// Accept only `alg: HS256`, an absent or `JWT` `typ`, and no `crit`.
fn check_header(header: &Map<String, Value>) -> Result<(), JwtError> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        Some(Value::String(alg)) => return Err(JwtError::UnsupportedAlgorithm(alg.clone())),
        Some(other) => {
            return Err(malformed(format!(
                "header alg is not a string: {}",
                json_kind(other)
            )))
        }
        None => return Err(malformed("header has no alg")),
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(Value::String(typ)) => {
            return Err(malformed(format!("unsupported header typ: {typ}")))
        }
        Some(other) => {
            return Err(malformed(format!(
                "header typ is not a string: {}",
                json_kind(other)
            )))
        }
    }
    if let Some(crit) = header.get("crit") {
        return Err(malformed(format!("unsupported crit header: {crit}")));
    }
    Ok(())
}

/// The `aud` claim as it arrived.
enum AudClaim {
    One(String),
    Many(Vec<String>),
}

/// Read the claims from a signature-checked payload. `Claims::aud` is left empty; the caller
/// fills it in once the audience has matched.
fn parse_claims(payload: &Map<String, Value>) -> Result<(Claims, AudClaim), JwtError> {
    let sub = required_string(payload, "sub")?;
    let exp = numeric_claim(payload, "exp")?.ok_or_else(|| malformed("missing claim exp"))?;
    let aud = match payload.get("aud") {
        Some(Value::String(aud)) => AudClaim::One(aud.clone()),
        Some(Value::Array(items)) => AudClaim::Many(string_array(items, "aud")?),
        Some(other) => {
            return Err(malformed(format!(
                "claim aud is not a string or array: {}",
                json_kind(other)
            )))
        }
        None => return Err(malformed("missing claim aud")),
    };
    let roles = match payload.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => string_array(items, "roles")?,
        Some(other) => {
            return Err(malformed(format!(
                "claim roles is not an array: {}",
                json_kind(other)
            )))
        }
    };
    let claims = Claims {
        sub,
        workspace: optional_string(payload, "workspace")?,
        client_id: optional_string(payload, "client_id")?,
        email: optional_string(payload, "email")?,
        roles,
        scope: optional_string(payload, "scope")?.unwrap_or_default(),
        iat: numeric_claim(payload, "iat")?.unwrap_or(0),
        exp,
        nbf: numeric_claim(payload, "nbf")?,
        iss: optional_string(payload, "iss")?.unwrap_or_default(),
        aud: String::new(),
    };
    Ok((claims, aud))
}

fn required_string(payload: &Map<String, Value>, name: &str) -> Result<String, JwtError> {
    optional_string(payload, name)?.ok_or_else(|| malformed(format!("missing claim {name}")))
}

/// A string claim; absent or `null` is `None`, any other type is malformed.
fn optional_string(payload: &Map<String, Value>, name: &str) -> Result<Option<String>, JwtError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(format!(
            "claim {name} is not a string: {}",
            json_kind(other)
        ))),
    }
}

fn string_array(items: &[Value], name: &str) -> Result<Vec<String>, JwtError> {
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(malformed(format!(
                "claim {name} has a non-string element: {}",
                json_kind(other)
            ))),
        })
        .collect()
}

/// A NumericDate claim (RFC 7519 §2): a non-negative integer, or a float that is floored.
/// Absent or `null` is `None`; negative, fractional-overflowing or non-numeric is malformed.
fn numeric_claim(payload: &Map<String, Value>, name: &str) -> Result<Option<u64>, JwtError> {
    let number = match payload.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number,
        Some(other) => {
            return Err(malformed(format!(
                "claim {name} is not a number: {}",
                json_kind(other)
            )))
        }
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    let bad = || malformed(format!("claim {name} is not a valid time: {number}"));
    if number.is_i64() {
        return Err(bad()); // a negative integer
    }
    let float = number.as_f64().ok_or_else(bad)?;
    // 2^64 is the first float `as u64` would saturate at; NaN and infinities are out of range.
    if !(0.0..18_446_744_073_709_551_616.0).contains(&float) {
        return Err(bad());
    }
    // The range check above makes this cast exact after flooring.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let floored = float.floor() as u64;
    Ok(Some(floored))
}

/// A short name for a JSON value's type, for error messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// Native only: proptest needs an OS random source, which wasm32-unknown-unknown lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
