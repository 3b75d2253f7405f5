//! The visitor API under `/api/v1/widget`, used by `widget.js` from the
//! customer's site (see docs/visitor-api.md). It is called cross-origin, so
//! it answers CORS; which origins may really use a widget is decided per
//! widget (`allowed_origins`) by the handlers.

pub mod hold;
pub mod me;
pub mod messages;
pub mod views;
pub mod widgets;
pub mod ws;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{header, Method};
use axum::routing::{get, post};
use axum::Router;
use enuchat_domain::rate_limit::RateLimit;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub const BASE_PATH: &str = "/api/v1/widget";

pub fn router() -> Router<AppState> {
    // Visitors authenticate with a bearer token, never cookies, so mirroring
    // any origin here grants nothing by itself.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::PATCH])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(24 * 3600));
    Router::new()
        .route("/widgets/{widget_id}", get(widgets::get_widget))
        .route(
            "/widgets/{widget_id}/visitors",
            post(widgets::create_visitor),
        )
        .route("/me", get(me::get_me).patch(me::update_me))
        .route(
            "/messages",
            get(messages::list_messages).post(messages::post_message),
        )
        .route("/ws", get(ws::connect))
        // Set here, under the CORS layer, so that preflight `OPTIONS`
        // requests reach CORS instead of becoming 405s.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors)
}

/// Applies one rate limit; `per` names the bucket kind in the error.
pub async fn enforce(
    state: &AppState,
    bucket: String,
    limit: RateLimit,
    per: &'static str,
) -> Result<(), ApiError> {
    let decision = state.limiter.check(&bucket, limit).await?;
    if decision.allowed {
        Ok(())
    } else {
        state.metrics.rate_limited.inc();
        Err(ApiError::RateLimited {
            limit: decision.limit,
            retry_after_secs: decision.retry_after_secs,
            per,
        })
    }
}
