//! Widgets and the visitors who chat through them.

use crate::rows::{all, visitor_columns, widget_columns, VisitorRow, WidgetRow};
use crate::{db, now_us, write_err, SqliteStore};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;

/// Served by the partial unique index `visitors_token_hash` (an equality
/// implies `token_hash IS NOT NULL`).
pub(crate) const FIND_VISITOR_BY_TOKEN: &str = concat!(
    "SELECT ",
    visitor_columns!(),
    " FROM visitors WHERE token_hash = ?"
);

impl SqliteStore {
    pub(crate) async fn create_widget_impl(
        &self,
        tenant: TenantId,
        new: NewWidget,
    ) -> StoreResult<Widget> {
        let origins: Vec<&str> = new.allowed_origins.iter().map(Origin::as_str).collect();
        let origins = serde_json::to_string(&origins)
            .map_err(|e| StoreError::Database(format!("encoding allowed origins: {e}")))?;
        let row: WidgetRow = sqlx::query_as(concat!(
            "INSERT INTO widgets (id, tenant_id, name, is_active, ai_enabled, \
             translation_enabled, primary_color, position, greeting, allowed_origins, \
             created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
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
        .bind(new.greeting)
        .bind(origins)
        .bind(now_us())
        .fetch_one(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| write_err(e, "tenant"))?;
        row.into_model()
    }

    pub(crate) async fn get_widget_impl(
        &self,
        tenant: TenantId,
        id: WidgetId,
    ) -> StoreResult<Option<Widget>> {
        let row: Option<WidgetRow> = sqlx::query_as(concat!(
            "SELECT ",
            widget_columns!(),
            " FROM widgets WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(WidgetRow::into_model).transpose()
    }

    pub(crate) async fn find_widget_impl(&self, id: WidgetId) -> StoreResult<Option<Widget>> {
        let row: Option<WidgetRow> = sqlx::query_as(concat!(
            "SELECT ",
            widget_columns!(),
            " FROM widgets WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(WidgetRow::into_model).transpose()
    }

    pub(crate) async fn list_widgets_impl(&self, tenant: TenantId) -> StoreResult<Vec<Widget>> {
        // Ids are time-ordered UUIDv7s, so they break created_at ties in
        // creation order too.
        let rows: Vec<WidgetRow> = sqlx::query_as(concat!(
            "SELECT ",
            widget_columns!(),
            " FROM widgets WHERE tenant_id = ? ORDER BY created_at, id"
        ))
        .bind(tenant.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        all(rows, WidgetRow::into_model)
    }

    pub(crate) async fn create_visitor_impl(
        &self,
        tenant: TenantId,
        new: NewVisitor,
    ) -> StoreResult<Visitor> {
        // Inserting through a SELECT that checks the widget's tenant makes the
        // ownership check and the write one statement: no row means the widget
        // is not this tenant's.
        let row: Option<VisitorRow> = sqlx::query_as(concat!(
            "INSERT INTO visitors (id, tenant_id, widget_id, name, email, language, \
             token_hash, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             WHERE EXISTS (SELECT 1 FROM widgets WHERE tenant_id = ?2 AND id = ?3) \
             RETURNING ",
            visitor_columns!()
        ))
        .bind(new.id.as_str())
        .bind(tenant.0)
        .bind(new.widget_id.0)
        .bind(new.name)
        .bind(new.email)
        .bind(new.language.as_ref().map(LanguageCode::as_str))
        .bind(new.token_hash.as_ref().map(|h| &h[..]))
        .bind(now_us())
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| match write_err(e, "widget") {
            // Both unique columns are named, never the token hash itself.
            StoreError::Conflict(message) if message.contains("token_hash") => {
                StoreError::Conflict("visitor token is already in use".into())
            }
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("visitor id {} is already in use", new.id))
            }
            other => other,
        })?;
        row.ok_or(StoreError::MissingReference("widget"))?
            .into_model()
    }

    pub(crate) async fn get_visitor_impl(
        &self,
        tenant: TenantId,
        id: &VisitorId,
    ) -> StoreResult<Option<Visitor>> {
        let row: Option<VisitorRow> = sqlx::query_as(concat!(
            "SELECT ",
            visitor_columns!(),
            " FROM visitors WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(VisitorRow::into_model).transpose()
    }

    pub(crate) async fn find_visitor_by_token_impl(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<Visitor>> {
        let row: Option<VisitorRow> = sqlx::query_as(FIND_VISITOR_BY_TOKEN)
            .bind(&token_hash[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.map(VisitorRow::into_model).transpose()
    }

    pub(crate) async fn update_visitor_impl(
        &self,
        tenant: TenantId,
        id: &VisitorId,
        patch: VisitorPatch,
    ) -> StoreResult<Option<Visitor>> {
        if patch.name.is_none() && patch.email.is_none() && patch.language.is_none() {
            return self.get_visitor_impl(tenant, id).await;
        }
        // Each field is (whether it changes, its new value): `Some(None)`
        // writes NULL, `None` keeps the column.
        let row: Option<VisitorRow> = sqlx::query_as(concat!(
            "UPDATE visitors SET \
               name = CASE WHEN ?1 THEN ?2 ELSE name END, \
               email = CASE WHEN ?3 THEN ?4 ELSE email END, \
               language = CASE WHEN ?5 THEN ?6 ELSE language END \
             WHERE tenant_id = ?7 AND id = ?8 RETURNING ",
            visitor_columns!()
        ))
        .bind(patch.name.is_some())
        .bind(patch.name.flatten())
        .bind(patch.email.is_some())
        .bind(patch.email.flatten())
        .bind(patch.language.is_some())
        .bind(patch.language.flatten().map(|l| l.as_str().to_owned()))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        row.map(VisitorRow::into_model).transpose()
    }
}

impl SqliteStore {
    /// One UPDATE: each field is (whether it changes, its new value).
    pub(crate) async fn update_widget_impl(
        &self,
        tenant: TenantId,
        id: WidgetId,
        update: WidgetUpdate,
    ) -> StoreResult<Option<Widget>> {
        if update.is_empty() {
            return self.get_widget_impl(tenant, id).await;
        }
        let origins = update
            .allowed_origins
            .as_ref()
            .map(|origins| {
                let origins: Vec<&str> = origins.iter().map(Origin::as_str).collect();
                serde_json::to_string(&origins)
            })
            .transpose()
            .map_err(|e| StoreError::Database(format!("encoding allowed origins: {e}")))?;
        let row: Option<WidgetRow> = sqlx::query_as(concat!(
            "UPDATE widgets SET \
               name = COALESCE(?1, name), \
               is_active = COALESCE(?2, is_active), \
               ai_enabled = COALESCE(?3, ai_enabled), \
               translation_enabled = COALESCE(?4, translation_enabled), \
               primary_color = COALESCE(?5, primary_color), \
               position = COALESCE(?6, position), \
               greeting = CASE WHEN ?7 THEN ?8 ELSE greeting END, \
               allowed_origins = COALESCE(?9, allowed_origins) \
             WHERE tenant_id = ?10 AND id = ?11 RETURNING ",
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
        .bind(origins)
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        row.map(WidgetRow::into_model).transpose()
    }
}
