//! `GET /widgets`

use super::views::{Data, WidgetView};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{QueryParams, TenantContext};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

/// List all widgets of the account, oldest first.
#[utoipa::path(
    get,
    path = "/widgets",
    tag = "widgets",
    responses(
        (status = 200, description = "The tenant's widgets", body = Data<Vec<WidgetView>>),
        (status = 400, description = "Unknown query parameter", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn list_widgets(
    State(state): State<AppState>,
    tenant: TenantContext,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<WidgetView>>>> {
    query.finish()?;
    let widgets = state.store.list_widgets(tenant.tenant_id).await?;
    Ok(Json(Data::new(
        widgets.into_iter().map(WidgetView::from).collect(),
    )))
}
