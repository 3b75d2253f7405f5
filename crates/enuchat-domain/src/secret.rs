//! Bearer secrets: Tenant API keys (`tak_…`) and visitor tokens (`vt_…`).
//! A secret is a prefix followed by 40 base62 characters (~238 bits); only
//! its SHA-256 is stored, with a short prefix of the key for display.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_KEY_PREFIX: &str = "tak_";
pub const VISITOR_TOKEN_PREFIX: &str = "vt_";
const RANDOM_LEN: usize = 40;
/// Random characters kept in clear after the prefix, for lists.
const DISPLAY_RANDOM_LEN: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated secret. `secret` is shown once and then dropped.
pub struct GeneratedSecret {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

impl std::fmt::Debug for GeneratedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedSecret")
            .field("secret", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn generate_with(prefix: &str) -> GeneratedSecret {
    let mut rng = rand::rngs::OsRng;
    let random: String = (0..RANDOM_LEN)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect();
    let secret = format!("{prefix}{random}");
    GeneratedSecret {
        prefix: secret[..prefix.len() + DISPLAY_RANDOM_LEN].to_owned(),
        hash: hash(&secret),
        secret,
    }
}

/// A new Tenant API key.
pub fn generate_api_key() -> GeneratedSecret {
    generate_with(API_KEY_PREFIX)
}

/// A new visitor token.
pub fn generate_visitor_token() -> GeneratedSecret {
    generate_with(VISITOR_TOKEN_PREFIX)
}

/// Base62 characters in a dashboard session id: 43 carry 256 bits, as much
/// as 32 random bytes.
pub const SESSION_ID_LEN: usize = 43;

/// `len` random base62 characters from the OS generator.
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

/// A new dashboard session id (the cookie's value).
pub fn generate_session_id() -> String {
    random_base62(SESSION_ID_LEN)
}

/// Whether a cookie value has the shape of a session id.
pub fn looks_like_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn has_shape(secret: &str, prefix: &str) -> bool {
    secret.strip_prefix(prefix).is_some_and(|rest| {
        // Every byte is looked at, without stopping at the first bad one:
        // the loop then has no early exit, so the compiler checks many
        // bytes at once (this runs on every Tenant API request).
        (32..=128).contains(&rest.len())
            && rest
                .bytes()
                .fold(true, |ok, b| ok & b.is_ascii_alphanumeric())
    })
}

/// Whether a presented API key has the shape of one of ours. Checked before
/// any database look-up so that garbage costs nothing.
pub fn looks_like_api_key(key: &str) -> bool {
    has_shape(key, API_KEY_PREFIX)
}

pub fn looks_like_visitor_token(token: &str) -> bool {
    has_shape(token, VISITOR_TOKEN_PREFIX)
}

/// Compares two hashes without leaking, through timing, how many leading
/// bytes matched.
pub fn hashes_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate_api_key();
        assert!(key.secret.starts_with("tak_"));
        assert_eq!(key.secret.len(), 44);
        assert_eq!(key.prefix.len(), 10);
        assert!(looks_like_api_key(&key.secret));
        assert!(!looks_like_visitor_token(&key.secret));
        assert!(key.secret.starts_with(&key.prefix));
        assert!(hashes_match(&key.hash, &hash(&key.secret)));
        assert!(!hashes_match(&key.hash, &hash("tak_other")));
        assert_ne!(generate_api_key().secret, key.secret);
        assert!(!format!("{key:?}").contains(&key.secret));
        let token = generate_visitor_token();
        assert!(looks_like_visitor_token(&token.secret));
        assert!(!looks_like_api_key(&token.secret));
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!looks_like_api_key("tak_short"));
        assert!(!looks_like_api_key(
            "sk_0123456789012345678901234567890123456789"
        ));
        assert!(!looks_like_api_key(
            "tak_01234567890123456789012345678901234567-9"
        ));
    }
}
