//! The inbox and the conversation view: list, read (with older pages),
//! reply as the signed-in operator, change status/assignment, mark read.

use super::views::{ConversationDetailView, DashboardMessageView, InboxView};
use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::extract::{ApiJson, OperatorSession, QueryParams};
use crate::routes::tenant_api::conversations::{apply_update, UpdateConversationBody};
use crate::routes::tenant_api::views::{ConversationView, Data};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use enuchat_domain::{
    AssigneeFilter, ConversationId, ConversationPatch, InboxFilter, JobPlan, MessageContent,
    MessageRole, NewMessage, WidgetId,
};
use serde::Deserialize;
use std::sync::Arc;

pub async fn list(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    mut query: QueryParams,
) -> ApiResult<Json<Data<Vec<InboxView>>>> {
    let me = session.operator.id;
    let assignee = match query.optional::<String>("assignee", "me, unassigned or anyone")? {
        None => AssigneeFilter::Anyone,
        Some(a) => match a.as_str() {
            "anyone" => AssigneeFilter::Anyone,
            "me" => AssigneeFilter::Operator(me),
            "unassigned" => AssigneeFilter::Unassigned,
            _ => {
                return Err(ApiError::validation(format!(
                    "`assignee` must be one of me, unassigned, anyone, got {a:?}."
                )))
            }
        },
    };
    let filter = InboxFilter {
        status: query.optional("status", "one of open, pending, closed")?,
        widget_id: query.optional::<WidgetId>("widgetId", "a widget UUID")?,
        assignee,
    };
    let limit = query.integer("limit", 1, 100, 50)? as u32;
    let offset = query.integer("offset", 0, i64::MAX as u64, 0)?;
    query.finish()?;
    let items = state
        .store
        .list_inbox(session.tenant_id, me, &filter, limit, offset)
        .await?;
    Ok(Json(Data::new(
        items.into_iter().map(InboxView::from).collect(),
    )))
}

pub async fn get(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> ApiResult<Json<Data<ConversationDetailView>>> {
    let before = query.integer("before", 1, i64::MAX as u64, i64::MAX as u64)? as i64;
    let limit = query.integer("limit", 1, 200, 50)? as u32;
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let tenant = session.tenant_id;
    // One more than asked tells whether older messages exist. Opening a
    // conversation asks for its newest messages: that is the conversation's
    // detail, one read (served from memory by PostgreSQL while unchanged);
    // older pages are read before `before`.
    let (conversation, mut messages) = if before == i64::MAX {
        let detail = state
            .store
            .conversation_detail(tenant, id, limit + 1)
            .await?
            .ok_or(ApiError::NotFound("Conversation"))?
            .into_value();
        (detail.conversation, detail.messages)
    } else {
        let conversation = state
            .store
            .get_conversation(tenant, id)
            .await?
            .ok_or(ApiError::NotFound("Conversation"))?;
        let messages = state
            .store
            .messages_before(tenant, id, before, limit + 1)
            .await?;
        (conversation, messages)
    };
    let has_older = messages.len() > limit as usize;
    if has_older {
        messages.remove(0);
    }
    Ok(Json(Data::new(ConversationDetailView {
        conversation: conversation.into(),
        messages: messages.iter().map(DashboardMessageView::from).collect(),
        has_older,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    pub content: String,
}

/// An operator reply: stored with the operator as author, delivered live to
/// the visitor and the tenant's dashboards; an unassigned conversation
/// becomes the replying operator's.
pub async fn reply(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<ReplyBody>,
) -> ApiResult<(StatusCode, Json<Data<DashboardMessageView>>)> {
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let content = MessageContent::parse(body.content)
        .map_err(|e| ApiError::validation(format!("`content` {e}.")))?;
    let tenant = session.tenant_id;
    let me = session.operator.id;
    let mut new = NewMessage::new(MessageRole::Operator, content);
    new.author_id = Some(me);
    // The store decides the jobs from the conversation as it is when the
    // message is appended (one statement fewer, and never on stale facts).
    new.plan = Some(JobPlan {
        handing_off: true,
        ..JobPlan::default()
    });
    let message = state
        .store
        .append_message(tenant, id, new)
        .await?
        .ok_or(ApiError::NotFound("Conversation"))?;
    if JobPlan::may_have_queued(&message) {
        state.jobs_wake.notify_one();
    }
    let message = Arc::new(message);
    state.hub.publish_message(tenant, message.clone());
    let conversation = state.store.get_conversation(tenant, id).await?;
    if let Some(conversation) = conversation.filter(|c| c.assigned_to.is_none()) {
        let patch = ConversationPatch {
            status: None,
            assigned_to: Some(Some(me)),
        };
        if let Some(assigned) = state
            .store
            .update_conversation(conversation.tenant_id, conversation.id, patch)
            .await?
        {
            state.hub.publish_conversation(assigned);
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(Data::new(DashboardMessageView::from(&*message))),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<UpdateConversationBody>,
) -> ApiResult<Json<Data<ConversationView>>> {
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    let conversation = apply_update(&state, session.tenant_id, id, body).await?;
    Ok(Json(Data::new(conversation.into())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    pub seq: i64,
}

pub async fn mark_read(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<ReadBody>,
) -> ApiResult<StatusCode> {
    query.finish()?;
    let id: ConversationId = parse_id(&id, "id")?;
    if body.seq < 0 {
        return Err(ApiError::validation("`seq` must be >= 0."));
    }
    let marked = state
        .store
        .mark_read(session.tenant_id, session.operator.id, id, body.seq)
        .await?;
    if marked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Conversation"))
    }
}
