//! Scenario 6: what the API key check and the per-key rate limiter add to a
//! request, measured on the server's own code paths and nothing else.
//!
//! The server cannot switch its limiter off, so comparing two HTTP runs would
//! not isolate it. Instead this calls exactly what the `require_api_key`
//! middleware calls, in the same order, against a real enuchat database:
//! SHA-256 of the presented key, `Store::find_api_key_by_hash`, and
//! `RateLimiter::check` on the `key:<id>` bucket (in memory for SQLite, one
//! atomic statement in the database for PostgreSQL), timing each part.
//! Then it fills an in-memory limiter with 100,000 keys to show what its
//! state costs and that pruning bounds it.

use anyhow::Context;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::secret;
use enuchat_server::limiter::{MemoryLimiter, RateLimiter};
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
        enuchat_domain::StoreKind::Postgres => RateLimiter::Shared(store.clone()),
    };
    // As raised for the load runs, so every check admits.
    let limit = RateLimit::per_minute(60_000_000);
    let (mut lookup, mut limiting, mut total) = (hist(), hist(), hist());
    for i in 0..iterations + iterations / 10 {
        let key = &keys[i % keys.len()];
        let t0 = Instant::now();
        let hash = secret::hash(key);
        let found = store
            .find_api_key_by_hash(&hash)
            .await?
            .context("a key from the keys file is unknown")?;
        let t1 = Instant::now();
        let bucket = format!("key:{}", found.id);
        let decision = limiter.check(&bucket, limit).await?;
        let t2 = Instant::now();
        anyhow::ensure!(decision.allowed, "the raised limit refused a request");
        if i >= iterations / 10 {
            // The first tenth warms caches and pools.
            lookup.saturating_record((t1 - t0).as_nanos() as u64);
            limiting.saturating_record((t2 - t1).as_nanos() as u64);
            total.saturating_record((t2 - t0).as_nanos() as u64);
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
        "keyLookup": summary(&lookup),
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
