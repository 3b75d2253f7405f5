//! The dashboard's JSON shapes: the Tenant API's, plus what the inbox and
//! the conversation view need.

use crate::routes::tenant_api::views::{
    format_time, ApiKeyView, ConversationView, MessageView, WidgetView,
};
use enuchat_domain::{
    InboxItem, LedgerEntry, Message, MessageRole, Operator, OperatorRole, Widget,
};
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

// --- the admin screens: widgets, API keys, team, billing -------------------

/// A widget as the dashboard's widget screen shows it: the Tenant API
/// fields, plus what the edit form and the embed box need.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardWidgetView {
    #[serde(flatten)]
    pub widget: WidgetView,
    pub greeting: Option<String>,
    pub allowed_origins: Vec<String>,
    /// The `<script>` tag to paste into a site, ready to copy.
    pub embed_snippet: String,
}

impl DashboardWidgetView {
    /// `origin` is where the server is reached (`https://chat.example.com`),
    /// which serves `/widget.js`.
    pub fn new(widget: Widget, origin: &str) -> Self {
        let embed_snippet = format!(
            r#"<script src="{origin}/widget.js" data-widget-id="{}" async></script>"#,
            widget.id
        );
        Self {
            greeting: widget.greeting.clone(),
            allowed_origins: widget.allowed_origins.clone(),
            embed_snippet,
            widget: widget.into(),
        }
    }
}

/// A member of the team: the session's operator object plus when they were
/// added.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMemberView {
    #[serde(flatten)]
    pub operator: OperatorView,
    pub created_at: String,
}

impl From<&Operator> for TeamMemberView {
    fn from(o: &Operator) -> Self {
        Self {
            operator: o.into(),
            created_at: format_time(&o.created_at),
        }
    }
}

/// A just-created API key: the listed fields plus the key itself, which is
/// in this one response only.
#[derive(Debug, Serialize)]
pub struct CreatedApiKeyView {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    pub key: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryView {
    pub id: Uuid,
    /// Positive when credits were added, negative when spent.
    pub amount: i64,
    pub balance_after: i64,
    /// `purchase`, `ai_reply` or `translation`.
    pub reason: &'static str,
    pub message_id: Option<Uuid>,
    pub created_at: String,
}

impl From<&LedgerEntry> for LedgerEntryView {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            id: e.id.0,
            amount: e.amount,
            balance_after: e.balance_after,
            reason: e.reason.as_str(),
            message_id: e.message_id.map(|m| m.0),
            created_at: format_time(&e.created_at),
        }
    }
}
