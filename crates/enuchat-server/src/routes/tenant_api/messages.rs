//! `POST /conversations/{id}/messages`

use super::views::{Data, MessageView};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::path::parse_id;
use crate::extract::{ApiJson, QueryParams, TenantContext};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use enuchat_domain::{ApiMessageRole, ConversationId, JobPlan, MessageContent, NewMessage};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageBody {
    /// The message text: not blank, at most 10,000 characters.
    #[schema(
        example = "Thanks for reaching out! We'll process your request.",
        min_length = 1,
        max_length = 10000,
        // Some character that is neither NUL nor whitespace as Rust's
        // `char::is_whitespace` (what the server checks) defines it.
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
    )]
    pub content: String,
    /// `system` (the default) or `operator`.
    #[serde(default)]
    pub role: Option<ApiMessageRole>,
}

/// Send a message to a conversation. It is stored before the response is sent
/// and delivered to the visitor's widget. A closed conversation accepts
/// follow-ups and stays closed.
#[utoipa::path(
    post,
    path = "/conversations/{id}/messages",
    tag = "conversations",
    params(("id" = Uuid, Path, description = "Conversation id")),
    request_body = PostMessageBody,
    responses(
        (status = 201, description = "The stored message", body = Data<MessageView>),
        (status = 400, description = "Invalid body or id", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked API key", body = ErrorBody),
        (status = 404, description = "No such conversation for this account", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded", body = ErrorBody),
    )
)]
pub async fn post_message(
    State(state): State<AppState>,
    tenant: TenantContext,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<PostMessageBody>,
) -> ApiResult<(StatusCode, Json<Data<MessageView>>)> {
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let content = MessageContent::parse(body.content)
        .map_err(|e| ApiError::validation(format!("`content` {e}.")))?;
    let role = body.role.unwrap_or(ApiMessageRole::System);
    let mut new = NewMessage::new(role.into(), content);
    // Its translation is decided by the store, from the conversation's
    // languages as they are when the message is appended.
    new.plan = Some(JobPlan::default());
    let message = state
        .store
        .append_message(tenant.tenant_id, id, new)
        .await?
        .ok_or(ApiError::NotFound("Conversation"))?;
    if JobPlan::may_have_queued(&message) {
        state.jobs_wake.notify_one();
    }
    // Stored: now tell this instance's connections (other instances hear of
    // it through the database's notification).
    let message = std::sync::Arc::new(message);
    state.hub.publish_message(tenant.tenant_id, message.clone());
    Ok((
        StatusCode::CREATED,
        Json(Data::new(MessageView::from(&*message))),
    ))
}
