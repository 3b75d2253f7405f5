//! Reading deep pages of the conversation list with the list's version, from
//! anchors when this instance has them (see `list_anchors.rs` for why that is
//! exact across instances).
//!
//! Every statement here selects the tenant's list version together with what
//! it reads, so both come from one snapshot.

use crate::conversations::{
    bind_filter, bind_list, by_filter, explain_list_args, list_row_columns, list_sql,
};
use crate::error::db_err;
use crate::explain::explain_prepared;
use crate::list_anchors::{DeepRead, ListAnchors, SortKey};
use crate::page_cache::{DeepPage, PageCache};
use crate::rows::*;
use chrono::{DateTime, Utc};
use enuchat_domain::deep_pages::{anchor_at, DeepReadCounts, ListShape};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

/// The tenant's list version (`$1` is the tenant): the sum of its stripes
/// (at most 8 rows, read from the primary key); 0 before its first change.
macro_rules! list_version_sql {
    () => {
        "coalesce((SELECT sum(version) FROM conversation_list_versions \
                   WHERE tenant_id = $1)::bigint, 0)"
    };
}
pub(crate) use list_version_sql;

/// A page (`list_sql!`) and the list's version. The page is left-joined to
/// the one-row version, so an empty page still says which version it is
/// empty at: every row carries the version, and the page's rows have their
/// conversation columns set.
macro_rules! versioned_page_sql {
    ($kind:ident, $where:literal) => {
        concat!(
            "SELECT lv.list_version, p.* FROM (SELECT ",
            list_version_sql!(),
            " AS list_version) lv LEFT JOIN (",
            list_sql!($kind, $where),
            ") p ON true ORDER BY p.page_n"
        )
    };
}

/// The list's page at `$2` / `$3` (limit / offset), then filter values.
fn plain_query(filter: &ConversationFilter) -> &'static str {
    by_filter!(filter, versioned_page_sql)
}

/// The same, counted from the row at an anchor: `$2` / `$3` as above, the
/// filter values, then the anchor's `last_message_at` and id. The row value
/// is a range condition on the list's index (plan checked in
/// `tests/demo_and_plans.rs`), so the walk starts at the anchor.
fn from_anchor_query(filter: &ConversationFilter) -> &'static str {
    match (filter.status.is_some(), filter.widget_id.is_some()) {
        (false, false) => versioned_page_sql!(
            whole,
            "tenant_id = $1 AND (last_message_at, id) <= ($4, $5)"
        ),
        (true, false) => versioned_page_sql!(
            filtered,
            "tenant_id = $1 AND status = $4 AND (last_message_at, id) <= ($5, $6)"
        ),
        (false, true) => versioned_page_sql!(
            filtered,
            "tenant_id = $1 AND widget_id = $4 AND (last_message_at, id) <= ($5, $6)"
        ),
        (true, true) => versioned_page_sql!(
            filtered,
            "tenant_id = $1 AND status = $4 AND widget_id = $5 \
             AND (last_message_at, id) <= ($6, $7)"
        ),
    }
}

/// Every `$2`-th sort key of the list and the list's version, in one row:
/// one walk of the list's index in order, sending only the anchors. `$3` is
/// the most anchors to send (it also keeps the filters at `$4` / `$5`, as in
/// the other statements). The walk reads sort keys only, so every list kind
/// is read the same way.
macro_rules! anchors_sql {
    ($kind:ident, $where:literal) => {
        concat!(
            "SELECT ",
            list_version_sql!(),
            " AS list_version, \
               array_agg(last_message_at ORDER BY n) AS times, \
               array_agg(id ORDER BY n) AS ids \
             FROM (SELECT last_message_at, id, \
                          row_number() OVER (ORDER BY last_message_at DESC, id DESC) AS n \
                   FROM conversations WHERE ",
            $where,
            // Row n is at position n - 1 (`is_anchor`).
            ") walk WHERE n > 1 AND (n - 1) % $2 = 0 AND n <= $2 * $3"
        )
    };
}

fn anchors_query(filter: &ConversationFilter) -> &'static str {
    by_filter!(filter, anchors_sql)
}

/// The most anchors kept for one list: 100 million rows at the default
/// spacing (24 bytes each, 9 MiB), far past any list that is paged.
const MAX_ANCHORS: i64 = 400_000;

/// One row of a versioned page: the version, and a conversation unless the
/// page is empty.
struct VersionedRow {
    list_version: i64,
    conversation: Option<ConversationRow>,
}

impl FromRow<'_, PgRow> for VersionedRow {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let list_version = row.try_get("list_version")?;
        let conversation = match row.try_get::<Option<Uuid>, _>("id")? {
            Some(_) => Some(ConversationRow::from_row(row)?),
            None => None,
        };
        Ok(VersionedRow {
            list_version,
            conversation,
        })
    }
}

/// A page and the list version it was read at.
pub(crate) struct Versioned {
    pub(crate) version: i64,
    pub(crate) rows: Vec<ConversationRow>,
}

async fn fetch_versioned(
    query: crate::conversations::ListQuery<'_, VersionedRow>,
    pool: &PgPool,
) -> StoreResult<Versioned> {
    let rows = query.fetch_all(pool).await.map_err(db_err)?;
    let version = rows.first().map_or(0, |row| row.list_version);
    let rows = rows
        .into_iter()
        .filter_map(|row| row.conversation)
        .collect();
    Ok(Versioned { version, rows })
}

/// The page at `offset`, plain (also the shallow pages of `page_cache.rs`).
pub(crate) async fn plain(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<Versioned> {
    let query = bind_list(
        sqlx::query_as(plain_query(filter)),
        tenant,
        filter,
        limit,
        offset,
    );
    fetch_versioned(query, pool).await
}

/// The page that starts `skip` rows after the row at `anchor`.
pub(crate) async fn from_anchor(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    (time, id): SortKey,
    skip: u64,
) -> StoreResult<Versioned> {
    let query = bind_list(
        sqlx::query_as(from_anchor_query(filter)),
        tenant,
        filter,
        limit,
        skip,
    )
    .bind(time)
    .bind(id);
    fetch_versioned(query, pool).await
}

/// The plan of [`from_anchor`]'s statement for these arguments.
pub(crate) async fn explain_from_anchor(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    (time, id): SortKey,
    skip: u64,
) -> StoreResult<String> {
    // In `from_anchor`'s order.
    let mut args = explain_list_args(tenant, filter, limit, skip);
    args.push(time.to_rfc3339().as_str().into());
    args.push(id.into());
    explain_prepared(pool, from_anchor_query(filter), &args).await
}

/// The list's anchors and the version they were taken at.
async fn anchors(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ConversationFilter,
    spacing: u64,
) -> StoreResult<(i64, Vec<SortKey>)> {
    type Row = (i64, Option<Vec<DateTime<Utc>>>, Option<Vec<Uuid>>);
    let spacing = i64::try_from(spacing).unwrap_or(i64::MAX);
    let query = sqlx::query_as::<_, Row>(anchors_query(filter))
        .bind(tenant.0)
        .bind(spacing)
        .bind(MAX_ANCHORS);
    let (version, times, ids) = bind_filter(query, filter)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    let keys = times
        .unwrap_or_default()
        .into_iter()
        .zip(ids.unwrap_or_default())
        .collect();
    Ok((version, keys))
}

/// A plain read whose version counts towards building anchors.
async fn plain_observed(
    pool: &PgPool,
    lists: &ListAnchors,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<Versioned> {
    let page = plain(pool, tenant, filter, limit, offset).await?;
    lists.observed(tenant, shape_of(filter), page.version);
    Ok(page)
}

fn shape_of(filter: &ConversationFilter) -> ListShape {
    ListShape {
        status: filter.status,
        widget: filter.widget_id,
    }
}

/// The deep page at `offset` of the tenant's list under `filter`.
pub(crate) async fn list_deep(
    pool: &PgPool,
    lists: &ListAnchors,
    pages: &PageCache,
    tenant: TenantId,
    filter: &ConversationFilter,
    limit: u32,
    offset: u64,
) -> StoreResult<Shared<Vec<Conversation>>> {
    let shape = shape_of(filter);
    let counts = &lists.counts;
    let page = match lists.plan(tenant, shape, offset) {
        DeepRead::From(from) => {
            match pages
                .deep_page(pool, tenant, filter, limit, lists.settings(), from)
                .await?
            {
                DeepPage::Page(rows) => {
                    DeepReadCounts::count(&counts.anchored);
                    return Ok(rows);
                }
                DeepPage::Moved(seen) => {
                    DeepReadCounts::count(&counts.retried);
                    lists.observed(tenant, shape, seen);
                    plain_observed(pool, lists, tenant, filter, limit, offset).await?
                }
            }
        }
        DeepRead::Build => {
            let spacing = lists.settings().spacing;
            let built = async {
                let (version, keys) = anchors(pool, tenant, filter, spacing).await?;
                let page = match anchor_at(&keys, spacing, offset) {
                    Some((anchor, skip)) => {
                        from_anchor(pool, tenant, filter, limit, anchor, skip).await?
                    }
                    // Shorter than one spacing.
                    None => plain(pool, tenant, filter, limit, offset).await?,
                };
                StoreResult::Ok((version, keys, page))
            }
            .await;
            match built {
                Ok((version, keys, page)) if page.version == version => {
                    DeepReadCounts::count(&counts.built);
                    lists.built(tenant, shape, version, keys);
                    page
                }
                Ok(_) => {
                    DeepReadCounts::count(&counts.retried);
                    lists.build_failed(tenant, shape);
                    plain_observed(pool, lists, tenant, filter, limit, offset).await?
                }
                Err(e) => {
                    lists.build_failed(tenant, shape);
                    return Err(e);
                }
            }
        }
        DeepRead::Plain => {
            DeepReadCounts::count(&counts.plain);
            plain_observed(pool, lists, tenant, filter, limit, offset).await?
        }
    };
    all(page.rows, ConversationRow::into_model).map(Shared::new)
}
