//! Rate-limit buckets (GCRA), kept in the database so that they survive
//! restarts and are shared by every process using the file.

use crate::{db, now_us, SqliteStore};
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::store::StoreResult;

impl SqliteStore {
    pub(crate) async fn peek_rate_limit_impl(
        &self,
        bucket: &str,
        limit: RateLimit,
    ) -> StoreResult<RateDecision> {
        let tat: Option<i64> =
            sqlx::query_scalar("SELECT tat_us FROM rate_limits WHERE bucket = ?")
                .bind(bucket)
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        Ok(limit.decide(tat, now_us()).0)
    }

    /// `n` requests at once, all or none; `acquire_rate_limit` is a lease
    /// of one.
    pub(crate) async fn lease_rate_limit_impl(
        &self,
        bucket: &str,
        limit: RateLimit,
        n: u32,
    ) -> StoreResult<RateDecision> {
        // Read, decide and write under the write lock, so two requests can't
        // both spend the same capacity.
        let mut tx = self.begin_write().await?;
        let now = now_us();
        let tat: Option<i64> =
            sqlx::query_scalar("SELECT tat_us FROM rate_limits WHERE bucket = ?")
                .bind(bucket)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let (decision, new_tat) = limit.lease(tat, now, n);
        if decision.allowed {
            sqlx::query(
                "INSERT INTO rate_limits (bucket, tat_us) VALUES (?, ?) \
                 ON CONFLICT (bucket) DO UPDATE SET tat_us = excluded.tat_us",
            )
            .bind(bucket)
            .bind(new_tat)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
        }
        // A refusal leaves the stored TAT alone; dropping `tx` rolls back the
        // read-only transaction.
        Ok(decision)
    }

    pub(crate) async fn prune_rate_limits_impl(&self) -> StoreResult<u64> {
        // A TAT in the past means the bucket is full again: the row says
        // nothing a missing row would not.
        let done = sqlx::query("DELETE FROM rate_limits WHERE tat_us <= ?")
            .bind(now_us())
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }
}
