//! Messages: appended with the conversation's next sequence number, together
//! with the jobs they cause and the conversation facts they change.

use crate::rows::{all, message_columns, MessageRow};
use crate::{db, now_us, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::SqliteConnection;

/// Appends `new` on `conn`, which holds the write lock (`BEGIN IMMEDIATE`):
/// the one path for every message, whether from a person or a finished AI
/// job. `now` is read under that lock so that times follow seq order.
pub(crate) async fn append_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    conversation: ConversationId,
    new: NewMessage,
    now: i64,
) -> StoreResult<Option<Message>> {
    // Bumping the counter first both claims the next seq and proves the
    // conversation is the tenant's; holding the write lock until commit
    // keeps seqs gapless and unique under concurrent appends. The same
    // statement reopens a closed conversation for a visitor writing back,
    // hands it to humans when an operator writes, and keeps the visitor's
    // language current (never replacing a known one with "unknown").
    let visitor_language = match (new.role, new.content_language.as_deref()) {
        (MessageRole::Visitor, Some(lang)) if lang != UNKNOWN_LANGUAGE => Some(lang),
        _ => None,
    };
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?1, \
           status = CASE WHEN ?2 AND status = 'closed' THEN 'open' ELSE status END, \
           handed_off_at = CASE WHEN ?3 THEN COALESCE(handed_off_at, ?1) ELSE handed_off_at END, \
           visitor_language = COALESCE(?4, visitor_language) \
         WHERE tenant_id = ?5 AND id = ?6 RETURNING last_seq",
    )
    .bind(now)
    .bind(new.reopen)
    .bind(new.role == MessageRole::Operator)
    .bind(visitor_language)
    .bind(tenant.0)
    .bind(conversation.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(seq) = seq else {
        return Ok(None);
    };
    let row: MessageRow = sqlx::query_as(concat!(
        "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
         content_language, is_auto_reply, author_id, created_at, translation_pending) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
        message_columns!()
    ))
    .bind(MessageId::new().0)
    .bind(tenant.0)
    .bind(conversation.0)
    .bind(seq)
    .bind(new.role.as_str())
    .bind(new.content.as_str())
    .bind(new.content_language.as_deref())
    .bind(new.is_auto_reply)
    .bind(new.author_id.map(|op| op.0))
    .bind(now)
    .bind(new.jobs.iter().any(|j| j.kind == JobKind::Translate))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| write_err(e, "conversation"))?;
    let message = row.into_model()?;
    for job in &new.jobs {
        crate::jobs::enqueue_in(&mut *conn, tenant, &message, job, now).await?;
    }
    Ok(Some(message))
}

impl SqliteStore {
    pub(crate) async fn append_message_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        let mut tx = self.begin_write().await?;
        let now = now_us();
        let Some(message) = append_in(&mut tx, tenant, conversation, new, now).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(db)?;
        Ok(Some(message))
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
        // The inner query walks the (conversation_id, seq) unique index
        // backwards for the newest rows; the outer one puts them oldest first.
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT * FROM (SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND tenant_id = ? \
              ORDER BY seq DESC LIMIT ?) \
             ORDER BY seq"
        ))
        .bind(conversation.0)
        .bind(tenant.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        all(rows, MessageRow::into_model)
    }

    pub(crate) async fn messages_after_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        // A range scan of the (conversation_id, seq) unique index, already
        // in the order asked for.
        let rows: Vec<MessageRow> = sqlx::query_as(MESSAGES_AFTER)
            .bind(conversation.0)
            .bind(after_seq)
            .bind(tenant.0)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        all(rows, MessageRow::into_model)
    }
}

pub(crate) const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ? AND seq > ? AND tenant_id = ? \
      ORDER BY seq LIMIT ?"
);
