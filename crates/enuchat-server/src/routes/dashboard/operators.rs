//! `GET /operators` (the assign menu) and `GET /widgets` (the filter menu).

use super::views::OperatorView;
use crate::error::ApiResult;
use crate::extract::{OperatorSession, QueryParams};
use crate::routes::tenant_api::views::{Data, WidgetView};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

pub async fn list_operators(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<OperatorView>>>> {
    query.finish()?;
    let operators = state.store.list_operators(session.tenant_id).await?;
    Ok(Json(Data::new(
        operators.iter().map(OperatorView::from).collect(),
    )))
}

pub async fn list_widgets(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<WidgetView>>>> {
    query.finish()?;
    let widgets = state.store.list_widgets(session.tenant_id).await?;
    Ok(Json(Data::new(
        widgets.into_iter().map(WidgetView::from).collect(),
    )))
}
