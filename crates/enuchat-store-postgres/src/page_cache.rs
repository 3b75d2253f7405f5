//! Shallow pages of the conversation list kept in memory and served while the
//! tenant's list version says they are still what PostgreSQL would answer.
//!
//! A list page costs PostgreSQL an index walk and two look-ups by primary key
//! per row (about 285 µs of its CPU per request, `bench/profiles/README.md`,
//! session 12), and the server decoding 20 rows. Checking that a page read
//! earlier is still current costs one look-up of the tenant's row in
//! `conversation_list_versions`. That row moves on in the same transaction as
//! every change to anything a list shows (see `list_anchors.rs`): appends,
//! new conversations, status, assignee and hand-off changes, visitors' names
//! and emails, operators leaving, demo imports. Bumps of one tenant are
//! serialized by the row's lock, and a transaction's commit is visible before
//! its locks are released, so a snapshot that sees version V sees every
//! change committed with a version up to V and none after. A page read in one
//! statement together with version V (`deep_pages::plain`) is therefore
//! exactly what a read would return now if the version still reads V, on
//! whichever instance the change was made.
//!
//! A list that changes all the time would pay the check and then the read.
//! After stale checks in a row its next reads skip the check (1, 3, 7, then
//! 15 reads by default), and one fresh hit resets that. Memory is bounded by
//! the number of conversations held (an empty page counts as one), least
//! recently used pages forgotten first.

use crate::deep_pages;
use crate::error::db_err;
use crate::rows::*;
use enuchat_domain::deep_pages::ListShape;
use enuchat_domain::store::StoreResult;
use enuchat_domain::*;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How much an instance keeps and how it backs off from lists that change
/// all the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCacheSettings {
    /// Conversations held at most, over all pages; 0 keeps nothing.
    pub max_rows: usize,
    /// Reads after stale checks in a row skip the check at most this many
    /// times (0: every read with a page held checks).
    pub max_skips: u32,
}

impl Default for PageCacheSettings {
    fn default() -> Self {
        PageCacheSettings {
            // About 300 bytes each: some 6 MiB.
            max_rows: 20_000,
            max_skips: 15,
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

struct Entry {
    version: i64,
    page: Arc<[Conversation]>,
    /// Stale checks in a row, and how many reads still skip the check.
    stale_in_a_row: u32,
    skips_left: u32,
    used: u64,
}

/// How the shallow pages read so far were served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageCacheReads {
    /// From memory, the version unchanged.
    pub hits: u64,
    /// Checked, found changed, then read.
    pub stale: u64,
    /// Read without a check (nothing held, or skipping after stale checks).
    pub read: u64,
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    stale: AtomicU64,
    read: AtomicU64,
}

struct Pages {
    entries: HashMap<PageKey, Entry>,
    rows: usize,
    tick: u64,
}

pub(crate) struct PageCache {
    settings: PageCacheSettings,
    pages: Mutex<Pages>,
    counts: Counts,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("settings", &self.settings)
            .field("reads", &self.reads())
            .finish_non_exhaustive()
    }
}

/// What to do for one read.
enum Plan {
    /// Serve `page` if the list is still at `version`.
    Check {
        version: i64,
        page: Arc<[Conversation]>,
    },
    Read,
}

impl PageCache {
    pub(crate) fn new(settings: PageCacheSettings) -> PageCache {
        PageCache {
            settings,
            pages: Mutex::new(Pages {
                entries: HashMap::new(),
                rows: 0,
                tick: 0,
            }),
            counts: Counts::default(),
        }
    }

    pub(crate) fn reads(&self) -> PageCacheReads {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        PageCacheReads {
            hits: get(&self.counts.hits),
            stale: get(&self.counts.stale),
            read: get(&self.counts.read),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pages> {
        // The map is consistent after every statement; a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self, key: &PageKey) -> Plan {
        let mut pages = self.lock();
        pages.tick += 1;
        let tick = pages.tick;
        match pages.entries.get_mut(key) {
            Some(entry) if entry.skips_left == 0 => {
                entry.used = tick;
                Plan::Check {
                    version: entry.version,
                    page: entry.page.clone(),
                }
            }
            Some(entry) => {
                entry.skips_left -= 1;
                Plan::Read
            }
            None => Plan::Read,
        }
    }

    fn hit(&self, key: &PageKey) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.stale_in_a_row = 0;
        }
    }

    fn stale(&self, key: &PageKey) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.stale_in_a_row = entry.stale_in_a_row.saturating_add(1);
            // 1, 3, 7, 15 reads without a check.
            let skips = 1u32
                .checked_shl(entry.stale_in_a_row.min(8))
                .unwrap_or(u32::MAX);
            entry.skips_left = (skips - 1).min(self.settings.max_skips);
        }
    }

    /// Keeps `page`, read at `version`, unless a newer version of it is held.
    fn fill(&self, key: PageKey, version: i64, page: &[Conversation]) {
        if cost(page.len()) > self.settings.max_rows {
            return;
        }
        let mut pages = self.lock();
        pages.tick += 1;
        let tick = pages.tick;
        let page: Arc<[Conversation]> = page.into();
        let rows = cost(page.len());
        let old_rows = match pages.entries.get_mut(&key) {
            // Reads that overlap can finish out of order.
            Some(entry) if entry.version > version => return,
            Some(entry) => {
                let old = cost(entry.page.len());
                entry.version = version;
                entry.page = page;
                entry.used = tick;
                old
            }
            None => {
                pages.entries.insert(
                    key,
                    Entry {
                        version,
                        page,
                        stale_in_a_row: 0,
                        skips_left: 0,
                        used: tick,
                    },
                );
                0
            }
        };
        pages.rows = pages.rows - old_rows + rows;
        if pages.rows > self.settings.max_rows {
            self.forget_oldest(&mut pages);
        }
    }

    /// Forgets the least recently used pages until a tenth of the room is
    /// free again: one pass over the entries for many fills, not one per
    /// fill.
    fn forget_oldest(&self, pages: &mut Pages) {
        let goal = self.settings.max_rows - self.settings.max_rows / 10;
        let mut by_age: Vec<(u64, PageKey)> = pages
            .entries
            .iter()
            .map(|(key, entry)| (entry.used, *key))
            .collect();
        by_age.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in by_age {
            if pages.rows <= goal {
                break;
            }
            if let Some(gone) = pages.entries.remove(&key) {
                pages.rows -= cost(gone.page.len());
            }
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
    ) -> StoreResult<Vec<Conversation>> {
        let key = PageKey {
            tenant,
            shape: ListShape {
                status: filter.status,
                widget: filter.widget_id,
            },
            limit,
            offset,
        };
        if self.settings.max_rows > 0 {
            if let Plan::Check { version, page } = self.plan(&key) {
                if current_version(pool, tenant).await? == version {
                    count(&self.counts.hits);
                    self.hit(&key);
                    return Ok(page.to_vec());
                }
                count(&self.counts.stale);
                self.stale(&key);
            } else {
                count(&self.counts.read);
            }
        }
        let read = deep_pages::plain(pool, tenant, filter, limit, offset).await?;
        let page = all(read.rows, ConversationRow::into_model)?;
        if self.settings.max_rows > 0 {
            self.fill(key, read.version, &page);
        }
        Ok(page)
    }
}

/// What a page counts against `max_rows`: its conversations, and at least
/// one, so that empty pages (past a list's end) are bounded too.
fn cost(rows: usize) -> usize {
    rows.max(1)
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The tenant's list version now; 0 before its first change.
async fn current_version(pool: &PgPool, tenant: TenantId) -> StoreResult<i64> {
    sqlx::query_scalar(concat!("SELECT ", deep_pages::list_version_sql!()))
        .bind(tenant.0)
        .fetch_one(pool)
        .await
        .map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn key(offset: u64) -> PageKey {
        PageKey {
            tenant: TenantId(uuid::Uuid::nil()),
            shape: ListShape {
                status: None,
                widget: None,
            },
            limit: 2,
            offset,
        }
    }

    fn conversations(n: usize) -> Vec<Conversation> {
        (0..n)
            .map(|_| Conversation {
                id: ConversationId::new(),
                tenant_id: TenantId(uuid::Uuid::nil()),
                widget_id: WidgetId(uuid::Uuid::nil()),
                visitor_id: VisitorId::generate(),
                visitor_name: None,
                visitor_email: None,
                visitor_language: None,
                status: ConversationStatus::Open,
                assigned_to: None,
                last_message_at: Utc::now(),
                started_at: Utc::now(),
                last_seq: 0,
                handed_off_at: None,
            })
            .collect()
    }

    fn cache(max_rows: usize) -> PageCache {
        PageCache::new(PageCacheSettings {
            max_rows,
            ..Default::default()
        })
    }

    fn checked_version(cache: &PageCache, key: &PageKey) -> Option<i64> {
        match cache.plan(key) {
            Plan::Check { version, .. } => Some(version),
            Plan::Read => None,
        }
    }

    #[test]
    fn a_held_page_is_checked_against_its_version() {
        let cache = cache(10);
        assert_eq!(checked_version(&cache, &key(0)), None);
        cache.fill(key(0), 3, &conversations(2));
        assert_eq!(checked_version(&cache, &key(0)), Some(3));
        // An older read finishing late does not replace a newer page.
        cache.fill(key(0), 2, &conversations(2));
        assert_eq!(checked_version(&cache, &key(0)), Some(3));
        cache.fill(key(0), 4, &conversations(2));
        assert_eq!(checked_version(&cache, &key(0)), Some(4));
    }

    #[test]
    fn stale_checks_in_a_row_skip_more_checks_until_a_hit() {
        let cache = cache(10);
        cache.fill(key(0), 1, &conversations(2));
        let skips_after_a_stale_check = |cache: &PageCache| {
            cache.stale(&key(0));
            let mut skipped = 0;
            while checked_version(cache, &key(0)).is_none() {
                skipped += 1;
            }
            skipped
        };
        let rounds: Vec<u32> = (0..5).map(|_| skips_after_a_stale_check(&cache)).collect();
        assert_eq!(rounds, [1, 3, 7, 15, 15]);
        cache.hit(&key(0));
        assert_eq!(skips_after_a_stale_check(&cache), 1);

        let always = PageCache::new(PageCacheSettings {
            max_skips: 0,
            ..Default::default()
        });
        always.fill(key(0), 1, &conversations(2));
        assert_eq!(skips_after_a_stale_check(&always), 0);
        assert_eq!(skips_after_a_stale_check(&always), 0);
    }

    #[test]
    fn the_least_recently_used_pages_go_first_when_full() {
        let cache = cache(4);
        cache.fill(key(0), 1, &conversations(2));
        cache.fill(key(2), 1, &conversations(2));
        // Page 0 used again: page 2 is now the oldest.
        assert!(checked_version(&cache, &key(0)).is_some());
        cache.fill(key(4), 1, &conversations(2));
        assert!(checked_version(&cache, &key(0)).is_some());
        assert!(checked_version(&cache, &key(2)).is_none());
        assert!(checked_version(&cache, &key(4)).is_some());
        assert_eq!(cache.lock().rows, 4);
        // A page larger than the whole cache is not kept.
        cache.fill(key(6), 1, &conversations(5));
        assert!(checked_version(&cache, &key(6)).is_none());
        assert_eq!(cache.lock().rows, 4);
    }

    #[test]
    fn empty_pages_count_too() {
        let cache = cache(100);
        for offset in 0..1_000 {
            cache.fill(key(offset), 1, &[]);
        }
        let pages = cache.lock();
        assert!(pages.rows <= 100 && pages.entries.len() == pages.rows);
        // The newest are kept.
        assert!(pages.entries.contains_key(&key(999)));
    }

    #[test]
    fn a_cache_of_no_rows_keeps_nothing() {
        let cache = cache(0);
        cache.fill(key(0), 1, &conversations(1));
        assert!(checked_version(&cache, &key(0)).is_none());
    }
}
