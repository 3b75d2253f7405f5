//! Rows as SQLite returns them, and their conversion into domain models.
//!
//! Columns come back as plain SQLite values (BLOB ids, INTEGER microseconds,
//! TEXT enums); anything that does not convert cleanly is reported as
//! `StoreError::Database` rather than unwrapped, since a bad row should fail one
//! request, not the process.
//!
//! Each `*_columns!` macro lists the columns in the order the row struct
//! expects, so queries can be assembled with `concat!` into `&'static str`
//! (which sqlx prepares once and caches per connection).

use crate::{from_us, opt_from_us};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::FromRow;
use uuid::Uuid;

macro_rules! tenant_columns {
    () => {
        "id, name, plan, operator_language, credit_balance, total_credits_added, created_at"
    };
}
macro_rules! operator_columns {
    () => {
        "id, tenant_id, email, name, role, password_hash, created_at"
    };
}
macro_rules! widget_columns {
    () => {
        "id, tenant_id, name, is_active, ai_enabled, translation_enabled, primary_color, \
         position, greeting, allowed_origins, created_at"
    };
}
macro_rules! visitor_columns {
    () => {
        "id, tenant_id, widget_id, name, email, language, created_at"
    };
}
/// A conversation joined with its visitor; use with `FROM conversations c
/// JOIN visitors v ON v.id = c.visitor_id`.
macro_rules! conversation_columns {
    () => {
        "c.id, c.tenant_id, c.widget_id, c.visitor_id, v.name AS visitor_name, \
         v.email AS visitor_email, c.visitor_language, c.status, c.assigned_to, \
         c.last_message_at, c.started_at, c.last_seq, c.handed_off_at"
    };
}
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, role, content, content_language, translated_content, \
         translated_language, is_auto_reply, author_id, created_at, translation_pending"
    };
}
macro_rules! api_key_columns {
    () => {
        "id, tenant_id, name, prefix, key_hash, created_at, expires_at, last_used_at, revoked_at"
    };
}
macro_rules! ledger_columns {
    () => {
        "id, tenant_id, amount, balance_after, reason, message_id, created_at"
    };
}
pub(crate) use {
    api_key_columns, conversation_columns, ledger_columns, message_columns, operator_columns,
    tenant_columns, visitor_columns, widget_columns,
};

fn bad(what: &str, value: impl std::fmt::Display) -> enuchat_domain::StoreError {
    enuchat_domain::StoreError::Database(format!("unreadable {what} in database: {value}"))
}

pub(crate) fn parse_enum<T: std::str::FromStr>(what: &str, value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| bad(what, value))
}

fn visitor_id(value: &str) -> StoreResult<VisitorId> {
    VisitorId::parse(value).ok_or_else(|| bad("visitor id", value))
}

#[derive(FromRow)]
pub(crate) struct TenantRow {
    id: Uuid,
    name: String,
    plan: String,
    operator_language: String,
    credit_balance: i64,
    total_credits_added: i64,
    created_at: i64,
}

impl TenantRow {
    pub(crate) fn into_model(self) -> StoreResult<Tenant> {
        Ok(Tenant {
            id: self.id.into(),
            name: self.name,
            plan: self.plan,
            operator_language: self.operator_language,
            credit_balance: self.credit_balance,
            total_credits_added: self.total_credits_added,
            created_at: from_us(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct OperatorRow {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    created_at: i64,
}

impl OperatorRow {
    pub(crate) fn into_model(self) -> StoreResult<Operator> {
        Ok(Operator {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            email: self.email,
            name: self.name,
            role: parse_enum("operator role", &self.role)?,
            password_hash: self.password_hash,
            created_at: from_us(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct WidgetRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    is_active: bool,
    ai_enabled: bool,
    translation_enabled: bool,
    primary_color: String,
    position: String,
    greeting: Option<String>,
    /// A JSON array of origin strings.
    allowed_origins: String,
    created_at: i64,
}

impl WidgetRow {
    pub(crate) fn into_model(self) -> StoreResult<Widget> {
        Ok(Widget {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            name: self.name,
            is_active: self.is_active,
            ai_enabled: self.ai_enabled,
            translation_enabled: self.translation_enabled,
            primary_color: self.primary_color,
            position: parse_enum("widget position", &self.position)?,
            greeting: self.greeting,
            allowed_origins: serde_json::from_str(&self.allowed_origins)
                .map_err(|e| bad("widget allowed origins", e))?,
            created_at: from_us(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct VisitorRow {
    id: String,
    tenant_id: Uuid,
    widget_id: Uuid,
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
    created_at: i64,
}

impl VisitorRow {
    pub(crate) fn into_model(self) -> StoreResult<Visitor> {
        Ok(Visitor {
            id: visitor_id(&self.id)?,
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            name: self.name,
            email: self.email,
            language: self.language,
            created_at: from_us(self.created_at)?,
        })
    }
}

/// Read by sqlx inside write transactions, or by rusqlite ([`Self::read`]).
#[derive(FromRow)]
pub(crate) struct ConversationRow {
    id: Uuid,
    tenant_id: Uuid,
    widget_id: Uuid,
    visitor_id: String,
    visitor_name: Option<String>,
    visitor_email: Option<String>,
    visitor_language: Option<String>,
    status: String,
    assigned_to: Option<Uuid>,
    last_message_at: i64,
    started_at: i64,
    last_seq: i64,
    handed_off_at: Option<i64>,
}

impl ConversationRow {
    /// Where the row sorts in a conversation list, ascending (lists show
    /// the greatest first): `last_message_at`, then `id` as SQLite compares
    /// BLOBs, byte by byte.
    pub(crate) fn list_order(&self) -> (i64, Uuid) {
        (self.last_message_at, self.id)
    }

    pub(crate) fn into_model(self) -> StoreResult<Conversation> {
        Ok(Conversation {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            visitor_id: visitor_id(&self.visitor_id)?,
            visitor_name: self.visitor_name,
            visitor_email: self.visitor_email,
            visitor_language: self.visitor_language,
            status: parse_enum("conversation status", &self.status)?,
            assigned_to: self.assigned_to.map(OperatorId::from),
            last_message_at: from_us(self.last_message_at)?,
            started_at: from_us(self.started_at)?,
            last_seq: self.last_seq,
            handed_off_at: opt_from_us(self.handed_off_at)?,
        })
    }
}

impl ConversationRow {
    /// From a rusqlite row of [`conversation_columns`], in that order.
    pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRow> {
        Ok(ConversationRow {
            id: row.get(0)?,
            tenant_id: row.get(1)?,
            widget_id: row.get(2)?,
            visitor_id: row.get(3)?,
            visitor_name: row.get(4)?,
            visitor_email: row.get(5)?,
            visitor_language: row.get(6)?,
            status: row.get(7)?,
            assigned_to: row.get(8)?,
            last_message_at: row.get(9)?,
            started_at: row.get(10)?,
            last_seq: row.get(11)?,
            handed_off_at: row.get(12)?,
        })
    }
}

/// Read by sqlx inside write transactions, or by rusqlite ([`Self::read`]).
#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    role: String,
    content: String,
    content_language: Option<String>,
    translated_content: Option<String>,
    translated_language: Option<String>,
    is_auto_reply: bool,
    author_id: Option<Uuid>,
    created_at: i64,
    translation_pending: bool,
}

impl MessageRow {
    pub(crate) fn into_model(self) -> StoreResult<Message> {
        Ok(Message {
            id: self.id.into(),
            conversation_id: self.conversation_id.into(),
            seq: self.seq,
            role: parse_enum("message role", &self.role)?,
            content: self.content,
            content_language: self.content_language,
            translated_content: self.translated_content,
            translated_language: self.translated_language,
            is_auto_reply: self.is_auto_reply,
            author_id: self.author_id.map(OperatorId::from),
            created_at: from_us(self.created_at)?,
            translation_pending: self.translation_pending,
        })
    }
}

impl MessageRow {
    /// From a rusqlite row of [`message_columns`], in that order.
    pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            id: row.get(0)?,
            conversation_id: row.get(1)?,
            seq: row.get(2)?,
            role: row.get(3)?,
            content: row.get(4)?,
            content_language: row.get(5)?,
            translated_content: row.get(6)?,
            translated_language: row.get(7)?,
            is_auto_reply: row.get(8)?,
            author_id: row.get(9)?,
            created_at: row.get(10)?,
            translation_pending: row.get(11)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    prefix: String,
    key_hash: Vec<u8>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_model(self) -> StoreResult<ApiKey> {
        let key_hash = <[u8; 32]>::try_from(self.key_hash.as_slice())
            .map_err(|_| bad("API key hash length", self.key_hash.len()))?;
        Ok(ApiKey {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            name: self.name,
            prefix: self.prefix,
            key_hash,
            created_at: from_us(self.created_at)?,
            expires_at: opt_from_us(self.expires_at)?,
            last_used_at: opt_from_us(self.last_used_at)?,
            revoked_at: opt_from_us(self.revoked_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct LedgerRow {
    id: Uuid,
    tenant_id: Uuid,
    amount: i64,
    balance_after: i64,
    reason: String,
    message_id: Option<Uuid>,
    created_at: i64,
}

impl LedgerRow {
    pub(crate) fn into_model(self) -> StoreResult<LedgerEntry> {
        Ok(LedgerEntry {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            amount: self.amount,
            balance_after: self.balance_after,
            reason: LedgerReason::parse(&self.reason)
                .ok_or_else(|| bad("ledger reason", &self.reason))?,
            message_id: self.message_id.map(MessageId::from),
            created_at: from_us(self.created_at)?,
        })
    }
}

/// Converts every row, stopping at the first bad one.
pub(crate) fn all<R, M>(rows: Vec<R>, convert: fn(R) -> StoreResult<M>) -> StoreResult<Vec<M>> {
    rows.into_iter().map(convert).collect()
}
