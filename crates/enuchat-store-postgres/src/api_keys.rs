//! Tenant API keys. Only their SHA-256 is stored.

use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) async fn create(pool: &PgPool, tenant: TenantId, new: NewApiKey) -> StoreResult<ApiKey> {
    // RETURNING gives back `expires_at` as stored (microseconds), so the
    // caller sees the value later reads will return.
    let row: ApiKeyRow = sqlx::query_as(concat!(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6) \
         RETURNING ",
        api_key_columns!()
    ))
    .bind(ApiKeyId::new().0)
    .bind(tenant.0)
    .bind(new.name.as_str())
    .bind(&new.prefix)
    .bind(&new.key_hash[..])
    .bind(new.expires_at)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    row.into_model()
}

pub(crate) async fn find_by_hash(pool: &PgPool, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
    let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
        "SELECT ",
        api_key_columns!(),
        " FROM api_keys WHERE key_hash = $1"
    ))
    .bind(&hash[..])
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ApiKeyRow::into_model).transpose()
}

pub(crate) async fn find(pool: &PgPool, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
    let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
        "SELECT ",
        api_key_columns!(),
        " FROM api_keys WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ApiKeyRow::into_model).transpose()
}

pub(crate) async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<ApiKey>> {
    let rows: Vec<ApiKeyRow> = sqlx::query_as(concat!(
        "SELECT ",
        api_key_columns!(),
        " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(tenant.0)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, ApiKeyRow::into_model)
}

pub(crate) async fn revoke(
    pool: &PgPool,
    tenant: TenantId,
    id: ApiKeyId,
) -> StoreResult<Option<ApiKey>> {
    // COALESCE keeps the first revocation time when a key is revoked again.
    // The notice goes out with the commit of this very statement, so every
    // instance forgets its cached copy of the key (see `API_KEYS_CHANNEL`).
    let row: Option<ApiKeyRow> = sqlx::query_as(concat!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, clock_timestamp()) \
         WHERE tenant_id = $1 AND id = $2 \
         RETURNING pg_notify($3, encode(key_hash, 'hex'))::text AS notified, ",
        api_key_columns!()
    ))
    .bind(tenant.0)
    .bind(id.0)
    .bind(API_KEYS_CHANNEL)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ApiKeyRow::into_model).transpose()
}

/// Writes each key's `last_used_at` only when it is unset or older than the
/// granularity, so a busy key costs one write per `granularity_secs`, not one
/// per request. The condition sits in the UPDATE itself: racing instances
/// cannot both decide to write from a stale read. It also never moves the
/// time backwards. All the uses go in one statement.
pub(crate) async fn touch(
    pool: &PgPool,
    uses: &[KeyUse],
    granularity_secs: i64,
) -> StoreResult<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let tenants: Vec<Uuid> = uses.iter().map(|u| u.tenant.0).collect();
    let keys: Vec<Uuid> = uses.iter().map(|u| u.key.0).collect();
    let times: Vec<Timestamp> = uses.iter().map(|u| u.at).collect();
    // A key listed twice would be updated from either row; the latest use
    // is the one to keep.
    sqlx::query(
        "UPDATE api_keys k SET last_used_at = u.at \
         FROM (SELECT tenant_id, id, max(at) AS at \
               FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS u(tenant_id, id, at) \
               GROUP BY tenant_id, id) u \
         WHERE k.tenant_id = u.tenant_id AND k.id = u.id \
           AND (k.last_used_at IS NULL \
                OR k.last_used_at < u.at - make_interval(secs => $4::bigint))",
    )
    .bind(&tenants)
    .bind(&keys)
    .bind(&times)
    .bind(granularity_secs)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
