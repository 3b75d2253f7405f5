//! Bulk import of demo data.
//!
//! `enuchat demo` pushes about 100,000 conversations and 1,500,000 messages
//! through here in batches. Each table of a batch is written by one INSERT
//! fed by `UNNEST` over one array parameter per column: one round trip and
//! one plan per table instead of one per row, and no 65,535-parameter limit.
//! Rows are taken as given (the demo command builds them for this tenant);
//! the foreign keys still check that they hang together.

use crate::error::db_err;
use crate::list_anchors::bump_list_versions_sql;
use chrono::{DateTime, Utc};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub(crate) async fn import(pool: &PgPool, tenant: TenantId, batch: DemoBatch) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    // Demo data is recreatable, so the commit need not wait for the WAL
    // flush; a crash can lose the last batches but never corrupt anything.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    // Every tenant_id column takes the tenant passed in, not the copy inside
    // each model, so a batch cannot write into another tenant.
    insert_visitors(&mut tx, tenant, &batch.visitors).await?;
    insert_conversations(&mut tx, tenant, &batch.conversations).await?;
    insert_messages(&mut tx, tenant, &batch.messages).await?;
    tx.commit().await.map_err(db_err)
}

async fn insert_visitors(
    tx: &mut Transaction<'_, Postgres>,
    tenant: TenantId,
    visitors: &[Visitor],
) -> StoreResult<()> {
    if visitors.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = visitors.iter().map(|v| v.id.as_str()).collect();
    let widgets: Vec<Uuid> = visitors.iter().map(|v| v.widget_id.0).collect();
    let names: Vec<Option<&str>> = visitors.iter().map(|v| v.name.as_deref()).collect();
    let emails: Vec<Option<&str>> = visitors.iter().map(|v| v.email.as_deref()).collect();
    let languages: Vec<Option<&str>> = visitors.iter().map(|v| v.language.as_deref()).collect();
    let created: Vec<DateTime<Utc>> = visitors.iter().map(|v| v.created_at).collect();
    sqlx::query(
        "INSERT INTO visitors (id, tenant_id, widget_id, name, email, language, created_at) \
         SELECT id, $1, widget_id, name, email, language, created_at \
         FROM UNNEST($2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
                     $7::timestamptz[]) \
           AS v(id, widget_id, name, email, language, created_at)",
    )
    .bind(tenant.0)
    .bind(ids)
    .bind(widgets)
    .bind(names)
    .bind(emails)
    .bind(languages)
    .bind(created)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant: TenantId,
    conversations: &[Conversation],
) -> StoreResult<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    let cs = conversations;
    let ids: Vec<Uuid> = cs.iter().map(|c| c.id.0).collect();
    let widgets: Vec<Uuid> = cs.iter().map(|c| c.widget_id.0).collect();
    let visitors: Vec<&str> = cs.iter().map(|c| c.visitor_id.as_str()).collect();
    let statuses: Vec<&str> = cs.iter().map(|c| c.status.as_str()).collect();
    let assignees: Vec<Option<Uuid>> = cs.iter().map(|c| c.assigned_to.map(|o| o.0)).collect();
    let languages: Vec<Option<&str>> = cs.iter().map(|c| c.visitor_language.as_deref()).collect();
    let last_seqs: Vec<i64> = cs.iter().map(|c| c.last_seq).collect();
    let last_at: Vec<DateTime<Utc>> = cs.iter().map(|c| c.last_message_at).collect();
    let started: Vec<DateTime<Utc>> = cs.iter().map(|c| c.started_at).collect();
    sqlx::query(concat!(
        "WITH c AS ( \
           INSERT INTO conversations (id, tenant_id, widget_id, visitor_id, status, assigned_to, \
                                      visitor_language, last_seq, last_message_at, started_at) \
           SELECT id, $1, widget_id, visitor_id, status, assigned_to, visitor_language, \
                  last_seq, last_message_at, started_at \
           FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[], \
                       $8::bigint[], $9::timestamptz[], $10::timestamptz[]) \
             AS c(id, widget_id, visitor_id, status, assigned_to, visitor_language, last_seq, \
                  last_message_at, started_at) \
           RETURNING tenant_id \
         ), ",
        bump_list_versions_sql!("c"),
        " SELECT 1"
    ))
    .bind(tenant.0)
    .bind(ids)
    .bind(widgets)
    .bind(visitors)
    .bind(statuses)
    .bind(assignees)
    .bind(languages)
    .bind(last_seqs)
    .bind(last_at)
    .bind(started)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_messages(
    tx: &mut Transaction<'_, Postgres>,
    tenant: TenantId,
    messages: &[Message],
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ms = messages;
    let ids: Vec<Uuid> = ms.iter().map(|m| m.id.0).collect();
    let conversations: Vec<Uuid> = ms.iter().map(|m| m.conversation_id.0).collect();
    let seqs: Vec<i64> = ms.iter().map(|m| m.seq).collect();
    let roles: Vec<&str> = ms.iter().map(|m| m.role.as_str()).collect();
    let contents: Vec<&str> = ms.iter().map(|m| m.content.as_str()).collect();
    let languages: Vec<Option<&str>> = ms.iter().map(|m| m.content_language.as_deref()).collect();
    let translated: Vec<Option<&str>> =
        ms.iter().map(|m| m.translated_content.as_deref()).collect();
    let translated_languages: Vec<Option<&str>> = ms
        .iter()
        .map(|m| m.translated_language.as_deref())
        .collect();
    let auto: Vec<bool> = ms.iter().map(|m| m.is_auto_reply).collect();
    let authors: Vec<Option<Uuid>> = ms.iter().map(|m| m.author_id.map(|o| o.0)).collect();
    let created: Vec<DateTime<Utc>> = ms.iter().map(|m| m.created_at).collect();
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, conversation_id, seq, role, content, \
                               content_language, translated_content, translated_language, \
                               is_auto_reply, author_id, created_at) \
         SELECT id, $1, conversation_id, seq, role, content, content_language, \
                translated_content, translated_language, is_auto_reply, author_id, created_at \
         FROM UNNEST($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
                     $8::text[], $9::text[], $10::boolean[], $11::uuid[], $12::timestamptz[]) \
           AS m(id, conversation_id, seq, role, content, content_language, translated_content, \
                translated_language, is_auto_reply, author_id, created_at)",
    )
    .bind(tenant.0)
    .bind(ids)
    .bind(conversations)
    .bind(seqs)
    .bind(roles)
    .bind(contents)
    .bind(languages)
    .bind(translated)
    .bind(translated_languages)
    .bind(auto)
    .bind(authors)
    .bind(created)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}
