//! Keeps what authenticating a Tenant API key needs in memory, so that a key
//! in use costs one database lookup per TTL instead of one per request.
//!
//! Correctness of revocation:
//! - a revocation through this server (the dashboard) evicts the key at once;
//! - on PostgreSQL the revoking statement also sends a notice that every
//!   instance's listener turns into an eviction, and a lost listening
//!   connection clears the whole cache when it is back (notices sent in
//!   between are gone);
//! - anything else (SQLite's CLI writing the file from another process) is
//!   seen once the entry's TTL has run out.
//!
//! Expiry is still compared with the clock on every request, from the cached
//! `expires_at`.
//!
//! Each entry also holds the key's rate-limit bucket handle and when its use
//! is next to be written to `last_used_at`, so a request with a cached key
//! finds its key, its limiter state and its bookkeeping in one look-up.
//! That clock starts from the `last_used_at` read with the key, so a key that
//! another instance (or this one, before the entry's TTL ran out) recorded
//! recently is not written again before the interval is over.
//!
//! Unknown keys are not cached: random keys never repeat, so caching them
//! saves nothing and a flood of them would push out the keys in real use.
//! Each unknown key costs one indexed lookup, as before.

use crate::auth::LAST_USED_GRANULARITY_SECS;
use crate::limiter::Bucket;
use chrono::Utc;
use enuchat_domain::{ApiKey, ApiKeyId, TenantId, Timestamp};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Keys kept at most (about 180 bytes each with the map's overhead, the
/// shared entry and the bucket handle's state, so around 18 MB when full).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// What authentication needs from a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub revoked: bool,
    pub expires_at: Option<Timestamp>,
}

impl From<&ApiKey> for CachedKey {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id,
            tenant_id: key.tenant_id,
            revoked: key.revoked_at.is_some(),
            expires_at: key.expires_at,
        }
    }
}

/// A key as read from the database, with what its requests share.
pub struct KeyEntry {
    pub key: CachedKey,
    pub bucket: Bucket,
    read_at: Instant,
    /// When this key's use is next to be written to `last_used_at`, in
    /// nanoseconds since the cache's `origin`.
    next_use_record: AtomicU64,
}

/// Cached keys by the SHA-256 of the secret.
type Entries = HashMap<[u8; 32], Arc<KeyEntry>, BuildHasherDefault<DigestHasher>>;

/// Hashes a SHA-256 digest by taking its first eight bytes. The map's keys
/// are digests of secrets that are not chosen to collide (unknown keys are
/// never cached, and finding keys whose digests share a prefix is what
/// SHA-256 rules out), so they are spread evenly already; SipHash, the
/// default, would add tens of nanoseconds to every request for nothing.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes its length first, then its bytes: the length
        // is the same for every key, so the digest's bytes decide.
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub struct KeyCache {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<Entries>,
    /// The instant that [`KeyEntry`]'s use clocks count from.
    origin: Instant,
    /// A key's use is written at most this often (per entry).
    use_interval: Duration,
    /// Bumped by every eviction, so that a lookup that started before an
    /// eviction cannot put the evicted (stale) row back afterwards.
    generation: AtomicU64,
}

/// Taken before reading a key from the database, handed to
/// [`KeyCache::insert`] afterwards.
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

impl KeyCache {
    /// A `ttl` of zero turns caching off: every request reads the database.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: RwLock::new(Entries::default()),
            origin: Instant::now(),
            use_interval: Duration::from_secs(LAST_USED_GRANULARITY_SECS.unsigned_abs()),
            generation: AtomicU64::new(0),
        }
    }

    /// An entry for a key just read from the database (with the
    /// `last_used_at` it had then), to [`insert`](KeyCache::insert) or to
    /// use once when caching is off.
    pub fn entry(
        &self,
        key: CachedKey,
        last_used_at: Option<Timestamp>,
        bucket: Bucket,
    ) -> Arc<KeyEntry> {
        let now = Instant::now();
        // A `last_used_at` in the future (another machine's clock) counts
        // as just now.
        let since_recorded =
            last_used_at.map(|at| (Utc::now() - at).to_std().unwrap_or(Duration::ZERO));
        let next_use_record = match since_recorded {
            Some(since) if since < self.use_interval => {
                self.clock(now) + duration_ns(self.use_interval - since)
            }
            _ => 0,
        };
        Arc::new(KeyEntry {
            key,
            bucket,
            read_at: now,
            next_use_record: AtomicU64::new(next_use_record),
        })
    }

    /// Whether this use of the key, at `now`, is the one to write to
    /// `last_used_at`: the first once the interval since the last recorded
    /// use is over. Of requests racing for it, exactly one is told yes.
    pub fn claim_use(&self, entry: &KeyEntry, now: Instant) -> bool {
        let at = self.clock(now);
        let due = entry.next_use_record.load(Ordering::Relaxed);
        at >= due
            && entry
                .next_use_record
                .compare_exchange(
                    due,
                    at + duration_ns(self.use_interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn clock(&self, at: Instant) -> u64 {
        duration_ns(at.saturating_duration_since(self.origin))
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The cached entry for this hash, if it was read within the TTL before
    /// `now`.
    pub fn get(&self, hash: &[u8; 32], now: Instant) -> Option<Arc<KeyEntry>> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(hash)?;
        (now.saturating_duration_since(entry.read_at) < self.ttl).then(|| entry.clone())
    }

    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Remembers a key read from the database, unless something was evicted
    /// since `seen` was taken (the row read may predate that eviction).
    pub fn insert(&self, seen: Generation, hash: [u8; 32], entry: Arc<KeyEntry>) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: evictions bump the generation holding it.
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&hash) {
            self.make_room(&mut entries);
        }
        entries.insert(hash, entry);
    }

    /// Drops stale entries, then, if still full, an arbitrary eighth of the
    /// rest, so that filling up costs one pass per `capacity / 8` inserts.
    fn make_room(&self, entries: &mut Entries) {
        entries.retain(|_, entry| entry.read_at.elapsed() < self.ttl);
        if entries.len() >= self.capacity {
            let drop = (self.capacity / 8).max(1);
            let victims: Vec<[u8; 32]> = entries.keys().take(drop).copied().collect();
            for victim in victims {
                entries.remove(&victim);
            }
        }
    }

    /// Forgets one key (it was revoked or changed).
    pub fn evict(&self, hash: &[u8; 32]) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(hash);
    }

    /// Forgets everything (e.g. revocation notices may have been missed).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Drops entries past their TTL, which would be read again anyway (and
    /// lets the limiter forget their buckets once those are full again).
    pub fn prune(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| entry.read_at.elapsed() < self.ttl);
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::MemoryLimiter;

    fn bucket() -> Bucket {
        Bucket::Memory(MemoryLimiter::new().bucket("key:test"))
    }

    fn key() -> CachedKey {
        CachedKey {
            id: ApiKeyId::new(),
            tenant_id: TenantId::new(),
            revoked: false,
            expires_at: None,
        }
    }

    fn get(cache: &KeyCache, n: u32) -> Option<CachedKey> {
        cache.get(&hash(n), Instant::now()).map(|entry| entry.key)
    }

    fn hash(n: u32) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&n.to_le_bytes());
        h
    }

    #[test]
    fn serves_what_was_inserted_until_evicted() {
        let cache = KeyCache::new(Duration::from_secs(60), 10);
        let k = key();
        assert_eq!(get(&cache, 1), None);
        cache.insert(cache.generation(), hash(1), cache.entry(k, None, bucket()));
        assert_eq!(get(&cache, 1), Some(k));
        cache.evict(&hash(1));
        assert_eq!(get(&cache, 1), None);
        cache.insert(cache.generation(), hash(1), cache.entry(k, None, bucket()));
        cache.insert(cache.generation(), hash(2), cache.entry(k, None, bucket()));
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_lookup_that_raced_an_eviction_is_not_remembered() {
        let cache = KeyCache::new(Duration::from_secs(60), 10);
        let before = cache.generation();
        // Revoked (elsewhere) while this lookup read the old row.
        cache.evict(&hash(1));
        cache.insert(before, hash(1), cache.entry(key(), None, bucket()));
        assert_eq!(get(&cache, 1), None);
        let before = cache.generation();
        cache.clear();
        cache.insert(before, hash(1), cache.entry(key(), None, bucket()));
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_live_for_the_ttl_and_zero_turns_caching_off() {
        let cache = KeyCache::new(Duration::from_millis(30), 10);
        cache.insert(
            cache.generation(),
            hash(1),
            cache.entry(key(), None, bucket()),
        );
        assert!(get(&cache, 1).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(get(&cache, 1), None);
        cache.prune();
        assert!(cache.is_empty());

        let off = KeyCache::new(Duration::ZERO, 10);
        assert!(!off.enabled());
        off.insert(off.generation(), hash(1), off.entry(key(), None, bucket()));
        assert_eq!(get(&off, 1), None);
        assert!(off.is_empty());
    }

    #[test]
    fn size_stays_within_capacity() {
        let cache = KeyCache::new(Duration::from_secs(60), 64);
        for n in 0..1000 {
            cache.insert(
                cache.generation(),
                hash(n),
                cache.entry(key(), None, bucket()),
            );
            assert!(cache.len() <= 64);
        }
        // The newest key is always kept.
        assert!(get(&cache, 999).is_some());
        // Re-inserting a present key at capacity does not evict others.
        let len = cache.len();
        cache.insert(
            cache.generation(),
            hash(999),
            cache.entry(key(), None, bucket()),
        );
        assert_eq!(cache.len(), len);
    }

    #[test]
    fn a_keys_use_is_claimed_once_per_interval_from_its_last_recorded_use() {
        let cache = KeyCache::new(Duration::from_secs(60), 10);
        let interval = Duration::from_secs(LAST_USED_GRANULARITY_SECS.unsigned_abs());
        let now = Instant::now();

        let never_used = cache.entry(key(), None, bucket());
        assert!(cache.claim_use(&never_used, now));
        assert!(!cache.claim_use(&never_used, now), "claimed twice");
        let almost = now + interval - Duration::from_millis(1);
        assert!(!cache.claim_use(&never_used, almost));
        assert!(cache.claim_use(&never_used, now + interval));
        assert!(!cache.claim_use(&never_used, now + interval));

        let recorded = |ago: i64| Some(Utc::now() - chrono::Duration::seconds(ago));
        let recently = cache.entry(key(), recorded(10), bucket());
        assert!(!cache.claim_use(&recently, now), "recorded 10 s ago");
        assert!(cache.claim_use(&recently, now + interval - Duration::from_secs(9)));

        let long_ago = cache.entry(key(), recorded(600), bucket());
        assert!(cache.claim_use(&long_ago, now));

        let ahead = cache.entry(key(), recorded(-30), bucket());
        assert!(!cache.claim_use(&ahead, now), "a future time counts as now");
        assert!(cache.claim_use(&ahead, Instant::now() + interval));
    }

    #[test]
    fn racing_requests_claim_a_use_once() {
        let cache = Arc::new(KeyCache::new(Duration::from_secs(60), 10));
        let entry = cache.entry(key(), None, bucket());
        let now = Instant::now();
        let claimed: usize = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..1000).filter(|_| cache.claim_use(&entry, now)).count()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert_eq!(claimed, 1);
    }
}
