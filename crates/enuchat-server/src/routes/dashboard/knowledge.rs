//! A widget's knowledge base (the questions and answers the offline AI
//! replies from): `GET /widgets/{id}/knowledge` (any role),
//! `POST /widgets/{id}/knowledge` and `DELETE /knowledge/{id}` (owners and
//! admins). Another tenant's widget or entry is `404`, like a missing one.

use crate::error::{ApiError, ApiResult};
use crate::extract::path::parse_id;
use crate::extract::{AdminSession, ApiJson, OperatorSession, QueryParams};
use crate::routes::tenant_api::views::{format_time, Data};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use enuchat_domain::{KnowledgeEntry, KnowledgeEntryId, MessageContent, WidgetId};
use serde::{Deserialize, Serialize};

/// One entry as the dashboard and `enuchat knowledge` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeEntryView {
    pub id: KnowledgeEntryId,
    pub widget_id: WidgetId,
    pub question: String,
    pub answer: String,
    pub created_at: String,
}

impl From<KnowledgeEntry> for KnowledgeEntryView {
    fn from(e: KnowledgeEntry) -> Self {
        Self {
            id: e.id,
            widget_id: e.widget_id,
            question: e.question,
            answer: e.answer,
            created_at: format_time(&e.created_at),
        }
    }
}

/// A question or an answer: the rules of message content (the answer is
/// sent to visitors as an AI message). `Err` names the field.
pub fn parse_text(field: &str, text: String) -> Result<MessageContent, String> {
    MessageContent::parse(text).map_err(|e| format!("{field} {e}"))
}

pub async fn list(
    State(state): State<AppState>,
    OperatorSession(session): OperatorSession,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Data<Vec<KnowledgeEntryView>>>> {
    query.finish()?;
    let id: WidgetId = parse_id(&id, "id")?;
    // The list alone cannot tell another tenant's widget from an empty one.
    state
        .store
        .get_widget(session.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("Widget"))?;
    let entries = state
        .store
        .list_knowledge_entries(session.tenant_id, id)
        .await?;
    Ok(Json(Data::new(
        entries.into_iter().map(KnowledgeEntryView::from).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEntryBody {
    pub question: String,
    pub answer: String,
}

pub async fn create(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    query: QueryParams,
    ApiJson(body): ApiJson<CreateEntryBody>,
) -> ApiResult<(StatusCode, Json<Data<KnowledgeEntryView>>)> {
    query.finish()?;
    let id: WidgetId = parse_id(&id, "id")?;
    let invalid = |msg: String| ApiError::validation(format!("{msg}."));
    let question = parse_text("`question`", body.question).map_err(invalid)?;
    let answer = parse_text("`answer`", body.answer).map_err(invalid)?;
    let entry = state
        .store
        .create_knowledge_entry(session.tenant_id, id, question, answer)
        .await?
        .ok_or(ApiError::NotFound("Widget"))?;
    Ok((
        StatusCode::CREATED,
        Json(Data::new(KnowledgeEntryView::from(entry))),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<StatusCode> {
    query.finish()?;
    let id: KnowledgeEntryId = parse_id(&id, "id")?;
    if state
        .store
        .delete_knowledge_entry(session.tenant_id, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("Knowledge entry"))
    }
}
