//! Rate limits shared by every instance using the database.
//!
//! This is the GCRA of `enuchat_domain::rate_limit::RateLimit::decide`,
//! written as one SQL statement so that the read-decide-write of a bucket is
//! atomic across processes (the upsert's row lock serializes concurrent
//! requests on one bucket) and uses one clock, the database's.

use crate::error::db_err;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::store::StoreResult;
use sqlx::PgPool;

/// Now, in microseconds since the Unix epoch, on the database clock.
/// (`extract(epoch ...)` is numeric, so the product is exact.)
macro_rules! now_us {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
    };
}

/// $1 bucket, $2 interval_us times the requests taken, $3 tolerance_us
/// (interval * burst).
///
/// The `clock` CTE reads the clock once (a CTE calling a volatile function is
/// evaluated once, never inlined), so the decision and the returned `now_us`
/// agree. With `tat = GREATEST(stored, now)` and `new = tat + interval`:
/// allowed iff `new - now <= tolerance`; when allowed `new` is stored, when
/// refused the stored value stays. A fresh bucket has no stored value, so
/// `tat = now`, which is what the INSERT branch computes.
///
/// If two requests race on one bucket, the second waits for the first's row
/// lock and then decides against the first's committed TAT, still with the
/// clock reading taken before it waited: at worst slightly conservative.
const ACQUIRE: &str = concat!(
    "WITH clock AS (SELECT ",
    now_us!(),
    " AS now_us) \
     INSERT INTO rate_limits AS r (bucket, tat_us, allowed) \
     SELECT $1, CASE WHEN $2 <= $3 THEN clock.now_us + $2 ELSE clock.now_us END, $2 <= $3 \
     FROM clock \
     ON CONFLICT (bucket) DO UPDATE SET \
       tat_us = CASE \
         WHEN GREATEST(r.tat_us, (SELECT now_us FROM clock)) + $2 \
              - (SELECT now_us FROM clock) <= $3 \
         THEN GREATEST(r.tat_us, (SELECT now_us FROM clock)) + $2 \
         ELSE r.tat_us END, \
       allowed = GREATEST(r.tat_us, (SELECT now_us FROM clock)) + $2 \
                 - (SELECT now_us FROM clock) <= $3 \
     RETURNING r.tat_us, r.allowed, (SELECT now_us FROM clock)"
);

/// `n` requests at once: the same statement, moving the TAT by `n`
/// intervals (all or nothing); `Store::acquire_rate_limit` is a lease of one.
pub(crate) async fn lease(
    pool: &PgPool,
    bucket: &str,
    limit: RateLimit,
    n: u32,
) -> StoreResult<RateDecision> {
    let (tat_us, allowed, now_us): (i64, bool, i64) = sqlx::query_as(ACQUIRE)
        .bind(bucket)
        .bind(limit.interval_us * i64::from(n.max(1)))
        .bind(limit.tolerance_us())
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    // When refused, `describe` only looks at how far the TAT is ahead of now,
    // so the stored TAT gives the same answer as `decide`'s GREATEST(stored, now).
    Ok(limit.describe(allowed, tat_us, now_us))
}

/// Deletes buckets whose TAT has passed: they are full again, which is
/// exactly what a missing row means.
pub(crate) async fn peek(
    pool: &PgPool,
    bucket: &str,
    limit: RateLimit,
) -> StoreResult<RateDecision> {
    let (tat_us, now_us): (Option<i64>, i64) = sqlx::query_as(concat!(
        "SELECT (SELECT tat_us FROM rate_limits WHERE bucket = $1), ",
        now_us!()
    ))
    .bind(bucket)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(limit.decide(tat_us, now_us).0)
}

pub(crate) async fn prune(pool: &PgPool) -> StoreResult<u64> {
    let done = sqlx::query(concat!(
        "DELETE FROM rate_limits WHERE tat_us <= ",
        now_us!()
    ))
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}
