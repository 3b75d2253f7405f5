//! Knowledge entries: a widget's questions and answers, which the offline
//! knowledge-base AI answers from (and the OpenAI provider gets as context).

use crate::ids::*;
use crate::models::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

uuid_id!(
    /// One question and answer of a widget's knowledge base.
    KnowledgeEntryId
);

#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeEntry {
    pub id: KnowledgeEntryId,
    pub tenant_id: TenantId,
    pub widget_id: WidgetId,
    pub question: String,
    /// Sent to visitors as an AI message, so it is valid message content.
    pub answer: String,
    pub created_at: Timestamp,
}
