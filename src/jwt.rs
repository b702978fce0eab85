//! HS256 JSON Web Tokens (placeholder, being written).
