//! The operator dashboard's JSON API under `/api/v1/dashboard` (see
//! docs/dashboard-api.md), authenticated by a session cookie, never by API
//! keys. Every handler takes an [`OperatorSession`](crate::extract::OperatorSession)
//! (or, for the admin screens, an [`AdminSession`](crate::extract::AdminSession):
//! owners and admins only) and scopes its queries to that operator's tenant.

pub mod api_keys;
pub mod billing;
pub mod conversations;
pub mod knowledge;
pub mod operators;
pub mod session;
pub mod views;
pub mod widgets;
pub mod ws;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;

pub const BASE_PATH: &str = "/api/v1/dashboard";
pub const SESSION_COOKIE: &str = "enuchat_session";
/// A session ends after this long without use...
pub const IDLE_TIMEOUT_SECS: i64 = 12 * 3600;
/// ...and this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 7 * 24 * 3600;
/// `last_seen_at` is written at most this often per session.
pub const TOUCH_GRANULARITY_SECS: i64 = 60;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/session",
            get(session::get_session)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/conversations", get(conversations::list))
        .route(
            "/conversations/{id}",
            get(conversations::get).patch(conversations::update),
        )
        .route("/conversations/{id}/messages", post(conversations::reply))
        .route("/conversations/{id}/read", post(conversations::mark_read))
        .route(
            "/operators",
            get(operators::list_operators).post(operators::create),
        )
        .route(
            "/operators/{id}",
            patch(operators::update).delete(operators::delete),
        )
        .route("/widgets", get(widgets::list).post(widgets::create))
        .route("/widgets/{id}", patch(widgets::update))
        .route(
            "/widgets/{id}/knowledge",
            get(knowledge::list).post(knowledge::create),
        )
        .route("/knowledge/{id}", delete(knowledge::delete))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", delete(api_keys::revoke))
        .route("/billing", get(billing::balance))
        .route("/billing/ledger", get(billing::ledger))
        .route("/ws", get(ws::connect))
        .layer(from_fn_with_state(state, same_origin_writes))
}

/// Every state-changing request (sign-in included) that names an `Origin`
/// must come from the server's own.
async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !origin_allowed(&state, req.headers())
    {
        return ApiError::CsrfRejected.into_response();
    }
    next.run(req).await
}

/// No `Origin` (not a browser, or a same-origin GET), or the request's own
/// origin, or the configured public URL's.
pub fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(origin_of) else {
        return false;
    };
    if state.public_origin.as_deref() == Some(origin.as_str()) {
        return true;
    }
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let scheme = if request_is_https(headers) {
        "https"
    } else {
        "http"
    };
    origin == format!("{scheme}://{}", host.to_ascii_lowercase())
}

/// Whether a TLS-terminating proxy says the request came over HTTPS.
pub fn request_is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("https")
        })
}

/// `scheme://host[:port]` of a URL, lowercased; `None` for anything else
/// (including the `null` origin of sandboxed pages).
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("HTTPS://Chat.Example.com:8443/app?x").as_deref(),
            Some("https://chat.example.com:8443")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("ftp://x"), None);
    }
}
