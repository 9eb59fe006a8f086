//! Publish/subscribe (in progress).
