//! Shared rate limits (GCRA buckets).

use super::SharedStore;
use enuchat_domain::rate_limit::RateLimit;
use std::time::Duration;

/// A burst of 60 that refills slowly enough for timing not to matter, however
/// loaded the machine running the test is.
const SLOW: RateLimit = RateLimit {
    burst: 60,
    interval_us: 600_000_000,
};

pub async fn rate_limit_burst_then_refusal(store: SharedStore) {
    let store = &*store;
    for i in 0..60u32 {
        let d = store.acquire_rate_limit("key:a", SLOW).await.unwrap();
        assert!(d.allowed, "request {i} of the burst should pass");
        assert_eq!((d.limit, d.remaining), (60, 59 - i));
    }
    for _ in 0..3 {
        let d = store.acquire_rate_limit("key:a", SLOW).await.unwrap();
        assert!(!d.allowed, "past the burst requests are refused");
        assert_eq!(d.remaining, 0);
        // A refusal spends nothing: the next request still fits in one interval.
        assert!(
            d.retry_after_secs >= 1 && d.retry_after_secs <= 600,
            "{d:?}"
        );
    }

    let d = store.acquire_rate_limit("key:b", SLOW).await.unwrap();
    assert!(
        d.allowed && d.remaining == 59,
        "another bucket is unaffected: {d:?}"
    );
}

pub async fn rate_limit_prune_forgets_only_full_buckets(store: SharedStore) {
    let store = &*store;
    let quick = RateLimit {
        burst: 1,
        interval_us: 1_000,
    };
    let slow_one = RateLimit {
        burst: 1,
        interval_us: 600_000_000,
    };
    assert!(
        store
            .acquire_rate_limit("quick", quick)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        store
            .acquire_rate_limit("slow", slow_one)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !store
            .acquire_rate_limit("slow", slow_one)
            .await
            .unwrap()
            .allowed
    );
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert_eq!(
        store.prune_rate_limits().await.unwrap(),
        1,
        "only the refilled bucket goes"
    );
    let d = store.acquire_rate_limit("slow", slow_one).await.unwrap();
    assert!(!d.allowed, "a bucket still in use is kept");
    assert!(
        store
            .acquire_rate_limit("quick", quick)
            .await
            .unwrap()
            .allowed
    );
}

pub async fn rate_limit_peek_spends_nothing(store: SharedStore) {
    let store = &*store;
    let small = RateLimit {
        burst: 2,
        interval_us: 600_000_000,
    };
    for _ in 0..3 {
        let d = store.peek_rate_limit("peek:a", small).await.unwrap();
        assert!(d.allowed && d.remaining == 1, "{d:?}");
    }
    assert!(
        store
            .acquire_rate_limit("peek:a", small)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        store
            .peek_rate_limit("peek:a", small)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        store
            .acquire_rate_limit("peek:a", small)
            .await
            .unwrap()
            .allowed
    );
    let d = store.peek_rate_limit("peek:a", small).await.unwrap();
    assert!(!d.allowed && d.retry_after_secs >= 1, "{d:?}");
}

/// Leases (what each instance takes to spend in memory) are all or nothing,
/// and racing leases of many instances together never get more than the
/// bucket holds: with no refill, exactly the burst.
pub async fn rate_limit_concurrent_leases_never_exceed_the_burst(store: SharedStore) {
    let d = store.lease_rate_limit("lease:a", SLOW, 50).await.unwrap();
    assert!(d.allowed && d.remaining == 10, "{d:?}");
    let d = store.lease_rate_limit("lease:a", SLOW, 11).await.unwrap();
    assert!(!d.allowed && d.remaining == 10, "all or nothing: {d:?}");
    let d = store.lease_rate_limit("lease:a", SLOW, 10).await.unwrap();
    assert!(d.allowed && d.remaining == 0, "{d:?}");

    let tasks: Vec<_> = (0..6u32)
        .map(|instance| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut granted = 0;
                let mut n = 1 + instance % 4;
                loop {
                    let d = store.lease_rate_limit("lease:b", SLOW, n).await.unwrap();
                    if d.allowed {
                        granted += n;
                    } else if d.remaining == 0 {
                        return granted;
                    } else {
                        n = d.remaining.min(n);
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(
        total, SLOW.burst,
        "the instances together got the burst once"
    );
}
