//! Knowledge entries: a widget's questions and answers.

use crate::{db, from_us, now_us, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::FromRow;
use uuid::Uuid;

macro_rules! knowledge_columns {
    () => {
        "id, tenant_id, widget_id, question, answer, created_at"
    };
}

#[derive(FromRow)]
struct KnowledgeRow {
    id: Uuid,
    tenant_id: Uuid,
    widget_id: Uuid,
    question: String,
    answer: String,
    created_at: i64,
}

impl KnowledgeRow {
    fn into_model(self) -> StoreResult<KnowledgeEntry> {
        Ok(KnowledgeEntry {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            question: self.question,
            answer: self.answer,
            created_at: from_us(self.created_at)?,
        })
    }
}

impl SqliteStore {
    pub(crate) async fn create_knowledge_entry_impl(
        &self,
        tenant: TenantId,
        widget: WidgetId,
        question: MessageContent,
        answer: MessageContent,
    ) -> StoreResult<Option<KnowledgeEntry>> {
        // Selecting the widget inside the INSERT makes "the widget is the
        // tenant's" part of the write: no row means not theirs.
        let row: Option<KnowledgeRow> = sqlx::query_as(concat!(
            "INSERT INTO knowledge_entries (id, tenant_id, widget_id, question, answer, created_at) \
             SELECT ?1, w.tenant_id, w.id, ?2, ?3, ?4 FROM widgets w \
             WHERE w.tenant_id = ?5 AND w.id = ?6 RETURNING ",
            knowledge_columns!()
        ))
        .bind(KnowledgeEntryId::new().0)
        .bind(question.as_str())
        .bind(answer.as_str())
        .bind(now_us())
        .bind(tenant.0)
        .bind(widget.0)
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        row.map(KnowledgeRow::into_model).transpose()
    }

    pub(crate) async fn list_knowledge_entries_impl(
        &self,
        tenant: TenantId,
        widget: WidgetId,
    ) -> StoreResult<Vec<KnowledgeEntry>> {
        let rows: Vec<KnowledgeRow> = sqlx::query_as(concat!(
            "SELECT ",
            knowledge_columns!(),
            " FROM knowledge_entries WHERE tenant_id = ? AND widget_id = ? \
              ORDER BY created_at, id"
        ))
        .bind(tenant.0)
        .bind(widget.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(KnowledgeRow::into_model).collect()
    }

    pub(crate) async fn delete_knowledge_entry_impl(
        &self,
        tenant: TenantId,
        id: KnowledgeEntryId,
    ) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM knowledge_entries WHERE tenant_id = ? AND id = ?")
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db)?;
        Ok(deleted.rows_affected() == 1)
    }
}
