//! `GET /widgets/{id}` (public settings) and `POST /widgets/{id}/visitors`.

use super::views::PublicWidgetView;
use super::{enforce, me::VisitorFields};
use crate::error::{ApiError, ApiResult};
use crate::extract::json::ApiJsonOrEmpty;
use crate::extract::path::parse_id;
use crate::extract::visitor::check_origin;
use crate::extract::ClientIp;
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use enuchat_domain::{secret, NewVisitor, StoreError, VisitorId, Widget, WidgetId};
use serde::Serialize;

async fn load_widget(state: &AppState, raw_id: &str, headers: &HeaderMap) -> ApiResult<Widget> {
    let id: WidgetId = parse_id(raw_id, "widgetId")?;
    let widget = state
        .store
        .find_widget(id)
        .await?
        .ok_or(ApiError::NotFound("Widget"))?;
    check_origin(&widget, headers)?;
    Ok(widget)
}

/// What the widget needs to render itself. An inactive widget answers with
/// `isActive: false` and renders nothing.
pub async fn get_widget(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Data<PublicWidgetView>>> {
    let widget = load_widget(&state, &id, &headers).await?;
    Ok(Json(Data::new(widget.into())))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewVisitorView {
    pub visitor_id: String,
    /// The visitor's secret, shown only here.
    pub token: String,
}

/// A new visitor (a new browser) and their token.
pub async fn create_visitor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    client: ClientIp,
    headers: HeaderMap,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<VisitorFields>,
) -> ApiResult<(StatusCode, Json<Data<NewVisitorView>>)> {
    let widget = load_widget(&state, &id, &headers).await?;
    if !widget.is_active {
        return Err(ApiError::WidgetInactive);
    }
    let fields = body.validate()?;
    enforce(
        &state,
        format!("ip-visitor:{}", client.network()),
        state.limits.new_visitors_per_ip,
        "per IP address for new visitors",
    )
    .await?;
    let token = secret::generate_visitor_token();
    let new = NewVisitor {
        id: VisitorId::generate(),
        widget_id: widget.id,
        name: fields.name.flatten(),
        email: fields.email.flatten(),
        language: fields.language.flatten(),
        token_hash: Some(token.hash),
    };
    let visitor = match state.store.create_visitor(widget.tenant_id, new).await {
        // 82 random bits collided, or the widget vanished meanwhile.
        Err(StoreError::Conflict(what)) => {
            return Err(ApiError::Internal(format!("visitor conflict: {what}")))
        }
        other => other?,
    };
    Ok((
        StatusCode::CREATED,
        Json(Data::new(NewVisitorView {
            visitor_id: visitor.id.to_string(),
            token: token.secret,
        })),
    ))
}
