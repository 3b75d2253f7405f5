//! The Tenant API, mounted at `/api/v1/tenant-api`. Every route here sits
//! behind [`crate::auth::require_api_key`].

pub mod billing;
pub mod conversations;
pub mod messages;
pub mod views;
pub mod widgets;

use crate::auth::require_api_key;
use crate::state::AppState;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const BASE_PATH: &str = "/api/v1/tenant-api";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "enuchat Tenant API",
        description = "Manage conversations, send messages and read billing data of one enuchat account. \
                       Authenticate with an API key in the `X-Api-Key` header. Each key may make 60 requests \
                       per minute (a burst of 60 that refills one per second); see the `X-RateLimit-*` headers.",
    ),
    servers((url = "/api/v1/tenant-api")),
    security(("apiKey" = [])),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "widgets", description = "Chat widgets embedded on your sites"),
        (name = "conversations", description = "Conversations with visitors and their messages"),
        (name = "billing", description = "Plan and prepaid credits"),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// A PATCH body must name at least one field. utoipa 5.5 writes
/// `#[schema(min_properties = 1)]` out as `maxProperties`, so the rule is set
/// on the finished document instead (the schema exists only once the routes
/// are collected, after `#[openapi(modifiers)]` have run).
struct PatchNeedsAField;

impl Modify for PatchNeedsAField {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        use utoipa::openapi::{RefOr, Schema};
        let schema = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("UpdateConversationBody"));
        if let Some(RefOr::T(Schema::Object(object))) = schema {
            object.min_properties = Some(1);
        }
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(widgets::list_widgets))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(
            conversations::get_conversation,
            conversations::update_conversation
        ))
        .routes(routes!(messages::post_message))
        .routes(routes!(billing::get_balance))
}

/// The routes and their OpenAPI document, generated from the handlers'
/// annotations.
fn routes_and_doc() -> (Router<AppState>, OpenApiDoc) {
    let (api, mut doc) = api_router().split_for_parts();
    PatchNeedsAField.modify(&mut doc);
    (api, doc)
}

pub fn openapi() -> OpenApiDoc {
    routes_and_doc().1
}

/// The authenticated API plus its public OpenAPI document.
pub fn router(state: AppState) -> Router<AppState> {
    let (api, doc) = routes_and_doc();
    let doc = Json(doc);
    api.layer(from_fn_with_state(state, require_api_key))
        .route("/openapi.json", get(move || async move { doc.clone() }))
}
