//! What the store hands back, and what it is given to create.
//!
//! Models hold already-validated data: inputs (`New*`) carry the validated
//! value types from [`crate::types`], outputs carry plain values read from the
//! database.

use crate::ids::*;
use crate::types::*;
use chrono::{DateTime, Utc};

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub plan: String,
    /// The language operators read and write: the target of translations.
    pub operator_language: String,
    pub credit_balance: i64,
    pub total_credits_added: i64,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: DisplayName,
    pub plan: PlanName,
    pub operator_language: LanguageCode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub id: OperatorId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: OperatorRole,
    /// An argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewOperator {
    pub email: Email,
    pub name: DisplayName,
    pub role: OperatorRole,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Widget {
    pub id: WidgetId,
    pub tenant_id: TenantId,
    pub name: String,
    pub is_active: bool,
    pub ai_enabled: bool,
    pub translation_enabled: bool,
    pub primary_color: String,
    pub position: WidgetPosition,
    pub greeting: Option<String>,
    /// Origins (`https://shop.example.com`) allowed to use the widget; empty
    /// means any origin.
    pub allowed_origins: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewWidget {
    pub name: DisplayName,
    pub is_active: bool,
    pub ai_enabled: bool,
    pub translation_enabled: bool,
    pub primary_color: HexColor,
    pub position: WidgetPosition,
    pub greeting: Option<String>,
    pub allowed_origins: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Visitor {
    pub id: VisitorId,
    pub tenant_id: TenantId,
    pub widget_id: WidgetId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewVisitor {
    pub id: VisitorId,
    pub widget_id: WidgetId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: Option<LanguageCode>,
    /// SHA-256 of the visitor's secret token (see [`crate::secret`]); `None`
    /// for visitors that never use the widget API (imports, demo data).
    pub token_hash: Option<[u8; 32]>,
}

/// A change to a visitor; `Some(None)` clears a field.
#[derive(Debug, Clone, Default)]
pub struct VisitorPatch {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub language: Option<Option<LanguageCode>>,
}

/// A conversation with the visitor's details joined in, as every API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub widget_id: WidgetId,
    pub visitor_id: VisitorId,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    pub visitor_language: Option<String>,
    pub status: ConversationStatus,
    pub assigned_to: Option<OperatorId>,
    pub last_message_at: Timestamp,
    pub started_at: Timestamp,
    /// Sequence number of the newest message (0 before the first one).
    pub last_seq: i64,
    /// When humans took the conversation over (an operator wrote, it was
    /// assigned, or the visitor asked for a person): the AI stays silent
    /// from then on. Internal: not part of the Tenant API's JSON.
    pub handed_off_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub widget_id: WidgetId,
    pub visitor_id: VisitorId,
    pub visitor_language: Option<LanguageCode>,
}

/// A change to a conversation. `assigned_to: Some(None)` unassigns.
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    pub status: Option<ConversationStatus>,
    pub assigned_to: Option<Option<OperatorId>>,
}

impl ConversationPatch {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.assigned_to.is_none()
    }
}

/// Serialisable (field names as here) for PostgreSQL's message notices,
/// which carry the message to other instances; the API has views of its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Position in the conversation, from 1, without gaps: what real-time
    /// clients resume from.
    pub seq: i64,
    pub role: MessageRole,
    pub content: String,
    pub content_language: Option<String>,
    pub translated_content: Option<String>,
    pub translated_language: Option<String>,
    pub is_auto_reply: bool,
    /// The operator who wrote it, for operator messages sent from the dashboard.
    pub author_id: Option<OperatorId>,
    pub created_at: Timestamp,
    /// A translation job for it has not finished yet (see the visitor's
    /// real-time channel, which holds such messages back briefly).
    pub translation_pending: bool,
}

/// A conversation with its newest messages (oldest first), as one read
/// shows them: `GET /conversations/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

impl ConversationDetail {
    /// Roughly what the detail takes in memory while a store holds it,
    /// counted twice: once rendered, its JSON (kept with it, `Shared`) is
    /// about as large again. For bounding caches, not an exact size.
    pub fn approximate_bytes(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let conversation = &self.conversation;
        let messages: usize = self
            .messages
            .iter()
            .map(|m| 200 + m.content.len() + text(&m.translated_content))
            .sum();
        2 * (300 + text(&conversation.visitor_name) + text(&conversation.visitor_email) + messages)
    }
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: MessageRole,
    pub content: MessageContent,
    pub content_language: Option<String>,
    pub is_auto_reply: bool,
    pub author_id: Option<OperatorId>,
    /// When true and the conversation is closed, it becomes `open` again in
    /// the same transaction (a visitor writing back). Other statuses stay.
    pub reopen: bool,
    /// Background work the message causes, enqueued in the same transaction.
    pub jobs: Vec<crate::jobs::NewJob>,
    /// More jobs, decided by the store from the conversation's facts as read
    /// in the append's transaction (see [`crate::plan`]).
    pub plan: Option<crate::plan::JobPlan>,
}

impl NewMessage {
    /// A plain message with no language information yet.
    pub fn new(role: MessageRole, content: MessageContent) -> Self {
        Self {
            role,
            content,
            content_language: None,
            is_auto_reply: false,
            author_id: None,
            reopen: false,
            jobs: Vec::new(),
            plan: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The first characters of the key, enough to recognise it in a list.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub key_hash: [u8; 32],
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: DisplayName,
    pub prefix: String,
    pub key_hash: [u8; 32],
    pub expires_at: Option<Timestamp>,
}

/// Why credits moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerReason {
    /// Credits bought or granted.
    Purchase,
    /// An AI reply was paid for.
    AiReply,
    /// A translation was paid for.
    Translation,
}

impl LedgerReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerReason::Purchase => "purchase",
            LedgerReason::AiReply => "ai_reply",
            LedgerReason::Translation => "translation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "purchase" => Some(Self::Purchase),
            "ai_reply" => Some(Self::AiReply),
            "translation" => Some(Self::Translation),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub id: LedgerEntryId,
    pub tenant_id: TenantId,
    /// Positive when credits are added, negative when spent.
    pub amount: i64,
    pub balance_after: i64,
    pub reason: LedgerReason,
    pub message_id: Option<MessageId>,
    pub created_at: Timestamp,
}

/// A signed-in operator's dashboard session. Only the SHA-256 of the session
/// id is stored; the id itself lives in the browser's cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id_hash: [u8; 32],
    pub tenant_id: TenantId,
    /// The operator, read with the session in one query.
    pub operator: Operator,
    /// Sent back by the dashboard in `X-CSRF-Token` on every write.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end of the session, however active it is.
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: [u8; 32],
    pub operator_id: OperatorId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Whose conversations an inbox shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    Unassigned,
    Operator(OperatorId),
}

/// The newest message of a conversation, as the inbox previews it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePreview {
    pub role: MessageRole,
    /// At most [`PREVIEW_CHARS`] characters of the content.
    pub content: String,
    pub created_at: Timestamp,
}

/// Characters of a message kept in an inbox preview.
pub const PREVIEW_CHARS: usize = 200;

/// One row of an operator's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxItem {
    pub conversation: Conversation,
    pub last_message: Option<MessagePreview>,
    /// The visitor wrote after what this operator has marked read.
    pub unread: bool,
}

// --- dashboard administration: widget and team changes ---------------------

/// A change to a widget: `None` keeps a field; `greeting: Some(None)` clears
/// the greeting.
#[derive(Debug, Clone, Default)]
pub struct WidgetUpdate {
    pub name: Option<DisplayName>,
    pub is_active: Option<bool>,
    pub ai_enabled: Option<bool>,
    pub translation_enabled: Option<bool>,
    pub primary_color: Option<HexColor>,
    pub position: Option<WidgetPosition>,
    pub greeting: Option<Option<String>>,
    pub allowed_origins: Option<Vec<Origin>>,
}

impl WidgetUpdate {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.is_active.is_none()
            && self.ai_enabled.is_none()
            && self.translation_enabled.is_none()
            && self.primary_color.is_none()
            && self.position.is_none()
            && self.greeting.is_none()
            && self.allowed_origins.is_none()
    }
}

/// A change to an operator's name and/or role; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct OperatorUpdate {
    pub name: Option<DisplayName>,
    pub role: Option<OperatorRole>,
}

impl OperatorUpdate {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.role.is_none()
    }
}

/// What `Store::update_operator` and `Store::delete_operator` report as
/// `StoreError::Conflict` when the change would leave a tenant without an owner.
pub const LAST_OWNER_CONFLICT: &str = "the account must keep at least one owner";
