//! Messages: appended with the conversation's next sequence number, together
//! with the jobs they cause and the conversation facts they change.

use crate::rows::{all, message_columns, MessageRow};
use crate::{db, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::SqliteConnection;

/// The append as one multi-statement command, so that it costs one trip to
/// sqlx's connection thread instead of one per statement (that hand-off, not
/// SQLite, is most of an append's cost). Parameters are plain `?`: sqlx binds
/// them in order across the statements, each statement taking the next ones
/// (numbered ones would be taken from the start of the list in every
/// statement, and sqlx stops binding at the first gap it cannot fill).
///
/// Bumping the counter first both claims the next seq and proves the
/// conversation is the tenant's; holding the write lock until commit keeps
/// seqs gapless and unique under concurrent appends. The same statement
/// reopens a closed conversation for a visitor writing back, hands it to
/// humans when an operator writes, and keeps the visitor's language current
/// (never replacing a known one with "unknown"). The INSERT reads the new
/// seq with the UPDATE's own filter, so when the conversation is not the
/// tenant's nothing is written and no row comes back; each job is inserted
/// from the message row it belongs to, likewise.
fn append_sql(jobs: usize) -> String {
    let mut sql = String::from(concat!(
        "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?, \
           status = CASE WHEN ? AND status = 'closed' THEN 'open' ELSE status END, \
           handed_off_at = CASE WHEN ? THEN COALESCE(handed_off_at, ?) ELSE handed_off_at END, \
           visitor_language = COALESCE(?, visitor_language) \
         WHERE tenant_id = ? AND id = ?; \
         INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
           content_language, is_auto_reply, author_id, created_at, translation_pending) \
         SELECT ?, tenant_id, id, last_seq, ?, ?, ?, ?, ?, ?, ? \
           FROM conversations WHERE tenant_id = ? AND id = ? \
         RETURNING ",
        message_columns!(),
        ";"
    ));
    for _ in 0..jobs {
        sql.push_str(
            " INSERT INTO jobs (id, tenant_id, conversation_id, message_id, kind, payload, \
               status, attempts, run_at, created_at, updated_at) \
             SELECT ?, tenant_id, conversation_id, id, ?, ?, 'queued', 0, ?, ?, ? \
               FROM messages WHERE id = ?;",
        );
    }
    sql
}

/// Appends `new` on `conn`, which holds the write lock (`BEGIN IMMEDIATE`):
/// the one path for every message, whether from a person or a finished AI
/// job. `now` is read under that lock so that times follow seq order.
pub(crate) async fn append_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    conversation: ConversationId,
    new: &NewMessage,
    now: i64,
) -> StoreResult<Option<Message>> {
    let visitor_language = match (new.role, new.content_language.as_deref()) {
        (MessageRole::Visitor, Some(lang)) if lang != UNKNOWN_LANGUAGE => Some(lang),
        _ => None,
    };
    let sql = append_sql(new.jobs.len());
    let id = MessageId::new().0;
    // In the order of the `?`s in `append_sql`.
    let mut query = sqlx::query_as::<_, MessageRow>(&sql)
        .bind(now)
        .bind(new.reopen)
        .bind(new.role == MessageRole::Operator)
        .bind(now)
        .bind(visitor_language)
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(id)
        .bind(new.role.as_str())
        .bind(new.content.as_str())
        .bind(new.content_language.as_deref())
        .bind(new.is_auto_reply)
        .bind(new.author_id.map(|op| op.0))
        .bind(now)
        .bind(new.jobs.iter().any(|j| j.kind == JobKind::Translate))
        .bind(tenant.0)
        .bind(conversation.0);
    for job in &new.jobs {
        query = query
            .bind(JobId::new().0)
            .bind(job.kind.as_str())
            .bind(job.payload.to_string())
            .bind(now)
            .bind(now)
            .bind(now)
            .bind(id);
    }
    // All rows of all statements: only the INSERT returns any. Reading
    // them all (not the first only) runs every statement to its end.
    let mut rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| write_err(e, "conversation"))?;
    match rows.pop() {
        Some(row) if rows.is_empty() => row.into_model().map(Some),
        None => Ok(None),
        Some(_) => Err(StoreError::Database(
            "an append returned more than one message".into(),
        )),
    }
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
