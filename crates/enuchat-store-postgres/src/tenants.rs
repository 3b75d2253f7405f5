//! Tenants and what hangs directly off them: operators and widgets.

use crate::error::db_err;
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
