//! Scenario 6: what the API key check and the per-key rate limiter add to a
//! request, measured on the server's own code paths and nothing else.
//!
//! The server cannot switch its limiter off, so comparing two HTTP runs would
//! not isolate it. Instead this calls what the `require_api_key` middleware
//! calls, `auth::KeyGate::admit`, against a real enuchat database: the key
//! header, SHA-256 of the key, the server's key cache (or
//! `Store::find_api_key_by_hash` on a miss), the key's rate-limit bucket (in
//! memory for SQLite; PostgreSQL's lease limiter, which spends leased
//! requests in memory and takes new leases from the shared bucket) and the
//! `last_used_at` bookkeeping, timing each call. A key's first use misses the
//! cache; what a miss costs is measured apart, with the cache off, between
//! the timed calls (so the timed calls run with caches as cold as a real
//! request's, not in a tight loop). The lease statements that run off the
//! request path are counted and one is timed, so the report can add their
//! cost. Then it fills an in-memory limiter with 100,000 keys to show what
//! its state costs and that pruning bounds it.

use anyhow::Context;
use axum::http::{HeaderMap, HeaderValue};
use enuchat_domain::rate_limit::RateLimit;
use enuchat_server::auth::{self, KeyGate};
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
    let gate = KeyGate {
        store: store.as_ref(),
        cache: &cached,
        limiter: &limiter,
        limit,
    };
    let miss = KeyGate {
        cache: &uncached,
        ..gate
    };
    let headers: Vec<HeaderMap> = keys
        .iter()
        .map(|key| {
            let mut headers = HeaderMap::new();
            headers.insert(auth::API_KEY_HEADER, HeaderValue::from_str(key)?);
            Ok(headers)
        })
        .collect::<anyhow::Result<_>>()?;
    let statements = |limiter: &RateLimiter| match limiter {
        RateLimiter::Shared(leases) => leases.statements(),
        RateLimiter::Memory(_) => 0,
    };
    let (mut total, mut uncached_lookup) = (hist(), hist());
    let warm_up = iterations / 10;
    // Lease statements are counted over the second half of the timed calls:
    // leases grow with use, so the first seconds take more of them than a
    // steady load does.
    let steady = warm_up + iterations / 2;
    let (mut steady_from, mut statements_before) = (Instant::now(), 0);
    for i in 0..iterations + warm_up {
        if i == steady {
            steady_from = Instant::now();
            statements_before = statements(&limiter);
        }
        let headers = &headers[i % headers.len()];
        let t0 = Instant::now();
        let admission = gate
            .admit(headers)
            .await
            .map_err(|e| anyhow::anyhow!("a key from the keys file was refused: {e:?}"))?;
        let t1 = Instant::now();
        anyhow::ensure!(
            admission.decision.allowed,
            "the raised limit refused a request"
        );
        miss.authenticate(keys[i % keys.len()].as_str(), t1)
            .await
            .map_err(|e| anyhow::anyhow!("a key from the keys file was refused: {e:?}"))?;
        let t2 = Instant::now();
        // The first tenth warms caches and pools.
        if i >= warm_up {
            total.saturating_record((t1 - t0).as_nanos() as u64);
            uncached_lookup.saturating_record((t2 - t1).as_nanos() as u64);
        }
    }
    let steady_seconds = steady_from.elapsed().as_secs_f64();
    let lease_statements = statements(&limiter) - statements_before;
    // What one lease statement costs (wall time of a round trip: at least
    // the CPU it takes on both sides, as nothing else runs meanwhile).
    let mut lease = hist();
    if let RateLimiter::Shared(_) = limiter {
        for _ in 0..200 {
            let t = Instant::now();
            store.lease_rate_limit("bench:lease", limit, 100).await?;
            lease.saturating_record(t.elapsed().as_nanos() as u64);
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
        "keyLookupUncached": summary(&uncached_lookup),
        "total": summary(&total),
        // Lease statements sent in the last `steadySeconds` (a steady state).
        "steadySeconds": steady_seconds,
        "leaseStatements": lease_statements,
        "leaseStatement": if lease.is_empty() { serde_json::Value::Null } else { summary(&lease) },
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
