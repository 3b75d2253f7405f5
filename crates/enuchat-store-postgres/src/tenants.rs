//! Tenants and what hangs directly off them: operators and widgets.

use crate::error::db_err;
use crate::list_anchors::bump_list_versions;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;

pub(crate) async fn create_tenant(pool: &PgPool, new: NewTenant) -> StoreResult<Tenant> {
    let row: TenantRow = sqlx::query_as(concat!(
        "INSERT INTO tenants (id, name, plan, operator_language, created_at) \
         VALUES ($1, $2, $3, $4, clock_timestamp()) \
         RETURNING ",
        tenant_columns!()
    ))
    .bind(TenantId::new().0)
    .bind(new.name.as_str())
    .bind(new.plan.as_str())
    .bind(new.operator_language.as_str())
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    row.into_model()
}

pub(crate) async fn get_tenant(pool: &PgPool, tenant: TenantId) -> StoreResult<Option<Tenant>> {
    let row: Option<TenantRow> = sqlx::query_as(concat!(
        "SELECT ",
        tenant_columns!(),
        " FROM tenants WHERE id = $1"
    ))
    .bind(tenant.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(TenantRow::into_model).transpose()
}

pub(crate) async fn has_tenants(pool: &PgPool) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants)")
        .fetch_one(pool)
        .await
        .map_err(db_err)
}

pub(crate) async fn claim_first_start(pool: &PgPool) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO installation (id, first_started_at) VALUES (1, clock_timestamp()) \
         ON CONFLICT (id) DO NOTHING",
    )
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

/// An unknown tenant fails the foreign key (`MissingReference("tenant")`); a
/// taken email fails the unique index (`Conflict`), which is what keeps two
/// instances from creating the same operator at once.
pub(crate) async fn create_operator(
    pool: &PgPool,
    tenant: TenantId,
    new: NewOperator,
) -> StoreResult<Operator> {
    let row: OperatorRow = sqlx::query_as(concat!(
        "INSERT INTO operators (id, tenant_id, email, name, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp()) \
         RETURNING ",
        operator_columns!()
    ))
    .bind(OperatorId::new().0)
    .bind(tenant.0)
    .bind(new.email.as_str())
    .bind(new.name.as_str())
    .bind(new.role.as_str())
    .bind(&new.password_hash)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    row.into_model()
}

pub(crate) async fn get_operator(
    pool: &PgPool,
    tenant: TenantId,
    id: OperatorId,
) -> StoreResult<Option<Operator>> {
    let row: Option<OperatorRow> = sqlx::query_as(concat!(
        "SELECT ",
        operator_columns!(),
        " FROM operators WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(OperatorRow::into_model).transpose()
}

pub(crate) async fn create_widget(
    pool: &PgPool,
    tenant: TenantId,
    new: NewWidget,
) -> StoreResult<Widget> {
    let row: WidgetRow = sqlx::query_as(concat!(
        "INSERT INTO widgets (id, tenant_id, name, is_active, ai_enabled, translation_enabled, \
                              primary_color, position, greeting, allowed_origins, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, clock_timestamp()) \
         RETURNING ",
        widget_columns!()
    ))
    .bind(WidgetId::new().0)
    .bind(tenant.0)
    .bind(new.name.as_str())
    .bind(new.is_active)
    .bind(new.ai_enabled)
    .bind(new.translation_enabled)
    .bind(new.primary_color.as_str())
    .bind(new.position.as_str())
    .bind(new.greeting.as_deref())
    .bind(origins_json(&new.allowed_origins))
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    row.into_model()
}

/// The origins as the JSON array text stored in `allowed_origins`, in the
/// order given.
fn origins_json(origins: &[Origin]) -> String {
    let origins: Vec<&str> = origins.iter().map(Origin::as_str).collect();
    serde_json::Value::from(origins).to_string()
}

/// The one widget look-up not scoped by tenant (the visitor API's entry).
pub(crate) async fn find_widget(pool: &PgPool, id: WidgetId) -> StoreResult<Option<Widget>> {
    let row: Option<WidgetRow> = sqlx::query_as(concat!(
        "SELECT ",
        widget_columns!(),
        " FROM widgets WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(WidgetRow::into_model).transpose()
}

pub(crate) async fn get_widget(
    pool: &PgPool,
    tenant: TenantId,
    id: WidgetId,
) -> StoreResult<Option<Widget>> {
    let row: Option<WidgetRow> = sqlx::query_as(concat!(
        "SELECT ",
        widget_columns!(),
        " FROM widgets WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(WidgetRow::into_model).transpose()
}

pub(crate) async fn list_widgets(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Widget>> {
    // Ids are UUIDv7, so they break created_at ties in creation order too.
    let rows: Vec<WidgetRow> = sqlx::query_as(concat!(
        "SELECT ",
        widget_columns!(),
        " FROM widgets WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant.0)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, WidgetRow::into_model)
}

// --- dashboard administration: widget and team changes ---------------------

/// One UPDATE; `$7` says whether the greeting changes (to `$8`, maybe NULL).
pub(crate) async fn update_widget(
    pool: &PgPool,
    tenant: TenantId,
    id: WidgetId,
    update: WidgetUpdate,
) -> StoreResult<Option<Widget>> {
    if update.is_empty() {
        return get_widget(pool, tenant, id).await;
    }
    let row: Option<WidgetRow> = sqlx::query_as(concat!(
        "UPDATE widgets SET \
           name = COALESCE($1, name), \
           is_active = COALESCE($2, is_active), \
           ai_enabled = COALESCE($3, ai_enabled), \
           translation_enabled = COALESCE($4, translation_enabled), \
           primary_color = COALESCE($5, primary_color), \
           position = COALESCE($6, position), \
           greeting = CASE WHEN $7 THEN $8 ELSE greeting END, \
           allowed_origins = COALESCE($9::jsonb, allowed_origins) \
         WHERE tenant_id = $10 AND id = $11 \
         RETURNING ",
        widget_columns!()
    ))
    .bind(update.name.as_ref().map(DisplayName::as_str))
    .bind(update.is_active)
    .bind(update.ai_enabled)
    .bind(update.translation_enabled)
    .bind(update.primary_color.as_ref().map(HexColor::as_str))
    .bind(update.position.map(WidgetPosition::as_str))
    .bind(update.greeting.is_some())
    .bind(update.greeting.flatten())
    .bind(update.allowed_origins.as_deref().map(origins_json))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(WidgetRow::into_model).transpose()
}

/// Starts a team change: locks the tenant's owners (in id order, so
/// concurrent changes queue instead of deadlocking), then the operator
/// itself. Two admins demoting the last two owners at once are serialized
/// here, and the second sees only one owner left. Returns the operator and
/// whether the tenant has an owner besides it.
async fn lock_for_team_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    id: OperatorId,
) -> StoreResult<Option<(Operator, bool)>> {
    let owners: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM operators WHERE tenant_id = $1 AND role = 'owner' \
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant.0)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let row: Option<OperatorRow> = sqlx::query_as(concat!(
        "SELECT ",
        operator_columns!(),
        " FROM operators WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(operator) = row.map(OperatorRow::into_model).transpose()? else {
        return Ok(None);
    };
    let other_owners = owners.iter().any(|o| *o != id.0);
    Ok(Some((operator, other_owners)))
}

pub(crate) async fn update_operator(
    pool: &PgPool,
    tenant: TenantId,
    id: OperatorId,
    update: OperatorUpdate,
) -> StoreResult<Option<Operator>> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let Some((current, other_owners)) = lock_for_team_change(&mut tx, tenant, id).await? else {
        return Ok(None);
    };
    let demotes_owner = current.role == OperatorRole::Owner
        && update.role.is_some_and(|r| r != OperatorRole::Owner);
    if demotes_owner && !other_owners {
        return Err(StoreError::Conflict(LAST_OWNER_CONFLICT.into()));
    }
    let row: OperatorRow = sqlx::query_as(concat!(
        "UPDATE operators SET name = COALESCE($1, name), role = COALESCE($2, role) \
         WHERE tenant_id = $3 AND id = $4 RETURNING ",
        operator_columns!()
    ))
    .bind(update.name.as_ref().map(DisplayName::as_str))
    .bind(update.role.map(OperatorRole::as_str))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    row.into_model().map(Some)
}

pub(crate) async fn delete_operator(
    pool: &PgPool,
    tenant: TenantId,
    id: OperatorId,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let Some((current, other_owners)) = lock_for_team_change(&mut tx, tenant, id).await? else {
        return Ok(false);
    };
    if current.role == OperatorRole::Owner && !other_owners {
        return Err(StoreError::Conflict(LAST_OWNER_CONFLICT.into()));
    }
    // Served by conversations_tenant_assignee_recent_idx, sessions_operator_idx
    // and conversation_reads' primary key.
    for sql in [
        "UPDATE conversations SET assigned_to = NULL WHERE tenant_id = $1 AND assigned_to = $2",
        "DELETE FROM sessions WHERE operator_id = $2 AND tenant_id = $1",
        "DELETE FROM conversation_reads WHERE operator_id = $2 AND tenant_id = $1",
        "DELETE FROM operators WHERE tenant_id = $1 AND id = $2",
    ] {
        sqlx::query(sql)
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    // Its conversations lost their assignee, which lists show (cached pages,
    // `page_cache.rs`); the bump is the transaction's last lock.
    bump_list_versions(&mut tx, vec![tenant.0])
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}
