use crate::helpers::*;
use reqwest::StatusCode;

both_backends!(
    a_burst_of_sixty_passes_then_429_per_key,
    a_key_read_again_after_its_cache_entry_expired_keeps_its_bucket
);

async fn a_burst_of_sixty_passes_then_429_per_key(backend: Backend) {
    let Some(app) = spawn_app_with_limit(backend, 60).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let second_key =
        enuchat_server::admin::create_api_key(app.store.as_ref(), acme.tenant.id, "second", None)
            .await
            .unwrap();

    for i in 0..60u32 {
        let reply = app.get("/widgets", &acme.key).await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
        assert_eq!(reply.header("x-ratelimit-limit"), Some("60"));
        let remaining: u32 = reply
            .header("x-ratelimit-remaining")
            .unwrap()
            .parse()
            .unwrap();
        // A second may pass during the loop and refill one request.
        assert!(
            remaining >= 59 - i && remaining <= 60 - i,
            "request {i}: remaining {remaining}"
        );
        assert!(
            reply
                .header("x-ratelimit-reset")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                <= 61
        );
    }
    let mut refused = None;
    // At most a couple of requests can be refilled while the burst ran.
    for _ in 0..5 {
        let reply = app.get("/widgets", &acme.key).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("the 61st request should be refused");
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-limit"), Some("60"));

    // Other keys, of the same tenant or another, are not affected.
    assert_eq!(
        app.get("/widgets", &second_key.secret).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/widgets", &globex.key).await.status,
        StatusCode::OK
    );

    // After the advertised wait, the key works again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(app.get("/widgets", &acme.key).await.status, StatusCode::OK);
}

/// The key cache holds each key's rate-limit bucket; when the entry expires
/// and the key is read from the database again, the request must land in
/// the same bucket, not a fresh, full one.
async fn a_key_read_again_after_its_cache_entry_expired_keeps_its_bucket(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.rate_limit_per_minute = 60;
        s.api_key_cache_secs = 1;
    })
    .await
    else {
        return;
    };
    let acme = app.account("Acme").await;
    let started = std::time::Instant::now();
    for i in 0..40 {
        let reply = app.get("/widgets", &acme.key).await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
    }
    // Past the cache's TTL: the next request reads the key again.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mut allowed = 40;
    while app.get("/widgets", &acme.key).await.status == StatusCode::OK {
        allowed += 1;
        assert!(allowed <= 100, "the bucket was refilled from scratch");
    }
    // 60 in the burst, plus one per second refilled meanwhile.
    let refilled = started.elapsed().as_secs() as u32 + 1;
    assert!(
        (60..=60 + refilled).contains(&allowed),
        "allowed {allowed} with {refilled} refilled"
    );
}

/// Two instances on one PostgreSQL database share one limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_share_one_limit() {
    let Some(app) = spawn_app_with_limit(Backend::Postgres, 60).await else {
        return;
    };
    let second = Instance::start(&app.db.url, 60).await;
    let acme = app.account("Acme").await;
    let mut allowed = 0;
    for i in 0..70 {
        let base = if i % 2 == 0 {
            &app.server.base
        } else {
            &second.base
        };
        let reply = app
            .client
            .get(format!("{base}/api/v1/tenant-api/widgets"))
            .header("X-Api-Key", &acme.key)
            .send()
            .await
            .unwrap();
        if reply.status() == StatusCode::OK {
            allowed += 1;
        } else {
            assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
        }
    }
    // 60 in the burst, plus at most a few refilled during the run (one per second).
    assert!(
        (60..=63).contains(&allowed),
        "allowed {allowed} of 70 across two instances"
    );
    second.stop().await;
}

/// Busy keys take leases of many requests per database statement; two
/// instances hammered at once still allow the limit once between them: at
/// most the burst plus what refills while the test runs, never a burst per
/// instance. (The key is new, so no lease taken before the test counts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_busy_instances_together_keep_one_limit() {
    const PER_MINUTE: u32 = 1200;
    let Some(app) = spawn_app_with_limit(Backend::Postgres, PER_MINUTE).await else {
        return;
    };
    let second = Instance::start(&app.db.url, PER_MINUTE).await;
    let acme = app.account("Acme").await;
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let client = app.client.clone();
            let key = acme.key.clone();
            let bases = [app.server.base.clone(), second.base.clone()];
            tokio::spawn(async move {
                let mut allowed = 0u32;
                for i in 0..450 {
                    let base = &bases[(i + worker) % 2];
                    let reply = client
                        .get(format!("{base}/api/v1/tenant-api/widgets"))
                        .header("X-Api-Key", &key)
                        .send()
                        .await
                        .unwrap();
                    match reply.status() {
                        StatusCode::OK => allowed += 1,
                        status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
                    }
                }
                allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for worker in workers {
        allowed += worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    let refilled = (elapsed.as_secs_f64() * f64::from(PER_MINUTE) / 60.0).ceil() as u32;
    assert!(
        allowed <= PER_MINUTE + refilled,
        "allowed {allowed} of 1800 across two instances (limit {PER_MINUTE} + {refilled} refilled)"
    );
    second.stop().await;
}
