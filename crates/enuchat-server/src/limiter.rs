//! Per-key rate limiting, with the rule from `enuchat_domain::rate_limit`.
//!
//! SQLite mode is one process, so its limiter lives in memory. PostgreSQL mode
//! may run many instances behind a load balancer; there the state lives in the
//! database and is updated in one atomic statement, so N instances together
//! still allow the limit once, not N times; busy buckets take leases of several
//! requests at once (see [`LeaseLimiter`]).

use crate::lease_limiter::LeaseLimiter;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets are named by what they limit, e.g. `key:<api key id>`,
/// `visitor:<visitor id>` or `ip-new:<address>`; each call says which limit
/// applies, so one limiter serves every kind of bucket.
pub enum RateLimiter {
    Memory(MemoryLimiter),
    Shared(LeaseLimiter),
}

impl RateLimiter {
    pub async fn check(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.check(bucket, limit)),
            RateLimiter::Shared(limiter) => limiter.check(bucket, limit).await,
        }
    }

    /// What `check` would decide, without spending anything.
    pub async fn peek(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.peek(bucket, limit)),
            RateLimiter::Shared(limiter) => limiter.peek(bucket, limit).await,
        }
    }

    /// Drops state of keys whose bucket is full again (same as no state), which
    /// keeps memory bounded by the keys used within the last window.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.prune()),
            RateLimiter::Shared(limiter) => limiter.prune().await,
        }
    }
}

pub struct MemoryLimiter {
    epoch: Instant,
    /// TAT per bucket, in microseconds since `epoch`.
    state: Mutex<HashMap<String, i64>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn now_us(&self) -> i64 {
        self.epoch.elapsed().as_micros() as i64
    }

    pub fn check(&self, bucket: &str, limit: RateLimit) -> RateDecision {
        let now = self.now_us();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (decision, tat) = limit.decide(state.get(bucket).copied(), now);
        match state.get_mut(bucket) {
            Some(stored) => *stored = tat,
            None => {
                state.insert(bucket.to_owned(), tat);
            }
        }
        decision
    }

    pub fn peek(&self, bucket: &str, limit: RateLimit) -> RateDecision {
        let now = self.now_us();
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        limit.decide(state.get(bucket).copied(), now).0
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
        let limiter = MemoryLimiter::new();
        let limit = RateLimit::per_minute(3);
        assert!((0..3).all(|_| limiter.check("a", limit).allowed));
        assert!(!limiter.check("a", limit).allowed);
        assert!(limiter.check("b", limit).allowed);
        assert_eq!(limiter.tracked_keys(), 2);
        // Nothing is full yet, so nothing is forgotten.
        assert_eq!(limiter.prune(), 0);
    }
}
