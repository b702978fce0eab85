//! The one mapping from bridge failures to JavaScript: an `Error` with a stable `code`.

use wasm_bindgen::JsValue;

/// Stable error codes JavaScript can match on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorCode {
    /// A constructor or method option is missing or has the wrong type.
    BadOption,
    /// `message()` got something that is not a frame.
    BadFrame,
    /// A token failed verification.
    BadToken,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            Self::BadOption => "INVALID_OPTION",
            Self::BadFrame => "INVALID_FRAME",
            Self::BadToken => "INVALID_TOKEN",
        }
    }
}

/// A JS `Error` with `message` and `code`.
pub(crate) fn bridge_error(code: ErrorCode, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.as_str().into());
    error.into()
}
