//! The one mapping from bridge failures to JavaScript: an `Error` with a stable `code`.

use wasm_bindgen::JsValue;

/// Stable error codes JavaScript can match on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorCode {
    /// A constructor or method option is missing or has the wrong type.
    InvalidOption,
    /// `message()` got something that is not a frame.
    NotAFrame,
    /// A token failed verification.
    TokenRejected,
    /// Plugin source that cannot be parsed.
    InvalidPlugin,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidOption => "INVALID_OPTION",
            Self::NotAFrame => "INVALID_FRAME",
            Self::TokenRejected => "INVALID_TOKEN",
            Self::InvalidPlugin => "INVALID_PLUGIN",
        }
    }
}

/// A JS `Error` with `message` and `code`.
pub(crate) fn bridge_error(code: ErrorCode, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.as_str().into());
    error.into()
}
