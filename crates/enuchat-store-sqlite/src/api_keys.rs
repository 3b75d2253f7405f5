//! Tenant API keys, stored as SHA-256 hashes.

use crate::rows::{all, api_key_columns, ApiKeyRow};
use crate::{db, now_us, to_us, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;

impl SqliteStore {
    pub(crate) async fn create_api_key_impl(
        &self,
        tenant: TenantId,
        new: NewApiKey,
    ) -> StoreResult<ApiKey> {
        let row: ApiKeyRow = sqlx::query_as(concat!(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            api_key_columns!()
        ))
        .bind(ApiKeyId::new().0)
        .bind(tenant.0)
        .bind(new.name.as_str())
        .bind(&new.prefix)
        .bind(&new.key_hash[..])
        .bind(now_us())
        .bind(new.expires_at.map(to_us))
        .fetch_one(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| write_err(e, "tenant"))?;
        row.into_model()
    }

    pub(crate) async fn find_api_key_by_hash_impl(
        &self,
        hash: &[u8; 32],
    ) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE key_hash = ?"
        ))
        .bind(&hash[..])
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    pub(crate) async fn find_api_key_impl(&self, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    pub(crate) async fn list_api_keys_impl(&self, tenant: TenantId) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(tenant.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        all(rows, ApiKeyRow::into_model)
    }

    pub(crate) async fn revoke_api_key_impl(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
    ) -> StoreResult<Option<ApiKey>> {
        // COALESCE keeps the first revocation time when revoked twice.
        let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE tenant_id = ? AND id = ? RETURNING ",
            api_key_columns!()
        ))
        .bind(now_us())
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        row.map(ApiKeyRow::into_model).transpose()
    }

    pub(crate) async fn touch_api_keys_impl(
        &self,
        uses: &[KeyUse],
        granularity_secs: i64,
    ) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        // One transaction for the lot: on SQLite every commit makes every
        // reader drop its cached pages (`page_cache.rs`), so a minute's worth
        // of key uses costs one commit instead of one per key.
        let mut tx = self.begin_write().await?;
        for used in uses {
            let at = to_us(used.at);
            let threshold = at.saturating_sub(granularity_secs.saturating_mul(1_000_000));
            // The condition lives in the WHERE clause so that a busy key
            // costs a cheap no-op statement, not a write, most of the time.
            sqlx::query(
                "UPDATE api_keys SET last_used_at = ? \
                 WHERE tenant_id = ? AND id = ? \
                   AND (last_used_at IS NULL OR last_used_at < ?)",
            )
            .bind(at)
            .bind(used.tenant.0)
            .bind(used.key.0)
            .bind(threshold)
            .execute(&mut *tx)
            .await
            .map_err(|e| write_err(e, "API key"))?;
        }
        tx.commit().await.map_err(db)
    }
}
