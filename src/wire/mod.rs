//! The routing envelope (placeholder, being written).
