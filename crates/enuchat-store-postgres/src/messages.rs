//! Messages: appending with a gapless per-conversation seq, and reading the
//! newest ones.

use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;

/// Appends a message as the conversation's next seq.
///
/// Everything happens in one statement (so one transaction, and one round
/// trip while the row lock is held):
/// 1. the UPDATE bumps `last_seq` and takes the conversation's row lock.
///    Concurrent appends to the same conversation, from any instance, queue
///    on that lock, and each one re-reads the committed `last_seq` when it
///    gets the lock, so seqs come out gapless and in commit order;
/// 2. `clock_timestamp()` is evaluated once the lock is held, so
///    `created_at` rises with seq (on one database clock) and the same value
///    becomes the conversation's `last_message_at`;
/// 3. the INSERT takes seq and time from the UPDATE's RETURNING. If the
///    conversation is not the tenant's, the UPDATE matches nothing, nothing is
///    inserted and the caller gets `None`.
///
/// The status is deliberately not touched.
pub(crate) async fn append(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    new: NewMessage,
) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "WITH c AS ( \
           UPDATE conversations \
           SET last_seq = last_seq + 1, last_message_at = clock_timestamp() \
           WHERE tenant_id = $1 AND id = $2 \
           RETURNING tenant_id, id, last_seq, last_message_at \
         ) \
         INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
                               content_language, translated_content, translated_language, \
                               is_auto_reply, author_id, created_at) \
         SELECT $3, c.tenant_id, c.id, c.last_seq, $4, $5, $6, NULL, NULL, $7, $8, \
                c.last_message_at \
         FROM c \
         RETURNING ",
        message_columns!()
    ))
    .bind(tenant.0)
    .bind(conversation.0)
    .bind(MessageId::new().0)
    .bind(new.role.as_str())
    .bind(new.content.as_str())
    .bind(new.content_language.as_deref())
    .bind(new.is_auto_reply)
    .bind(new.author_id.map(|op| op.0))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(MessageRow::into_model).transpose()
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
