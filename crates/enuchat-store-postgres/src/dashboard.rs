//! What the operator dashboard needs: sign-in look-ups, sessions, read
//! markers and the inbox list.

use crate::error::db_err;
use crate::rows::*;
use chrono::{DateTime, Utc};
use enuchat_domain::store::{InboxFilter, StoreResult};
use enuchat_domain::*;
use sqlx::{FromRow, PgPool};

type Ts = DateTime<Utc>;

#[derive(FromRow)]
pub(crate) struct SessionRow {
    #[sqlx(flatten)]
    operator: OperatorRow,
    session_id_hash: Vec<u8>,
    csrf_token: String,
    session_created_at: Ts,
    last_seen_at: Ts,
    expires_at: Ts,
}

impl SessionRow {
    fn into_model(self) -> StoreResult<Session> {
        let operator = self.operator.into_model()?;
        Ok(Session {
            id_hash: self
                .session_id_hash
                .try_into()
                .map_err(|_| StoreError::Database("session hash is not 32 bytes".into()))?,
            tenant_id: operator.tenant_id,
            operator,
            csrf_token: self.csrf_token,
            created_at: self.session_created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        })
    }
}

/// `$from` is the sessions table, or a CTE of the rows just inserted (which
/// the table itself does not show to the same statement).
macro_rules! session_select {
    ($from:literal) => {
        concat!(
            "SELECT o.id, o.tenant_id, o.email, o.name, o.role, o.password_hash, o.created_at, \
             s.id_hash AS session_id_hash, s.csrf_token, s.created_at AS session_created_at, \
             s.last_seen_at, s.expires_at \
             FROM ",
            $from,
            " s JOIN operators o ON o.id = s.operator_id AND o.tenant_id = s.tenant_id "
        )
    };
    () => {
        session_select!("sessions")
    };
}

#[derive(FromRow)]
pub(crate) struct InboxRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    last_role: Option<String>,
    last_content: Option<String>,
    last_created_at: Option<Ts>,
    unread: bool,
}

impl InboxRow {
    fn into_model(self) -> StoreResult<InboxItem> {
        let last_message = match (self.last_role, self.last_content, self.last_created_at) {
            (Some(role), Some(content), Some(created_at)) => Some(MessagePreview {
                role: parse_enum("message role", &role)?,
                content,
                created_at,
            }),
            _ => None,
        };
        Ok(InboxItem {
            conversation: self.conversation.into_model()?,
            last_message,
            unread: self.unread,
        })
    }
}

/// The inbox query for one filter shape: the newest message is one look-up
/// on the `(conversation_id, seq)` unique index per row, "unread" a range
/// scan of it after the operator's marker that stops at the first visitor
/// message. `$1` tenant, `$2` operator, `$3` limit, `$4` offset, then the
/// filters present (status, widget, assignee).
pub(crate) fn inbox_sql(filter: &InboxFilter) -> String {
    let mut sql = format!(
        "SELECT {}, lm.role AS last_role, left(lm.content, {}) AS last_content, \
           lm.created_at AS last_created_at, \
           EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
                   AND m.seq > COALESCE(r.last_read_seq, 0) AND m.role = 'visitor') AS unread \
         FROM conversations c JOIN visitors v ON v.id = c.visitor_id \
         LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
         LEFT JOIN conversation_reads r ON r.operator_id = $2 AND r.conversation_id = c.id \
         WHERE c.tenant_id = $1",
        conversation_columns!(),
        PREVIEW_CHARS
    );
    let mut n = 4;
    if filter.status.is_some() {
        n += 1;
        sql.push_str(&format!(" AND c.status = ${n}"));
    }
    if filter.widget_id.is_some() {
        n += 1;
        sql.push_str(&format!(" AND c.widget_id = ${n}"));
    }
    match filter.assignee {
        AssigneeFilter::Anyone => {}
        AssigneeFilter::Unassigned => sql.push_str(" AND c.assigned_to IS NULL"),
        AssigneeFilter::Operator(_) => {
            n += 1;
            sql.push_str(&format!(" AND c.assigned_to = ${n}"));
        }
    }
    sql.push_str(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT $3 OFFSET $4");
    sql
}

pub(crate) async fn find_operator_by_email(
    pool: &PgPool,
    email: &str,
) -> StoreResult<Option<Operator>> {
    let row: Option<OperatorRow> = sqlx::query_as(concat!(
        "SELECT ",
        operator_columns!(),
        " FROM operators WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(OperatorRow::into_model).transpose()
}

pub(crate) async fn list_operators(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Operator>> {
    let rows: Vec<OperatorRow> = sqlx::query_as(concat!(
        "SELECT ",
        operator_columns!(),
        " FROM operators WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant.0)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, OperatorRow::into_model)
}

pub(crate) async fn create_session(
    pool: &PgPool,
    tenant: TenantId,
    new: NewSession,
) -> StoreResult<Session> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(
        "WITH new_session AS ( \
           INSERT INTO sessions (id_hash, tenant_id, operator_id, csrf_token, created_at, \
                                 last_seen_at, expires_at) \
           SELECT $1, o.tenant_id, o.id, $2, $3, $3, $4 FROM operators o \
           WHERE o.tenant_id = $5 AND o.id = $6 \
           RETURNING * \
         ) ",
        session_select!("new_session")
    ))
    .bind(new.id_hash.as_slice())
    .bind(&new.csrf_token)
    .bind(new.created_at)
    .bind(new.expires_at)
    .bind(tenant.0)
    .bind(new.operator_id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.ok_or(StoreError::MissingReference("operator"))?
        .into_model()
}

pub(crate) async fn find_session(
    pool: &PgPool,
    id_hash: &[u8; 32],
    now: Ts,
    idle_timeout_secs: i64,
) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(
        session_select!(),
        "WHERE s.id_hash = $1 AND s.expires_at > $2 \
           AND s.last_seen_at > $2 - make_interval(secs => $3)"
    ))
    .bind(id_hash.as_slice())
    .bind(now)
    .bind(idle_timeout_secs as f64)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(SessionRow::into_model).transpose()
}

pub(crate) async fn touch_session(
    pool: &PgPool,
    tenant: TenantId,
    id_hash: &[u8; 32],
    at: Ts,
    granularity_secs: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $3 \
         WHERE tenant_id = $1 AND id_hash = $2 \
           AND last_seen_at < $3 - make_interval(secs => $4)",
    )
    .bind(tenant.0)
    .bind(id_hash.as_slice())
    .bind(at)
    .bind(granularity_secs as f64)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn delete_session(
    pool: &PgPool,
    tenant: TenantId,
    id_hash: &[u8; 32],
) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND id_hash = $2")
        .bind(tenant.0)
        .bind(id_hash.as_slice())
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn prune_sessions(
    pool: &PgPool,
    now: Ts,
    idle_timeout_secs: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 \
            OR last_seen_at <= $1 - make_interval(secs => $2)",
    )
    .bind(now)
    .bind(idle_timeout_secs as f64)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

pub(crate) async fn list_inbox(
    pool: &PgPool,
    tenant: TenantId,
    operator: OperatorId,
    filter: &InboxFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<Vec<InboxItem>> {
    let sql = inbox_sql(filter);
    let mut query = sqlx::query_as::<_, InboxRow>(&sql)
        .bind(tenant.0)
        .bind(operator.0)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX));
    if let Some(status) = filter.status {
        query = query.bind(status.as_str());
    }
    if let Some(widget) = filter.widget_id {
        query = query.bind(widget.0);
    }
    if let AssigneeFilter::Operator(op) = filter.assignee {
        query = query.bind(op.0);
    }
    let rows = query.fetch_all(pool).await.map_err(db_err)?;
    all(rows, InboxRow::into_model)
}

pub(crate) async fn mark_read(
    pool: &PgPool,
    tenant: TenantId,
    operator: OperatorId,
    conversation: ConversationId,
    seq: i64,
) -> StoreResult<bool> {
    // A marker never passes the conversation's newest message and never
    // moves back.
    let done = sqlx::query(
        "INSERT INTO conversation_reads (operator_id, conversation_id, tenant_id, last_read_seq) \
         SELECT o.id, c.id, c.tenant_id, GREATEST(0, LEAST($1, c.last_seq)) \
         FROM conversations c JOIN operators o ON o.tenant_id = c.tenant_id AND o.id = $2 \
         WHERE c.tenant_id = $3 AND c.id = $4 \
         ON CONFLICT (operator_id, conversation_id) DO UPDATE \
         SET last_read_seq = GREATEST(conversation_reads.last_read_seq, \
                                      excluded.last_read_seq)",
    )
    .bind(seq)
    .bind(operator.0)
    .bind(tenant.0)
    .bind(conversation.0)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn messages_before(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    before_seq: i64,
    limit: u32,
) -> StoreResult<Vec<Message>> {
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = $2 AND tenant_id = $1 AND seq < $3 \
          ORDER BY seq DESC LIMIT $4"
    ))
    .bind(tenant.0)
    .bind(conversation.0)
    .bind(before_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut messages = all(rows, MessageRow::into_model)?;
    messages.reverse();
    Ok(messages)
}
