//! The dashboard's JSON shapes: the Tenant API's, plus what the inbox and
//! the conversation view need.

use crate::routes::tenant_api::views::{format_time, ConversationView, MessageView};
use enuchat_domain::{InboxItem, Message, MessageRole, Operator, OperatorRole};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct OperatorView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: OperatorRole,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        Self {
            id: o.id.0,
            email: o.email.clone(),
            name: o.name.clone(),
            role: o.role,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub operator: OperatorView,
    pub csrf_token: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessageView {
    pub role: MessageRole,
    pub content: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub last_message: Option<LastMessageView>,
    pub unread: bool,
}

impl From<InboxItem> for InboxView {
    fn from(item: InboxItem) -> Self {
        Self {
            conversation: item.conversation.into(),
            last_message: item.last_message.map(|m| LastMessageView {
                role: m.role,
                content: m.content,
                created_at: format_time(&m.created_at),
            }),
            unread: item.unread,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardMessageView {
    #[serde(flatten)]
    pub message: MessageView,
    pub seq: i64,
    pub author_id: Option<Uuid>,
}

impl From<&Message> for DashboardMessageView {
    fn from(m: &Message) -> Self {
        Self {
            message: m.into(),
            seq: m.seq,
            author_id: m.author_id.map(|a| a.0),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDetailView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub messages: Vec<DashboardMessageView>,
    pub has_older: bool,
}
