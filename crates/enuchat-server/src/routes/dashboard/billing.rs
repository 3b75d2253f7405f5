//! Billing (owners and admins): `GET /billing` and `GET /billing/ledger`.

use super::views::LedgerEntryView;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminSession, QueryParams};
use crate::routes::tenant_api::views::{BalanceView, Data};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

pub async fn balance(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    query: QueryParams,
) -> ApiResult<Json<Data<BalanceView>>> {
    query.finish()?;
    let tenant = state
        .store
        .get_tenant(session.tenant_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "tenant {} of a session is missing",
                session.tenant_id
            ))
        })?;
    Ok(Json(Data::new(BalanceView {
        plan: tenant.plan,
        credit_balance: tenant.credit_balance,
        total_credits_added: tenant.total_credits_added,
    })))
}

/// Newest first, read from the `(tenant_id, created_at DESC, id DESC)` index.
pub async fn ledger(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    mut query: QueryParams,
) -> ApiResult<Json<Data<Vec<LedgerEntryView>>>> {
    let limit = query.integer("limit", 1, 100, 50)? as u32;
    let offset = query.integer("offset", 0, i64::MAX as u64, 0)?;
    query.finish()?;
    let entries = state
        .store
        .list_ledger(session.tenant_id, limit, offset)
        .await?;
    Ok(Json(Data::new(
        entries.iter().map(LedgerEntryView::from).collect(),
    )))
}
