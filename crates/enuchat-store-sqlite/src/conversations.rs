//! Conversations, always read joined with their visitor.

use crate::list_anchors::{anchor_at, is_anchor, DeepRead, ListShape, SortKey, Ticket};
use crate::page_cache::{BlockKey, BlockLookup, PageKey};
use crate::rows::{all, conversation_columns, ConversationRow};
use crate::{db, now_us, sql_int, write_err, SqliteStore};
use enuchat_domain::deep_pages::DeepReadCounts;
use enuchat_domain::store::{ConversationFilter, StoreResult};
use enuchat_domain::*;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use sqlx::SqliteConnection;
use std::time::Instant;

macro_rules! conversation_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN visitors v ON v.id = c.visitor_id "
        )
    };
}

/// One query per filter shape, each matching one of the list indexes so that
/// SQLite walks a page in order instead of sorting. Parameters: tenant, then
/// the filters present (status before widget), then limit and offset.
// The page is cut by a subquery on the list's index, which steps over the
// OFFSET rows in the index and reads table columns only for the page's own
// rows (SQLite defers the table seek until a column is read). Only those
// rows are then joined with their visitors: with a plain join, a deep
// OFFSET joined every skipped row (measured 142-220 ms at offset 90,000 of
// 100,000 against 3 ms this way). The unfiltered list's index carries
// every column read here and `visitors_list` a visitor's name and email
// (migration 20261201000000), so that page touches no table at all.
//
// `CROSS JOIN` keeps the subquery as the outer loop, so rows come out in
// its order. An outer `ORDER BY` would sort every page in a temporary
// B-tree; `Page::rows` puts the rows in list order instead, which costs one
// pass over rows that already are.
//
// `INDEXED BY` names each shape's index: `conversations_recent` holds the
// filter columns too, and without statistics SQLite would rather walk it
// and filter than seek the filter's own index (a rare status would then
// walk the whole list); and it would look visitors up by their primary
// key's index, which is not covering, rather than `visitors_list`.
macro_rules! list_page {
    ($index:literal, $filter:literal) => {
        list_page!($index, $filter, "")
    };
    ($index:literal, $filter:literal, $from:literal) => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM (SELECT ",
            list_row_columns!(),
            " FROM conversations INDEXED BY ",
            $index,
            " WHERE tenant_id = ? ",
            $filter,
            $from,
            " ORDER BY last_message_at DESC, id DESC LIMIT ? OFFSET ?) c \
             CROSS JOIN visitors v INDEXED BY visitors_list ON v.id = c.visitor_id"
        )
    };
}

/// The conversation columns of a list row: those of `conversation_columns!`
/// that are not the visitor's, all of them in `conversations_recent`.
macro_rules! list_row_columns {
    () => {
        "id, tenant_id, widget_id, visitor_id, visitor_language, status, assigned_to, \
         last_message_at, started_at, last_seq, handed_off_at"
    };
}

/// The same page counted from an anchor (`list_anchors.rs`): from the row
/// whose sort key is (last_message_at, id) = (?, ?) on, in list order. The
/// row value is what the index seeks to (`EXPLAIN QUERY PLAN`:
/// `(last_message_at,id)<(?,?)`), so the walk starts at the anchor.
/// Parameters: tenant, filters, the anchor's time and id, limit, offset.
macro_rules! list_page_from {
    ($index:literal, $filter:literal) => {
        list_page!($index, $filter, " AND (last_message_at, id) <= (?, ?)")
    };
}

/// Every row's sort key in list order, read from the index alone: the walk
/// that anchors are taken from. Parameters: tenant, filters.
macro_rules! list_keys {
    ($index:literal, $filter:literal) => {
        concat!(
            "SELECT last_message_at, id FROM conversations INDEXED BY ",
            $index,
            " WHERE tenant_id = ? ",
            $filter,
            " ORDER BY last_message_at DESC, id DESC"
        )
    };
}

/// The three queries of one filter shape.
pub(crate) struct ListQueries {
    pub(crate) page: &'static str,
    pub(crate) page_from: &'static str,
    pub(crate) keys: &'static str,
}

macro_rules! list_queries {
    ($index:literal, $filter:literal) => {
        ListQueries {
            page: list_page!($index, $filter),
            page_from: list_page_from!($index, $filter),
            keys: list_keys!($index, $filter),
        }
    };
}

pub(crate) const LIST_ALL: ListQueries = list_queries!("conversations_recent", "");
pub(crate) const LIST_BY_STATUS: ListQueries =
    list_queries!("conversations_status_recent", "AND status = ?");
pub(crate) const LIST_BY_WIDGET: ListQueries =
    list_queries!("conversations_widget_recent", "AND widget_id = ?");
pub(crate) const LIST_BY_STATUS_AND_WIDGET: ListQueries = list_queries!(
    "conversations_widget_status_recent",
    "AND status = ? AND widget_id = ?"
);
/// Deeper pages walk this many index entries or more before the page, which
/// is too long to do on an async thread (see `read_pool`).
const INLINE_OFFSET_MAX: u64 = 1_000;

const GET_CONVERSATION: &str =
    concat!(conversation_select!(), "WHERE c.tenant_id = ? AND c.id = ?");

/// Reads one conversation on `conn`, which may be inside a write transaction.
async fn fetch(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: ConversationId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(GET_CONVERSATION)
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    row.map(ConversationRow::into_model).transpose()
}

pub(crate) const VISITOR_CONVERSATION: &str = concat!(
    conversation_select!(),
    "WHERE c.visitor_id = ? AND c.tenant_id = ?"
);

/// Reads a visitor's conversation (at most one: `conversations_visitor` is
/// unique) on `conn`, which may be inside a write transaction.
async fn fetch_for_visitor(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    visitor: &VisitorId,
) -> StoreResult<Option<Conversation>> {
    let row: Option<ConversationRow> = sqlx::query_as(VISITOR_CONVERSATION)
        .bind(visitor.as_str())
        .bind(tenant.0)
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    row.map(ConversationRow::into_model).transpose()
}

/// What [`SqliteStore::page_from_block`] made of a deep page.
enum FromBlock {
    Cut(Shared<Vec<Conversation>>),
    /// The list changed while the block was read: read the page the plain way.
    Changed,
    /// No block could be used: read the page from its anchor.
    Unused(Ticket),
}

/// Where a deep page's block starts: the anchor at `position` of a list
/// (`list_anchors.rs`).
struct BlockAt {
    tenant: TenantId,
    shape: ListShape,
    position: u64,
    anchor: SortKey,
}

/// One page of a Tenant API conversation list, read the plain way or from
/// an anchor.
#[derive(Clone)]
struct Page {
    /// Tenant, then the filters present.
    filters: Vec<Value>,
    limit: u32,
    offset: u64,
}

impl Page {
    fn rows(
        &self,
        c: &Connection,
        sql: &str,
        extra: &[Value],
        offset: u64,
    ) -> rusqlite::Result<Vec<ConversationRow>> {
        let params = self.filters.iter().chain(extra).cloned().chain([
            Value::from(i64::from(self.limit)),
            Value::from(sql_int(offset)),
        ]);
        let mut rows = c
            .prepare_cached(sql)?
            .query_map(params_from_iter(params), ConversationRow::read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // The statement returns them in this order (`list_page!`), which
        // SQLite does not promise without an ORDER BY; on sorted input this
        // is one comparison per row.
        rows.sort_by_key(|row| std::cmp::Reverse(row.list_order()));
        Ok(rows)
    }

    fn plain(
        &self,
        c: &Connection,
        queries: &ListQueries,
    ) -> rusqlite::Result<Vec<ConversationRow>> {
        self.rows(c, queries.page, &[], self.offset)
    }

    fn starting_at(
        &self,
        c: &Connection,
        queries: &ListQueries,
        (time, id): SortKey,
        skip: u64,
    ) -> rusqlite::Result<Vec<ConversationRow>> {
        let anchor = [Value::from(time), Value::from(id.as_bytes().to_vec())];
        self.rows(c, queries.page_from, &anchor, skip)
    }

    /// Walks the whole list for its anchors, then reads the page from them.
    fn building_anchors(
        &self,
        c: &Connection,
        queries: &ListQueries,
        spacing: u64,
    ) -> rusqlite::Result<(Vec<SortKey>, Vec<ConversationRow>)> {
        // Streamed: only every `spacing`-th key is kept (a million rows
        // leave 4,000 anchors at the default spacing).
        let mut keys = c.prepare_cached(queries.keys)?;
        let mut keys = keys.query(params_from_iter(self.filters.iter()))?;
        let mut anchors = Vec::new();
        let mut position = 0;
        while let Some(key) = keys.next()? {
            if is_anchor(position, spacing) {
                anchors.push((key.get::<_, i64>(0)?, key.get::<_, uuid::Uuid>(1)?));
            }
            position += 1;
        }
        let rows = match anchor_at(&anchors, spacing, self.offset) {
            Some((anchor, skip)) => self.starting_at(c, queries, anchor, skip)?,
            None => self.plain(c, queries)?,
        };
        Ok((anchors, rows))
    }
}

impl SqliteStore {
    pub(crate) async fn create_conversation_impl(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        let id = ConversationId::new();
        let now = now_us();
        let mut tx = self.begin_conversation_write(tenant).await?;
        // The EXISTS checks make "widget and visitor are this tenant's" part of
        // the insert itself.
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, tenant_id, widget_id, visitor_id, status, \
             visitor_language, last_seq, last_message_at, started_at) \
             SELECT ?1, ?2, ?3, ?4, 'open', ?5, 0, ?6, ?6 \
             WHERE EXISTS (SELECT 1 FROM widgets WHERE tenant_id = ?2 AND id = ?3) \
               AND EXISTS (SELECT 1 FROM visitors WHERE tenant_id = ?2 AND id = ?4)",
        )
        .bind(id.0)
        .bind(tenant.0)
        .bind(new.widget_id.0)
        .bind(new.visitor_id.as_str())
        .bind(new.visitor_language.as_ref().map(LanguageCode::as_str))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match write_err(e, "widget") {
            // The only unique column besides the fresh id is the visitor.
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "visitor {} already has a conversation",
                new.visitor_id
            )),
            other => other,
        })?;

        if inserted.rows_affected() == 0 {
            // Nothing was written; find out which reference to blame.
            let widget_ok: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM widgets WHERE tenant_id = ? AND id = ?)",
            )
            .bind(tenant.0)
            .bind(new.widget_id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            let missing = if widget_ok { "visitor" } else { "widget" };
            return Err(StoreError::MissingReference(missing));
        }

        let created = fetch(&mut tx, tenant, id).await?;
        tx.commit().await.map_err(db)?;
        created.ok_or_else(|| StoreError::Database("created conversation vanished".into()))
    }

    pub(crate) async fn get_or_create_visitor_conversation_impl(
        &self,
        tenant: TenantId,
        new: NewConversation,
    ) -> StoreResult<Conversation> {
        let id = ConversationId::new();
        let now = now_us();
        // BEGIN IMMEDIATE serialises this with every other writer, and the
        // unique index on visitor_id turns a second insert into a no-op, so
        // concurrent calls for one visitor all end up reading the same row.
        let mut tx = self.begin_conversation_write(tenant).await?;
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, tenant_id, widget_id, visitor_id, status, \
             visitor_language, last_seq, last_message_at, started_at) \
             SELECT ?1, ?2, ?3, ?4, 'open', ?5, 0, ?6, ?6 \
             WHERE EXISTS (SELECT 1 FROM widgets WHERE tenant_id = ?2 AND id = ?3) \
               AND EXISTS (SELECT 1 FROM visitors WHERE tenant_id = ?2 AND id = ?4) \
             ON CONFLICT (visitor_id) DO NOTHING",
        )
        .bind(id.0)
        .bind(tenant.0)
        .bind(new.widget_id.0)
        .bind(new.visitor_id.as_str())
        .bind(new.visitor_language.as_ref().map(LanguageCode::as_str))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| write_err(e, "widget"))?;

        if inserted.rows_affected() == 0 {
            // Either a reference is not the tenant's, or the conversation
            // exists already; the references are checked first so that a
            // foreign widget is refused even for a visitor who has written.
            let (widget_ok, visitor_ok): (bool, bool) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM widgets WHERE tenant_id = ?1 AND id = ?2), \
                        EXISTS (SELECT 1 FROM visitors WHERE tenant_id = ?1 AND id = ?3)",
            )
            .bind(tenant.0)
            .bind(new.widget_id.0)
            .bind(new.visitor_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if !widget_ok {
                return Err(StoreError::MissingReference("widget"));
            }
            if !visitor_ok {
                return Err(StoreError::MissingReference("visitor"));
            }
        }

        let conversation = fetch_for_visitor(&mut tx, tenant, &new.visitor_id).await?;
        tx.commit().await.map_err(db)?;
        conversation.ok_or_else(|| {
            StoreError::Database(format!(
                "visitor {} has a conversation under another tenant",
                new.visitor_id
            ))
        })
    }

    pub(crate) async fn visitor_conversation_impl(
        &self,
        tenant: TenantId,
        visitor: &VisitorId,
    ) -> StoreResult<Option<Conversation>> {
        let row = self
            .reads
            .read(|c| {
                c.prepare_cached(VISITOR_CONVERSATION)?
                    .query_row((visitor.as_str(), tenant.0), ConversationRow::read)
                    .optional()
            })
            .await?;
        row.map(ConversationRow::into_model).transpose()
    }

    pub(crate) async fn get_conversation_impl(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        let row = self
            .reads
            .read(|c| {
                c.prepare_cached(GET_CONVERSATION)?
                    .query_row((tenant.0, id.0), ConversationRow::read)
                    .optional()
            })
            .await?;
        row.map(ConversationRow::into_model).transpose()
    }

    pub(crate) async fn list_conversations_impl(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>> {
        let shape = ListShape {
            status: filter.status,
            widget: filter.widget_id,
        };
        if self.pages.enabled() && !self.lists.is_deep(offset) {
            let key = PageKey {
                tenant,
                shape,
                limit,
                offset,
            };
            // Taken before the read begins (why: `page_cache.rs`).
            if let Some(epoch) = self.pages.epoch_for("a list page").await {
                if let Some(page) = self.pages.get(&key, epoch) {
                    return Ok(page);
                }
                let page = self.read_page(tenant, shape, filter, limit, offset).await?;
                self.pages.put(key, epoch, page.clone());
                return Ok(page);
            }
        }
        self.read_page(tenant, shape, filter, limit, offset).await
    }

    /// The page read from the database, or cut from a held block.
    async fn read_page(
        &self,
        tenant: TenantId,
        shape: ListShape,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>> {
        let queries = match (filter.status, filter.widget_id) {
            (None, None) => &LIST_ALL,
            (Some(_), None) => &LIST_BY_STATUS,
            (None, Some(_)) => &LIST_BY_WIDGET,
            (Some(_), Some(_)) => &LIST_BY_STATUS_AND_WIDGET,
        };
        let mut filters = vec![Value::from(tenant.0.as_bytes().to_vec())];
        if let Some(status) = filter.status {
            filters.push(Value::from(status.as_str().to_owned()));
        }
        if let Some(widget) = filter.widget_id {
            filters.push(Value::from(widget.0.as_bytes().to_vec()));
        }
        let page = Page {
            filters,
            limit,
            offset,
        };
        let mut plan = self.lists.plan(tenant, shape, offset);
        // The epoch asked for by a renewal that found it moved: read before
        // the walk that follows, so that walk needs no second asking.
        let mut epoch_before_walk = None;
        if let DeepRead::Renew { ticket, epoch } = plan {
            // Unchanged: nothing was committed since the anchors were
            // walked, so they are exact and another walk would find the same.
            let now = self.pages.epoch_for("a list's anchors").await;
            plan = if now == Some(epoch) {
                self.lists.renew(ticket, offset)
            } else {
                epoch_before_walk = now;
                DeepRead::Build(ticket)
            };
        }
        let rows = match plan {
            DeepRead::Plain => None,
            DeepRead::From {
                ticket,
                anchor,
                skip,
            } => {
                let block = BlockAt {
                    tenant,
                    shape,
                    position: offset - skip,
                    anchor,
                };
                match self
                    .page_from_block(&page, queries, block, ticket, skip)
                    .await?
                {
                    FromBlock::Cut(page) => return Ok(page),
                    FromBlock::Changed => None,
                    FromBlock::Unused(ticket) => {
                        let read = page.clone();
                        let rows = self
                            .deep_reads
                            .read(move |c| read.starting_at(c, queries, anchor, skip))
                            .await?;
                        self.lists.finish(ticket, None).then_some(rows)
                    }
                }
            }
            DeepRead::Build(ticket) | DeepRead::Renew { ticket, .. } => {
                // Taken before the walk: while it stays the same, nothing
                // was committed since and the anchors need no new walk.
                let epoch = match epoch_before_walk {
                    Some(epoch) => Some(epoch),
                    None => self.pages.epoch_for("a list's anchors").await,
                };
                let spacing = self.lists.spacing();
                let read = page.clone();
                let (anchors, rows) = self
                    .deep_reads
                    .read_off_thread(move |c| read.building_anchors(c, queries, spacing))
                    .await?;
                self.lists
                    .finish_with_epoch(ticket, Some(anchors), epoch)
                    .then_some(rows)
            }
        };
        let rows = match rows {
            Some(rows) => rows,
            None if offset <= INLINE_OFFSET_MAX => {
                self.reads.read(move |c| page.plain(c, queries)).await?
            }
            None => {
                self.deep_reads
                    .read_off_thread(move |c| page.plain(c, queries))
                    .await?
            }
        };
        all(rows, ConversationRow::into_model).map(Shared::new)
    }

    /// The deep page `skip` rows past `block`'s anchor, cut from the block
    /// held for it (read and held first if a page wanted it before at this
    /// epoch). Not used when no blocks are kept or the page is larger than a
    /// block allows.
    ///
    /// A block is read now from the same anchor as the page, so it is exactly
    /// as current as reading the page from that anchor would be, whatever
    /// was committed since the anchors were read. Held, it is dropped at the
    /// next commit by anyone (`page_cache.rs`), and it is found only by reads
    /// whose anchors put the same row at the same position: anchors built
    /// again with nothing changed there find it, anchors that another
    /// process's commits moved do not.
    async fn page_from_block(
        &self,
        page: &Page,
        queries: &'static ListQueries,
        block: BlockAt,
        ticket: Ticket,
        skip: u64,
    ) -> StoreResult<FromBlock> {
        let anchors = self.lists.settings();
        if !self.pages.blocks_enabled() || !anchors.in_block(skip, page.limit) {
            return Ok(FromBlock::Unused(ticket));
        }
        // Asked before the block is read, as for a shallow page.
        let Some(epoch) = self.pages.epoch_for("a deep page's block").await else {
            return Ok(FromBlock::Unused(ticket));
        };
        let key = BlockKey {
            page: PageKey {
                tenant: block.tenant,
                shape: block.shape,
                limit: u32::try_from(anchors.block_length()).unwrap_or(u32::MAX),
                offset: block.position,
            },
            anchor: block.anchor,
        };
        let held = match self.pages.get_block(&key, epoch, Instant::now()) {
            BlockLookup::Held(held) => {
                DeepReadCounts::count(&self.lists.counts.anchored);
                held
            }
            BlockLookup::NotYet => return Ok(FromBlock::Unused(ticket)),
            BlockLookup::Read => {
                let read = Page {
                    filters: page.filters.clone(),
                    limit: key.page.limit,
                    offset: block.position,
                };
                let anchor = block.anchor;
                // Hundreds of rows: off the runtime's threads, so that the
                // blocks read after a commit do not hold up other requests.
                let rows = self
                    .deep_reads
                    .read_off_thread(move |c| read.starting_at(c, queries, anchor, 0))
                    .await?;
                // A write of this process under way or committed meanwhile:
                // the block may not match its anchor's position.
                if !self.lists.finish(ticket, None) {
                    return Ok(FromBlock::Changed);
                }
                let held = Shared::new(all(rows, ConversationRow::into_model)?);
                self.pages.put_block(key, epoch, held.clone());
                held
            }
        };
        Ok(FromBlock::Cut(held.cut(skip, page.limit)))
    }

    pub(crate) async fn update_conversation_impl(
        &self,
        tenant: TenantId,
        id: ConversationId,
        patch: ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        if patch.is_empty() {
            return self.get_conversation_impl(tenant, id).await;
        }
        let mut tx = self.begin_conversation_write(tenant).await?;
        if let Some(Some(operator)) = patch.assigned_to {
            // The foreign key only proves the operator exists somewhere; the
            // tenant must match too.
            let ours: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM operators WHERE tenant_id = ? AND id = ?)",
            )
            .bind(tenant.0)
            .bind(operator.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if !ours {
                return Err(StoreError::MissingReference("operator"));
            }
        }
        // Assigning an operator hands the conversation to humans.
        let updated = sqlx::query(
            "UPDATE conversations SET \
               status = COALESCE(?1, status), \
               assigned_to = CASE WHEN ?2 THEN ?3 ELSE assigned_to END, \
               handed_off_at = CASE WHEN ?3 IS NOT NULL THEN COALESCE(handed_off_at, ?6) \
                                    ELSE handed_off_at END \
             WHERE tenant_id = ?4 AND id = ?5",
        )
        .bind(patch.status.map(ConversationStatus::as_str))
        .bind(patch.assigned_to.is_some())
        .bind(patch.assigned_to.flatten().map(|op| op.0))
        .bind(tenant.0)
        .bind(id.0)
        .bind(now_us())
        .execute(&mut *tx)
        .await
        .map_err(|e| write_err(e, "operator"))?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let conversation = fetch(&mut tx, tenant, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(conversation)
    }

    pub(crate) async fn set_handed_off_impl(
        &self,
        tenant: TenantId,
        id: ConversationId,
        pending: bool,
    ) -> StoreResult<Option<Conversation>> {
        let mut tx = self.begin_conversation_write(tenant).await?;
        let updated = sqlx::query(
            "UPDATE conversations SET handed_off_at = COALESCE(handed_off_at, ?1), \
               status = CASE WHEN ?2 THEN 'pending' ELSE status END \
             WHERE tenant_id = ?3 AND id = ?4",
        )
        .bind(now_us())
        .bind(pending)
        .bind(tenant.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let conversation = fetch(&mut tx, tenant, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(conversation)
    }
}

/// What a new message's jobs depend on, in one read on `conn`, the
/// appender's (or the AI reply's writer) inside the append's transaction.
pub(crate) fn read_facts(
    conn: &rusqlite::Connection,
    tenant: TenantId,
    id: ConversationId,
) -> rusqlite::Result<Option<ConversationFacts>> {
    conn.prepare_cached(
        "SELECT w.id, w.translation_enabled, w.ai_enabled, t.operator_language, \
                c.visitor_language, c.handed_off_at IS NOT NULL \
         FROM conversations c \
         JOIN widgets w ON w.id = c.widget_id \
         JOIN tenants t ON t.id = c.tenant_id \
         WHERE c.tenant_id = ? AND c.id = ?",
    )?
    .query_row((tenant.0, id.0), |row| {
        Ok(ConversationFacts {
            widget_id: row.get::<_, uuid::Uuid>(0)?.into(),
            translation_enabled: row.get(1)?,
            ai_enabled: row.get(2)?,
            operator_language: row.get(3)?,
            visitor_language: row.get(4)?,
            handed_off: row.get(5)?,
        })
    })
    .optional()
}
