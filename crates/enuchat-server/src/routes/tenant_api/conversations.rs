//! `GET /conversations`, `GET /conversations/{id}`, `PATCH /conversations/{id}`

use super::views::{
    shared_data, shared_list_data, ConversationDetailView, ConversationView, Data, MessageView,
    RenderedJson,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::path::parse_id;
use crate::extract::{ApiJson, QueryParams, TenantContext};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use enuchat_domain::{
    Conversation, ConversationFilter, ConversationId, ConversationPatch, ConversationStatus,
    OperatorId, StoreError, TenantId, WidgetId,
};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Query parameters of `GET /conversations` (documentation only: parsing is
/// strict and done by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListConversationsParams {
    /// Only conversations with this status.
    status: Option<ConversationStatus>,
    /// Only conversations of this widget.
    #[param(rename = "widgetId")]
    widget_id: Option<Uuid>,
    /// Page size, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// Conversations to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<u64>,
}

/// List conversations, most recent message first (ties by id, so paging with
/// `offset` is stable).
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "conversations",
    params(ListConversationsParams),
    responses(
        (status = 200, description = "A page of conversations", body = Data<Vec<ConversationView>>),
        (status = 400, description = "Invalid query parameter", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn list_conversations(
    State(state): State<AppState>,
    tenant: TenantContext,
    mut query: QueryParams,
) -> ApiResult<RenderedJson> {
    let filter = ConversationFilter {
        status: query.optional("status", "one of open, pending, closed")?,
        widget_id: query.optional::<WidgetId>("widgetId", "a widget UUID")?,
    };
    let limit = query.integer("limit", 1, 100, 20)? as u32;
    // Offsets beyond i64 cannot be passed to SQL; nobody pages that far.
    let offset = query.integer("offset", 0, i64::MAX as u64, 0)?;
    query.finish()?;
    let page = state
        .store
        .list_conversations(tenant.tenant_id, &filter, limit, offset)
        .await?;
    shared_list_data(page, ConversationView::from)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GetConversationParams {
    /// How many of the most recent messages to include, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// A conversation with its most recent messages, returned oldest first.
#[utoipa::path(
    get,
    path = "/conversations/{id}",
    tag = "conversations",
    params(("id" = Uuid, Path, description = "Conversation id"), GetConversationParams),
    responses(
        (status = 200, description = "The conversation and its messages", body = Data<ConversationDetailView>),
        (status = 400, description = "Invalid id or query parameter", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 404, description = "No such conversation for this account", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn get_conversation(
    State(state): State<AppState>,
    tenant: TenantContext,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> ApiResult<RenderedJson> {
    let limit = query.integer("limit", 1, 200, 50)? as u32;
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let detail = state
        .store
        .conversation_detail(tenant.tenant_id, id, limit)
        .await?
        .ok_or(ApiError::NotFound("Conversation"))?;
    shared_data(detail, |detail| ConversationDetailView {
        conversation: detail.conversation.into(),
        messages: detail.messages.into_iter().map(MessageView::from).collect(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateConversationBody {
    /// `open`, `pending` or `closed`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ConversationStatus, required = false)]
    pub status: Option<Option<ConversationStatus>>,
    /// An operator of this account, or `null` to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>, required = false)]
    pub assigned_to: Option<Option<Uuid>>,
}

/// Tells a field that was sent as `null` (`Some(None)`) from one that was not
/// sent at all (`None`, via `#[serde(default)]`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Change a conversation's status and/or assignment.
#[utoipa::path(
    patch,
    path = "/conversations/{id}",
    tag = "conversations",
    params(("id" = Uuid, Path, description = "Conversation id")),
    request_body = UpdateConversationBody,
    responses(
        (status = 200, description = "The updated conversation", body = Data<ConversationView>),
        (status = 400, description = "Invalid body or id, or an operator not of this account", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 404, description = "No such conversation for this account", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn update_conversation(
    State(state): State<AppState>,
    tenant: TenantContext,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<UpdateConversationBody>,
) -> ApiResult<Json<Data<ConversationView>>> {
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let conversation = apply_update(&state, tenant.tenant_id, id, body).await?;
    Ok(Json(Data::new(conversation.into())))
}

/// Validates a PATCH body, applies it and tells live listeners; shared by
/// the Tenant API and the dashboard.
pub async fn apply_update(
    state: &AppState,
    tenant: TenantId,
    id: ConversationId,
    body: UpdateConversationBody,
) -> ApiResult<Conversation> {
    let status = match body.status {
        Some(None) => {
            return Err(ApiError::validation(
                "`status` cannot be null; use open, pending or closed.",
            ))
        }
        other => other.flatten(),
    };
    let patch = ConversationPatch {
        status,
        assigned_to: body.assigned_to.map(|o| o.map(OperatorId)),
    };
    if patch.is_empty() {
        return Err(ApiError::validation(
            "Nothing to update: send `status` and/or `assignedTo`.",
        ));
    }
    let updated = match state.store.update_conversation(tenant, id, patch).await {
        Err(StoreError::MissingReference("operator")) => {
            return Err(ApiError::validation(
                "`assignedTo` is not an operator of this account.",
            ))
        }
        other => other?,
    };
    let conversation = updated.ok_or(ApiError::NotFound("Conversation"))?;
    state.hub.publish_conversation(conversation.clone());
    Ok(conversation)
}
