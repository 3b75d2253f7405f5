//! The durable job queue: enqueued with messages, claimed with leases, and
//! ended only by the holder of the current lease.
//!
//! Every write runs under SQLite's write lock (`BEGIN IMMEDIATE`, or a single
//! statement), which serializes claims across tasks and processes: a job is
//! never handed to two workers while its lease lasts.

use crate::credits::charge_in;
use crate::messages::append_on;
use crate::raw_connection::with_raw_connection;
use crate::rows::{all, message_columns, MessageRow};
use crate::{db, from_us, now_us, opt_from_us, sql_int, to_us, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{FromRow, SqliteConnection};
use std::time::Duration;
use uuid::Uuid;

macro_rules! job_columns {
    () => {
        "id, tenant_id, conversation_id, message_id, kind, payload, status, attempts, run_at, \
         lease, locked_until, last_error, note, created_at, updated_at"
    };
}

#[derive(FromRow)]
struct JobRow {
    id: Uuid,
    tenant_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    kind: String,
    payload: String,
    status: String,
    attempts: i32,
    run_at: i64,
    lease: Option<Uuid>,
    locked_until: Option<i64>,
    last_error: Option<String>,
    note: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn unreadable(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("unreadable {what} in database: {value}"))
}

impl JobRow {
    fn into_model(self) -> StoreResult<Job> {
        Ok(Job {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            conversation_id: self.conversation_id.into(),
            message_id: self.message_id.into(),
            kind: parse_job_kind(&self.kind)?,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| unreadable("job payload", e))?,
            status: JobStatus::parse(&self.status)
                .ok_or_else(|| unreadable("job status", &self.status))?,
            attempts: self.attempts,
            run_at: from_us(self.run_at)?,
            locked_until: opt_from_us(self.locked_until)?,
            last_error: self.last_error,
            note: self.note,
            created_at: from_us(self.created_at)?,
            updated_at: from_us(self.updated_at)?,
        })
    }

    fn into_claimed(self) -> StoreResult<ClaimedJob> {
        let lease = self
            .lease
            .ok_or_else(|| unreadable("job lease", "NULL on a claimed job"))?;
        Ok(ClaimedJob {
            job: self.into_model()?,
            lease,
        })
    }
}

/// Ends the job as done if `claimed`'s lease is still its lease; returns the
/// job's conversation and message then, `None` when the lease was lost.
async fn finish_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    claimed: &ClaimedJob,
    note: Option<&str>,
    now: i64,
) -> StoreResult<Option<(ConversationId, MessageId)>> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE jobs SET status = 'done', lease = NULL, locked_until = NULL, note = ?1, \
           updated_at = ?2 \
         WHERE id = ?3 AND tenant_id = ?4 AND lease = ?5 AND status = 'running' \
         RETURNING conversation_id, message_id",
    )
    .bind(note)
    .bind(now)
    .bind(claimed.job.id.0)
    .bind(tenant.0)
    .bind(claimed.lease)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    if row.is_some() && claimed.job.kind == JobKind::Translate {
        clear_translation_pending(&mut *conn, tenant, claimed.job.message_id).await?;
    }
    Ok(row.map(|(c, m)| (c.into(), m.into())))
}

/// The message's translation job is over (translated or not): the visitor's
/// channel stops waiting for it.
async fn clear_translation_pending(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    message: MessageId,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE messages SET translation_pending = 0 \
         WHERE id = ? AND tenant_id = ? AND translation_pending",
    )
    .bind(message.0)
    .bind(tenant.0)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Due jobs, oldest `run_at` first. Each arm reads its partial index in
/// order and stops at `limit`, so a long backlog costs no more than a short
/// one; only the (at most 2 × limit) candidates are sorted.
const CLAIM: &str = concat!(
    "UPDATE jobs SET status = 'running', lease = ?1, locked_until = ?2, \
       attempts = attempts + 1, updated_at = ?3 \
     WHERE id IN ( \
       SELECT id FROM ( \
         SELECT id, run_at FROM (SELECT id, run_at FROM jobs \
           WHERE status = 'queued' AND run_at <= ?4 ORDER BY run_at LIMIT ?5) \
         UNION ALL \
         SELECT id, run_at FROM (SELECT id, run_at FROM jobs \
           WHERE status = 'running' AND locked_until <= ?4 ORDER BY locked_until LIMIT ?5) \
       ) ORDER BY run_at, id LIMIT ?5) \
     RETURNING ",
    job_columns!()
);

impl SqliteStore {
    pub(crate) async fn claim_jobs_impl(
        &self,
        now: Timestamp,
        lease_for: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedJob>> {
        let until =
            to_us(now).saturating_add(i64::try_from(lease_for.as_micros()).unwrap_or(i64::MAX));
        // One lease for the batch: a lease only has to tell this claim apart
        // from every other claim of the same job, and the guard always pairs
        // it with the job id.
        let lease = new_lease();
        let mut tx = self.begin_write().await?;
        let rows: Vec<JobRow> = sqlx::query_as(CLAIM)
            .bind(lease)
            .bind(until)
            .bind(now_us())
            .bind(to_us(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut claimed = all(rows, JobRow::into_claimed)?;
        // RETURNING has no order; hand them out oldest first.
        claimed.sort_by_key(|c| (c.job.run_at, c.job.id));
        Ok(claimed)
    }

    pub(crate) async fn complete_translation_impl(
        &self,
        tenant: TenantId,
        claimed: &ClaimedJob,
        outcome: TranslationOutcome,
    ) -> StoreResult<Option<Message>> {
        claimed.expect_kind(JobKind::Translate)?;
        let mut tx = self.begin_write().await?;
        let now = now_us();
        let Some((_, message_id)) = finish_in(&mut tx, tenant, claimed, None, now).await? else {
            return Ok(None);
        };
        // Only a message without a translation gets one (and is charged for).
        let translated: Option<MessageRow> = sqlx::query_as(concat!(
            "UPDATE messages SET translated_content = ?, translated_language = ? \
             WHERE id = ? AND tenant_id = ? AND translated_content IS NULL RETURNING ",
            message_columns!()
        ))
        .bind(&outcome.translated_content)
        .bind(&outcome.translated_language)
        .bind(message_id.0)
        .bind(tenant.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let message = match translated {
            Some(row) => {
                charge_in(
                    &mut tx,
                    tenant,
                    outcome.charge,
                    LedgerReason::Translation,
                    message_id,
                    now,
                )
                .await?;
                row.into_model()?
            }
            None => {
                let row: MessageRow = sqlx::query_as(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE id = ? AND tenant_id = ?"
                ))
                .bind(message_id.0)
                .bind(tenant.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
                row.into_model()?
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(Some(message))
    }

    pub(crate) async fn complete_ai_reply_impl(
        &self,
        tenant: TenantId,
        claimed: &ClaimedJob,
        reply: NewMessage,
        charge: i64,
    ) -> StoreResult<Option<(Message, Option<LedgerEntry>)>> {
        claimed.expect_kind(JobKind::AiReply)?;
        let mut tx = self.begin_conversation_write(tenant).await?;
        let now = now_us();
        let Some((conversation, _)) = finish_in(&mut tx, tenant, claimed, None, now).await? else {
            return Ok(None);
        };
        let message = with_raw_connection(&mut tx, |conn| {
            append_on(conn, tenant, conversation, &reply, now)
        })
        .await?
        .ok_or(StoreError::MissingReference("conversation"))?;
        let entry = charge_in(
            &mut tx,
            tenant,
            charge,
            LedgerReason::AiReply,
            message.id,
            now,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(Some((message, entry)))
    }

    pub(crate) async fn finish_job_impl(
        &self,
        tenant: TenantId,
        claimed: &ClaimedJob,
        note: Option<&str>,
    ) -> StoreResult<bool> {
        let mut conn = self.writer.acquire().await?;
        let finished = finish_in(&mut conn, tenant, claimed, note, now_us()).await?;
        Ok(finished.is_some())
    }

    pub(crate) async fn fail_job_impl(
        &self,
        tenant: TenantId,
        claimed: &ClaimedJob,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        // One transaction: a translation given up for good must not leave
        // its message waiting for it after a crash in between.
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET \
               status = CASE WHEN ?1 IS NULL THEN 'failed' ELSE 'queued' END, \
               run_at = COALESCE(?1, run_at), last_error = ?2, lease = NULL, \
               locked_until = NULL, updated_at = ?3 \
             WHERE id = ?4 AND tenant_id = ?5 AND lease = ?6 AND status = 'running'",
        )
        .bind(retry_at.map(to_us))
        .bind(error)
        .bind(now_us())
        .bind(claimed.job.id.0)
        .bind(tenant.0)
        .bind(claimed.lease)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let failed_for_good = updated.rows_affected() == 1 && retry_at.is_none();
        if failed_for_good && claimed.job.kind == JobKind::Translate {
            clear_translation_pending(&mut tx, tenant, claimed.job.message_id).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(updated.rows_affected() == 1)
    }

    pub(crate) async fn list_jobs_impl(
        &self,
        tenant: TenantId,
        status: Option<JobStatus>,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<Job>> {
        // Two statements so each walks its own index in order.
        let query = match status {
            None => sqlx::query_as::<_, JobRow>(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE tenant_id = ? \
                  ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
            ))
            .bind(tenant.0),
            Some(status) => sqlx::query_as::<_, JobRow>(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE tenant_id = ? AND status = ? \
                  ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
            ))
            .bind(tenant.0)
            .bind(status.as_str()),
        };
        let rows = query
            .bind(i64::from(limit))
            .bind(sql_int(offset))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        all(rows, JobRow::into_model)
    }

    pub(crate) async fn job_counts_impl(&self) -> StoreResult<Vec<(JobKind, JobStatus, i64)>> {
        // The WHERE repeats the partial index's condition word for word,
        // which is how SQLite knows it may use it.
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, status, count(*) FROM jobs WHERE status <> 'done' \
             GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(kind, status, n)| {
                Ok((
                    parse_job_kind(&kind)?,
                    JobStatus::parse(&status).ok_or_else(|| unreadable("job status", &status))?,
                    n,
                ))
            })
            .collect()
    }

    pub(crate) async fn prune_jobs_impl(&self, done_before: Timestamp) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM jobs WHERE status = 'done' AND updated_at < ?")
            .bind(to_us(done_before))
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db)?;
        Ok(deleted.rows_affected())
    }
}

fn parse_job_kind(text: &str) -> StoreResult<JobKind> {
    JobKind::parse(text).ok_or_else(|| unreadable("job kind", text))
}
