//! Visitors and conversations.
//!
//! Conversations are always returned with their visitor's name and email
//! joined in. Rows are never deleted, so a reference checked inside the
//! writing statement stays valid; the foreign keys back that up.

use crate::detail_cache::touch_conversation_sql;
use crate::error::db_err;
use crate::explain::{explain_prepared, Arg};
use crate::list_anchors::bump_list_versions_sql;
use crate::rows::*;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::{PgExecutor, PgPool};
use std::collections::HashMap;

pub(crate) async fn create_visitor(
    pool: &PgPool,
    tenant: TenantId,
    new: NewVisitor,
) -> StoreResult<Visitor> {
    // Selecting the widget inside the INSERT checks that it is the tenant's
    // in the same statement: no row means "not your widget".
    let row: Option<VisitorRow> = sqlx::query_as(concat!(
        "INSERT INTO visitors (id, tenant_id, widget_id, name, email, language, token_hash, \
                               created_at) \
         SELECT $3, w.tenant_id, w.id, $4, $5, $6, $7, clock_timestamp() \
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
    .bind(new.token_hash.as_ref().map(|hash| hash.as_slice()))
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

/// Served by the unique `visitors_token_hash_key` index.
pub(crate) async fn find_visitor_by_token(
    pool: &PgPool,
    token_hash: &[u8; 32],
) -> StoreResult<Option<Visitor>> {
    let row: Option<VisitorRow> = sqlx::query_as(concat!(
        "SELECT ",
        visitor_columns!(),
        " FROM visitors WHERE token_hash = $1"
    ))
    .bind(token_hash.as_slice())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(VisitorRow::into_model).transpose()
}

pub(crate) async fn update_visitor(
    pool: &PgPool,
    tenant: TenantId,
    id: &VisitorId,
    patch: VisitorPatch,
) -> StoreResult<Option<Visitor>> {
    if patch.name.is_none() && patch.email.is_none() && patch.language.is_none() {
        return get_visitor(pool, tenant, id).await;
    }
    // Per field: a flag saying whether it changes, then the new value (NULL
    // clears it).
    let (set_name, name) = split_patch(patch.name);
    let (set_email, email) = split_patch(patch.email);
    let (set_language, language) = split_patch(patch.language);
    // Lists and conversation details show the visitor's name and email:
    // changing them moves the tenant's list version on (cached pages,
    // `page_cache.rs`) and touches the visitor's conversation (cached
    // details, `detail_cache.rs`).
    let row: Option<VisitorRow> = sqlx::query_as(concat!(
        "WITH v AS ( \
           UPDATE visitors SET \
             name = CASE WHEN $3 THEN $4 ELSE name END, \
             email = CASE WHEN $5 THEN $6 ELSE email END, \
             language = CASE WHEN $7 THEN $8 ELSE language END \
           WHERE tenant_id = $1 AND id = $2 \
           RETURNING * \
         ), touched AS (",
        touch_conversation_sql!("visitor_id = $2 AND ($3 OR $5) AND EXISTS (SELECT 1 FROM v)"),
        "), ",
        bump_list_versions_sql!("v WHERE $3 OR $5"),
        " SELECT ",
        visitor_columns!(),
        " FROM v"
    ))
    .bind(tenant.0)
    .bind(id.as_str())
    .bind(set_name)
    .bind(name)
    .bind(set_email)
    .bind(email)
    .bind(set_language)
    .bind(language.as_ref().map(LanguageCode::as_str))
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(VisitorRow::into_model).transpose()
}

fn split_patch<T>(field: Option<Option<T>>) -> (bool, Option<T>) {
    match field {
        Some(value) => (true, value),
        None => (false, None),
    }
}

/// The INSERT shared by `create` and `get_or_create_for_visitor`, the latter
/// adding an `ON CONFLICT` clause. The widget and the visitor are
/// both checked to be the tenant's by the join that feeds the INSERT. One
/// clock reading serves as both started_at and last_message_at.
macro_rules! insert_conversation_sql {
    ($on_conflict:literal) => {
        concat!(
            "WITH c AS ( \
               INSERT INTO conversations (id, tenant_id, widget_id, visitor_id, status, \
                                          visitor_language, last_seq, last_message_at, \
                                          started_at) \
               SELECT $4, w.tenant_id, w.id, v.id, 'open', $5, 0, clock.now, clock.now \
               FROM widgets w, visitors v, (SELECT clock_timestamp() AS now) clock \
               WHERE w.tenant_id = $1 AND w.id = $2 AND v.tenant_id = $1 AND v.id = $3 ",
            $on_conflict,
            " RETURNING * \
             ), ",
            bump_list_versions_sql!("c"),
            " SELECT ",
            conversation_columns!(),
            " FROM c JOIN visitors v ON v.id = c.visitor_id"
        )
    };
}

async fn insert(
    pool: &PgPool,
    sql: &'static str,
    tenant: TenantId,
    new: &NewConversation,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(sql)
        .bind(tenant.0)
        .bind(new.widget_id.0)
        .bind(new.visitor_id.as_str())
        .bind(ConversationId::new().0)
        .bind(new.visitor_language.as_ref().map(LanguageCode::as_str))
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(ConversationRow::into_model).transpose()
}

/// `Conflict` if the visitor already has a conversation (the
/// `conversations_visitor_id_key` unique index).
pub(crate) async fn create(
    pool: &PgPool,
    tenant: TenantId,
    new: NewConversation,
) -> StoreResult<Conversation> {
    match insert(pool, insert_conversation_sql!(""), tenant, &new).await? {
        Some(conversation) => Ok(conversation),
        None => Err(StoreError::MissingReference(
            missing_widget_or_visitor(pool, tenant, &new).await?,
        )),
    }
}

/// The visitor's one conversation, created if need be.
///
/// Two statements, each its own transaction, so that it is correct however
/// many instances call it at once for one visitor:
/// 1. `INSERT ... ON CONFLICT (visitor_id) DO NOTHING` inserts unless the
///    visitor has a conversation. A concurrent insert for the same visitor
///    waits on the unique index for the other transaction and then does
///    nothing, so exactly one row is ever created;
/// 2. if nothing was inserted, a new statement (so a new snapshot, which sees
///    the row the other transaction committed) reads the existing one. The
///    widget is checked there too so that a foreign widget is refused even
///    when the conversation exists.
///
/// Neither finding anything means the widget or the visitor is not the
/// tenant's (rows are never deleted, so the second step cannot miss a row the
/// first one conflicted with).
pub(crate) async fn get_or_create_for_visitor(
    pool: &PgPool,
    tenant: TenantId,
    new: NewConversation,
) -> StoreResult<Conversation> {
    let inserted = insert(
        pool,
        insert_conversation_sql!("ON CONFLICT (visitor_id) DO NOTHING"),
        tenant,
        &new,
    )
    .await?;
    if let Some(conversation) = inserted {
        return Ok(conversation);
    }
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations c JOIN visitors v ON v.id = c.visitor_id \
         WHERE c.tenant_id = $1 AND c.visitor_id = $3 \
           AND EXISTS (SELECT 1 FROM widgets w WHERE w.tenant_id = $1 AND w.id = $2)"
    ))
    .bind(tenant.0)
    .bind(new.widget_id.0)
    .bind(new.visitor_id.as_str())
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

/// Served by the unique `conversations_visitor_id_key` index.
pub(crate) async fn for_visitor(
    pool: &PgPool,
    tenant: TenantId,
    visitor: &VisitorId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations c JOIN visitors v ON v.id = c.visitor_id \
         WHERE c.tenant_id = $1 AND c.visitor_id = $2"
    ))
    .bind(tenant.0)
    .bind(visitor.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ConversationRow::into_model).transpose()
}

/// Which reference made `create` (or `get_or_create_for_visitor`) find nothing.
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

/// The tenant's (`$1`) conversation `$2` with its visitor's name and email,
/// after the columns `$first` (each followed by a comma) if any.
macro_rules! conversation_by_id_sql {
    ($first:expr) => {
        concat!(
            "SELECT ",
            $first,
            conversation_columns!(),
            " FROM conversations c JOIN visitors v ON v.id = c.visitor_id \
             WHERE c.tenant_id = $1 AND c.id = $2"
        )
    };
}
pub(crate) use conversation_by_id_sql;

pub(crate) async fn get(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(conversation_by_id_sql!(""))
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(ConversationRow::into_model).transpose()
}

/// One page of the list, given a WHERE clause whose equality columns match
/// one of the `conversations_tenant_*_recent_idx` indexes. $1 is the tenant,
/// $2 / $3 the limit / offset, then the filter values. `whole` is the
/// unfiltered list, `filtered` any other.
///
/// The page is cut first, from the index alone: the innermost subquery
/// selects only columns the index holds, so it is an index-only scan that
/// skips the offset's rows without visiting the table (selecting a column
/// the index lacks fetched every skipped row's heap tuple: at offset 90,000
/// of 100,000 that was the whole cost of a deep page).
/// - `whole`: the unfiltered list's index includes every column of a list
///   row (migration 20261201000000), so the cut carries the rows
///   themselves, and only the visitors are looked up, from an index that
///   includes their name and email. A deep page read about 170 buffers
///   before (20 conversations and 20 visitors by primary key, each an index
///   and a heap page) and 67 this way.
/// - `filtered`: the cut carries ids, and the page's rows are looked up by
///   primary key. (Including the columns in every filter's index too would
///   widen four index entries per message instead of one.)
///
/// Why an array: the store's statements run with generic plans (see
/// `SESSION_SETTINGS` in lib.rs), which cannot know LIMIT and OFFSET and
/// plan for a tenth of the table. Joined directly to such a page, the
/// conversations and visitors would be hash-joined whole. Unnesting an array
/// of unknown length is planned for a handful of rows: per-row index look-ups
/// in nested loops, which keep the array's order; `WITH ORDINALITY` tells
/// the planner that order, so `ORDER BY c.n` needs no Sort. (`page_n` is
/// selected for `deep_pages.rs`, which joins such a page to the list's
/// version.)
macro_rules! list_sql {
    (whole, $where:literal) => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", c.n AS page_n FROM unnest(( \
               SELECT array_agg(ROW(",
            list_row_columns!(),
            ")::conversation_list_row ORDER BY last_message_at DESC, id DESC) \
               FROM (SELECT ",
            list_row_columns!(),
            " FROM conversations WHERE ",
            $where,
            " ORDER BY last_message_at DESC, id DESC LIMIT $2 OFFSET $3) cut \
             )) WITH ORDINALITY AS c(",
            list_row_columns!(),
            ", n) \
             JOIN visitors v ON v.id = c.visitor_id \
             ORDER BY c.n"
        )
    };
    (filtered, $where:literal) => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", page.n AS page_n FROM unnest(( \
               SELECT array_agg(id ORDER BY last_message_at DESC, id DESC) \
               FROM (SELECT id, last_message_at FROM conversations WHERE ",
            $where,
            " ORDER BY last_message_at DESC, id DESC LIMIT $2 OFFSET $3) cut \
             )) WITH ORDINALITY AS page(id, n) \
             JOIN conversations c ON c.id = page.id \
             JOIN visitors v ON v.id = c.visitor_id \
             ORDER BY page.n"
        )
    };
}

/// The conversation columns of a list row, in the order of the
/// `conversation_list_row` type: those of `conversation_columns!` that are
/// not the visitor's, all of them in `conversations_tenant_recent_idx`.
macro_rules! list_row_columns {
    () => {
        "id, tenant_id, widget_id, visitor_id, visitor_language, status, assigned_to, \
         last_message_at, started_at, last_seq, handed_off_at"
    };
}
pub(crate) use list_row_columns;

pub(crate) use list_sql;

/// `$sql!(kind, where)` for the WHERE clause of `$filter`'s combination: the
/// tenant at `$1`, then the filter values from `$4` on (in `bind_filter`'s
/// order); `kind` is `whole` for the unfiltered list, else `filtered`
/// (`list_sql!`). A separate statement per filter combination rather than one with
/// `($4 IS NULL OR status = $4)`: each then has a plan of its own that reads
/// its index in order.
macro_rules! by_filter {
    ($filter:expr, $sql:ident) => {
        match ($filter.status.is_some(), $filter.widget_id.is_some()) {
            (false, false) => $sql!(whole, "tenant_id = $1"),
            (true, false) => $sql!(filtered, "tenant_id = $1 AND status = $4"),
            (false, true) => $sql!(filtered, "tenant_id = $1 AND widget_id = $4"),
            (true, true) => $sql!(
                filtered,
                "tenant_id = $1 AND status = $4 AND widget_id = $5"
            ),
        }
    };
}
pub(crate) use by_filter;

fn list_query(filter: &ConversationFilter) -> &'static str {
    by_filter!(filter, list_sql)
}

pub(crate) type ListQuery<'q, O> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

pub(crate) fn bind_list<'q, O>(
    query: ListQuery<'q, O>,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> ListQuery<'q, O> {
    let (limit, offset) = page(limit, offset);
    bind_filter(query.bind(tenant.0).bind(limit).bind(offset), filter)
}

/// Binds the filter's values, in the order the list statements number them.
pub(crate) fn bind_filter<'q, O>(
    mut query: ListQuery<'q, O>,
    filter: &ConversationFilter,
) -> ListQuery<'q, O> {
    if let Some(status) = filter.status {
        query = query.bind(status.as_str());
    }
    if let Some(widget) = filter.widget_id {
        query = query.bind(widget.0);
    }
    query
}

pub(crate) async fn explain_list(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<String> {
    let args = explain_list_args(tenant, filter, limit, offset);
    explain_prepared(pool, list_query(filter), &args).await
}

/// The values `bind_list` binds, for `EXPLAIN EXECUTE`.
pub(crate) fn explain_list_args(
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> Vec<Arg> {
    let (limit, offset) = page(limit, offset);
    let mut args: Vec<Arg> = vec![tenant.0.into(), limit.into(), offset.into()];
    if let Some(status) = filter.status {
        args.push(status.as_str().into());
    }
    if let Some(widget) = filter.widget_id {
        args.push(widget.0.into());
    }
    args
}

/// The SQL expression that announces (when the statement's transaction
/// commits) that conversation `c` changed: a [`MessageNotice`] with
/// `"conversation_changed":true` on [`MESSAGES_CHANNEL`], written exactly as
/// `serde_json` writes it (see `messages::append_on`). In a select list it is
/// evaluated once per changed row, so nothing is announced when nothing
/// matched. `$channel` is the placeholder bound to [`MESSAGES_CHANNEL`].
macro_rules! conversation_changed_notice_sql {
    ($channel:literal) => {
        concat!(
            "pg_notify(",
            $channel,
            ", format( \
               '{\"tenant_id\":%s,\"conversation_id\":%s,\"visitor_id\":%s,\"seq\":%s,\
\"conversation_changed\":true}', \
               to_json(c.tenant_id), to_json(c.id), to_json(c.visitor_id), c.last_seq))"
        )
    };
}
pub(crate) use conversation_changed_notice_sql;

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
    // foreign operator means no row is touched at all (and nothing is
    // announced; a changed row is, to every instance, on commit). Assigning an operator
    // hands the conversation to humans (`handed_off_at`, set once). $4 says whether the
    // assignment changes, $5 is the new assignee (NULL unassigns).
    let (set_assignee, assignee) = match patch.assigned_to {
        Some(assignee) => (true, assignee.map(|op| op.0)),
        None => (false, None),
    };
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "WITH c AS ( \
           UPDATE conversations SET \
             status = COALESCE($3, status), \
             assigned_to = CASE WHEN $4 THEN $5 ELSE assigned_to END, \
             handed_off_at = CASE WHEN $5::uuid IS NOT NULL \
                                  THEN COALESCE(handed_off_at, clock_timestamp()) \
                                  ELSE handed_off_at END \
           WHERE tenant_id = $1 AND id = $2 \
             AND (NOT $4 OR $5::uuid IS NULL OR EXISTS ( \
                   SELECT 1 FROM operators o WHERE o.tenant_id = $1 AND o.id = $5)) \
           RETURNING * \
         ), ",
        // Lists show the status and the assignee (cached pages,
        // `page_cache.rs`); a status change also moves it between lists.
        bump_list_versions_sql!("c"),
        " SELECT ",
        conversation_columns!(),
        ", ",
        conversation_changed_notice_sql!("$6"),
        " AS notified",
        " FROM c JOIN visitors v ON v.id = c.visitor_id"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .bind(patch.status.map(ConversationStatus::as_str))
    .bind(set_assignee)
    .bind(assignee)
    .bind(MESSAGES_CHANNEL)
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

/// Hands the conversation to humans: `handed_off_at` (once) and, with
/// `pending`, the status `pending`, in one statement that also announces the
/// change to every instance (on commit).
pub(crate) async fn set_handed_off(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
    pending: bool,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(concat!(
        "WITH c AS ( \
           UPDATE conversations SET \
             handed_off_at = COALESCE(handed_off_at, clock_timestamp()), \
             status = CASE WHEN $3 THEN 'pending' ELSE status END \
           WHERE tenant_id = $1 AND id = $2 \
           RETURNING * \
         ), ",
        // Lists show `handed_off_at` too, not only the status.
        bump_list_versions_sql!("c"),
        " SELECT ",
        conversation_columns!(),
        ", ",
        conversation_changed_notice_sql!("$4"),
        " AS notified",
        " FROM c JOIN visitors v ON v.id = c.visitor_id"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .bind(pending)
    .bind(MESSAGES_CHANNEL)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(ConversationRow::into_model).transpose()
}

/// The columns of [`ConversationFacts`], with the conversation they are of.
macro_rules! facts_columns {
    () => {
        "c.tenant_id, c.id, w.id AS widget_id, w.translation_enabled, w.ai_enabled, \
         t.operator_language, c.visitor_language, c.handed_off_at IS NOT NULL AS handed_off"
    };
}

#[derive(sqlx::FromRow)]
struct FactsRow {
    tenant_id: uuid::Uuid,
    id: uuid::Uuid,
    widget_id: uuid::Uuid,
    translation_enabled: bool,
    ai_enabled: bool,
    operator_language: String,
    visitor_language: Option<String>,
    handed_off: bool,
}

impl FactsRow {
    fn into_model(self) -> ((TenantId, ConversationId), ConversationFacts) {
        let facts = ConversationFacts {
            widget_id: self.widget_id.into(),
            translation_enabled: self.translation_enabled,
            ai_enabled: self.ai_enabled,
            operator_language: self.operator_language,
            visitor_language: self.visitor_language,
            handed_off: self.handed_off,
        };
        ((self.tenant_id.into(), self.id.into()), facts)
    }
}

/// What a new message's jobs depend on, in one read.
pub(crate) async fn facts(
    pool: &PgPool,
    tenant: TenantId,
    id: ConversationId,
) -> StoreResult<Option<ConversationFacts>> {
    let row: Option<FactsRow> = sqlx::query_as(concat!(
        "SELECT ",
        facts_columns!(),
        " FROM conversations c \
         JOIN widgets w ON w.id = c.widget_id \
         JOIN tenants t ON t.id = c.tenant_id \
         WHERE c.tenant_id = $1 AND c.id = $2"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    Ok(row.map(|row| row.into_model().1))
}

/// The facts of the conversations about to get messages, in one read, by
/// tenant and conversation; a conversation that is not its tenant's is
/// missing from the answer.
///
/// For a transaction that appends to them next: the conversations' rows are
/// locked as the appends' UPDATE locks them (`FOR NO KEY UPDATE`), so no
/// other transaction can change the facts between this read and the
/// appends. They are locked in id order, the order in which batches of
/// appends take these locks (`appender.rs`).
pub(crate) async fn lock_facts<'e, E: PgExecutor<'e>>(
    executor: E,
    conversations: &[(TenantId, ConversationId)],
) -> StoreResult<HashMap<(TenantId, ConversationId), ConversationFacts>> {
    let mut keys = conversations.to_vec();
    keys.sort_unstable_by_key(|(tenant, id)| (id.0, tenant.0));
    keys.dedup();
    let (tenants, ids): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) =
        keys.iter().map(|(tenant, id)| (tenant.0, id.0)).unzip();
    let rows: Vec<FactsRow> = sqlx::query_as(concat!(
        "SELECT ",
        facts_columns!(),
        " FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, id) \
         JOIN conversations c ON c.tenant_id = k.tenant_id AND c.id = k.id \
         JOIN widgets w ON w.id = c.widget_id \
         JOIN tenants t ON t.id = c.tenant_id \
         ORDER BY c.id \
         FOR NO KEY UPDATE OF c"
    ))
    .bind(tenants)
    .bind(ids)
    .fetch_all(executor)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(FactsRow::into_model).collect())
}
