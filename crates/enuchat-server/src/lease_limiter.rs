//! PostgreSQL mode's rate limiter: the bucket lives in the database (so N
//! instances together allow a key's limit once), but a busy key does not
//! cost a database statement per request. Each instance takes a *lease* of
//! n requests in one atomic statement (the bucket's TAT moves n intervals,
//! or not at all if that would exceed the burst) and spends it in memory.
//!
//! n is sized from this instance's use of the bucket per [`USE_WINDOW`]: 1
//! for a key used about once a second or less (one statement per request,
//! as without leases), otherwise [`LEASE_SPAN`] windows of that use, so a
//! steadily busy key costs one statement per [`LEASE_SPAN`] seconds. A lease
//! is at most 1/[`CAP_FRACTION`] of the burst (so always 1 below 100 per
//! minute, e.g. the default 60). A new lease is taken in the background when
//! a quarter of the last one is left, so requests rarely wait for it.
//!
//! What this changes:
//! - requests leased but not spent within [`LEASE_LIFETIME`] are lost: the
//!   bucket counted them, so a key may get slightly fewer requests than its
//!   limit (at most one lease, ≤ burst/50, per instance each time its use
//!   drops), never more in total;
//! - a request is counted when its lease is taken, up to the lease lifetime
//!   before it is made; over a short span a key may see the requests of a
//!   lease taken just before the span (at most one lease per instance);
//! - `X-RateLimit-Remaining` is an estimate: what the bucket had left after
//!   this instance's last lease, plus what is left of that lease.

use crate::limiter::Buckets;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::{Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The window in which use is counted to size the next lease.
pub const USE_WINDOW: Duration = Duration::from_secs(1);
/// A busy key's lease covers this many windows of its recent use: each
/// lease statement (a database round trip, about 130-160 µs of CPU on the
/// benchmark machine) then serves several seconds of requests.
pub const LEASE_SPAN: u32 = 4;
/// How long leased requests may wait to be spent: a lease's span, and one
/// window more for a key whose use dips a little.
pub const LEASE_LIFETIME: Duration = Duration::from_secs(LEASE_SPAN as u64 + 1);
/// A lease is at most this fraction of the burst.
pub const CAP_FRACTION: u32 = 50;

pub struct LeaseLimiter {
    ledger: Ledger,
    buckets: Buckets<LeaseCell>,
}

/// Sends lease statements and counts them (for the benchmark's account of
/// their cost); cloned into background refills.
#[derive(Clone)]
struct Ledger {
    store: Arc<dyn Store>,
    statements: Arc<AtomicU64>,
}

impl Ledger {
    async fn lease(
        &self,
        bucket: &str,
        limit: RateLimit,
        n: u32,
    ) -> Result<RateDecision, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.store.lease_rate_limit(bucket, limit, n).await
    }
}

/// One bucket on this instance: its name in the database and its lease.
pub struct LeaseCell {
    name: Arc<str>,
    lease: Mutex<Lease>,
}

impl LeaseCell {
    fn lock(&self) -> MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct Lease {
    /// Requests leased and not yet spent.
    tokens: u32,
    expires: Instant,
    /// The bucket's state after the last lease, for the headers (read only
    /// once a lease was added).
    last: RateDecision,
    /// Use counted in the current window, and in the one before.
    window_start: Instant,
    uses: u32,
    previous_uses: u32,
    refilling: bool,
}

impl Lease {
    fn new(now: Instant) -> Self {
        Self {
            tokens: 0,
            expires: now,
            last: RateDecision {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_secs: 0,
                retry_after_secs: 0,
            },
            window_start: now,
            uses: 0,
            previous_uses: 0,
            refilling: false,
        }
    }

    fn count_use(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= USE_WINDOW {
            self.previous_uses = if elapsed >= 2 * USE_WINDOW {
                0
            } else {
                self.uses
            };
            self.uses = 0;
            self.window_start = now;
        }
        self.uses += 1;
        if self.expires <= now {
            self.tokens = 0;
        }
    }

    /// Requests to lease: 1 for a key used about once per window or less
    /// (a bigger lease would mostly expire unspent), else [`LEASE_SPAN`]
    /// windows of its recent use; at most the cap.
    fn size(&self, limit: RateLimit) -> u32 {
        let cap = (limit.burst / CAP_FRACTION).max(1);
        let recent = self.previous_uses.max(self.uses);
        if recent <= 1 {
            return 1;
        }
        recent.saturating_mul(LEASE_SPAN).min(cap)
    }

    fn add(&mut self, tokens: u32, after: RateDecision, now: Instant) {
        self.tokens += tokens;
        self.expires = now + LEASE_LIFETIME;
        self.last = after;
    }

    fn estimate(&self) -> RateDecision {
        RateDecision {
            allowed: true,
            remaining: (self.last.remaining + self.tokens).min(self.last.limit),
            ..self.last
        }
    }

    /// Nothing leased, nothing on its way and no recent use: the same as no
    /// state here.
    fn idle(&self, now: Instant) -> bool {
        !self.refilling
            && self.expires <= now
            && now.saturating_duration_since(self.window_start) >= 2 * USE_WINDOW
    }
}

impl LeaseLimiter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            ledger: Ledger {
                store,
                statements: Arc::new(AtomicU64::new(0)),
            },
            buckets: Buckets::new(),
        }
    }

    pub fn bucket(&self, name: &str) -> Arc<LeaseCell> {
        self.buckets.get_or_make(name, |name| LeaseCell {
            name,
            lease: Mutex::new(Lease::new(Instant::now())),
        })
    }

    pub async fn check(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        self.check_cell(&self.bucket(bucket), limit, Instant::now())
            .await
    }

    pub async fn check_cell(
        &self,
        cell: &Arc<LeaseCell>,
        limit: RateLimit,
        now: Instant,
    ) -> Result<RateDecision, StoreError> {
        let want = {
            let mut lease = cell.lock();
            lease.count_use(now);
            if lease.tokens > 0 {
                lease.tokens -= 1;
                let decision = lease.estimate();
                let size = lease.size(limit);
                if size >= 4 && lease.tokens <= size / 4 && !lease.refilling {
                    lease.refilling = true;
                    self.refill(cell.clone(), limit, size);
                }
                return Ok(decision);
            }
            // A lease on its way covers what follows: take just this one,
            // rather than a second lease that might expire unspent.
            if lease.refilling {
                1
            } else {
                lease.size(limit)
            }
        };
        // Nothing leased: this request waits for a lease.
        let mut decision = self.ledger.lease(&cell.name, limit, want).await?;
        let mut granted = if decision.allowed { want } else { 0 };
        if granted == 0 && want > 1 && decision.remaining >= 1 {
            // Less than asked for still fits.
            let fits = decision.remaining.min(want);
            decision = self.ledger.lease(&cell.name, limit, fits).await?;
            granted = if decision.allowed { fits } else { 0 };
        }
        if granted == 0 {
            return Ok(decision);
        }
        let mut lease = cell.lock();
        lease.add(granted - 1, decision, Instant::now());
        Ok(lease.estimate())
    }

    /// Takes the next lease off the request path.
    fn refill(&self, cell: Arc<LeaseCell>, limit: RateLimit, size: u32) {
        let ledger = self.ledger.clone();
        tokio::spawn(async move {
            let result = ledger.lease(&cell.name, limit, size).await;
            let mut lease = cell.lock();
            lease.refilling = false;
            match result {
                Ok(decision) if decision.allowed => lease.add(size, decision, Instant::now()),
                // Near the limit: the next request leases what still fits.
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "could not lease rate-limit capacity"),
            }
        });
    }

    /// What `check` would decide, without spending anything.
    pub async fn peek(&self, bucket: &str, limit: RateLimit) -> Result<RateDecision, StoreError> {
        if let Some(cell) = self.buckets.get(bucket) {
            let lease = cell.lock();
            if lease.tokens > 0 && lease.expires > Instant::now() {
                return Ok(lease.estimate());
            }
        }
        self.ledger.store.peek_rate_limit(bucket, limit).await
    }

    /// Forgets idle buckets here (unless a handle on them is kept) and full
    /// ones in the database.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = Instant::now();
        // A refill in flight holds its cell, so it is kept too.
        self.buckets.prune(|cell| !cell.lock().idle(now));
        self.ledger.store.prune_rate_limits().await
    }

    pub fn tracked_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Lease statements sent so far (each one a database round trip, most of
    /// them off the request path).
    pub fn statements(&self) -> u64 {
        self.ledger.statements.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_cover_several_windows_of_use_up_to_the_cap() {
        let limit = RateLimit::per_minute(6000);
        let start = Instant::now();
        let mut lease = Lease::new(start);
        lease.count_use(start);
        assert_eq!(lease.size(limit), 1, "a key used once a window leases one");
        lease.count_use(start);
        assert_eq!(lease.size(limit), 2 * LEASE_SPAN);
        for _ in 0..9 {
            lease.count_use(start);
        }
        assert_eq!(lease.size(limit), 11 * LEASE_SPAN);
        for _ in 0..40 {
            lease.count_use(start);
        }
        assert_eq!(lease.size(limit), 120, "capped at 1/50 of the burst");
        // At the default 60/min the cap is 1: no leases.
        assert_eq!(lease.size(RateLimit::per_minute(60)), 1);
        // The next window still sizes from the last one's use...
        lease.count_use(start + USE_WINDOW);
        assert_eq!(lease.size(limit), 120);
        // ...and after a quiet window, leases are back to one.
        lease.count_use(start + 4 * USE_WINDOW);
        assert_eq!(lease.size(limit), 1);
    }

    #[test]
    fn a_lease_lasts_its_span() {
        let limit = RateLimit::per_minute(6000);
        let start = Instant::now();
        let mut lease = Lease::new(start);
        lease.add(40, limit.describe(true, 0, 0), start);
        lease.count_use(start + USE_WINDOW * LEASE_SPAN);
        assert_eq!(lease.tokens, 40, "still there after {LEASE_SPAN} windows");
    }

    #[test]
    fn unspent_requests_expire_and_the_estimate_counts_them() {
        let limit = RateLimit::per_minute(60);
        let start = Instant::now();
        let mut lease = Lease::new(start);
        lease.add(3, limit.describe(true, 20_000_000, 0), start);
        assert_eq!(lease.estimate().remaining, 40 + 3);
        lease.count_use(start + LEASE_LIFETIME);
        assert_eq!(
            lease.tokens, 0,
            "a lease is spent within its lifetime or lost"
        );
    }
}
