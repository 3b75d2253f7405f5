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
        // keeps seqs gapless and unique under concurrent appends.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ? \
             WHERE tenant_id = ? AND id = ? RETURNING last_seq",
        )
        .bind(now)
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
}
