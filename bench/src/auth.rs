//! Scenario 6: what the API key check and the per-key rate limiter add to a
//! request, measured on the server's own code paths and nothing else.
//!
//! The server cannot switch its limiter off, so comparing two HTTP runs would
//! not isolate it. Instead this calls what the `require_api_key` middleware
//! calls, the same public functions, in the same order, against a real
//! enuchat database: `auth::authenticate_key` (SHA-256 of the presented key,
//! then the server's key cache, or `Store::find_api_key_by_hash` on a miss)
//! and `RateLimiter::check` on `auth::key_bucket` (in memory for SQLite, the
//! database for PostgreSQL), timing each part. The key check is measured
//! twice: with the server's default cache TTL (what requests pay) and with
//! the cache off (every request reads the database: what a miss costs).
//! Then it fills an in-memory limiter with 100,000 keys to show what its
//! state costs and that pruning bounds it.

use anyhow::Context;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_server::auth;
use enuchat_server::key_cache::{KeyCache, DEFAULT_CAPACITY};
use enuchat_server::lease_limiter::LeaseLimiter;
use enuchat_server::limiter::{MemoryLimiter, RateLimiter};
use enuchat_server::settings::Settings;
use hdrhistogram::Histogram;
use serde_json::json;
use std::time::{Duration, Instant};

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds")
}

fn summary(h: &Histogram<u64>) -> serde_json::Value {
    json!({"meanNs": h.mean().round(), "p50Ns": h.value_at_quantile(0.5),
           "p99Ns": h.value_at_quantile(0.99), "maxNs": h.max()})
}

pub async fn run(
    database_url: &str,
    keys: &[String],
    iterations: usize,
    limiter_keys: usize,
) -> anyhow::Result<serde_json::Value> {
    let store = enuchat_server::storage::connect(database_url, 10)
        .await
        .context("opening the enuchat database")?;
    let limiter = match store.kind() {
        enuchat_domain::StoreKind::Sqlite => RateLimiter::Memory(MemoryLimiter::new()),
        enuchat_domain::StoreKind::Postgres => {
            RateLimiter::Shared(LeaseLimiter::new(store.clone()))
        }
    };
    let ttl = Duration::from_secs(Settings::default().api_key_cache_secs);
    let cached = KeyCache::new(ttl, DEFAULT_CAPACITY);
    let uncached = KeyCache::new(Duration::ZERO, DEFAULT_CAPACITY);
    // As raised for the load runs, so every check admits.
    let limit = RateLimit::per_minute(60_000_000);
    let (mut lookup, mut miss, mut limiting, mut total) = (hist(), hist(), hist(), hist());
    for i in 0..iterations + iterations / 10 {
        let key = &keys[i % keys.len()];
        let t0 = Instant::now();
        let context = auth::authenticate_key(store.as_ref(), &cached, key)
            .await
            .map_err(|e| anyhow::anyhow!("a key from the keys file was refused: {e:?}"))?;
        let t1 = Instant::now();
        let decision = limiter
            .check(&auth::key_bucket(context.api_key_id), limit)
            .await?;
        let t2 = Instant::now();
        anyhow::ensure!(decision.allowed, "the raised limit refused a request");
        auth::authenticate_key(store.as_ref(), &uncached, key)
            .await
            .map_err(|e| anyhow::anyhow!("a key from the keys file was refused: {e:?}"))?;
        let t3 = Instant::now();
        if i >= iterations / 10 {
            // The first tenth warms caches and pools.
            lookup.saturating_record((t1 - t0).as_nanos() as u64);
            limiting.saturating_record((t2 - t1).as_nanos() as u64);
            total.saturating_record((t2 - t0).as_nanos() as u64);
            miss.saturating_record((t3 - t2).as_nanos() as u64);
        }
    }

    // In-memory limiter state for many keys (the SQLite server's limiter).
    let memory = MemoryLimiter::new();
    let per_minute = RateLimit::per_minute(60);
    let rss_before = crate::rss_kib(std::process::id())?;
    let mut checks = hist();
    let buckets: Vec<String> = (0..limiter_keys)
        .map(|_| format!("key:{}", uuid::Uuid::now_v7()))
        .collect();
    for b in &buckets {
        let t = Instant::now();
        memory.check(b, per_minute);
        checks.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let rss_after = crate::rss_kib(std::process::id())?;
    let tracked = memory.tracked_keys();
    // One request leaves a bucket 1 s from full at 60/min; after that the
    // state is the same as none and pruning drops it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pruned = memory.prune();
    Ok(json!({
        "kind": "auth",
        "storeKind": format!("{:?}", store.kind()),
        "iterations": iterations,
        "keys": keys.len(),
        "keyCacheSeconds": ttl.as_secs(),
        "keyLookup": summary(&lookup),
        "keyLookupUncached": summary(&miss),
        "limiter": summary(&limiting),
        "total": summary(&total),
        "memoryLimiter": {
            "keys": limiter_keys,
            "check": summary(&checks),
            "trackedKeys": tracked,
            "rssGrowthKiB": rss_after.saturating_sub(rss_before),
            "bytesPerKey": ((rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / limiter_keys.max(1) as f64).round(),
            "prunedAfter1s": pruned,
            "trackedAfterPrune": memory.tracked_keys(),
        },
    }))
}
