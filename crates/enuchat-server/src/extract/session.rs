//! The signed-in operator of a dashboard request, from the `enuchat_session`
//! cookie. On anything but `GET`/`HEAD` the session's CSRF token must come
//! back in `X-CSRF-Token` too (a cross-site page can make the browser send
//! the cookie, but cannot read the token).

use crate::error::ApiError;
use crate::routes::dashboard::{IDLE_TIMEOUT_SECS, SESSION_COOKIE, TOUCH_GRANULARITY_SECS};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use chrono::Utc;
use enuchat_domain::{secret, OperatorRole, Session};

pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone)]
pub struct OperatorSession(pub Session);

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = current_session(state, &parts.headers).await?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let expected = secret::hash(&session.csrf_token);
            if sent.is_empty() || !secret::hashes_match(&secret::hash(sent), &expected) {
                return Err(ApiError::CsrfRejected);
            }
        }
        Ok(OperatorSession(session))
    }
}

/// A signed-in owner or admin: what the dashboard's admin endpoints (widget
/// changes, API keys, team, billing) take instead of [`OperatorSession`].
/// An `operator` is refused with `403 FORBIDDEN` here, before the handler
/// runs and so before its body is even read.
#[derive(Debug, Clone)]
pub struct AdminSession(pub Session);

pub const ADMIN_ONLY: &str = "Only an owner or admin of this account may do this.";

impl AdminSession {
    /// Whether the signed-in operator is an owner (some changes, like
    /// making someone an owner, are theirs alone).
    pub fn is_owner(&self) -> bool {
        self.0.operator.role == OperatorRole::Owner
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let OperatorSession(session) = OperatorSession::from_request_parts(parts, state).await?;
        match session.operator.role {
            OperatorRole::Owner | OperatorRole::Admin => Ok(AdminSession(session)),
            OperatorRole::Operator => Err(ApiError::Forbidden(ADMIN_ONLY)),
        }
    }
}

/// The session id in the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// The valid session the cookie names, recording its use (at most once a
/// minute, so a busy dashboard does not write per request).
pub async fn current_session(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
    let id = session_cookie(headers)
        .filter(|id| secret::looks_like_session_id(id))
        .ok_or(ApiError::NotSignedIn)?;
    let now = Utc::now();
    let session = state
        .store
        .find_session(&secret::hash(id), now, IDLE_TIMEOUT_SECS)
        .await?
        .ok_or(ApiError::NotSignedIn)?;
    if (now - session.last_seen_at).num_seconds() >= TOUCH_GRANULARITY_SECS {
        state
            .store
            .touch_session(
                session.tenant_id,
                &session.id_hash,
                now,
                TOUCH_GRANULARITY_SECS,
            )
            .await?;
    }
    Ok(session)
}
