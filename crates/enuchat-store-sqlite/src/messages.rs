//! Messages: appended with the conversation's next sequence number.

use crate::rows::{all, message_columns, MessageRow};
use crate::{db, now_us, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;

impl SqliteStore {
    pub(crate) async fn append_message_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        new: NewMessage,
    ) -> StoreResult<Option<Message>> {
        let mut tx = self.begin_write().await?;
        // Read the clock under the write lock so that times follow seq order.
        let now = now_us();
        // Bumping the counter first both claims the next seq and proves the
        // conversation is the tenant's; holding the write lock until commit
        // keeps seqs gapless and unique under concurrent appends. A visitor
        // writing back reopens a closed conversation in the same statement.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?, \
               status = CASE WHEN ? AND status = 'closed' THEN 'open' ELSE status END \
             WHERE tenant_id = ? AND id = ? RETURNING last_seq",
        )
        .bind(now)
        .bind(new.reopen)
        .bind(tenant.0)
        .bind(conversation.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        let row: MessageRow = sqlx::query_as(concat!(
            "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
             content_language, is_auto_reply, author_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
            message_columns!()
        ))
        .bind(MessageId::new().0)
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(seq)
        .bind(new.role.as_str())
        .bind(new.content.as_str())
        .bind(new.content_language)
        .bind(new.is_auto_reply)
        .bind(new.author_id.map(|op| op.0))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| write_err(e, "conversation"))?;
        tx.commit().await.map_err(db)?;
        row.into_model().map(Some)
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
