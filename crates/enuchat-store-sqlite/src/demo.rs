//! Bulk writes for `enuchat demo`.
//!
//! Speed comes from two things: one transaction per batch (one WAL commit
//! instead of one per row) and multi-row INSERTs (one statement execution per
//! few hundred rows instead of one per row). The statement for a full chunk
//! is always the same text, so sqlx prepares it once per connection.

use crate::{db, to_us, write_err, SqliteStore};
use enuchat_domain::store::{DemoBatch, StoreResult};
use enuchat_domain::*;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};

/// SQLite's default limit on bound parameters per statement.
const MAX_PARAMS: usize = 32_766;
/// Rows per statement; beyond a few hundred larger statements stop paying off.
const MAX_ROWS: usize = 500;

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

/// `INSERT INTO table (columns) VALUES (?, ...), ...` for `rows` rows.
fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
    let values = vec![tuple.as_str(); rows].join(", ");
    format!(
        "INSERT INTO {table} ({}) VALUES {values}",
        columns.join(", ")
    )
}

/// Inserts `items` in chunks, binding each item's columns with `bind`.
async fn insert_all<T>(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &[&str],
    items: Vec<T>,
    bind: impl for<'q> Fn(SqliteQuery<'q>, T) -> SqliteQuery<'q>,
) -> StoreResult<()> {
    let chunk_rows = (MAX_PARAMS / columns.len()).min(MAX_ROWS);
    let full_sql = insert_sql(table, columns, chunk_rows);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let chunk: Vec<T> = items.by_ref().take(chunk_rows).collect();
        let sql = if chunk.len() == chunk_rows {
            full_sql.clone()
        } else {
            insert_sql(table, columns, chunk.len())
        };
        let mut query = sqlx::query(&sql);
        for item in chunk {
            query = bind(query, item);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(|e| write_err(e, "referenced row"))?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn import_demo_batch_impl(
        &self,
        tenant: TenantId,
        batch: DemoBatch,
    ) -> StoreResult<()> {
        let mut tx = self.begin_conversation_write(tenant).await?;
        // The batch is trusted to belong to `tenant` (the trait's contract);
        // every row is still written with the tenant passed alongside.
        let t = tenant.0;
        insert_all(
            &mut tx,
            "visitors",
            &[
                "id",
                "tenant_id",
                "widget_id",
                "name",
                "email",
                "language",
                "created_at",
            ],
            batch.visitors,
            |q, v| {
                q.bind(v.id.as_str().to_owned())
                    .bind(t)
                    .bind(v.widget_id.0)
                    .bind(v.name)
                    .bind(v.email)
                    .bind(v.language)
                    .bind(to_us(v.created_at))
            },
        )
        .await?;
        insert_all(
            &mut tx,
            "conversations",
            &[
                "id",
                "tenant_id",
                "widget_id",
                "visitor_id",
                "status",
                "assigned_to",
                "visitor_language",
                "last_seq",
                "last_message_at",
                "started_at",
            ],
            batch.conversations,
            |q, c| {
                q.bind(c.id.0)
                    .bind(t)
                    .bind(c.widget_id.0)
                    .bind(c.visitor_id.as_str().to_owned())
                    .bind(c.status.as_str())
                    .bind(c.assigned_to.map(|op| op.0))
                    .bind(c.visitor_language)
                    .bind(c.last_seq)
                    .bind(to_us(c.last_message_at))
                    .bind(to_us(c.started_at))
            },
        )
        .await?;
        insert_all(
            &mut tx,
            "messages",
            &[
                "id",
                "tenant_id",
                "conversation_id",
                "seq",
                "role",
                "content",
                "content_language",
                "translated_content",
                "translated_language",
                "is_auto_reply",
                "author_id",
                "created_at",
            ],
            batch.messages,
            |q, m| {
                q.bind(m.id.0)
                    .bind(t)
                    .bind(m.conversation_id.0)
                    .bind(m.seq)
                    .bind(m.role.as_str())
                    .bind(m.content)
                    .bind(m.content_language)
                    .bind(m.translated_content)
                    .bind(m.translated_language)
                    .bind(m.is_auto_reply)
                    .bind(m.author_id.map(|op| op.0))
                    .bind(to_us(m.created_at))
            },
        )
        .await?;
        tx.commit().await.map_err(db)
    }
}
