//! What must hold when several enuchat instances share one database: each
//! test uses two (or more) separate `PostgresStore`s, i.e. separate pools,
//! as separate processes would.

mod common;

use common::*;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::*;
use futures::future::join_all;

#[tokio::test]
async fn concurrent_migrations_from_several_instances() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Starting at once on an empty database: all must succeed, and the
    // migrations must have run exactly once.
    let stores =
        join_all((0..4).map(|_| enuchat_store_postgres::PostgresStore::connect(&db.url))).await;
    let stores: Vec<_> = stores.into_iter().map(|s| s.expect("connect")).collect();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(stores[0].pool())
            .await
            .expect("read migrations");
    assert!(!applied.is_empty());
    assert!(applied.iter().all(|(_, ok)| *ok));
    let versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "a migration was recorded twice");
    // And a later start finds nothing to do.
    db.store().await;
    for store in &stores {
        store.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn a_rate_limit_holds_across_instances() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    // 60 in a burst, refilling one a minute: no refill can happen during the
    // test, so the count is exact however slow the machine is.
    let limit = RateLimit {
        burst: 60,
        interval_us: 60_000_000,
    };
    // Alternate between the instances: 60 pass in total, the 61st does not.
    for i in 0..60u32 {
        let store = if i % 2 == 0 { &a } else { &b };
        let d = store
            .acquire_rate_limit("key:1", limit)
            .await
            .expect("acquire");
        assert!(d.allowed, "request {i} should pass");
        assert_eq!(d.limit, 60);
        assert_eq!(d.remaining, 59 - i);
    }
    let refused = b.acquire_rate_limit("key:1", limit).await.expect("acquire");
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert_eq!(refused.retry_after_secs, 60);
    // The bucket is full again an hour after the first request (give or take
    // the time the test took).
    assert!((3590..=3600).contains(&refused.reset_secs), "{refused:?}");
    // A refused request used nothing up: the next one is refused the same way.
    let again = a.acquire_rate_limit("key:1", limit).await.expect("acquire");
    assert!(!again.allowed);
    assert!(again.reset_secs <= refused.reset_secs && again.remaining == 0);
    // Another bucket is untouched.
    assert!(
        a.acquire_rate_limit("key:2", limit)
            .await
            .expect("acquire")
            .allowed
    );
}

#[tokio::test]
async fn concurrent_requests_on_one_bucket_are_counted_once_each() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    // One request per hour refill: nothing comes back during the test.
    let limit = RateLimit {
        burst: 20,
        interval_us: 3_600_000_000,
    };
    let attempts = (0..50).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            store
                .acquire_rate_limit("hot", limit)
                .await
                .expect("acquire")
        }
    });
    let decisions = join_all(attempts).await;
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 20);
}

#[tokio::test]
async fn pruning_forgets_only_full_buckets() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let fast = RateLimit {
        burst: 5,
        interval_us: 1,
    };
    store
        .acquire_rate_limit("fast", fast)
        .await
        .expect("acquire");
    store
        .acquire_rate_limit("slow", RateLimit::per_minute(10))
        .await
        .expect("acquire");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(store.prune_rate_limits().await.expect("prune"), 1);
    assert_eq!(store.prune_rate_limits().await.expect("prune"), 0);
}

#[tokio::test]
async fn concurrent_appends_from_two_instances_get_gapless_seqs() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let t = tenant(&a, "Acme").await;
    let w = widget(&a, t.id, "Site").await;
    let c = conversation(&a, t.id, w.id).await;
    let appends = (0..100).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            store
                .append_message(
                    t.id,
                    c.id,
                    NewMessage::new(MessageRole::Visitor, text(&format!("m{i}"))),
                )
                .await
                .expect("append")
                .expect("conversation exists")
        }
    });
    let mut appended = join_all(appends).await;
    appended.sort_by_key(|m| m.seq);
    let seqs: Vec<i64> = appended.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    // Time is read under the row lock, so it never goes backwards with seq.
    assert!(appended
        .windows(2)
        .all(|p| p[0].created_at <= p[1].created_at));

    let after = b
        .get_conversation(t.id, c.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.last_seq, 100);
    assert_eq!(after.last_message_at, appended[99].created_at);
    assert_eq!(after.status, ConversationStatus::Open);
    let recent = a.recent_messages(t.id, c.id, 10).await.expect("recent");
    assert_eq!(
        recent.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (91..=100).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn concurrent_credit_additions_keep_the_ledger_consistent() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let t = tenant(&a, "Acme").await;
    let adds = (1..=40i64).map(|amount| {
        let store = if amount % 2 == 0 {
            a.clone()
        } else {
            b.clone()
        };
        async move {
            store
                .add_credits(t.id, amount)
                .await
                .expect("add")
                .expect("tenant exists")
        }
    });
    join_all(adds).await;
    let total: i64 = (1..=40).sum();
    let tenant = a.get_tenant(t.id).await.expect("get").expect("exists");
    assert_eq!(tenant.credit_balance, total);
    assert_eq!(tenant.total_credits_added, total);
    // Newest first, each balance_after = the next older one + its amount.
    let ledger = b.list_ledger(t.id, 100, 0).await.expect("ledger");
    assert_eq!(ledger.len(), 40);
    assert_eq!(ledger[0].balance_after, total);
    for pair in ledger.windows(2) {
        assert_eq!(
            pair[0].balance_after,
            pair[1].balance_after + pair[0].amount
        );
    }
    assert_eq!(ledger[39].balance_after, ledger[39].amount);
}

/// Busy connections are not pinged before use (a round trip per statement),
/// but one that sat idle is: after the database dropped every connection
/// while the pool was quiet (a restart, a proxy timing them out), the next
/// requests still succeed on fresh connections.
#[tokio::test]
async fn connections_dropped_while_idle_are_replaced_before_use() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Acme").await;
    // Several pooled connections, all idle afterwards.
    let reads = (0..4).map(|_| store.get_tenant(t.id));
    for read in join_all(reads).await {
        read.expect("read").expect("tenant");
    }
    let admin = sqlx::PgPool::connect(&db.url).await.expect("admin");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'enuchat'",
    )
    .fetch_all(&admin)
    .await
    .expect("terminate");
    assert!(!killed.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let reads = (0..4).map(|_| store.get_tenant(t.id));
    for read in join_all(reads).await {
        read.expect("read after the connections were dropped")
            .expect("tenant");
    }
    admin.close().await;
}
