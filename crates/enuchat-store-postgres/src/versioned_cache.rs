//! What the store's read caches share: values kept in memory with the
//! version PostgreSQL gave them, served only after a cheap read says that
//! version still holds (`page_cache.rs` for list pages, `detail_cache.rs` for
//! a conversation with its newest messages).
//!
//! This module only keeps the bookkeeping: which value to check, backing off
//! from values that change all the time, and a bound on memory. What a
//! version is, and why an unchanged one proves the value current, is each
//! cache's own argument.
//!
//! Backing off: a value found stale in a row has its next reads skip the
//! check (1, 3, 7, then 15 reads by default, going straight to the database),
//! and one fresh hit resets that. Memory: each value has a cost (rows held),
//! the total is bounded, least recently used values forgotten first.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a cached value counts against the cache's bound; at least 1, so that
/// empty values are bounded too.
pub(crate) trait Cost {
    fn cost(&self) -> usize;
}

/// How much a cache keeps, and how it treats versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Total cost held at most; 0 keeps nothing.
    pub max_cost: usize,
    /// Reads after stale checks in a row skip the check at most this many
    /// times (0: every read of a held value checks).
    pub max_skips: u32,
    /// A value older than this is read again rather than checked.
    pub max_age: Option<Duration>,
    /// Whether a larger version is always the newer one. Then a read that
    /// finishes late does not replace a newer value; otherwise the last fill
    /// wins (still safe: a value is only served if its own version holds).
    pub ordered_versions: bool,
}

/// How the reads through a cache were served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheReads {
    /// From memory, the version unchanged.
    pub hits: u64,
    /// Checked, found changed, then read.
    pub stale: u64,
    /// Read without a check (nothing held, or skipping after stale checks).
    pub read: u64,
    /// Hits and stale reads answered by a check that another read sent
    /// (`shared_checks.rs`).
    pub shared_checks: u64,
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    stale: AtomicU64,
    read: AtomicU64,
}

struct Entry<V> {
    version: i64,
    value: V,
    /// `value.cost()`, taken once at fill (a detail's cost walks its messages).
    cost: usize,
    filled: Instant,
    /// Stale checks in a row, and how many reads still skip the check.
    stale_in_a_row: u32,
    skips_left: u32,
    used: u64,
}

struct Held<K, V> {
    entries: HashMap<K, Entry<V>>,
    cost: usize,
    tick: u64,
}

/// What to do for one read.
pub(crate) enum Plan<V> {
    /// Serve `value` if the database still says `version`.
    Check { version: i64, value: V },
    /// Read from the database.
    Read,
}

pub(crate) struct VersionedCache<K, V> {
    limits: Limits,
    held: Mutex<Held<K, V>>,
    counts: Counts,
}

impl<K, V> std::fmt::Debug for VersionedCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedCache")
            .field("limits", &self.limits)
            .field("reads", &self.reads())
            .finish_non_exhaustive()
    }
}

impl<K, V> VersionedCache<K, V> {
    pub(crate) fn reads(&self) -> CacheReads {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        CacheReads {
            hits: get(&self.counts.hits),
            stale: get(&self.counts.stale),
            read: get(&self.counts.read),
            shared_checks: 0,
        }
    }
}

impl<K: Copy + Eq + Hash, V: Clone + Cost> VersionedCache<K, V> {
    pub(crate) fn new(limits: Limits) -> Self {
        VersionedCache {
            limits,
            held: Mutex::new(Held {
                entries: HashMap::new(),
                cost: 0,
                tick: 0,
            }),
            counts: Counts::default(),
        }
    }

    /// Whether this cache keeps anything at all.
    pub(crate) fn enabled(&self) -> bool {
        self.limits.max_cost > 0
    }

    fn lock(&self) -> MutexGuard<'_, Held<K, V>> {
        // The map is consistent after every statement; a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether to check a held value or read; counts a read.
    pub(crate) fn plan(&self, key: &K) -> Plan<V> {
        let mut held = self.lock();
        held.tick += 1;
        let tick = held.tick;
        let max_age = self.limits.max_age;
        let plan = match held.entries.get_mut(key) {
            Some(entry) if max_age.is_some_and(|age| entry.filled.elapsed() > age) => Plan::Read,
            Some(entry) if entry.skips_left == 0 => {
                entry.used = tick;
                Plan::Check {
                    version: entry.version,
                    value: entry.value.clone(),
                }
            }
            Some(entry) => {
                entry.skips_left -= 1;
                Plan::Read
            }
            None => Plan::Read,
        };
        if matches!(plan, Plan::Read) {
            count(&self.counts.read);
        }
        plan
    }

    /// The checked value was current.
    pub(crate) fn hit(&self, key: &K) {
        count(&self.counts.hits);
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.stale_in_a_row = 0;
        }
    }

    /// The checked value was not current: the next reads skip the check.
    pub(crate) fn stale(&self, key: &K) {
        count(&self.counts.stale);
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.stale_in_a_row = entry.stale_in_a_row.saturating_add(1);
            // 1, 3, 7, 15 reads without a check.
            let skips = 1u32
                .checked_shl(entry.stale_in_a_row.min(8))
                .unwrap_or(u32::MAX);
            entry.skips_left = (skips - 1).min(self.limits.max_skips);
        }
    }

    /// The value is gone from the database: nothing to keep for it.
    pub(crate) fn forget(&self, key: &K) {
        let mut held = self.lock();
        if let Some(gone) = held.entries.remove(key) {
            held.cost -= gone.cost;
        }
    }

    /// Keeps `value`, read at `version` (unless, with ordered versions, a
    /// newer one is held).
    pub(crate) fn fill(&self, key: K, version: i64, value: V) {
        let cost = value.cost();
        if cost > self.limits.max_cost {
            return;
        }
        let mut held = self.lock();
        held.tick += 1;
        let tick = held.tick;
        let now = Instant::now();
        let old_cost = match held.entries.get_mut(&key) {
            // Reads that overlap can finish out of order.
            Some(entry) if self.limits.ordered_versions && entry.version > version => return,
            Some(entry) => {
                let old = entry.cost;
                entry.version = version;
                entry.value = value;
                entry.cost = cost;
                entry.filled = now;
                entry.used = tick;
                old
            }
            None => {
                held.entries.insert(
                    key,
                    Entry {
                        version,
                        value,
                        cost,
                        filled: now,
                        stale_in_a_row: 0,
                        skips_left: 0,
                        used: tick,
                    },
                );
                0
            }
        };
        held.cost = held.cost - old_cost + cost;
        if held.cost > self.limits.max_cost {
            self.forget_oldest(&mut held);
        }
    }

    /// Forgets the least recently used values until a tenth of the room is
    /// free again: one pass over the entries for many fills, not one per
    /// fill.
    fn forget_oldest(&self, held: &mut Held<K, V>) {
        let goal = self.limits.max_cost - self.limits.max_cost / 10;
        let mut by_age: Vec<(u64, K)> = held
            .entries
            .iter()
            .map(|(key, entry)| (entry.used, *key))
            .collect();
        by_age.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in by_age {
            if held.cost <= goal {
                break;
            }
            if let Some(gone) = held.entries.remove(&key) {
                held.cost -= gone.cost;
            }
        }
    }
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A value of `n` rows.
    #[derive(Clone)]
    struct Rows(Arc<[u8]>);

    impl Cost for Rows {
        fn cost(&self) -> usize {
            self.0.len().max(1)
        }
    }

    fn rows(n: usize) -> Rows {
        Rows(vec![0; n].into())
    }

    fn cache(max_cost: usize) -> VersionedCache<u64, Rows> {
        VersionedCache::new(Limits {
            max_cost,
            max_skips: 15,
            max_age: None,
            ordered_versions: true,
        })
    }

    fn checked_version(cache: &VersionedCache<u64, Rows>, key: u64) -> Option<i64> {
        match cache.plan(&key) {
            Plan::Check { version, .. } => Some(version),
            Plan::Read => None,
        }
    }

    #[test]
    fn a_held_value_is_checked_against_its_version() {
        let cache = cache(10);
        assert_eq!(checked_version(&cache, 0), None);
        cache.fill(0, 3, rows(2));
        assert_eq!(checked_version(&cache, 0), Some(3));
        // An older read finishing late does not replace a newer value.
        cache.fill(0, 2, rows(2));
        assert_eq!(checked_version(&cache, 0), Some(3));
        cache.fill(0, 4, rows(2));
        assert_eq!(checked_version(&cache, 0), Some(4));
        cache.forget(&0);
        assert_eq!(checked_version(&cache, 0), None);
        assert_eq!(cache.lock().cost, 0);
    }

    #[test]
    fn unordered_versions_keep_the_last_fill() {
        let cache = VersionedCache::new(Limits {
            ordered_versions: false,
            ..cache(10).limits
        });
        cache.fill(0, 7, rows(1));
        cache.fill(0, 5, rows(1));
        assert_eq!(checked_version(&cache, 0), Some(5));
    }

    #[test]
    fn values_past_their_age_are_read_again() {
        let cache = VersionedCache::new(Limits {
            max_age: Some(Duration::ZERO),
            ..cache(10).limits
        });
        cache.fill(0, 1, rows(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(checked_version(&cache, 0), None);
        cache.fill(0, 2, rows(1));
        assert_eq!(cache.lock().cost, 1, "the refill replaced the old value");
    }

    #[test]
    fn stale_checks_in_a_row_skip_more_checks_until_a_hit() {
        let cache = cache(10);
        cache.fill(0, 1, rows(2));
        let skips_after_a_stale_check = |cache: &VersionedCache<u64, Rows>| {
            cache.stale(&0);
            let mut skipped = 0;
            while checked_version(cache, 0).is_none() {
                skipped += 1;
            }
            skipped
        };
        let rounds: Vec<u32> = (0..5).map(|_| skips_after_a_stale_check(&cache)).collect();
        assert_eq!(rounds, [1, 3, 7, 15, 15]);
        cache.hit(&0);
        assert_eq!(skips_after_a_stale_check(&cache), 1);

        let always = VersionedCache::new(Limits {
            max_skips: 0,
            ..cache.limits
        });
        always.fill(0, 1, rows(2));
        assert_eq!(skips_after_a_stale_check(&always), 0);
        assert_eq!(skips_after_a_stale_check(&always), 0);
        let reads = always.reads();
        assert_eq!((reads.hits, reads.stale), (0, 2));
    }

    #[test]
    fn the_least_recently_used_values_go_first_when_full() {
        let cache = cache(4);
        cache.fill(0, 1, rows(2));
        cache.fill(2, 1, rows(2));
        // Value 0 used again: value 2 is now the oldest.
        assert!(checked_version(&cache, 0).is_some());
        cache.fill(4, 1, rows(2));
        assert!(checked_version(&cache, 0).is_some());
        assert!(checked_version(&cache, 2).is_none());
        assert!(checked_version(&cache, 4).is_some());
        assert_eq!(cache.lock().cost, 4);
        // A value larger than the whole cache is not kept.
        cache.fill(6, 1, rows(5));
        assert!(checked_version(&cache, 6).is_none());
        assert_eq!(cache.lock().cost, 4);
    }

    #[test]
    fn empty_values_count_too() {
        let cache = cache(100);
        for key in 0..1_000 {
            cache.fill(key, 1, rows(0));
        }
        let held = cache.lock();
        assert!(held.cost <= 100 && held.entries.len() == held.cost);
        // The newest are kept.
        assert!(held.entries.contains_key(&999));
    }

    #[test]
    fn a_cache_of_no_room_keeps_nothing() {
        let cache = cache(0);
        assert!(!cache.enabled());
        cache.fill(0, 1, rows(1));
        assert!(checked_version(&cache, 0).is_none());
    }
}
