//! A batch of appends in one statement, for the appender's batches whose
//! appends all go to different conversations (the usual case under load:
//! writes spread over many conversations).
//!
//! Written one statement per append, a batch of n costs n round trips and n
//! executor start-ups while the transaction holds its row locks; here it is
//! one of each. The statement does what [`append_on`](crate::messages)'s does,
//! row by row, from parallel arrays:
//! - the caller's transaction already holds every conversation's row lock,
//!   taken in id order by `lock_facts` (so batches cannot deadlock, whatever
//!   order the UPDATE below visits the rows in), and the plans were made on
//!   those locked facts: nothing is re-checked here;
//! - one conversation per append, so the UPDATE changes each row once (an
//!   `UPDATE ... FROM` uses one joined row per target row) and each message
//!   takes its conversation's next seq;
//! - jobs are joined to their message by the message id, made here;
//! - the list versions of every tenant of the batch move on once;
//! - each inserted message is announced, then its hand-off when it made one,
//!   so one conversation's notices keep their order. Notices of different
//!   conversations may come in any order, as they may from two writers.
//!
//! An append whose conversation is not its tenant's matches nothing and gets
//! `None`, as alone.

use crate::conversations::conversation_changed_notice_sql;
use crate::error::db_err;
use crate::explain::{explain_prepared, Arg};
use crate::list_anchors::bump_list_versions_sql;
use crate::messages::{
    jobs_of, message_insert_columns, queue_jobs_of_m_sql, visitor_language, Planned,
};
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

const APPEND_BATCH_SQL: &str = concat!(
    "WITH a AS ( \
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
                            $6::text[], $7::bool[], $8::uuid[], $9::bool[], $10::bool[], \
                            $11::text[], $12::bool[], $13::bool[]) \
         WITH ORDINALITY AS a(tenant_id, conversation_id, message_id, role, content, \
                              content_language, is_auto_reply, author_id, reopen, hand_off, \
                              visitor_language, translation_pending, pending, n) \
     ), c AS ( \
       UPDATE conversations c \
       SET last_seq = c.last_seq + 1, last_message_at = clock_timestamp(), \
           status = CASE WHEN a.pending THEN 'pending' \
                         WHEN a.reopen AND c.status = 'closed' THEN 'open' \
                         ELSE c.status END, \
           handed_off_at = CASE WHEN a.hand_off \
                                THEN COALESCE(c.handed_off_at, clock_timestamp()) \
                                ELSE c.handed_off_at END, \
           visitor_language = COALESCE(a.visitor_language, c.visitor_language) \
       FROM a \
       WHERE c.tenant_id = a.tenant_id AND c.id = a.conversation_id \
       RETURNING c.tenant_id, c.id, c.visitor_id, c.last_seq, c.last_message_at, a.n, \
                 a.pending \
     ), m AS ( \
       INSERT INTO messages (",
    message_insert_columns!(),
    ") \
       SELECT a.message_id, c.tenant_id, c.id, c.last_seq, a.role, a.content, \
              a.content_language, NULL, NULL, a.is_auto_reply, a.author_id, \
              c.last_message_at, a.translation_pending \
       FROM c JOIN a ON a.n = c.n \
       RETURNING tenant_id, ",
    message_columns!(),
    " ), j AS ( ",
    queue_jobs_of_m_sql!(),
    " FROM unnest($14::uuid[], $15::uuid[], $16::text[], $17::text[]) \
              AS k(message_id, id, kind, payload) \
       JOIN m ON m.id = k.message_id \
     ), ",
    bump_list_versions_sql!("(SELECT unnest($18::uuid[]) AS tenant_id) changed"),
    " SELECT m.*, c.n, pg_notify($19, ",
    notice_payload_sql!(
        "format('{\"tenant_id\":%s,\"conversation_id\":%s,\"visitor_id\":%s,\"seq\":%s}', \
               to_json(m.tenant_id), to_json(m.conversation_id), to_json(c.visitor_id), m.seq)",
        "m"
    ),
    ") AS notified, ",
    "CASE WHEN c.pending THEN ",
    conversation_changed_notice_sql!("$19"),
    " END AS handed_off_notified FROM m JOIN c ON c.id = m.conversation_id"
);

/// One append of a batch, planned on facts its transaction holds locked.
pub(crate) struct BatchAppend<'a> {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub new: &'a NewMessage,
    pub planned: &'a Planned<'a>,
}

/// Whether [`append_batch_on`] can write these: more than one, each to a
/// conversation of its own.
pub(crate) fn fits_one_statement(conversations: impl Iterator<Item = ConversationId>) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    for conversation in conversations {
        if !seen.insert(conversation) {
            return false;
        }
        count += 1;
    }
    count > 1
}

/// Appends every message of `batch` in one statement on `tx`, a transaction
/// holding the conversations' row locks; the messages in `batch`'s order.
/// Every tenant of the batch gets its list version moved on.
pub(crate) async fn append_batch_on(
    tx: &mut PgConnection,
    batch: &[BatchAppend<'_>],
) -> StoreResult<Vec<Option<Message>>> {
    let message_ids: Vec<Uuid> = batch.iter().map(|_| MessageId::new().0).collect();
    let (mut job_messages, mut job_ids, mut job_kinds, mut job_payloads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (b, message) in batch.iter().zip(&message_ids) {
        for job in jobs_of(b.new, b.planned) {
            job_messages.push(*message);
            job_ids.push(JobId::new().0);
            job_kinds.push(job.kind.as_str());
            job_payloads.push(job.payload.to_string());
        }
    }
    let column = |f: fn(&BatchAppend) -> bool| batch.iter().map(f).collect::<Vec<bool>>();
    let rows = sqlx::query(APPEND_BATCH_SQL)
        .bind(batch.iter().map(|b| b.tenant.0).collect::<Vec<_>>())
        .bind(batch.iter().map(|b| b.conversation.0).collect::<Vec<_>>())
        .bind(&message_ids)
        .bind(
            batch
                .iter()
                .map(|b| b.new.role.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|b| b.new.content.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            batch
                .iter()
                .map(|b| b.new.content_language.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(column(|b| b.new.is_auto_reply))
        .bind(
            batch
                .iter()
                .map(|b| b.new.author_id.map(|op| op.0))
                .collect::<Vec<_>>(),
        )
        .bind(column(|b| b.new.reopen))
        .bind(column(|b| {
            b.new.role == MessageRole::Operator || b.planned.hands_off
        }))
        .bind(
            batch
                .iter()
                .map(|b| visitor_language(b.new))
                .collect::<Vec<_>>(),
        )
        .bind(column(|b| {
            jobs_of(b.new, b.planned).any(|j| j.kind == JobKind::Translate)
        }))
        .bind(column(|b| b.planned.hands_off))
        .bind(job_messages)
        .bind(job_ids)
        .bind(job_kinds)
        .bind(job_payloads)
        .bind(batch.iter().map(|b| b.tenant.0).collect::<Vec<_>>())
        .bind(MESSAGES_CHANNEL)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    let mut messages: Vec<Option<Message>> = batch.iter().map(|_| None).collect();
    for row in rows {
        let n: i64 = row.try_get("n").map_err(db_err)?;
        let message = MessageRow::from_row(&row).map_err(db_err)?.into_model()?;
        let slot = usize::try_from(n - 1)
            .ok()
            .and_then(|i| messages.get_mut(i))
            .ok_or_else(|| StoreError::Database(format!("append batch returned row {n}")))?;
        *slot = Some(message);
    }
    Ok(messages)
}

/// The plan of [`append_batch_on`]'s statement for one operator message to
/// `conversation` (arrays written as literals).
pub(crate) async fn explain(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
) -> StoreResult<String> {
    let one = |value: &str| Arg::Text(format!("{{{value}}}"));
    let (tenant, conversation) = (tenant.0.to_string(), conversation.0.to_string());
    let message = MessageId::new().0.to_string();
    let args = [
        one(&tenant),
        one(&conversation),
        one(&message),
        one("operator"),
        one("Hello"),
        one("NULL"),
        one("false"),
        one("NULL"),
        one("false"),
        one("true"),
        one("NULL"),
        one("false"),
        one("false"),
        Arg::Text("{}".into()),
        Arg::Text("{}".into()),
        Arg::Text("{}".into()),
        Arg::Text("{}".into()),
        one(&tenant),
        MESSAGES_CHANNEL.into(),
    ];
    explain_prepared(pool, APPEND_BATCH_SQL, &args).await
}
