//! The durable job queue: enqueued with messages (see `messages::append_on`),
//! claimed with leases, and ended only by the holder of the current lease.
//!
//! Claims use `FOR UPDATE SKIP LOCKED`, so workers on any number of
//! instances take disjoint jobs without waiting on each other. Every way of
//! ending a job matches `(id, lease, status = 'running')`: once another
//! worker has re-claimed a job (its lease ran out), the first one's writes
//! match nothing and, for the completions, roll back their whole transaction.

use crate::credits::charge_in;
use crate::detail_cache::touch_conversation_sql;
use crate::error::{bad_data, db_err};
use crate::list_anchors::bump_list_versions;
use crate::messages::{append_on, plan_locked};
use crate::rows::*;
use chrono::{DateTime, Utc};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// `payload` is jsonb, read as text (the crate does not enable sqlx's `json`
/// feature) and parsed in [`JobRow::into_model`].
macro_rules! job_columns {
    () => {
        "id, tenant_id, conversation_id, message_id, kind, payload::text AS payload, status, \
         attempts, run_at, lease, locked_until, last_error, note, created_at, updated_at"
    };
}

type Ts = DateTime<Utc>;

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    tenant_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    kind: String,
    payload: String,
    status: String,
    attempts: i32,
    run_at: Ts,
    lease: Option<Uuid>,
    locked_until: Option<Ts>,
    last_error: Option<String>,
    note: Option<String>,
    created_at: Ts,
    updated_at: Ts,
}

fn parse_kind(text: &str) -> StoreResult<JobKind> {
    JobKind::parse(text).ok_or_else(|| bad_data("job kind", format!("{text:?}")))
}

fn parse_status(text: &str) -> StoreResult<JobStatus> {
    JobStatus::parse(text).ok_or_else(|| bad_data("job status", format!("{text:?}")))
}

impl JobRow {
    fn into_model(self) -> StoreResult<Job> {
        Ok(Job {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            conversation_id: self.conversation_id.into(),
            message_id: self.message_id.into(),
            kind: parse_kind(&self.kind)?,
            payload: serde_json::from_str(&self.payload).map_err(|e| bad_data("job payload", e))?,
            status: parse_status(&self.status)?,
            attempts: self.attempts,
            run_at: self.run_at,
            locked_until: self.locked_until,
            last_error: self.last_error,
            note: self.note,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn into_claimed(self) -> StoreResult<ClaimedJob> {
        let lease = self
            .lease
            .ok_or_else(|| bad_data("job lease", "NULL on a claimed job"))?;
        Ok(ClaimedJob {
            job: self.into_model()?,
            lease,
        })
    }
}

/// One statement, so one short transaction:
/// - `q` and `r` lock the due jobs (queued ones by due time, running ones
///   whose lease ended by lease end), each reading its partial index in order
///   and stopping at the limit, skipping rows another claim holds. A row
///   another claim changed meanwhile is re-checked against the WHERE on its
///   new version, so a job that was just claimed is not taken again;
/// - `picked` keeps the oldest `run_at` among those (at most 2 × limit rows
///   sorted); the others are unlocked at commit, a moment later;
/// - the UPDATE hands them out with the lease.
const CLAIM: &str = concat!(
    "WITH q AS ( \
       SELECT id, run_at FROM jobs WHERE status = 'queued' AND run_at <= $1 \
       ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED \
     ), r AS ( \
       SELECT id, run_at FROM jobs WHERE status = 'running' AND locked_until <= $1 \
       ORDER BY locked_until LIMIT $4 FOR UPDATE SKIP LOCKED \
     ), picked AS ( \
       SELECT id FROM (SELECT * FROM q UNION ALL SELECT * FROM r) due \
       ORDER BY run_at, id LIMIT $4 \
     ) \
     UPDATE jobs SET status = 'running', lease = $2, locked_until = $3, \
       attempts = jobs.attempts + 1, updated_at = clock_timestamp() \
     FROM picked WHERE jobs.id = picked.id \
     RETURNING ",
    "jobs.id, jobs.tenant_id, jobs.conversation_id, jobs.message_id, jobs.kind, \
     jobs.payload::text AS payload, jobs.status, jobs.attempts, jobs.run_at, jobs.lease, \
     jobs.locked_until, jobs.last_error, jobs.note, jobs.created_at, jobs.updated_at"
);

pub(crate) async fn claim(
    pool: &PgPool,
    now: Timestamp,
    lease_for: Duration,
    limit: u32,
) -> StoreResult<Vec<ClaimedJob>> {
    let lease_for = chrono::Duration::from_std(lease_for)
        .map_err(|e| StoreError::Database(format!("lease too long: {e}")))?;
    let until = now
        .checked_add_signed(lease_for)
        .ok_or_else(|| StoreError::Database("lease ends out of range".into()))?;
    // One lease for the batch: a lease only has to tell this claim apart from
    // every other claim of the same job, and the guard always pairs it with
    // the job id.
    let rows: Vec<JobRow> = sqlx::query_as(CLAIM)
        .bind(now)
        .bind(new_lease())
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let mut claimed = all(rows, JobRow::into_claimed)?;
    // RETURNING has no order; hand them out oldest first.
    claimed.sort_by_key(|c| (c.job.run_at, c.job.id));
    Ok(claimed)
}

/// Ends the job as done if `claimed`'s lease is still its lease; returns its
/// conversation and message then, `None` when the lease was lost. Inside a
/// completion this comes first: it takes the job's row lock, so a concurrent
/// re-claim (which skips locked rows) cannot take the job until we commit.
async fn finish_on(
    conn: &mut PgConnection,
    tenant: TenantId,
    claimed: &ClaimedJob,
    note: Option<&str>,
) -> StoreResult<Option<(ConversationId, MessageId)>> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE jobs SET status = 'done', lease = NULL, locked_until = NULL, note = $4, \
           updated_at = clock_timestamp() \
         WHERE id = $2 AND tenant_id = $1 AND lease = $3 AND status = 'running' \
         RETURNING conversation_id, message_id",
    )
    .bind(tenant.0)
    .bind(claimed.job.id.0)
    .bind(claimed.lease)
    .bind(note)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    if row.is_some() && claimed.job.kind == JobKind::Translate {
        clear_translation_pending(&mut *conn, tenant, &claimed.job).await?;
    }
    Ok(row.map(|(c, m)| (c.into(), m.into())))
}

/// The message's translation job is over (translated or not): the visitor's
/// channel stops waiting for it. The conversation's row is touched in the
/// same statement: the flag, and the translation that the same transaction
/// may store, are part of what cached details show (`detail_cache.rs`).
async fn clear_translation_pending(
    conn: &mut PgConnection,
    tenant: TenantId,
    job: &Job,
) -> StoreResult<()> {
    sqlx::query(concat!(
        "WITH m AS ( \
           UPDATE messages SET translation_pending = FALSE \
           WHERE id = $2 AND tenant_id = $1 AND translation_pending \
         ) ",
        touch_conversation_sql!("id = $3")
    ))
    .bind(tenant.0)
    .bind(job.message_id.0)
    .bind(job.conversation_id.0)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn complete_translation(
    pool: &PgPool,
    tenant: TenantId,
    claimed: &ClaimedJob,
    outcome: TranslationOutcome,
) -> StoreResult<Option<Message>> {
    claimed.expect_kind(JobKind::Translate)?;
    let mut tx = pool.begin().await.map_err(db_err)?;
    let Some((_, message_id)) = finish_on(&mut tx, tenant, claimed, None).await? else {
        return Ok(None);
    };
    // Only a message without a translation gets one (and is charged for).
    let translated: Option<MessageRow> = sqlx::query_as(concat!(
        "UPDATE messages SET translated_content = $3, translated_language = $4 \
         WHERE id = $2 AND tenant_id = $1 AND translated_content IS NULL RETURNING ",
        message_columns!()
    ))
    .bind(tenant.0)
    .bind(message_id.0)
    .bind(&outcome.translated_content)
    .bind(&outcome.translated_language)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let row = match translated {
        Some(row) => {
            charge_in(
                &mut tx,
                tenant,
                outcome.charge,
                LedgerReason::Translation,
                message_id,
            )
            .await?;
            notify_updated(&mut tx, tenant, &row).await?;
            row
        }
        None => sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $2 AND tenant_id = $1"
        ))
        .bind(tenant.0)
        .bind(message_id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?,
    };
    tx.commit().await.map_err(db_err)?;
    row.into_model().map(Some)
}

/// Tells every instance (on commit) that the message changed, so that open
/// widgets and dashboards show its translation. Same payload shape as
/// `append_message`'s notice, with `"updated":true`.
async fn notify_updated(
    conn: &mut PgConnection,
    tenant: TenantId,
    message: &MessageRow,
) -> StoreResult<()> {
    sqlx::query(concat!(
        "SELECT pg_notify($1, ",
        notice_payload_sql!(
            "format('{\"tenant_id\":%s,\"conversation_id\":%s,\"visitor_id\":%s,\"seq\":%s,\
\"updated\":true}', to_json(c.tenant_id), to_json(c.id), to_json(c.visitor_id), m.seq)",
            "m"
        ),
        ") FROM conversations c \
         JOIN messages m ON m.conversation_id = c.id AND m.seq = $4 \
         WHERE c.tenant_id = $2 AND c.id = $3"
    ))
    .bind(MESSAGES_CHANNEL)
    .bind(tenant.0)
    .bind(message.conversation_id())
    .bind(message.seq())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn complete_ai_reply(
    pool: &PgPool,
    tenant: TenantId,
    claimed: &ClaimedJob,
    reply: NewMessage,
    charge: i64,
) -> StoreResult<Option<(Message, Option<LedgerEntry>)>> {
    claimed.expect_kind(JobKind::AiReply)?;
    let mut tx = pool.begin().await.map_err(db_err)?;
    let Some((conversation, _)) = finish_on(&mut tx, tenant, claimed, None).await? else {
        return Ok(None);
    };
    let planned = plan_locked(&mut *tx, tenant, conversation, &reply)
        .await?
        .ok_or(StoreError::MissingReference("conversation"))?;
    // The same statement as append_message: seq, its jobs, and the NOTIFY,
    // which PostgreSQL sends when this transaction commits.
    let message = append_on(&mut *tx, tenant, conversation, &reply, &planned, &[])
        .await?
        .ok_or(StoreError::MissingReference("conversation"))?;
    let entry = charge_in(&mut tx, tenant, charge, LedgerReason::AiReply, message.id).await?;
    // The list version's row lock is the last one taken (list_anchors.rs).
    bump_list_versions(&mut tx, vec![tenant.0])
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some((message, entry)))
}

pub(crate) async fn finish(
    pool: &PgPool,
    tenant: TenantId,
    claimed: &ClaimedJob,
    note: Option<&str>,
) -> StoreResult<bool> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    Ok(finish_on(&mut conn, tenant, claimed, note).await?.is_some())
}

pub(crate) async fn fail(
    pool: &PgPool,
    tenant: TenantId,
    claimed: &ClaimedJob,
    error: &str,
    retry_at: Option<Timestamp>,
) -> StoreResult<bool> {
    // One transaction: a translation given up for good must not leave its
    // message waiting for it after a crash in between.
    let mut tx = pool.begin().await.map_err(db_err)?;
    let updated = sqlx::query(
        "UPDATE jobs SET \
           status = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'queued' END, \
           run_at = COALESCE($4, run_at), last_error = $5, lease = NULL, locked_until = NULL, \
           updated_at = clock_timestamp() \
         WHERE id = $2 AND tenant_id = $1 AND lease = $3 AND status = 'running'",
    )
    .bind(tenant.0)
    .bind(claimed.job.id.0)
    .bind(claimed.lease)
    .bind(retry_at)
    .bind(error)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let failed_for_good = updated.rows_affected() == 1 && retry_at.is_none();
    if failed_for_good && claimed.job.kind == JobKind::Translate {
        clear_translation_pending(&mut tx, tenant, &claimed.job).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(updated.rows_affected() == 1)
}

pub(crate) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    status: Option<JobStatus>,
    limit: u32,
    offset: u64,
) -> StoreResult<Vec<Job>> {
    let (limit, offset) = page(limit, offset);
    // Two statements so each has a plan of its own reading its index in order.
    let query = match status {
        None => sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE tenant_id = $1 \
              ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        )),
        Some(_) => sqlx::query_as::<_, JobRow>(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE tenant_id = $1 AND status = $4 \
              ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        )),
    };
    let mut query = query.bind(tenant.0).bind(limit).bind(offset);
    if let Some(status) = status {
        query = query.bind(status.as_str());
    }
    let rows = query.fetch_all(pool).await.map_err(db_err)?;
    all(rows, JobRow::into_model)
}

pub(crate) async fn counts(pool: &PgPool) -> StoreResult<Vec<(JobKind, JobStatus, i64)>> {
    // The WHERE is the partial index's own condition, so only the jobs that
    // are not done are read.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, status, count(*) FROM jobs WHERE status <> 'done' \
         GROUP BY kind, status ORDER BY kind, status",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|(kind, status, n)| Ok((parse_kind(&kind)?, parse_status(&status)?, n)))
        .collect()
}

pub(crate) async fn prune(pool: &PgPool, done_before: Timestamp) -> StoreResult<u64> {
    let deleted = sqlx::query("DELETE FROM jobs WHERE status = 'done' AND updated_at < $1")
        .bind(done_before)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(deleted.rows_affected())
}
