//! Tenant API keys: `tak_` followed by 40 base62 characters (~238 bits).
//! Only the SHA-256 of a key is stored, with a short prefix for display.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "tak_";
const RANDOM_LEN: usize = 40;
/// Characters of the key kept in clear for lists: `tak_` + 6.
const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key. The `secret` is shown once and then dropped.
pub struct GeneratedKey {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("secret", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

pub fn generate() -> GeneratedKey {
    let mut rng = rand::rngs::OsRng;
    let random: String = (0..RANDOM_LEN)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect();
    let secret = format!("{KEY_PREFIX}{random}");
    GeneratedKey {
        prefix: secret[..DISPLAY_PREFIX_LEN].to_owned(),
        hash: hash(&secret),
        secret,
    }
}

pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether a presented key has the shape of one of ours. Checked before any
/// database look-up so that garbage costs nothing.
pub fn looks_valid(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        (32..=128).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Compares two key hashes without leaking, through timing, how many leading
/// bytes matched.
pub fn hashes_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate();
        assert!(key.secret.starts_with("tak_"));
        assert_eq!(key.secret.len(), 44);
        assert!(looks_valid(&key.secret));
        assert!(key.secret.starts_with(&key.prefix));
        assert!(hashes_match(&key.hash, &hash(&key.secret)));
        assert!(!hashes_match(&key.hash, &hash("tak_other")));
        assert_ne!(generate().secret, key.secret);
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!looks_valid("tak_short"));
        assert!(!looks_valid("sk_0123456789012345678901234567890123456789"));
        assert!(!looks_valid("tak_01234567890123456789012345678901234567-9"));
    }
}
