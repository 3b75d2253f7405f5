//! Pages of the conversation list kept in memory and served while the
//! tenant's list version says they are still what PostgreSQL would answer.
//!
//! A list page costs PostgreSQL an index walk and two look-ups by primary key
//! per row (about 285 µs of its CPU per request, `bench/profiles/README.md`,
//! session 12), and the server decoding 20 rows. Checking that a page read
//! earlier is still current costs one read of the tenant's version in
//! `conversation_list_versions` (the sum of its few stripes). It moves on in
//! the same transaction as every change to anything a list shows (see
//! `list_anchors.rs`): appends, new conversations, status, assignee and
//! hand-off changes, visitors' names and emails, operators leaving, demo
//! imports. Every such change adds to it, and of two snapshots one sees
//! every committed change the other sees, so two snapshots that read the
//! same version see the same changes. A page read in one
//! statement together with version V (`deep_pages::plain`) is therefore
//! exactly what a read would return now if the version still reads V, on
//! whichever instance the change was made.
//!
//! Deep pages are held the same way, a *block* at a time: the rows from one
//! of the list's anchors (`list_anchors.rs`) to the next, and a largest page
//! more, so that every page starting in the block is a slice of it. A block
//! is read from its anchor in one statement, together with the version, and
//! served while that version holds, exactly like a shallow page. Anchors
//! exist only for lists read deep at one version twice in a row, so blocks
//! are read only for lists that stay put long enough to be paged through.
//!
//! Backing off from lists that change all the time and the bound on memory
//! are `versioned_cache.rs`'s; here a page costs its conversations (an empty
//! page counts as one). All pages of a tenant check the same version, so
//! reads that arrive together share their checks (`shared_checks.rs`).

use crate::deep_pages;
use crate::error::db_err;
use crate::list_anchors::FromAnchor;
use crate::rows::*;
use crate::shared_checks::SharedChecks;
use crate::versioned_cache::{CacheReads, Cost, Limits, Plan, VersionedCache};
use enuchat_domain::deep_pages::{AnchorSettings, ListShape};
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;

/// How much an instance keeps and how it backs off from lists that change
/// all the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCacheSettings {
    /// Conversations held at most, over all pages; 0 keeps nothing.
    pub max_rows: usize,
    /// Reads after stale checks in a row skip the check at most this many
    /// times (0: every read with a page held checks).
    pub max_skips: u32,
    /// Conversations held at most in deep pages' blocks; 0 keeps none.
    pub max_block_rows: usize,
}

impl Default for PageCacheSettings {
    fn default() -> Self {
        PageCacheSettings {
            // About 300 bytes each, and about as much again for the page's
            // JSON once the HTTP layer rendered it: some 12 MiB.
            max_rows: 20_000,
            max_skips: 15,
            // 100 blocks at the default anchor spacing (256 rows and a
            // largest page), about 10 MiB, and as much again for the rows'
            // JSON once pages cut from them were rendered: the deepest
            // tenth of a 250,000-conversation list.
            max_block_rows: 100 * AnchorSettings::default().block_length() as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PageKey {
    tenant: TenantId,
    shape: ListShape,
    limit: u32,
    offset: u64,
}

/// Every read of a held page gets the same [`Shared`] page, so the HTTP
/// layer renders it once (`shared.rs` in the domain crate).
#[derive(Clone)]
struct Page(Shared<Vec<Conversation>>);

impl Cost for Page {
    fn cost(&self) -> usize {
        self.0.len().max(1)
    }
}

#[derive(Debug)]
pub(crate) struct PageCache {
    pages: VersionedCache<PageKey, Page>,
    /// Deep pages' blocks, keyed like a page (`limit` the block's length,
    /// `offset` its anchor's position).
    blocks: VersionedCache<PageKey, Page>,
    versions: SharedChecks<TenantId, i64>,
}

/// A deep page read through [`PageCache::deep_page`].
pub(crate) enum DeepPage {
    Page(Shared<Vec<Conversation>>),
    /// The list is no longer at the anchors' version (seen at the one given).
    Moved(i64),
}

impl PageCache {
    pub(crate) fn new(settings: PageCacheSettings) -> PageCache {
        let limits = |max_cost| Limits {
            max_cost,
            max_skips: settings.max_skips,
            max_age: None,
            // List versions only move forward.
            ordered_versions: true,
        };
        PageCache {
            pages: VersionedCache::new(limits(settings.max_rows)),
            blocks: VersionedCache::new(limits(settings.max_block_rows)),
            versions: SharedChecks::default(),
        }
    }

    /// How deep pages' blocks were served.
    pub(crate) fn block_reads(&self) -> CacheReads {
        self.blocks.reads()
    }

    pub(crate) fn reads(&self) -> CacheReads {
        CacheReads {
            shared_checks: self.versions.shared(),
            ..self.pages.reads()
        }
    }

    /// The tenant's page under `filter` at `limit` / `offset`.
    pub(crate) async fn list(
        &self,
        pool: &PgPool,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Shared<Vec<Conversation>>> {
        let key = PageKey {
            tenant,
            shape: ListShape {
                status: filter.status,
                widget: filter.widget_id,
            },
            limit,
            offset,
        };
        if self.pages.enabled() {
            if let Plan::Check { version, value } = self.pages.plan(&key) {
                let now = self
                    .versions
                    .check(tenant, current_version(pool.clone(), tenant))
                    .await?;
                if now == version {
                    self.pages.hit(&key);
                    return Ok(value.0);
                }
                self.pages.stale(&key);
            }
        }
        let read = deep_pages::plain(pool, tenant, filter, limit, offset).await?;
        let page = Shared::new(all(read.rows, ConversationRow::into_model)?);
        if self.pages.enabled() {
            self.pages.fill(key, read.version, Page(page.clone()));
        }
        Ok(page)
    }
}

impl PageCache {
    /// The deep page that starts `from` an anchor, as a slice of the
    /// anchor's block. Without room for blocks, or for a page larger than a
    /// block allows, the page is read from the anchor alone.
    pub(crate) async fn deep_page(
        &self,
        pool: &PgPool,
        tenant: TenantId,
        filter: &ConversationFilter,
        limit: u32,
        anchors: &AnchorSettings,
        from: FromAnchor,
    ) -> StoreResult<DeepPage> {
        let FromAnchor {
            version,
            anchor,
            position,
            skip,
        } = from;
        let length = u32::try_from(anchors.block_length()).unwrap_or(u32::MAX);
        if !self.blocks.enabled() || !anchors.in_block(skip, limit) {
            let read = deep_pages::from_anchor(pool, tenant, filter, limit, anchor, skip).await?;
            return Ok(if read.version == version {
                DeepPage::Page(Shared::new(all(read.rows, ConversationRow::into_model)?))
            } else {
                DeepPage::Moved(read.version)
            });
        }
        let key = PageKey {
            tenant,
            shape: ListShape {
                status: filter.status,
                widget: filter.widget_id,
            },
            limit: length,
            offset: position,
        };
        if let Plan::Check {
            version: held,
            value,
        } = self.blocks.plan(&key)
        {
            let now = self
                .versions
                .check(tenant, current_version(pool.clone(), tenant))
                .await?;
            if now == held {
                self.blocks.hit(&key);
                return Ok(DeepPage::Page(value.0.cut(skip, limit)));
            }
            self.blocks.stale(&key);
            if now != version {
                // The anchors are stale too.
                return Ok(DeepPage::Moved(now));
            }
        }
        let read = deep_pages::from_anchor(pool, tenant, filter, length, anchor, 0).await?;
        if read.version != version {
            return Ok(DeepPage::Moved(read.version));
        }
        let block = Shared::new(all(read.rows, ConversationRow::into_model)?);
        let page = block.cut(skip, limit);
        self.blocks.fill(key, read.version, Page(block));
        Ok(DeepPage::Page(page))
    }
}

/// The tenant's list version now; 0 before its first change.
async fn current_version(pool: PgPool, tenant: TenantId) -> StoreResult<i64> {
    sqlx::query_scalar(concat!("SELECT ", deep_pages::list_version_sql!()))
        .bind(tenant.0)
        .fetch_one(&pool)
        .await
        .map_err(db_err)
}
