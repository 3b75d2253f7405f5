//! `GET /billing/balance`

use super::views::{BalanceView, Data};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{QueryParams, TenantContext};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

/// The current plan and credit balance.
#[utoipa::path(
    get,
    path = "/billing/balance",
    tag = "billing",
    responses(
        (status = 200, description = "Plan and credits", body = Data<BalanceView>),
        (status = 400, description = "Unknown query parameter", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn get_balance(
    State(state): State<AppState>,
    tenant: TenantContext,
    query: QueryParams,
) -> ApiResult<Json<Data<BalanceView>>> {
    query.finish()?;
    // A valid key always belongs to an existing tenant (foreign key), so a
    // missing tenant here is a server-side inconsistency.
    let t = state
        .store
        .get_tenant(tenant.tenant_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "tenant {} of a valid key is missing",
                tenant.tenant_id
            ))
        })?;
    Ok(Json(Data::new(BalanceView {
        plan: t.plan,
        credit_balance: t.credit_balance,
        total_credits_added: t.total_credits_added,
    })))
}
