//! JWT verification (`hypha_core::jwt::verify`): every token a peer presents (in the handshake,
//! an HTTP `Authorization` header or cookie, a manager call) goes through it. Input: the token.
//!
//! Checks: verifying never panics, under either audience and at any time; nothing verifies under
//! an empty or a wrong secret, or at the end of time; what verifies carries the audience asked
//! for. The input also serves as the subject of claims that are signed and verified back (they
//! must come back equal), and whose signed part, altered in one byte, must no longer verify.
#![no_main]

use hypha_core::jwt::{self, Audience, JwtError};
use hypha_core_fuzz::{claims, SECRET, T0};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let now = T0 / 1000;
    for audience in [Audience::Api, Audience::Reconnection] {
        for at in [now, 0, now + 7200] {
            match jwt::verify(&token, SECRET, at, audience) {
                Ok(claims) => assert_eq!(claims.aud, audience.as_str(), "{claims:?}"),
                Err(e) => drop(e.to_string()),
            }
        }
        assert!(
            jwt::verify(&token, SECRET, u64::MAX, audience).is_err(),
            "a token valid at the end of time"
        );
        assert!(
            jwt::verify(&token, b"", now, audience).is_err(),
            "a token verified under the empty secret"
        );
        assert!(
            jwt::verify(&token, b"not-the-fuzz-secret", now, audience).is_err(),
            "a token verified under the wrong secret"
        );
    }

    // Sign and verify back.
    let mut c = claims(&token);
    c.workspace = Some(token.chars().rev().collect());
    c.roles = token.split(',').take(4).map(str::to_owned).collect();
    let signed = jwt::sign(&c, SECRET);
    let verified = jwt::verify(&signed, SECRET, now, Audience::Api);
    if signed.len() > jwt::MAX_TOKEN_LEN {
        assert!(
            matches!(verified, Err(JwtError::Malformed(_))),
            "{verified:?}"
        );
        return;
    }
    assert_eq!(
        verified.as_ref(),
        Ok(&c),
        "a signed token does not verify back"
    );
    // One byte of the signed part (header and payload) altered.
    let signed_part = signed.rfind('.').expect("three parts");
    let at = data.first().map_or(0, |&b| usize::from(b)) * signed_part / 256;
    let mut tampered = signed.into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("base64url is ascii");
    assert!(
        jwt::verify(&tampered, SECRET, now, Audience::Api).is_err(),
        "a tampered token verifies: {tampered}"
    );
});
