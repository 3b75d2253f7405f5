//! Browser assets embedded in the binary: the widget script and the demo
//! page. No Node, no build step: the files in `web/` are served as written.

use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_FRAME_OPTIONS};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use enuchat_domain::WidgetId;

const WIDGET_JS: &str = include_str!("../../../../web/widget.js");
const DEMO_HTML: &str = include_str!("../../../../web/demo.html");

/// The operator dashboard: one page and its ES modules and styles.
const DASHBOARD_HTML: &str = include_str!("../../../../web/app/index.html");
const DASHBOARD_FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/api.js"),
    ),
    (
        "util.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/util.js"),
    ),
    (
        "nav.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/nav.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/ui.js"),
    ),
    (
        "knowledge.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/knowledge.js"),
    ),
    (
        "widgets.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/widgets.js"),
    ),
    (
        "keys.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/keys.js"),
    ),
    (
        "team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/team.js"),
    ),
    (
        "billing.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/app/billing.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../../web/app/app.css"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(widget_js))
        .route("/demo/{widget_id}", get(demo_page))
        .route("/", get(dashboard_page))
        .route("/app/{file}", get(dashboard_file))
}

async fn widget_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Short, so a new release reaches sites quickly.
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        WIDGET_JS,
    )
}

async fn dashboard_page() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            // The dashboard is never framed (clickjacking).
            (X_FRAME_OPTIONS, "DENY"),
        ],
        DASHBOARD_HTML,
    )
}

async fn dashboard_file(Path(file): Path<String>) -> ApiResult<impl IntoResponse> {
    let (_, content_type, body) = DASHBOARD_FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or(ApiError::NotFound("File"))?;
    Ok((
        [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
        *body,
    ))
}

/// A sample shop page with the widget embedded, to chat with yourself.
async fn demo_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Html<String>> {
    let id: WidgetId = parse_id(&id, "widgetId")?;
    let widget = state
        .store
        .find_widget(id)
        .await?
        .ok_or(ApiError::NotFound("Widget"))?;
    Ok(Html(
        DEMO_HTML.replace("{{WIDGET_ID}}", &widget.id.to_string()),
    ))
}
