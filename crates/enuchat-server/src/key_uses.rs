//! Uses of Tenant API keys waiting to be written to `last_used_at`.
//!
//! The key cache decides which uses are due (about one per key per minute,
//! `key_cache.rs`); this collects them and writes them together, in one
//! transaction about once a second. Written one by one, the bench's 100
//! keys made a burst of 100 commits each minute, and on SQLite every commit
//! makes every reader drop its cached pages and deep-page blocks.
//!
//! The write is bookkeeping: it never holds up a request, a failed one is
//! retried at the next flush, and what is pending at shutdown is written
//! before the database closes ([`KeyUses::run`]).

use crate::failure_streak::FailureStreak;
use enuchat_domain::{ApiKeyId, KeyUse, Store, TenantId, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often pending uses are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Distinct keys held at most. Reaching it wakes the flusher early; uses
/// beyond it while a flush is still running are dropped (the next due use
/// of the same key records it a minute later).
const MAX_PENDING: usize = 10_000;

pub struct KeyUses {
    /// The first pending use of each key: the write keeps the later of it
    /// and what is stored, so the first is as good as any.
    pending: Mutex<HashMap<(TenantId, ApiKeyId), Timestamp>>,
    full: Notify,
    granularity_secs: i64,
    /// Failed flushes in a row, so a database that stays down is reported
    /// once a minute rather than at every retry.
    failures: Mutex<FailureStreak>,
}

impl KeyUses {
    pub fn new(granularity_secs: i64) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            full: Notify::new(),
            granularity_secs,
            failures: Mutex::new(FailureStreak::default()),
        }
    }

    /// Notes a use to be written at the next flush.
    pub fn record(&self, tenant: TenantId, key: ApiKeyId, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING && !pending.contains_key(&(tenant, key)) {
            tracing::debug!("too many API key uses pending; one dropped");
            self.full.notify_one();
            return;
        }
        pending.entry((tenant, key)).or_insert(at);
        if pending.len() >= MAX_PENDING {
            self.full.notify_one();
        }
    }

    /// Uses waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Writes what is pending in one call to the store. On failure the uses
    /// are put back (unless newer ones of the same keys came in meanwhile)
    /// for the next flush.
    pub async fn flush(&self, store: &dyn Store) {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return;
        }
        let uses: Vec<KeyUse> = taken
            .iter()
            .map(|(&(tenant, key), &at)| KeyUse { tenant, key, at })
            .collect();
        let result = store.touch_api_keys(&uses, self.granularity_secs).await;
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = result {
            if let Some(failed) = failures.failed(Instant::now()) {
                tracing::warn!(%err, keys = uses.len(), failed,
                    "could not record API key uses; will retry");
            }
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (id, at) in taken {
                if pending.len() >= MAX_PENDING {
                    break;
                }
                pending.entry(id).or_insert(at);
            }
        } else if let Some(failed) = failures.succeeded() {
            tracing::info!(failed, "API key uses are recorded again");
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`], or sooner when the pending set is
    /// full, until `stop` is cancelled; then flushes once more and returns.
    /// A flush under way when `stop` comes is finished first, so no use
    /// taken out of the pending set is lost to the shutdown.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>, stop: CancellationToken) {
        let mut every = tokio::time::interval(FLUSH_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = self.full.notified() => {}
                _ = stop.cancelled() => break,
            }
            self.flush(store.as_ref()).await;
        }
        self.flush(store.as_ref()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn ids() -> (TenantId, ApiKeyId) {
        (TenantId(Uuid::now_v7()), ApiKeyId(Uuid::now_v7()))
    }

    #[test]
    fn a_key_is_pending_once_with_its_first_use() {
        let uses = KeyUses::new(60);
        let (tenant, key) = ids();
        let first = Utc::now();
        uses.record(tenant, key, first);
        uses.record(tenant, key, first + chrono::Duration::seconds(5));
        let pending = uses.pending.lock().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[&(tenant, key)], first);
    }

    #[test]
    fn pending_uses_are_bounded() {
        let uses = KeyUses::new(60);
        for _ in 0..MAX_PENDING + 10 {
            let (tenant, key) = ids();
            uses.record(tenant, key, Utc::now());
        }
        assert_eq!(uses.pending(), MAX_PENDING);
    }
}
