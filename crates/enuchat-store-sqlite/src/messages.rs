//! Messages: appended with the conversation's next sequence number, together
//! with the jobs they cause and the conversation facts they change.

use crate::conversations::read_facts;
use crate::db;
use crate::raw_connection::raw_write_err;
use crate::rows::{all, message_columns, MessageRow};
use crate::SqliteStore;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use rusqlite::OptionalExtension;

/// Claims the conversation's next seq and moves it to the top of its lists.
/// Bumping the counter both claims the seq and proves the conversation is the
/// tenant's; holding the write lock until commit keeps seqs gapless and unique
/// under concurrent appends. The same statement reopens a closed conversation
/// for a visitor writing back, hands it to humans when an operator writes or
/// a visitor asks for a person while the AI answers (?7: then it waits for
/// them, `pending`), and keeps the visitor's language current (never
/// replacing a known one with "unknown").
const CLAIM_SEQ: &str = "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?1, \
       status = CASE WHEN ?7 THEN 'pending' \
                     WHEN ?2 AND status = 'closed' THEN 'open' ELSE status END, \
       handed_off_at = CASE WHEN ?3 THEN COALESCE(handed_off_at, ?1) ELSE handed_off_at END, \
       visitor_language = COALESCE(?4, visitor_language) \
     WHERE tenant_id = ?5 AND id = ?6 \
     RETURNING last_seq";

const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
       content_language, is_auto_reply, author_id, created_at, translation_pending) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
    message_columns!()
);

const INSERT_JOB: &str = "INSERT INTO jobs (id, tenant_id, conversation_id, message_id, kind, \
       payload, status, attempts, run_at, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7, ?7)";

/// Appends `new` on `conn`, which holds the write lock (`BEGIN IMMEDIATE`):
/// the one path for every message, whether from a person or a finished AI
/// job, with the jobs it causes: those it lists and, with a plan, those the
/// conversation's facts read here, under the lock, call for. `now` is read
/// under that lock so that times follow seq order. `None` when the
/// conversation is not the tenant's.
///
/// Runs on rusqlite connections: the appender's own (`appender.rs`), whose
/// statement cache keeps these prepared, and the sqlx writer's raw handle for
/// an AI reply written with its job (`raw_connection.rs`).
pub(crate) fn append_on(
    conn: &rusqlite::Connection,
    tenant: TenantId,
    conversation: ConversationId,
    new: &NewMessage,
    now: i64,
) -> StoreResult<Option<Message>> {
    let visitor_language = match (new.role, new.content_language.as_deref()) {
        (MessageRole::Visitor, Some(lang)) if lang != UNKNOWN_LANGUAGE => Some(lang),
        _ => None,
    };
    let write = |e| raw_write_err(e, "conversation");
    let (planned, to_pending) = match new.plan {
        None => (Vec::new(), false),
        Some(plan) => match read_facts(conn, tenant, conversation).map_err(write)? {
            Some(facts) => (plan.jobs(&facts, new), plan.hands_off(&facts)),
            None => return Ok(None),
        },
    };
    let jobs = || new.jobs.iter().chain(&planned);
    let seq: Option<i64> = conn
        .prepare_cached(CLAIM_SEQ)
        .map_err(write)?
        .query_row(
            (
                now,
                new.reopen,
                new.role == MessageRole::Operator || to_pending,
                visitor_language,
                tenant.0,
                conversation.0,
                to_pending,
            ),
            |row| row.get(0),
        )
        .optional()
        .map_err(write)?;
    let Some(seq) = seq else {
        return Ok(None);
    };
    let id = MessageId::new().0;
    let row = conn
        .prepare_cached(INSERT_MESSAGE)
        .map_err(write)?
        .query_row(
            rusqlite::params![
                id,
                tenant.0,
                conversation.0,
                seq,
                new.role.as_str(),
                new.content.as_str(),
                new.content_language.as_deref(),
                new.is_auto_reply,
                new.author_id.map(|op| op.0),
                now,
                jobs().any(|j| j.kind == JobKind::Translate),
            ],
            MessageRow::read,
        )
        .map_err(write)?;
    for job in jobs() {
        conn.prepare_cached(INSERT_JOB)
            .map_err(write)?
            .execute((
                JobId::new().0,
                tenant.0,
                conversation.0,
                id,
                job.kind.as_str(),
                job.payload.to_string(),
                now,
            ))
            .map_err(write)?;
    }
    row.into_model().map(Some)
}

impl SqliteStore {
    pub(crate) async fn append_message_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        self.appender.append(tenant, conversation, new).await
    }

    pub(crate) async fn get_message_impl(
        &self,
        tenant: TenantId,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = ? AND tenant_id = ?"
        ))
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(MessageRow::into_model).transpose()
    }

    pub(crate) async fn recent_messages_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows = self
            .reads
            .read(|c| {
                c.prepare_cached(RECENT_MESSAGES)?
                    .query_map(
                        (conversation.0, tenant.0, i64::from(limit)),
                        MessageRow::read,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        // Newest first from the index; the caller wants them oldest first.
        rows.into_iter().rev().map(MessageRow::into_model).collect()
    }

    pub(crate) async fn messages_after_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows = self
            .reads
            .read(|c| {
                c.prepare_cached(MESSAGES_AFTER)?
                    .query_map(
                        (conversation.0, after_seq, tenant.0, i64::from(limit)),
                        MessageRow::read,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        all(rows, MessageRow::into_model)
    }
}

/// The newest `limit` messages, newest first: a walk of the (conversation_id,
/// seq) unique index backwards. Reversing the few rows afterwards is cheaper
/// than having SQLite copy each into a sorter.
pub(crate) const RECENT_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ? AND tenant_id = ? ORDER BY seq DESC LIMIT ?"
);

/// A range scan of the (conversation_id, seq) unique index, already in the
/// order asked for.
pub(crate) const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ? AND seq > ? AND tenant_id = ? \
      ORDER BY seq LIMIT ?"
);
