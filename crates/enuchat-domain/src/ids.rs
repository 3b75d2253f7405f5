//! Strongly typed identifiers. Every id except the visitor's is a UUIDv7, so
//! ids sort by creation time and index well.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}
// Other modules declare their own ids (jobs, knowledge entries) with it.
pub(crate) use uuid_id;

uuid_id!(
    /// A tenant: one business using enuchat.
    TenantId
);
uuid_id!(
    /// A person who answers chats for a tenant.
    OperatorId
);
uuid_id!(
    /// A chat widget embedded on a tenant's site.
    WidgetId
);
uuid_id!(
    /// A conversation between a visitor and a tenant.
    ConversationId
);
uuid_id!(
    /// One message of a conversation.
    MessageId
);
uuid_id!(
    /// A Tenant API key (the id, never the secret).
    ApiKeyId
);
uuid_id!(
    /// One entry of a tenant's credit ledger.
    LedgerEntryId
);

/// A visitor's id: `v-` followed by lowercase letters and digits, e.g.
/// `v-k3x9q2m7a1b0`. Visitors see it (the widget keeps it), so it is short and
/// URL-safe rather than a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VisitorId(String);

impl VisitorId {
    const ALPHABET: &'static [u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    const RANDOM_LEN: usize = 16;

    /// A fresh random visitor id (16 base36 characters: ~82 bits).
    pub fn generate() -> Self {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let tail: String = (0..Self::RANDOM_LEN)
            .map(|_| Self::ALPHABET[rng.gen_range(0..Self::ALPHABET.len())] as char)
            .collect();
        Self(format!("v-{tail}"))
    }

    /// Accepts `v-` followed by 1..=64 ASCII letters, digits, `-` or `_`.
    pub fn parse(s: &str) -> Option<Self> {
        let tail = s.strip_prefix("v-")?;
        let ok = !tail.is_empty()
            && tail.len() <= 64
            && tail
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7() {
        assert_eq!(TenantId::new().0.get_version_num(), 7);
    }

    #[test]
    fn visitor_ids_round_trip() {
        let id = VisitorId::generate();
        assert!(id.as_str().starts_with("v-"));
        assert_eq!(VisitorId::parse(id.as_str()), Some(id));
        assert_eq!(VisitorId::parse("abc"), None);
        assert_eq!(VisitorId::parse("v-"), None);
        assert_eq!(VisitorId::parse("v-a b"), None);
    }
}
