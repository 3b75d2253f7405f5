//! Knowledge entries: a widget's questions and answers.

use crate::error::db_err;
use crate::rows::all;
use chrono::{DateTime, Utc};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;
use uuid::Uuid;

macro_rules! knowledge_columns {
    () => {
        "id, tenant_id, widget_id, question, answer, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct KnowledgeRow {
    id: Uuid,
    tenant_id: Uuid,
    widget_id: Uuid,
    question: String,
    answer: String,
    created_at: DateTime<Utc>,
}

impl KnowledgeRow {
    fn into_model(self) -> StoreResult<KnowledgeEntry> {
        Ok(KnowledgeEntry {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            question: self.question,
            answer: self.answer,
            created_at: self.created_at,
        })
    }
}

pub(crate) async fn create(
    pool: &PgPool,
    tenant: TenantId,
    widget: WidgetId,
    question: MessageContent,
    answer: MessageContent,
) -> StoreResult<Option<KnowledgeEntry>> {
    // Selecting the widget inside the INSERT makes "the widget is the
    // tenant's" part of the write: no row means not theirs.
    let row: Option<KnowledgeRow> = sqlx::query_as(concat!(
        "INSERT INTO knowledge_entries (id, tenant_id, widget_id, question, answer, created_at) \
         SELECT $3, w.tenant_id, w.id, $4, $5, clock_timestamp() FROM widgets w \
         WHERE w.tenant_id = $1 AND w.id = $2 RETURNING ",
        knowledge_columns!()
    ))
    .bind(tenant.0)
    .bind(widget.0)
    .bind(KnowledgeEntryId::new().0)
    .bind(question.as_str())
    .bind(answer.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(KnowledgeRow::into_model).transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    widget: WidgetId,
) -> StoreResult<Vec<KnowledgeEntry>> {
    let rows: Vec<KnowledgeRow> = sqlx::query_as(concat!(
        "SELECT ",
        knowledge_columns!(),
        " FROM knowledge_entries WHERE tenant_id = $1 AND widget_id = $2 \
          ORDER BY created_at, id"
    ))
    .bind(tenant.0)
    .bind(widget.0)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, KnowledgeRow::into_model)
}

pub(crate) async fn delete(
    pool: &PgPool,
    tenant: TenantId,
    id: KnowledgeEntryId,
) -> StoreResult<bool> {
    let deleted = sqlx::query("DELETE FROM knowledge_entries WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.0)
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(deleted.rows_affected() == 1)
}
