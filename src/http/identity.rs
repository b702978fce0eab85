//! Who is calling, and which cross-origin reads the answer allows (http-and-cluster.md §5 items
//! 9–12).
//!
//! - The token comes from `Authorization` (`Bearer <t>`, `Basic base64(user:<t>)` with the token
//!   as password, or the raw token) or, failing that, from the `access_token` cookie — but the
//!   cookie only counts for a request without `Origin` or from an allowed origin, so a foreign
//!   page cannot ride a signed-in browser's cookie.
//! - A token that is present must verify; there is no anonymous fallback (the caller gets 401).
//! - CORS: `*` without credentials for everyone; the request's origin and
//!   `Access-Control-Allow-Credentials: true` only for the configured origins.

use base64ct::{Base64, Encoding as _};

use super::HttpRequest;

/// Where a token was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// No token: the anonymous HTTP user.
    None,
    /// This token, which must verify.
    Token(String),
}

/// The token a request carries, if any; the cookie counts only without an `Origin` or from one
/// of `allow_origins`.
pub(crate) fn credential(request: &HttpRequest, allow_origins: &[String]) -> Credential {
    if let Some(auth) = request.header("authorization").filter(|a| !a.is_empty()) {
        let (scheme, rest) = auth.split_once(' ').unwrap_or(("", auth));
        let token = if scheme.eq_ignore_ascii_case("bearer") {
            rest.trim().to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic_password(rest.trim()).unwrap_or_default()
        } else {
            auth.to_owned()
        };
        // An Authorization header that yields no token is still a credential that fails.
        return Credential::Token(token);
    }
    let origin_ok = request
        .header("origin")
        .is_none_or(|o| origin_allowed(o, allow_origins));
    if origin_ok {
        if let Some(token) = cookie(request, "access_token").filter(|t| !t.is_empty()) {
            return Credential::Token(token);
        }
    }
    Credential::None
}

fn basic_password(encoded: &str) -> Option<String> {
    let decoded = Base64::decode_vec(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

fn origin_allowed(origin: &str, allow_origins: &[String]) -> bool {
    allow_origins.iter().any(|o| o == origin)
}

/// CORS headers for a response to `request` (none without an `Origin`).
pub(crate) fn cors_headers(
    request: &HttpRequest,
    allow_origins: &[String],
) -> Vec<(String, String)> {
    let Some(origin) = request.header("origin") else {
        return Vec::new();
    };
    if origin_allowed(origin, allow_origins) {
        vec![
            ("access-control-allow-origin".into(), origin.to_owned()),
            ("access-control-allow-credentials".into(), "true".into()),
            ("vary".into(), "Origin".into()),
        ]
    } else {
        vec![("access-control-allow-origin".into(), "*".into())]
    }
}

/// Extra headers of a CORS preflight answer.
pub(crate) fn preflight_headers() -> Vec<(String, String)> {
    vec![
        (
            "access-control-allow-methods".into(),
            "GET, POST, OPTIONS".into(),
        ),
        (
            "access-control-allow-headers".into(),
            "Authorization, Content-Type, Content-Encoding, Accept".into(),
        ),
        ("access-control-max-age".into(), "600".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            ..HttpRequest::default()
        }
    }

    #[test]
    fn tokens_from_every_authorization_form() {
        let allow = [];
        let tok = |h: &[(&str, &str)]| credential(&request(h), &allow);
        assert_eq!(
            tok(&[("authorization", "Bearer abc")]),
            Credential::Token("abc".into())
        );
        // base64("git:abc")
        assert_eq!(
            tok(&[("authorization", "Basic Z2l0OmFiYw==")]),
            Credential::Token("abc".into())
        );
        assert_eq!(
            tok(&[("authorization", "abc")]),
            Credential::Token("abc".into())
        );
        assert_eq!(
            tok(&[("authorization", "Basic !!")]),
            Credential::Token(String::new())
        );
        assert_eq!(tok(&[]), Credential::None);
    }

    #[test]
    fn the_cookie_counts_only_without_a_foreign_origin() {
        let allow = ["https://app.example".to_owned()];
        let cookie = ("cookie", "a=1; access_token=tok");
        let tok = |h: &[(&str, &str)]| credential(&request(h), &allow);
        assert_eq!(tok(&[cookie]), Credential::Token("tok".into()));
        assert_eq!(
            tok(&[cookie, ("origin", "https://app.example")]),
            Credential::Token("tok".into())
        );
        assert_eq!(
            tok(&[cookie, ("origin", "https://evil.example")]),
            Credential::None
        );
    }

    #[test]
    fn credentials_are_reflected_only_for_allowed_origins() {
        let allow = ["https://app.example".to_owned()];
        let evil = cors_headers(&request(&[("origin", "https://evil.example")]), &allow);
        assert_eq!(
            evil,
            vec![("access-control-allow-origin".to_owned(), "*".to_owned())]
        );
        let good = cors_headers(&request(&[("origin", "https://app.example")]), &allow);
        assert!(good.contains(&("access-control-allow-credentials".into(), "true".into())));
        assert!(cors_headers(&request(&[]), &allow).is_empty());
    }
}
