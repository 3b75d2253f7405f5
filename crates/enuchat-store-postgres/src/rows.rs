//! Rows as the database returns them, and their conversion into domain models.
//!
//! Rows hold plain SQL types; turning them into models is where a value that
//! does not fit (an unknown status, a key hash of the wrong length) is caught
//! and reported as `StoreError::Database` instead of panicking.

use crate::error::bad_data;
use chrono::{DateTime, Utc};
use enuchat_domain::*;
use std::str::FromStr;
use uuid::Uuid;

/// The column lists every query selects, kept next to the rows they fill so
/// the two cannot drift apart. Macros rather than consts so that `concat!`
/// can build whole statements at compile time.
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
/// `allowed_origins` is jsonb, read as its JSON text (the crate does not
/// enable sqlx's `json` feature) and parsed in [`WidgetRow::into_model`].
macro_rules! widget_columns {
    () => {
        "id, tenant_id, name, is_active, ai_enabled, translation_enabled, primary_color, \
         position, greeting, allowed_origins::text AS allowed_origins, created_at"
    };
}
macro_rules! visitor_columns {
    () => {
        "id, tenant_id, widget_id, name, email, language, created_at"
    };
}
/// Conversation columns for a query where `c` is the conversation and `v` its
/// visitor.
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
/// A message notice's payload (SQL): `$short`, the notice as a JSON object
/// (an SQL expression), with the message row `$m` added as `"message"` when
/// the result stays under PostgreSQL's notify limit of 8,000 bytes, and
/// `$short` alone when it does not (a long message, or one whose JSON
/// escaping grew it): listeners then read the message from the table. The
/// keys are the fields of the domain `Message`, which is what listeners
/// parse it into.
macro_rules! notice_payload_sql {
    ($short:literal, $m:literal) => {
        concat!(
            "(SELECT CASE WHEN octet_length(p.full) < 8000 THEN p.full ELSE p.short END \
              FROM (SELECT s.short, left(s.short, -1) || ',\"message\":' || json_build_object( \
                 'id', ",
            $m,
            ".id, 'conversation_id', ",
            $m,
            ".conversation_id, \
                 'seq', ",
            $m,
            ".seq, 'role', ",
            $m,
            ".role, 'content', ",
            $m,
            ".content, \
                 'content_language', ",
            $m,
            ".content_language, \
                 'translated_content', ",
            $m,
            ".translated_content, \
                 'translated_language', ",
            $m,
            ".translated_language, \
                 'is_auto_reply', ",
            $m,
            ".is_auto_reply, 'author_id', ",
            $m,
            ".author_id, \
                 'created_at', ",
            $m,
            ".created_at, \
                 'translation_pending', ",
            $m,
            ".translation_pending)::text || '}' AS full \
                 FROM (SELECT ",
            $short,
            " AS short) s) p)"
        )
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
    api_key_columns, conversation_columns, ledger_columns, message_columns, notice_payload_sql,
    operator_columns, tenant_columns, visitor_columns, widget_columns,
};

type Ts = DateTime<Utc>;
type Res<T> = Result<T, StoreError>;

pub(crate) fn parse_enum<T: FromStr>(what: &str, text: &str) -> Res<T> {
    text.parse()
        .map_err(|_| bad_data(what, format!("{text:?}")))
}

fn visitor_id(text: String) -> Res<VisitorId> {
    VisitorId::parse(&text).ok_or_else(|| bad_data("visitor id", format!("{text:?}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: Uuid,
    name: String,
    plan: String,
    operator_language: String,
    credit_balance: i64,
    total_credits_added: i64,
    created_at: Ts,
}

impl TenantRow {
    pub(crate) fn into_model(self) -> Res<Tenant> {
        Ok(Tenant {
            id: self.id.into(),
            name: self.name,
            plan: self.plan,
            operator_language: self.operator_language,
            credit_balance: self.credit_balance,
            total_credits_added: self.total_credits_added,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    created_at: Ts,
}

impl OperatorRow {
    pub(crate) fn into_model(self) -> Res<Operator> {
        Ok(Operator {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            email: self.email,
            name: self.name,
            role: parse_enum("operator role", &self.role)?,
            password_hash: self.password_hash,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
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
    /// A JSON array of strings.
    allowed_origins: String,
    created_at: Ts,
}

impl WidgetRow {
    pub(crate) fn into_model(self) -> Res<Widget> {
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
                .map_err(|e| bad_data("widget allowed_origins", e))?,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VisitorRow {
    id: String,
    tenant_id: Uuid,
    widget_id: Uuid,
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
    created_at: Ts,
}

impl VisitorRow {
    pub(crate) fn into_model(self) -> Res<Visitor> {
        Ok(Visitor {
            id: visitor_id(self.id)?,
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            name: self.name,
            email: self.email,
            language: self.language,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
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
    last_message_at: Ts,
    started_at: Ts,
    last_seq: i64,
    handed_off_at: Option<Ts>,
}

impl ConversationRow {
    pub(crate) fn into_model(self) -> Res<Conversation> {
        Ok(Conversation {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            widget_id: self.widget_id.into(),
            visitor_id: visitor_id(self.visitor_id)?,
            visitor_name: self.visitor_name,
            visitor_email: self.visitor_email,
            visitor_language: self.visitor_language,
            status: parse_enum("conversation status", &self.status)?,
            assigned_to: self.assigned_to.map(Into::into),
            last_message_at: self.last_message_at,
            started_at: self.started_at,
            last_seq: self.last_seq,
            handed_off_at: self.handed_off_at,
        })
    }
}

#[derive(sqlx::FromRow)]
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
    created_at: Ts,
    translation_pending: bool,
}

impl MessageRow {
    pub(crate) fn conversation_id(&self) -> Uuid {
        self.conversation_id
    }

    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

    pub(crate) fn into_model(self) -> Res<Message> {
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
            author_id: self.author_id.map(Into::into),
            created_at: self.created_at,
            translation_pending: self.translation_pending,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    prefix: String,
    key_hash: Vec<u8>,
    created_at: Ts,
    expires_at: Option<Ts>,
    last_used_at: Option<Ts>,
    revoked_at: Option<Ts>,
}

impl ApiKeyRow {
    pub(crate) fn into_model(self) -> Res<ApiKey> {
        let key_hash: [u8; 32] = self.key_hash.as_slice().try_into().map_err(|_| {
            bad_data(
                "API key hash",
                format!("{} bytes instead of 32", self.key_hash.len()),
            )
        })?;
        Ok(ApiKey {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            name: self.name,
            prefix: self.prefix,
            key_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LedgerRow {
    id: Uuid,
    tenant_id: Uuid,
    amount: i64,
    balance_after: i64,
    reason: String,
    message_id: Option<Uuid>,
    created_at: Ts,
}

impl LedgerRow {
    pub(crate) fn into_model(self) -> Res<LedgerEntry> {
        Ok(LedgerEntry {
            id: self.id.into(),
            tenant_id: self.tenant_id.into(),
            amount: self.amount,
            balance_after: self.balance_after,
            reason: LedgerReason::parse(&self.reason)
                .ok_or_else(|| bad_data("ledger reason", format!("{:?}", self.reason)))?,
            message_id: self.message_id.map(Into::into),
            created_at: self.created_at,
        })
    }
}

/// Converts a list of rows, failing on the first one that does not fit.
pub(crate) fn all<R, M>(rows: Vec<R>, convert: impl Fn(R) -> Res<M>) -> Res<Vec<M>> {
    rows.into_iter().map(convert).collect()
}

/// SQL LIMIT/OFFSET values: PostgreSQL takes bigint, and an offset beyond
/// i64::MAX is as good as i64::MAX (no rows).
pub(crate) fn page(limit: u32, offset: u64) -> (i64, i64) {
    (i64::from(limit), i64::try_from(offset).unwrap_or(i64::MAX))
}
