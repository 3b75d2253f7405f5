//! Browser assets embedded in the binary: the widget script and the demo
//! page. No Node, no build step: the files in `web/` are served as written.

use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use enuchat_domain::WidgetId;

const WIDGET_JS: &str = include_str!("../../../../web/widget.js");
const DEMO_HTML: &str = include_str!("../../../../web/demo.html");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(widget_js))
        .route("/demo/{widget_id}", get(demo_page))
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
