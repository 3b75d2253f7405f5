//! `GET /messages` (history and catch-up) and `POST /messages` (a visitor
//! writes; the first message starts the conversation).

use super::enforce;
use super::hold;
use super::views::VisitorMessageView;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp, QueryParams, VisitorContext};
use crate::providers;
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use enuchat_domain::{
    JobPlan, MessageContent, MessageRole, NewConversation, NewMessage, UNKNOWN_LANGUAGE,
};
use serde::Deserialize;
use std::sync::Arc;

pub async fn list_messages(
    State(state): State<AppState>,
    visitor: VisitorContext,
    mut query: QueryParams,
) -> ApiResult<Json<Data<Vec<VisitorMessageView>>>> {
    let after = query.optional::<i64>("after", "a message seq (an integer >= 0)")?;
    let limit = query.integer("limit", 1, 200, 50)? as u32;
    query.finish()?;
    if after.is_some_and(|a| a < 0) {
        return Err(ApiError::validation("`after` must be >= 0."));
    }
    let tenant = visitor.visitor.tenant_id;
    let Some(conversation) = state
        .store
        .visitor_conversation(tenant, &visitor.visitor.id)
        .await?
    else {
        return Ok(Json(Data::new(Vec::new())));
    };
    let messages = match after {
        Some(after) => {
            state
                .store
                .messages_after(tenant, conversation.id, after, limit)
                .await?
        }
        None => {
            state
                .store
                .recent_messages(tenant, conversation.id, limit)
                .await?
        }
    };
    // Like the socket: a reply still waiting for its translation (and what
    // came after it) is left out for now; the socket delivers it translated.
    let messages = hold::shown_now(messages, state.translation_wait);
    Ok(Json(Data::new(
        messages.iter().map(VisitorMessageView::from).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostBody {
    pub content: String,
}

pub async fn post_message(
    State(state): State<AppState>,
    client: ClientIp,
    visitor: VisitorContext,
    ApiJson(body): ApiJson<PostBody>,
) -> ApiResult<(StatusCode, Json<Data<VisitorMessageView>>)> {
    let VisitorContext { visitor, widget } = visitor;
    if !widget.is_active {
        return Err(ApiError::WidgetInactive);
    }
    let content = MessageContent::parse(body.content)
        .map_err(|e| ApiError::validation(format!("`content` {e}.")))?;
    enforce(
        &state,
        format!("visitor:{}", visitor.id),
        state.limits.visitor_messages,
        "per visitor",
    )
    .await?;

    let tenant = visitor.tenant_id;
    let conversation = match state
        .store
        .visitor_conversation(tenant, &visitor.id)
        .await?
    {
        Some(conversation) => conversation,
        None => {
            enforce(
                &state,
                format!("ip-conversation:{}", client.network()),
                state.limits.new_conversations_per_ip,
                "per IP address for new conversations",
            )
            .await?;
            let language = visitor
                .language
                .as_deref()
                .and_then(|l| enuchat_domain::LanguageCode::parse(l).ok());
            let new = NewConversation {
                widget_id: widget.id,
                visitor_id: visitor.id.clone(),
                visitor_language: language,
            };
            state
                .store
                .get_or_create_visitor_conversation(tenant, new)
                .await?
        }
    };
    // Detected offline from the text; "unknown" rather than a guess on
    // short messages (the conversation keeps its last known language).
    let language = providers::language::detect(content.as_str())
        .unwrap_or_else(|| UNKNOWN_LANGUAGE.to_owned());
    let mut new = NewMessage::new(MessageRole::Visitor, content);
    new.reopen = true;
    new.content_language = Some(language);
    // Its jobs, and whether asking for a person hands the conversation to
    // humans (only while the AI answers it), are decided by the store from
    // the conversation as it is when the message is appended, in the same
    // transaction: an operator may step in meanwhile, and a hand-off cannot
    // fail after the message was stored.
    let asks_for_person = providers::ai::wants_human(new.content.as_str());
    new.plan = Some(JobPlan {
        handing_off: false,
        asks_for_person,
    });
    let message = state
        .store
        .append_message(tenant, conversation.id, new)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("conversation {} vanished", conversation.id)))?;
    if JobPlan::may_have_queued(&message) {
        state.jobs_wake.notify_one();
    }
    let view = VisitorMessageView::from(&message);
    let started = message.seq == 1;
    if started {
        state.hub.conversation_started(&visitor.id, conversation.id);
    }
    // Dashboards learn of a new conversation (before its first message), and
    // of one that may now wait for them (if the AI was not answering, they
    // get it unchanged). With PostgreSQL the database feed tells them. The
    // read back is only worth it when a dashboard of the tenant listens here
    // (one that connects later loads the list, which already holds this
    // committed conversation).
    if (started || asks_for_person) && state.hub.publishes_conversations_of(tenant) {
        if let Ok(Some(changed)) = state.store.get_conversation(tenant, conversation.id).await {
            state.hub.publish_conversation(changed);
        }
    }
    state.hub.publish_message(tenant, Arc::new(message));
    Ok((StatusCode::CREATED, Json(Data::new(view))))
}
