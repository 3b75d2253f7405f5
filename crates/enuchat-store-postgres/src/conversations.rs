//! Visitors and conversations.
//!
//! Conversations are always returned with their visitor's name and email
//! joined in. Rows are never deleted, so a reference checked inside the
//! writing statement stays valid; the foreign keys back that up.

use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;

pub(crate) async fn create_visitor(
    pool: &PgPool,
    tenant: TenantId,
    new: NewVisitor,
) -> StoreResult<Visitor> {
    // Selecting the widget inside the INSERT checks that it is the tenant's
    // in the same statement: no row means "not your widget".
    let row: Option<VisitorRow> = sqlx::query_as(concat!(
        "INSERT INTO visitors (id, tenant_id, widget_id, name, email, language, created_at) \
         SELECT $3, w.tenant_id, w.id, $4, $5, $6, clock_timestamp() \
         FROM widgets w WHERE w.tenant_id = $1 AND w.id = $2 \
         RETURNING ",
        visitor_columns!()
    ))
    .bind(tenant.0)
    .bind(new.widget_id.0)
    .bind(new.id.as_str())
    .bind(new.name.as_deref())
    .bind(new.email.as_deref())
    .bind(new.language.as_ref().map(LanguageCode::as_str))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.ok_or(StoreError::MissingReference("widget"))?
        .into_model()
}

pub(crate) async fn get_visitor(
    pool: &PgPool,
    tenant: TenantId,
    id: &VisitorId,
) -> StoreResult<Option<Visitor>> {
    let row: Option<VisitorRow> = sqlx::query_as(concat!(
        "SELECT ",
        visitor_columns!(),
        " FROM visitors WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.0)
    .bind(id.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(VisitorRow::into_model).transpose()
}

pub(crate) async fn create(
    pool: &PgPool,
    tenant: TenantId,
    new: NewConversation,
) -> StoreResult<Conversation> {
    // The widget and the visitor are both checked to be the tenant's by the
    // join that feeds the INSERT. One clock reading serves as both
    // started_at and last_message_at.
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "WITH c AS ( \
           INSERT INTO conversations (id, tenant_id, widget_id, visitor_id, status, \
                                      visitor_language, last_seq, last_message_at, started_at) \
           SELECT $4, w.tenant_id, w.id, v.id, 'open', $5, 0, clock.now, clock.now \
           FROM widgets w, visitors v, (SELECT clock_timestamp() AS now) clock \
           WHERE w.tenant_id = $1 AND w.id = $2 AND v.tenant_id = $1 AND v.id = $3 \
           RETURNING * \
         ) \
         SELECT ",
        conversation_columns!(),
        " FROM c JOIN visitors v ON v.id = c.visitor_id"
    ))
    .bind(tenant.0)
    .bind(new.widget_id.0)
    .bind(new.visitor_id.as_str())
    .bind(ConversationId::new().0)
    .bind(new.visitor_language.as_ref().map(LanguageCode::as_str))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match row {
        Some(row) => row.into_model(),
        None => Err(StoreError::MissingReference(
            missing_widget_or_visitor(pool, tenant, &new).await?,
        )),
    }
}

/// Which reference made `create` insert nothing.
async fn missing_widget_or_visitor(
    pool: &PgPool,
    tenant: TenantId,
    new: &NewConversation,
) -> StoreResult<&'static str> {
    let widget_ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM widgets WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(tenant.0)
    .bind(new.widget_id.0)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(if widget_ok { "visitor" } else { "widget" })
}

pub(crate) async fn get(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations c JOIN visitors v ON v.id = c.visitor_id \
         WHERE c.tenant_id = $1 AND c.id = $2"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ConversationRow::into_model).transpose()
}

/// One page of the list, given a WHERE clause whose equality columns match
/// one of the `conversations_tenant_*_recent_idx` indexes. $1 is the tenant,
/// $2 / $3 the limit / offset, then the filter values.
///
/// The page is cut from `conversations` alone, in a subquery that reads the
/// index in order, and only its rows look up their visitor. The look-up is a
/// LATERAL subquery with `LIMIT 1` (the id is the primary key, so it changes
/// no result) because that keeps PostgreSQL from turning it into an ordinary
/// join: with small tables the planner would rather hash-join the whole
/// visitors table and then sort the page again. As a per-row look-up it is a
/// nested loop, which keeps the subquery's order, so the outer ORDER BY needs
/// no Sort.
macro_rules! list_sql {
    ($where:literal) => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM (SELECT * FROM conversations WHERE ",
            $where,
            " ORDER BY last_message_at DESC, id DESC LIMIT $2 OFFSET $3) c \
             JOIN LATERAL ( \
               SELECT name, email FROM visitors WHERE id = c.visitor_id LIMIT 1 \
             ) v ON true \
             ORDER BY c.last_message_at DESC, c.id DESC"
        )
    };
}

/// A separate statement per filter combination rather than one with
/// `($4 IS NULL OR status = $4)`: each then has a plan of its own that reads
/// its index in order. (sqlx prepares statements; for these PostgreSQL keeps
/// making custom plans, since a generic plan must guess LIMIT and OFFSET and
/// comes out far costlier.)
fn list_query(filter: &ConversationFilter) -> &'static str {
    match (filter.status.is_some(), filter.widget_id.is_some()) {
        (false, false) => list_sql!("tenant_id = $1"),
        (true, false) => list_sql!("tenant_id = $1 AND status = $4"),
        (false, true) => list_sql!("tenant_id = $1 AND widget_id = $4"),
        (true, true) => list_sql!("tenant_id = $1 AND status = $4 AND widget_id = $5"),
    }
}

fn bind_list<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let (limit, offset) = page(limit, offset);
    let mut query = query.bind(tenant.0).bind(limit).bind(offset);
    if let Some(status) = filter.status {
        query = query.bind(status.as_str());
    }
    if let Some(widget) = filter.widget_id {
        query = query.bind(widget.0);
    }
    query
}

pub(crate) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<Vec<Conversation>> {
    let rows: Vec<ConversationRow> = bind_list(
        sqlx::query_as(list_query(filter)),
        tenant,
        filter,
        limit,
        offset,
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    all(rows, ConversationRow::into_model)
}

pub(crate) async fn explain_list(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<String> {
    let sql = format!("EXPLAIN {}", list_query(filter));
    let lines: Vec<(String,)> = bind_list(sqlx::query_as(&sql), tenant, filter, limit, offset)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    Ok(lines
        .into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n"))
}

pub(crate) async fn update(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
    patch: ConversationPatch,
) -> StoreResult<Option<Conversation>> {
    if patch.is_empty() {
        return get(pool, tenant, id).await;
    }
    // One statement: the operator check sits in the UPDATE's WHERE, so a
    // foreign operator means no row is touched at all. $4 says whether the
    // assignment changes, $5 is the new assignee (NULL unassigns).
    let (set_assignee, assignee) = match patch.assigned_to {
        Some(assignee) => (true, assignee.map(|op| op.0)),
        None => (false, None),
    };
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "WITH c AS ( \
           UPDATE conversations SET \
             status = COALESCE($3, status), \
             assigned_to = CASE WHEN $4 THEN $5 ELSE assigned_to END \
           WHERE tenant_id = $1 AND id = $2 \
             AND (NOT $4 OR $5::uuid IS NULL OR EXISTS ( \
                   SELECT 1 FROM operators o WHERE o.tenant_id = $1 AND o.id = $5)) \
           RETURNING * \
         ) \
         SELECT ",
        conversation_columns!(),
        " FROM c JOIN visitors v ON v.id = c.visitor_id"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .bind(patch.status.map(ConversationStatus::as_str))
    .bind(set_assignee)
    .bind(assignee)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    match row {
        Some(row) => row.into_model().map(Some),
        // Nothing updated: either the conversation is not the tenant's, or
        // it is and the operator was refused.
        None => match get(pool, tenant, id).await? {
            None => Ok(None),
            Some(_) => Err(StoreError::MissingReference("operator")),
        },
    }
}
