//! [`CacheKey`]: what identifies a cached result, hashed to 128 bits.
//!
//! The hash is FNV-1a 128 over length-prefixed parts, so that `("ab", "c")` and `("a", "bc")`
//! differ and a PUBLIC key never equals a PRIVATE one. FNV is not a cryptographic hash: it is
//! used because the crate has no such dependency yet. PRIVATE keys mix in an identity the
//! caller cannot choose freely (a credential hash or a verified subject), and keys are not
//! exposed to clients; switching [`hash_parts`] to SHA-256 (truncated) changes nothing else.

use std::fmt;

/// Identifies one cached connector result: the source, the exact request and, for PRIVATE
/// data, the caller's identity. Compact (16 bytes); stored as 32 hex digits after the
/// backend's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(u128);

impl CacheKey {
    /// The key of a request.
    ///
    /// - `source`: the `@source` name.
    /// - `request`: the exact request, as text that differs whenever the result may differ
    ///   (statement + bound values; method + URL + forwarded headers).
    /// - `scope`: `None` for PUBLIC data; for PRIVATE data, the caller's identity (e.g. a hash
    ///   of the authorization header, or the JWT subject).
    pub fn new(source: &str, request: &str, scope: Option<&str>) -> Self {
        let mut parts: Vec<&[u8]> = vec![source.as_bytes(), request.as_bytes()];
        match scope {
            None => parts.push(b"public"),
            Some(identity) => {
                parts.push(b"private");
                parts.push(identity.as_bytes());
            }
        }
        CacheKey(hash_parts(&parts))
    }

    /// A PUBLIC key: shared by every caller.
    pub fn public(source: &str, request: &str) -> Self {
        CacheKey::new(source, request, None)
    }

    /// A PRIVATE key: only the caller with this identity reads it.
    pub fn private(source: &str, request: &str, identity: &str) -> Self {
        CacheKey::new(source, request, Some(identity))
    }

    /// The key as stored by a shared backend: `prefix` then 32 lowercase hex digits.
    pub fn storage_key(&self, prefix: &str) -> String {
        format!("{prefix}{self}")
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

const FNV_OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
const FNV_PRIME: u128 = 0x0000000001000000000000000000013b;

/// FNV-1a 128 over each part's length (8 bytes, little-endian) followed by its bytes.
fn hash_parts(parts: &[&[u8]]) -> u128 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u128::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for part in parts {
        feed(&(part.len() as u64).to_le_bytes());
        feed(part);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_128_matches_the_reference_vectors() {
        let plain = |bytes: &[u8]| {
            let mut hash = FNV_OFFSET;
            for byte in bytes {
                hash ^= u128::from(*byte);
                hash = hash.wrapping_mul(FNV_PRIME);
            }
            hash
        };
        assert_eq!(plain(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(plain(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }

    #[test]
    fn the_same_request_gives_the_same_key_and_any_difference_another() {
        let key = CacheKey::public("main", "SELECT 1");
        assert_eq!(key, CacheKey::public("main", "SELECT 1"));
        assert_ne!(key, CacheKey::public("other", "SELECT 1"));
        assert_ne!(key, CacheKey::public("main", "SELECT 2"));
        assert_ne!(
            CacheKey::public("ab", "c"),
            CacheKey::public("a", "bc"),
            "parts are length-prefixed"
        );
    }

    #[test]
    fn private_keys_differ_per_identity_and_from_the_public_key() {
        let public = CacheKey::public("main", "q");
        let alice = CacheKey::private("main", "q", "alice");
        let bob = CacheKey::private("main", "q", "bob");
        assert_ne!(alice, bob);
        assert_ne!(alice, public);
        assert_ne!(CacheKey::private("main", "q", ""), public);
    }

    #[test]
    fn the_storage_key_is_the_prefix_and_32_hex_digits() {
        let stored = CacheKey::public("main", "q").storage_key("tributary:");
        let hex = stored.strip_prefix("tributary:").unwrap_or_default();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
