//! The one mapping from bridge failures to JavaScript: an `Error` with a stable `code`.

use wasm_bindgen::JsValue;

/// Stable error codes JavaScript can match on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErrorCode {
    /// A constructor or method option is missing or has the wrong type.
    #[cfg(feature = "server-bridge")]
    InvalidOption,
    /// `message()` got something that is not a frame.
    #[cfg(feature = "server-bridge")]
    NotAFrame,
    /// A token failed verification.
    #[cfg(feature = "server-bridge")]
    TokenRejected,
    /// Plugin source that cannot be parsed.
    #[cfg(feature = "plugin-bridge")]
    InvalidPlugin,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            #[cfg(feature = "server-bridge")]
            Self::InvalidOption => "INVALID_OPTION",
            #[cfg(feature = "server-bridge")]
            Self::NotAFrame => "INVALID_FRAME",
            #[cfg(feature = "server-bridge")]
            Self::TokenRejected => "INVALID_TOKEN",
            #[cfg(feature = "plugin-bridge")]
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
