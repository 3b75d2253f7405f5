//! JSON shapes of the visitor API.

use crate::routes::tenant_api::views::format_time;
use enuchat_domain::{Conversation, Message, MessageRole, Visitor, Widget};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicWidgetView {
    pub id: Uuid,
    pub name: String,
    pub is_active: bool,
    pub primary_color: String,
    pub position: &'static str,
    pub greeting: Option<String>,
}

impl From<Widget> for PublicWidgetView {
    fn from(w: Widget) -> Self {
        Self {
            id: w.id.0,
            name: w.name,
            is_active: w.is_active,
            primary_color: w.primary_color,
            position: w.position.as_str(),
            greeting: w.greeting,
        }
    }
}

/// A message as the visitor sees it: other people's messages in the
/// visitor's language when a translation exists.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorMessageView {
    pub id: Uuid,
    pub seq: i64,
    pub role: MessageRole,
    pub content: String,
    pub is_auto_reply: bool,
    pub created_at: String,
    /// A reply shown in its original because its translation is still on
    /// its way: the client replaces the text when the translation comes (an
    /// `update` frame, or reading the message again after a reconnect).
    pub translation_pending: bool,
}

impl From<&Message> for VisitorMessageView {
    fn from(m: &Message) -> Self {
        let content = match (&m.role, &m.translated_content) {
            (MessageRole::Visitor, _) | (_, None) => m.content.clone(),
            (_, Some(translated)) => translated.clone(),
        };
        Self {
            id: m.id.0,
            seq: m.seq,
            role: m.role,
            content,
            is_auto_reply: m.is_auto_reply,
            created_at: format_time(&m.created_at),
            translation_pending: super::hold::awaits_translation(m),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    pub id: Uuid,
    pub status: &'static str,
    pub last_seq: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    pub visitor_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub conversation: Option<ConversationSummary>,
}

impl MeView {
    pub fn new(visitor: Visitor, conversation: Option<Conversation>) -> Self {
        Self {
            visitor_id: visitor.id.to_string(),
            name: visitor.name,
            email: visitor.email,
            language: visitor.language,
            conversation: conversation.map(|c| ConversationSummary {
                id: c.id.0,
                status: c.status.as_str(),
                last_seq: c.last_seq,
            }),
        }
    }
}
