//! All HTTP routes, and the JSON answers for paths and methods that match
//! nothing.

pub mod dashboard;
pub mod ops;
pub mod tenant_api;
pub mod web;
pub mod widget;

use crate::error::ApiError;
use crate::extract::json::MAX_BODY_BYTES;
use crate::state::AppState;
use crate::telemetry::track_requests;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest(tenant_api::BASE_PATH, tenant_api::router(state.clone()))
        .nest(widget::BASE_PATH, widget::router())
        .nest(dashboard::BASE_PATH, dashboard::router(state.clone()))
        .merge(ops::router())
        .merge(web::router())
        .fallback(|| async { ApiError::NotFound("Resource") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), track_requests))
        .layer(trace_layer())
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// One span per request, named by method and matched route; health checks
/// are logged at debug level only so they do not drown real traffic.
fn trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&Request<axum::body::Body>) -> tracing::Span + Clone,
> {
    TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| req.uri().path().to_owned());
        if matches!(route.as_str(), "/healthz" | "/readyz" | "/metrics") {
            tracing::debug_span!("request", method = %req.method(), route = %route)
        } else {
            tracing::info_span!("request", method = %req.method(), route = %route)
        }
    })
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    let mut response = ApiError::Internal(format!("handler panicked: {detail}")).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
