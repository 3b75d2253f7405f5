//! Per-key rate limiting, with the rule from `enuchat_domain::rate_limit`.
//!
//! SQLite mode is one process, so its limiter lives in memory. PostgreSQL mode
//! may run many instances behind a load balancer; there the state lives in the
//! database and is updated in one atomic statement, so N instances together
//! still allow the limit once, not N times.

use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::{ApiKeyId, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub enum RateLimiter {
    Memory(MemoryLimiter),
    Shared(Arc<dyn Store>, RateLimit),
}

impl RateLimiter {
    pub async fn check(&self, key: ApiKeyId) -> Result<RateDecision, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.check(key)),
            RateLimiter::Shared(store, limit) => {
                store.acquire_rate_limit(&key.to_string(), *limit).await
            }
        }
    }

    /// Drops state of keys whose bucket is full again (same as no state), which
    /// keeps memory bounded by the keys used within the last window.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.prune()),
            RateLimiter::Shared(store, _) => store.prune_rate_limits().await,
        }
    }
}

pub struct MemoryLimiter {
    limit: RateLimit,
    epoch: Instant,
    /// TAT per key, in microseconds since `epoch`.
    state: Mutex<HashMap<ApiKeyId, i64>>,
}

impl MemoryLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            epoch: Instant::now(),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn now_us(&self) -> i64 {
        self.epoch.elapsed().as_micros() as i64
    }

    pub fn check(&self, key: ApiKeyId) -> RateDecision {
        let now = self.now_us();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (decision, tat) = self.limit.decide(state.get(&key).copied(), now);
        state.insert(key, tat);
        decision
    }

    pub fn prune(&self) -> u64 {
        let now = self.now_us();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = state.len();
        state.retain(|_, tat| *tat > now);
        (before - state.len()) as u64
    }

    pub fn tracked_keys(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_limited_separately_and_state_is_pruned() {
        let limiter = MemoryLimiter::new(RateLimit::per_minute(3));
        let (a, b) = (ApiKeyId::new(), ApiKeyId::new());
        assert!((0..3).all(|_| limiter.check(a).allowed));
        assert!(!limiter.check(a).allowed);
        assert!(limiter.check(b).allowed);
        assert_eq!(limiter.tracked_keys(), 2);
        // Nothing is full yet, so nothing is forgotten.
        assert_eq!(limiter.prune(), 0);
    }
}
