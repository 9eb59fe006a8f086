//! Integration tests: one binary, one harness (`helpers`), the real server over real HTTP.

mod helpers;
