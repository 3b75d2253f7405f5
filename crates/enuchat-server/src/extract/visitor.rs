//! Who is calling the visitor API: a visitor, proven by their token, on a
//! widget whose origin rules the request satisfies.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use enuchat_domain::{secret, Visitor, Widget};

#[derive(Debug, Clone)]
pub struct VisitorContext {
    pub visitor: Visitor,
    pub widget: Widget,
}

impl FromRequestParts<AppState> for VisitorContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::VisitorTokenMissing)?;
        authenticate(state, token, &parts.headers).await
    }
}

/// Resolves a visitor token (from a header or, for WebSockets, the query).
pub async fn authenticate(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
) -> Result<VisitorContext, ApiError> {
    if !secret::looks_like_visitor_token(token) {
        return Err(ApiError::VisitorTokenInvalid);
    }
    let hash = secret::hash(token);
    let visitor = state
        .store
        .find_visitor_by_token(&hash)
        .await?
        .ok_or(ApiError::VisitorTokenInvalid)?;
    let widget = state
        .store
        .get_widget(visitor.tenant_id, visitor.widget_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!("widget of visitor {} is missing", visitor.id))
        })?;
    check_origin(&widget, headers)?;
    Ok(VisitorContext { visitor, widget })
}

/// A widget with allowed origins only answers pages on those origins.
pub fn check_origin(widget: &Widget, headers: &HeaderMap) -> Result<(), ApiError> {
    if widget.allowed_origins.is_empty() {
        return Ok(());
    }
    let origin = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase());
    match origin {
        Some(origin) if widget.allowed_origins.contains(&origin) => Ok(()),
        _ => Err(ApiError::OriginNotAllowed),
    }
}
