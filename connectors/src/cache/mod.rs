//! Caching (in progress).
