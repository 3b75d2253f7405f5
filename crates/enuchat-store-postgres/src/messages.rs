//! Messages: appending with a gapless per-conversation seq, and reading the
//! newest ones.

use crate::conversations::conversation_changed_notice_sql;
use crate::error::db_err;
use crate::explain::{explain_prepared, Arg};
use crate::list_anchors::bump_list_versions_sql;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// The columns an append inserts into `messages`, in the order its
/// `SELECT` gives them (shared by the lone and the batch statement).
macro_rules! message_insert_columns {
    () => {
        "id, tenant_id, conversation_id, seq, role, content, content_language, \
         translated_content, translated_language, is_auto_reply, author_id, created_at, \
         translation_pending"
    };
}
pub(crate) use message_insert_columns;

/// Queues jobs for the inserted message `m` (due at its time), from a row
/// source `k` (id, kind, payload) that the caller's `FROM` adds.
macro_rules! queue_jobs_of_m_sql {
    () => {
        "INSERT INTO jobs (id, tenant_id, conversation_id, message_id, kind, payload, status, \
                           attempts, run_at, created_at, updated_at) \
         SELECT k.id, m.tenant_id, m.conversation_id, m.id, k.kind, k.payload::jsonb, \
                'queued', 0, m.created_at, m.created_at, m.created_at"
    };
}
pub(crate) use queue_jobs_of_m_sql;

/// The append statement; see [`append_on`].
const APPEND_SQL: &str = concat!(
    "WITH c AS ( \
           UPDATE conversations \
           SET last_seq = last_seq + 1, last_message_at = clock_timestamp(), \
               status = CASE WHEN $24 THEN 'pending' \
                             WHEN $9 AND status = 'closed' THEN 'open' ELSE status END, \
               handed_off_at = CASE WHEN $11 THEN COALESCE(handed_off_at, clock_timestamp()) \
                                    ELSE handed_off_at END, \
               visitor_language = COALESCE($12, visitor_language) \
           WHERE tenant_id = $1 AND id = $2 \
             AND ($18::bool IS NULL OR ( \
                   (handed_off_at IS NOT NULL) = $18 \
                   AND visitor_language IS NOT DISTINCT FROM $19::text \
                   AND widget_id = $20 \
                   AND EXISTS (SELECT 1 FROM widgets w, tenants t \
                               WHERE w.id = $20 AND w.translation_enabled = $21 \
                                 AND w.ai_enabled = $22 \
                                 AND t.id = $1 AND t.operator_language = $23))) \
           RETURNING tenant_id, id, visitor_id, last_seq, last_message_at \
         ), m AS ( \
           INSERT INTO messages (",
    message_insert_columns!(),
    ") \
           SELECT $3, c.tenant_id, c.id, c.last_seq, $4, $5, $6, NULL, NULL, $7, $8, \
                  c.last_message_at, $16 \
           FROM c \
           RETURNING tenant_id, ",
    message_columns!(),
    " ), j AS ( \
           ",
    queue_jobs_of_m_sql!(),
    " FROM m, unnest($13::uuid[], $14::text[], $15::text[]) AS k(id, kind, payload) \
         ) ",
    ", ",
    bump_list_versions_sql!("(SELECT unnest($17::uuid[]) AS tenant_id) changed"),
    " SELECT m.*, pg_notify($10, ",
    notice_payload_sql!(
        "format('{\"tenant_id\":%s,\"conversation_id\":%s,\"visitor_id\":%s,\"seq\":%s}', \
               to_json(m.tenant_id), to_json(m.conversation_id), to_json(c.visitor_id), m.seq)",
        "m"
    ),
    ") AS notified, ",
    // A hand-off is announced as the conversation's change (after the
    // message's notice: listeners read the conversation with it).
    "CASE WHEN $24 THEN ",
    conversation_changed_notice_sql!("$10"),
    " END AS handed_off_notified FROM m, c"
);

/// Appends a message as the conversation's next seq, and announces it.
///
/// Everything happens in one statement (so one transaction, and one round
/// trip while the row lock is held):
/// 1. the UPDATE bumps `last_seq` and takes the conversation's row lock.
///    Concurrent appends to the same conversation, from any instance, queue
///    on that lock, and each one re-reads the committed `last_seq` when it
///    gets the lock, so seqs come out gapless and in commit order. With
///    `reopen` it also turns a `closed` status into `open` (any other status
///    stays). An operator message hands the conversation to humans
///    (`handed_off_at`, once), and so does a visitor's that asks for a person
///    while the AI answers (`planned.hands_off`: then also status
///    `pending`). A visitor message with a known language makes that the
///    conversation's `visitor_language`;
/// 2. `clock_timestamp()` is evaluated once the lock is held, so
///    `created_at` rises with seq (on one database clock) and the same value
///    becomes the conversation's `last_message_at`;
/// 3. the INSERT takes seq and time from the UPDATE's RETURNING. If the
///    conversation is not the tenant's, the UPDATE matches nothing, nothing is
///    inserted and the caller gets `None`;
/// 4. the message's jobs are inserted from parallel arrays (none when they
///    are empty), due at the message's time. A second job of one kind breaks
///    the `(message_id, kind)` unique rule and the whole statement fails;
/// 5. the outer SELECT calls `pg_notify` once per inserted row (so never when
///    nothing was inserted), and a second time for a hand-off to `pending`
///    (a `conversation_changed` notice, as `set_handed_off` sends).
///    PostgreSQL holds the notification until the transaction commits and
///    drops it if it rolls back, so listeners only hear of committed
///    messages. It queues it while the commit is in
///    progress, before the row lock is released, so the next append to the
///    conversation is announced after this one: each conversation's notices
///    arrive in seq order;
/// 6. with `planned.on` (the facts a plan was made on, read without a lock
///    before the statement), the UPDATE only matches while the facts are
///    still those: the conversation's, re-checked on the row once its lock
///    is held, and the widget's and tenant's. The caller then gets `None`
///    for a conversation that exists, and plans again under the lock;
/// 7. the list versions of `bump_list_versions_of` move on
///    (`list_anchors.rs`): the tenant's own for an append alone in its
///    transaction. A batch passes every tenant of the batch to its last
///    append and none to the others, so the versions' row locks are taken
///    last and held only for the commit (another writer's batch of the same
///    tenant meanwhile does its appends). An empty array inserts nothing.
///
/// The payload is a [`MessageNotice`] carrying the message when it fits
/// (`notice_payload_sql!`). Its fixed part is put together with `format()`
/// from values that `to_json` quotes and escapes, exactly as
/// `serde_json::to_string` writes it.
///
/// `planned` is what `new`'s plan decided from the conversation's facts
/// (see [`Planned`]); its jobs are queued with those `new` lists.
///
/// `executor` is the pool, or a transaction that must do more with the
/// message before committing (a finished AI reply job).
pub(crate) async fn append_on<'e, E: PgExecutor<'e>>(
    executor: E,
    tenant: TenantId,
    conversation: ConversationId,
    new: &NewMessage,
    planned: &Planned<'_>,
    bump_list_versions_of: &[Uuid],
) -> StoreResult<Option<Message>> {
    let jobs = || jobs_of(new, planned);
    let planned_on = planned.on;
    let job_ids: Vec<Uuid> = jobs().map(|_| JobId::new().0).collect();
    let job_kinds: Vec<&str> = jobs().map(|j| j.kind.as_str()).collect();
    let job_payloads: Vec<String> = jobs().map(|j| j.payload.to_string()).collect();
    let row: Option<MessageRow> = sqlx::query_as(APPEND_SQL)
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(MessageId::new().0)
        .bind(new.role.as_str())
        .bind(new.content.as_str())
        .bind(new.content_language.as_deref())
        .bind(new.is_auto_reply)
        .bind(new.author_id.map(|op| op.0))
        .bind(new.reopen)
        .bind(MESSAGES_CHANNEL)
        .bind(new.role == MessageRole::Operator || planned.hands_off)
        .bind(visitor_language(new))
        .bind(job_ids)
        .bind(job_kinds)
        .bind(job_payloads)
        .bind(jobs().any(|j| j.kind == JobKind::Translate))
        .bind(bump_list_versions_of)
        .bind(planned_on.map(|f| f.handed_off))
        .bind(planned_on.and_then(|f| f.visitor_language.as_deref()))
        .bind(planned_on.map(|f| f.widget_id.0))
        .bind(planned_on.map(|f| f.translation_enabled))
        .bind(planned_on.map(|f| f.ai_enabled))
        .bind(planned_on.map(|f| f.operator_language.as_str()))
        .bind(planned.hands_off)
        .fetch_optional(executor)
        .await
        .map_err(db_err)?;
    row.map(MessageRow::into_model).transpose()
}

/// The language a visitor's message makes its conversation's (when known).
pub(crate) fn visitor_language(new: &NewMessage) -> Option<&str> {
    match (new.role, new.content_language.as_deref()) {
        (MessageRole::Visitor, Some(lang)) if lang != UNKNOWN_LANGUAGE => Some(lang),
        _ => None,
    }
}

/// The jobs an append queues: those the message lists, then its plan's.
pub(crate) fn jobs_of<'a>(
    new: &'a NewMessage,
    planned: &'a Planned<'_>,
) -> impl Iterator<Item = &'a NewJob> {
    new.jobs.iter().chain(&planned.jobs)
}

/// What a message's plan decided, for [`append_on`]: nothing without a plan.
#[derive(Debug, Default)]
pub(crate) struct Planned<'f> {
    /// Jobs on top of those the message lists.
    pub jobs: Vec<NewJob>,
    /// The append hands the conversation to humans, status `pending`
    /// ([`JobPlan::hands_off`]).
    pub hands_off: bool,
    /// The facts this was decided on when they were read without a lock:
    /// the append then matches only while they still hold. `None` when the
    /// append's transaction holds them locked (or there was no plan).
    pub on: Option<&'f ConversationFacts>,
}

impl Planned<'static> {
    /// Decided on facts that the append's transaction holds locked.
    pub(crate) fn locked(
        plan: Option<JobPlan>,
        facts: &ConversationFacts,
        new: &NewMessage,
    ) -> Self {
        match plan {
            None => Planned::default(),
            Some(plan) => Planned {
                jobs: plan.jobs(facts, new),
                hands_off: plan.hands_off(facts),
                on: None,
            },
        }
    }
}

impl<'f> Planned<'f> {
    /// Decided on facts read without a lock; the append re-checks them.
    pub(crate) fn unlocked(plan: JobPlan, facts: &'f ConversationFacts, new: &NewMessage) -> Self {
        Planned {
            jobs: plan.jobs(facts, new),
            hands_off: plan.hands_off(facts),
            on: Some(facts),
        }
    }
}

/// What `new`'s plan decides (nothing without a plan), from the
/// conversation's facts read and locked on `executor`, a transaction that
/// appends `new` next; `None` when the conversation is not the tenant's.
pub(crate) async fn plan_locked<'e, E: PgExecutor<'e>>(
    executor: E,
    tenant: TenantId,
    conversation: ConversationId,
    new: &NewMessage,
) -> StoreResult<Option<Planned<'static>>> {
    if new.plan.is_none() {
        return Ok(Some(Planned::default()));
    }
    let key = (tenant, conversation);
    let mut facts = crate::conversations::lock_facts(executor, &[key]).await?;
    Ok(facts
        .remove(&key)
        .map(|facts| Planned::locked(new.plan, &facts, new)))
}

pub(crate) async fn get(
    pool: &PgPool,
    tenant: TenantId,
    id: MessageId,
) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE id = $2 AND tenant_id = $1"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(MessageRow::into_model).transpose()
}

/// Messages after `after_seq`, oldest first: a range scan of the
/// `(conversation_id, seq)` unique index, in index order.
const AFTER_SQL: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = $2 AND tenant_id = $1 AND seq > $3 \
      ORDER BY seq LIMIT $4"
);

pub(crate) async fn after(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    after_seq: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows: Vec<MessageRow> = sqlx::query_as(AFTER_SQL)
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    all(rows, MessageRow::into_model)
}

pub(crate) async fn explain_after(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    after_seq: i64,
    limit: u32,
) -> StoreResult<String> {
    let args: [Arg; 4] = [
        tenant.0.into(),
        conversation.0.into(),
        after_seq.into(),
        i64::from(limit).into(),
    ];
    explain_prepared(pool, AFTER_SQL, &args).await
}

/// The newest `limit` messages, oldest first. Read newest-first from the
/// `(conversation_id, seq)` unique index and reversed here, so the database
/// never sorts.
pub(crate) async fn recent(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = $2 AND tenant_id = $1 \
          ORDER BY seq DESC LIMIT $3"
    ))
    .bind(tenant.0)
    .bind(conversation.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut messages = all(rows, MessageRow::into_model)?;
    messages.reverse();
    Ok(messages)
}
