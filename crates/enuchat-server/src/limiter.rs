//! Per-key rate limiting, with the rule from `enuchat_domain::rate_limit`.
//!
//! SQLite mode is one process, so its limiter lives in memory. PostgreSQL mode
//! may run many instances behind a load balancer; there the state lives in the
//! database and is updated in one atomic statement, so N instances together
//! still allow the limit once, not N times; busy buckets take leases of several
//! requests at once (see [`LeaseLimiter`]).
//!
//! Each bucket's state is its own small shared cell ([`Bucket`]). Callers that
//! check one bucket on every request (the API key middleware) keep the handle
//! next to what they already looked up, so a request finds its bucket without
//! building its name or searching the limiter's map, and checks of different
//! buckets do not take turns on one lock.

use crate::lease_limiter::{LeaseCell, LeaseLimiter};
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Buckets are named by what they limit, e.g. `key:<api key id>`,
/// `visitor:<visitor id>` or `ip-new:<address>`; each call says which limit
/// applies, so one limiter serves every kind of bucket.
pub enum RateLimiter {
    Memory(MemoryLimiter),
    Shared(LeaseLimiter),
}

/// A handle on one bucket's state, from [`RateLimiter::bucket`]. The limiter
/// keeps a bucket while anyone holds its handle, so checks through a kept
/// handle and through the bucket's name always meet the same state.
#[derive(Clone)]
pub enum Bucket {
    Memory(Arc<MemoryCell>),
    Shared(Arc<LeaseCell>),
}

impl RateLimiter {
    /// The bucket with this name, created (empty, i.e. full of requests) on
    /// first use.
    pub fn bucket(&self, name: &str) -> Bucket {
        match self {
            RateLimiter::Memory(limiter) => Bucket::Memory(limiter.bucket(name)),
            RateLimiter::Shared(limiter) => Bucket::Shared(limiter.bucket(name)),
        }
    }

    pub async fn check(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        self.check_bucket(&self.bucket(bucket), limit, Instant::now())
            .await
    }

    /// Decides one request on a bucket this limiter handed out; `now` is the
    /// caller's clock reading, so one request reads the clock once.
    pub async fn check_bucket(
        &self,
        bucket: &Bucket,
        limit: RateLimit,
        now: Instant,
    ) -> Result<RateDecision, StoreError> {
        match (self, bucket) {
            (RateLimiter::Memory(limiter), Bucket::Memory(cell)) => {
                Ok(limiter.check_cell(cell, limit, now))
            }
            (RateLimiter::Shared(limiter), Bucket::Shared(cell)) => {
                limiter.check_cell(cell, limit, now).await
            }
            // One server has one limiter and takes every handle from it, so
            // this is a bug; it fails the request (logged as a 500) rather
            // than the task serving it.
            _ => Err(StoreError::Database(
                "a rate-limit bucket was checked on another kind of limiter".into(),
            )),
        }
    }

    /// What `check` would decide, without spending anything.
    pub async fn peek(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.peek(bucket, limit)),
            RateLimiter::Shared(limiter) => limiter.peek(bucket, limit).await,
        }
    }

    /// Drops state of buckets that are full again (same as no state) and that
    /// no one holds a handle on, which keeps memory bounded by the buckets
    /// used within the last window plus the handles kept (the key cache's).
    pub async fn prune(&self) -> Result<u64, StoreError> {
        match self {
            RateLimiter::Memory(limiter) => Ok(limiter.prune()),
            RateLimiter::Shared(limiter) => limiter.prune().await,
        }
    }
}

/// The buckets a limiter knows, by name: one map for both kinds of cell, so
/// that handing out handles and forgetting unused cells follow one rule.
pub(crate) struct Buckets<C> {
    cells: Mutex<HashMap<Arc<str>, Arc<C>>>,
}

impl<C> Buckets<C> {
    pub(crate) fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<C>>> {
        self.cells.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cell named `name`, made by `make` (given the name) on first use.
    pub(crate) fn get_or_make(&self, name: &str, make: impl FnOnce(Arc<str>) -> C) -> Arc<C> {
        let mut cells = self.lock();
        if let Some(cell) = cells.get(name) {
            return cell.clone();
        }
        let name: Arc<str> = name.into();
        let cell = Arc::new(make(name.clone()));
        cells.insert(name, cell.clone());
        cell
    }

    /// The cell named `name`, if there is one (without making it).
    pub(crate) fn get(&self, name: &str) -> Option<Arc<C>> {
        self.lock().get(name).cloned()
    }

    /// Forgets the cells that nobody else holds and `in_use` says are idle;
    /// returns how many. Under the map's lock no new handle can be taken, so
    /// a cell only the map holds cannot be in use meanwhile.
    pub(crate) fn prune(&self, in_use: impl Fn(&C) -> bool) -> u64 {
        let mut cells = self.lock();
        let before = cells.len();
        cells.retain(|_, cell| Arc::strong_count(cell) > 1 || in_use(cell));
        (before - cells.len()) as u64
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One bucket's TAT, in microseconds since the limiter's epoch;
/// [`MemoryCell::FRESH`] until the first request.
pub struct MemoryCell {
    tat: AtomicI64,
}

impl MemoryCell {
    /// No request yet. `RateLimit::decide` treats a TAT before now as now,
    /// which is exactly what a fresh bucket means.
    const FRESH: i64 = i64::MIN;
}

pub struct MemoryLimiter {
    epoch: Instant,
    buckets: Buckets<MemoryCell>,
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
            buckets: Buckets::new(),
        }
    }

    fn micros(&self, now: Instant) -> i64 {
        now.saturating_duration_since(self.epoch).as_micros() as i64
    }

    pub fn bucket(&self, name: &str) -> Arc<MemoryCell> {
        self.buckets.get_or_make(name, |_| MemoryCell {
            tat: AtomicI64::new(MemoryCell::FRESH),
        })
    }

    pub fn check(&self, bucket: &str, limit: RateLimit) -> RateDecision {
        self.check_cell(&self.bucket(bucket), limit, Instant::now())
    }

    /// GCRA on the cell without a lock: compute the new TAT from the one read
    /// and store it only if no other request stored one meanwhile (else
    /// decide again on theirs).
    pub fn check_cell(&self, cell: &MemoryCell, limit: RateLimit, now: Instant) -> RateDecision {
        let now = self.micros(now);
        let mut seen = cell.tat.load(Ordering::Acquire);
        loop {
            let (decision, tat) = limit.decide(Some(seen), now);
            if !decision.allowed {
                // Refused requests use up nothing: nothing to store.
                return decision;
            }
            match cell
                .tat
                .compare_exchange_weak(seen, tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return decision,
                Err(current) => seen = current,
            }
        }
    }

    pub fn peek(&self, bucket: &str, limit: RateLimit) -> RateDecision {
        let now = self.micros(Instant::now());
        let tat = self
            .buckets
            .get(bucket)
            .map(|cell| cell.tat.load(Ordering::Acquire));
        limit.decide(tat, now).0
    }

    pub fn prune(&self) -> u64 {
        let now = self.micros(Instant::now());
        self.buckets
            .prune(|cell| cell.tat.load(Ordering::Acquire) > now)
    }

    pub fn tracked_keys(&self) -> usize {
        self.buckets.len()
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

    #[test]
    fn a_kept_handle_and_the_name_spend_from_one_bucket() {
        let limiter = MemoryLimiter::new();
        let limit = RateLimit::per_minute(4);
        let kept = limiter.bucket("a");
        let now = Instant::now();
        assert!(limiter.check_cell(&kept, limit, now).allowed);
        assert!(limiter.check("a", limit).allowed);
        assert!(limiter.check_cell(&kept, limit, now).allowed);
        // What the fourth request would leave; peeking spends nothing.
        assert_eq!(limiter.peek("a", limit).remaining, 0);
        assert!(limiter.peek("a", limit).allowed);
        assert!(limiter.check("a", limit).allowed);
        assert!(!limiter.check_cell(&kept, limit, now).allowed);
    }

    #[test]
    fn pruning_keeps_held_buckets_and_drops_full_ones() {
        let limiter = MemoryLimiter::new();
        let limit = RateLimit::per_minute(60_000_000);
        let held = limiter.bucket("held");
        // Untouched, so full: the same as no state.
        limiter.bucket("idle");
        limiter.check("used", RateLimit::per_minute(1));
        assert_eq!(limiter.prune(), 1, "only the idle, unheld bucket goes");
        assert_eq!(limiter.tracked_keys(), 2);
        // A handle kept past pruning still names the limiter's bucket.
        assert!(limiter.check_cell(&held, limit, Instant::now()).allowed);
        drop(held);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(limiter.prune(), 1, "released and full again");
    }

    #[test]
    fn concurrent_checks_never_admit_more_than_the_burst() {
        let limiter = Arc::new(MemoryLimiter::new());
        let limit = RateLimit::per_minute(1000);
        let bucket = limiter.bucket("shared");
        let now = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (limiter, bucket) = (limiter.clone(), bucket.clone());
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|_| limiter.check_cell(&bucket, limit, now).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // Every check uses the same instant, so nothing refills.
        assert_eq!(allowed, 1000);
    }
}
