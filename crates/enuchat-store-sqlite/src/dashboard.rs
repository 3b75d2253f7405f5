//! What the operator dashboard needs: sign-in look-ups, sessions, read
//! markers and the inbox list.

use crate::rows::{
    all, conversation_columns, message_columns, operator_columns, parse_enum, ConversationRow,
    MessageRow, OperatorRow,
};
use crate::{db, from_us, sql_int, to_us, write_err, SqliteStore};
use enuchat_domain::store::{InboxFilter, StoreResult};
use enuchat_domain::*;
use sqlx::{FromRow, SqliteConnection};

#[derive(FromRow)]
pub(crate) struct SessionRow {
    #[sqlx(flatten)]
    operator: OperatorRow,
    session_id_hash: Vec<u8>,
    csrf_token: String,
    session_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
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
            created_at: from_us(self.session_created_at)?,
            last_seen_at: from_us(self.last_seen_at)?,
            expires_at: from_us(self.expires_at)?,
        })
    }
}

macro_rules! session_select {
    () => {
        "SELECT o.id, o.tenant_id, o.email, o.name, o.role, o.password_hash, o.created_at, \
         s.id_hash AS session_id_hash, s.csrf_token, s.created_at AS session_created_at, \
         s.last_seen_at, s.expires_at \
         FROM sessions s JOIN operators o ON o.id = s.operator_id AND o.tenant_id = s.tenant_id "
    };
}

#[derive(FromRow)]
pub(crate) struct InboxRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    last_role: Option<String>,
    last_content: Option<String>,
    last_created_at: Option<i64>,
    unread: bool,
}

impl InboxRow {
    fn into_model(self) -> StoreResult<InboxItem> {
        let last_message = match (self.last_role, self.last_content, self.last_created_at) {
            (Some(role), Some(content), Some(at)) => Some(MessagePreview {
                role: parse_enum("message role", &role)?,
                content,
                created_at: from_us(at)?,
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

/// The index whose order and equality columns are exactly this filter's, if
/// there is one. Named in the query because `conversations_recent` holds
/// every filter column too (migration 20261201000000), and without
/// statistics SQLite would walk it and filter rather than seek the filter's
/// own index. Combinations without an index of their own are left to SQLite.
fn inbox_index(filter: &InboxFilter) -> Option<&'static str> {
    let status = filter.status.is_some();
    Some(match (filter.widget_id.is_some(), filter.assignee) {
        (false, AssigneeFilter::Anyone) if status => "conversations_status_recent",
        (false, AssigneeFilter::Anyone) => "conversations_recent",
        (true, AssigneeFilter::Anyone) if status => "conversations_widget_status_recent",
        (true, AssigneeFilter::Anyone) => "conversations_widget_recent",
        (false, _) if status => "conversations_assignee_status_recent",
        (false, _) => "conversations_assignee_recent",
        (true, _) => return None,
    })
}

/// The inbox query for one filter shape. The newest message is one look-up
/// on the `(conversation_id, seq)` unique index per row (`seq = last_seq`);
/// "unread" is a range scan of the same index after the operator's marker
/// that stops at the first visitor message. Parameters, in order: operator,
/// tenant, then status, widget and assignee when filtered, limit, offset.
pub(crate) fn inbox_sql(filter: &InboxFilter) -> String {
    let mut sql = format!(
        "SELECT {}, lm.role AS last_role, substr(lm.content, 1, {}) AS last_content, \
           lm.created_at AS last_created_at, \
           EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
                   AND m.seq > COALESCE(r.last_read_seq, 0) AND m.role = 'visitor') AS unread \
         FROM conversations c{} JOIN visitors v ON v.id = c.visitor_id \
         LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
         LEFT JOIN conversation_reads r ON r.operator_id = ? AND r.conversation_id = c.id \
         WHERE c.tenant_id = ?",
        conversation_columns!(),
        PREVIEW_CHARS,
        inbox_index(filter).map_or(String::new(), |index| format!(" INDEXED BY {index}"))
    );
    if filter.status.is_some() {
        sql.push_str(" AND c.status = ?");
    }
    if filter.widget_id.is_some() {
        sql.push_str(" AND c.widget_id = ?");
    }
    match filter.assignee {
        AssigneeFilter::Anyone => {}
        AssigneeFilter::Unassigned => sql.push_str(" AND c.assigned_to IS NULL"),
        AssigneeFilter::Operator(_) => sql.push_str(" AND c.assigned_to = ?"),
    }
    sql.push_str(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ? OFFSET ?");
    sql
}

async fn fetch_session(
    conn: &mut SqliteConnection,
    id_hash: &[u8; 32],
) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(session_select!(), "WHERE s.id_hash = ?"))
        .bind(id_hash.as_slice())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    row.map(SessionRow::into_model).transpose()
}

impl SqliteStore {
    pub(crate) async fn find_operator_by_email_impl(
        &self,
        email: &str,
    ) -> StoreResult<Option<Operator>> {
        let row: Option<OperatorRow> = sqlx::query_as(concat!(
            "SELECT ",
            operator_columns!(),
            " FROM operators WHERE email = ?"
        ))
        .bind(email)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(OperatorRow::into_model).transpose()
    }

    pub(crate) async fn list_operators_impl(&self, tenant: TenantId) -> StoreResult<Vec<Operator>> {
        let rows: Vec<OperatorRow> = sqlx::query_as(concat!(
            "SELECT ",
            operator_columns!(),
            " FROM operators WHERE tenant_id = ? ORDER BY created_at, id"
        ))
        .bind(tenant.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        all(rows, OperatorRow::into_model)
    }

    pub(crate) async fn create_session_impl(
        &self,
        tenant: TenantId,
        new: NewSession,
    ) -> StoreResult<Session> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO sessions (id_hash, tenant_id, operator_id, csrf_token, created_at, \
             last_seen_at, expires_at) \
             SELECT ?1, o.tenant_id, o.id, ?2, ?3, ?3, ?4 FROM operators o \
             WHERE o.tenant_id = ?5 AND o.id = ?6",
        )
        .bind(new.id_hash.as_slice())
        .bind(&new.csrf_token)
        .bind(to_us(new.created_at))
        .bind(to_us(new.expires_at))
        .bind(tenant.0)
        .bind(new.operator_id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_err(e, "operator"))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::MissingReference("operator"));
        }
        let session = fetch_session(&mut tx, &new.id_hash).await?;
        tx.commit().await.map_err(db)?;
        session.ok_or_else(|| StoreError::Database("created session vanished".into()))
    }

    pub(crate) async fn find_session_impl(
        &self,
        id_hash: &[u8; 32],
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<Option<Session>> {
        let now = to_us(now);
        let row: Option<SessionRow> = sqlx::query_as(concat!(
            session_select!(),
            "WHERE s.id_hash = ? AND s.expires_at > ? AND s.last_seen_at > ?"
        ))
        .bind(id_hash.as_slice())
        .bind(now)
        .bind(now - idle_timeout_secs * 1_000_000)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(SessionRow::into_model).transpose()
    }

    pub(crate) async fn touch_session_impl(
        &self,
        tenant: TenantId,
        id_hash: &[u8; 32],
        at: Timestamp,
        granularity_secs: i64,
    ) -> StoreResult<()> {
        let at = to_us(at);
        sqlx::query(
            "UPDATE sessions SET last_seen_at = ?1 \
             WHERE tenant_id = ?2 AND id_hash = ?3 AND last_seen_at < ?1 - ?4",
        )
        .bind(at)
        .bind(tenant.0)
        .bind(id_hash.as_slice())
        .bind(granularity_secs * 1_000_000)
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn delete_session_impl(
        &self,
        tenant: TenantId,
        id_hash: &[u8; 32],
    ) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE tenant_id = ? AND id_hash = ?")
            .bind(tenant.0)
            .bind(id_hash.as_slice())
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn prune_sessions_impl(
        &self,
        now: Timestamp,
        idle_timeout_secs: i64,
    ) -> StoreResult<u64> {
        let now = to_us(now);
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?")
            .bind(now)
            .bind(now - idle_timeout_secs * 1_000_000)
            .execute(&mut *self.writer.acquire().await?)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn list_inbox_impl(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        filter: &InboxFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Vec<InboxItem>> {
        let sql = inbox_sql(filter);
        let mut query = sqlx::query_as::<_, InboxRow>(&sql)
            .bind(operator.0)
            .bind(tenant.0);
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(widget) = filter.widget_id {
            query = query.bind(widget.0);
        }
        if let AssigneeFilter::Operator(op) = filter.assignee {
            query = query.bind(op.0);
        }
        let rows = query
            .bind(i64::from(limit))
            .bind(sql_int(offset))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        all(rows, InboxRow::into_model)
    }

    pub(crate) async fn mark_read_impl(
        &self,
        tenant: TenantId,
        operator: OperatorId,
        conversation: ConversationId,
        seq: i64,
    ) -> StoreResult<bool> {
        // A marker never passes the conversation's newest message (so later
        // messages are unread) and never moves back.
        let done = sqlx::query(
            "INSERT INTO conversation_reads (operator_id, conversation_id, tenant_id, last_read_seq) \
             SELECT o.id, c.id, c.tenant_id, max(0, min(?1, c.last_seq)) \
             FROM conversations c JOIN operators o ON o.tenant_id = c.tenant_id AND o.id = ?2 \
             WHERE c.tenant_id = ?3 AND c.id = ?4 \
             ON CONFLICT (operator_id, conversation_id) DO UPDATE \
             SET last_read_seq = max(last_read_seq, excluded.last_read_seq)",
        )
        .bind(seq)
        .bind(operator.0)
        .bind(tenant.0)
        .bind(conversation.0)
        .execute(&mut *self.writer.acquire().await?)
        .await
        .map_err(|e| write_err(e, "conversation"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn messages_before_impl(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        before_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(MESSAGES_BEFORE)
            .bind(conversation.0)
            .bind(before_seq)
            .bind(tenant.0)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        all(rows, MessageRow::into_model)
    }
}

/// Walks the `(conversation_id, seq)` unique index backwards from
/// `before_seq`; the outer query puts the page oldest first.
pub(crate) const MESSAGES_BEFORE: &str = concat!(
    "SELECT * FROM (SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ? AND seq < ? AND tenant_id = ? \
      ORDER BY seq DESC LIMIT ?) ORDER BY seq"
);
