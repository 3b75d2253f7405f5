//! The last known facts of recently written conversations, so that a lone
//! planned append needs one round trip instead of two.
//!
//! An append with a job plan is planned on its conversation's facts
//! (`ConversationFacts`). Alone, it reads them without a lock and then
//! appends with a statement that only matches while they still hold
//! (`appender.rs`). That statement is what keeps the plan right, not the
//! read: so facts remembered from an earlier append serve just as well, and
//! the read is skipped. When they are out of date (another instance wrote
//! to the conversation, a widget's settings or the tenant's language
//! changed), the statement matches nothing and the append is planned again
//! under the row lock, as before; the facts read then replace the stale
//! ones. Nothing is ever decided on this cache alone.
//!
//! Only the appender's writer tasks use it, so its lock is not contended
//! by requests. Its size is bounded: when full, an arbitrary eighth is
//! dropped (those conversations' next appends read their facts again).

use enuchat_domain::{ConversationFacts, ConversationId, NewMessage, TenantId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Conversations whose facts are kept: about 150 bytes each.
const CAPACITY: usize = 16_384;

type Key = (TenantId, ConversationId);

#[derive(Debug)]
pub(crate) struct FactsCache {
    capacity: usize,
    entries: Mutex<HashMap<Key, ConversationFacts>>,
}

impl FactsCache {
    pub(crate) fn new() -> Self {
        Self::with_capacity(CAPACITY)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, ConversationFacts>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The facts last stored for the tenant's conversation, if any.
    pub(crate) fn get(&self, tenant: TenantId, id: ConversationId) -> Option<ConversationFacts> {
        self.lock().get(&(tenant, id)).cloned()
    }

    /// Remembers the facts a committed append left (or a read found).
    pub(crate) fn put(&self, tenant: TenantId, id: ConversationId, facts: ConversationFacts) {
        let mut entries = self.lock();
        let key = (tenant, id);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let drop = (self.capacity / 8).max(1);
            let victims: Vec<Key> = entries.keys().take(drop).copied().collect();
            for victim in victims {
                entries.remove(&victim);
            }
        }
        entries.insert(key, facts);
    }

    /// Moves a conversation's cached facts (if any) past a committed append
    /// that was not planned on them.
    pub(crate) fn advance(&self, tenant: TenantId, id: ConversationId, new: &NewMessage) {
        if let Some(facts) = self.lock().get_mut(&(tenant, id)) {
            facts.after(new);
        }
    }

    /// Forgets a conversation's facts (they turned out to be out of date).
    pub(crate) fn forget(&self, tenant: TenantId, id: ConversationId) {
        self.lock().remove(&(tenant, id));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enuchat_domain::WidgetId;

    fn facts(handed_off: bool) -> ConversationFacts {
        ConversationFacts {
            widget_id: WidgetId(uuid::Uuid::nil()),
            translation_enabled: true,
            ai_enabled: false,
            operator_language: "en".into(),
            visitor_language: None,
            handed_off,
        }
    }

    fn key(n: u128) -> (TenantId, ConversationId) {
        (
            TenantId(uuid::Uuid::from_u128(1)),
            ConversationId(uuid::Uuid::from_u128(n)),
        )
    }

    #[test]
    fn keeps_the_latest_facts_per_tenant_and_conversation() {
        let cache = FactsCache::new();
        let (tenant, id) = key(7);
        assert_eq!(cache.get(tenant, id), None);
        cache.put(tenant, id, facts(false));
        cache.put(tenant, id, facts(true));
        assert_eq!(cache.get(tenant, id), Some(facts(true)));
        // Another tenant asking for the same id finds nothing.
        let other = TenantId(uuid::Uuid::from_u128(2));
        assert_eq!(cache.get(other, id), None);
        cache.forget(tenant, id);
        assert_eq!(cache.get(tenant, id), None);
    }

    #[test]
    fn size_stays_within_capacity() {
        let cache = FactsCache::with_capacity(16);
        for n in 0..1_000 {
            let (tenant, id) = key(n);
            cache.put(tenant, id, facts(false));
            assert!(cache.len() <= 16);
        }
        // The newest is always kept.
        let (tenant, id) = key(999);
        assert!(cache.get(tenant, id).is_some());
    }
}
