//! Reads kept in memory until anything at all is committed to the database:
//! shallow pages of the conversation lists, the *blocks* that deep pages are
//! cut from (the rows from one of a list's anchors to the next, and a
//! largest page more; `conversations.rs`), and conversation details (a
//! conversation with its newest messages).
//!
//! A page costs SQLite an index walk, then a conversation and its visitor
//! looked up by primary key per row: at 9,000 lists/s that was 40% of the
//! server's time (`bench/profiles/README.md`, session 23). Learning whether
//! anything was committed since a page was read costs one
//! `PRAGMA data_version` on a connection kept for that question: SQLite
//! changes the value it returns whenever another connection committed since
//! that connection last asked, whether the commit came from this process
//! (the appender, the writer) or another one (`enuchat demo` on the same
//! file). So this needs no bookkeeping in the writers and sees every writer.
//! It is coarse: any commit, of any tenant, drops every page held, which is
//! right for a list read far more often than written and costs one pragma
//! where lists change all the time.
//!
//! Why a held page is what a read would return now: the *epoch* moves on
//! each time the detector sees a new `data_version`, and a page is held with
//! the epoch seen just before its read began. Take a commit C and a later
//! read R that finds the epoch unchanged since a page P was read. R's own
//! question comes after C, so if the detector had not seen C before, R's
//! question sees it and moves the epoch: R misses. If the detector saw C
//! earlier, that sight moved the epoch, so P's epoch came after it, and P's
//! read, begun after P's epoch was taken, started after C was committed and
//! shows it. Either way a page never hides a commit from a read that began
//! after the commit (a message acknowledged with a 2xx was committed before
//! the acknowledgement).

use crate::list_anchors::SortKey;
use crate::read_pool::ReadPool;
use enuchat_domain::deep_pages::{AnchorSettings, ListShape};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{Conversation, ConversationDetail, ConversationId, Shared, TenantId};
use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many conversations an instance keeps in list pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCacheSettings {
    /// Conversations held at most, over all shallow pages; 0 keeps none.
    pub max_rows: usize,
    /// Conversations held at most in deep pages' blocks; 0 keeps none.
    pub max_block_rows: usize,
    /// Bytes held at most in conversation details (counted as
    /// [`ConversationDetail::approximate_bytes`]); 0 keeps none.
    pub max_detail_bytes: usize,
}

impl Default for PageCacheSettings {
    fn default() -> Self {
        PageCacheSettings {
            // About 300 bytes each and as much again for a page's JSON once
            // the HTTP layer rendered it: some 12 MiB.
            max_rows: 20_000,
            // 100 blocks at the default anchor spacing (256 rows and a
            // largest page), about 10 MiB, and as much again for the rows'
            // JSON once pages cut from them were rendered.
            max_block_rows: 100 * AnchorSettings::default().block_length() as usize,
            // Some 600 conversations of 50 short messages.
            max_detail_bytes: 16 << 20,
        }
    }
}

/// How list pages were read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCacheReads {
    /// Served from memory.
    pub hits: u64,
    /// Read from the database (and held, if nothing was committed meanwhile).
    pub misses: u64,
}

/// A conversation's detail with at most `limit` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DetailKey {
    pub(crate) tenant: TenantId,
    pub(crate) id: ConversationId,
    pub(crate) limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub(crate) tenant: TenantId,
    pub(crate) shape: ListShape,
    pub(crate) limit: u32,
    pub(crate) offset: u64,
}

/// A deep page's block: `page.limit` rows from `anchor`, the row that the
/// list's anchors put at position `page.offset` (`list_anchors.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    pub(crate) page: PageKey,
    pub(crate) anchor: SortKey,
}

/// What a deep read finds for its block.
pub(crate) enum BlockLookup {
    Held(Shared<Vec<Conversation>>),
    /// Asked for before at this epoch, and nobody reads it: worth reading
    /// whole and holding.
    Read,
    /// Read the page alone. Either the block is asked for the first time at
    /// this epoch (a block costs several pages, so it is read only once a
    /// second page wants it before the next commit: where commits come
    /// faster than deep pages, as on a busy instance of many tenants, no
    /// block is read only to be dropped), or another read is reading it.
    NotYet,
}

/// Keys asked for and not held at an epoch, at most: past this the ones
/// noted are forgotten (which only delays their blocks).
const MAX_WANTED: usize = 4096;

/// A block read that did not put its block within this long (it failed, or
/// its caller was dropped) no longer keeps others from reading it.
const READ_GIVEN_UP: Duration = Duration::from_secs(1);

pub(crate) struct PageCache {
    /// One connection, asked `PRAGMA data_version` and nothing else.
    detector: ReadPool,
    epoch: Mutex<Epoch>,
    pages: Held<PageKey, Shared<Vec<Conversation>>>,
    blocks: Held<BlockKey, Shared<Vec<Conversation>>>,
    details: Held<DetailKey, Shared<ConversationDetail>>,
}

/// What a held answer counts against its kind's bound; at least 1, so that
/// empty answers are bounded too.
trait Cost {
    fn cost(&self) -> usize;
}

impl Cost for Shared<Vec<Conversation>> {
    /// Conversations.
    fn cost(&self) -> usize {
        self.len().max(1)
    }
}

impl Cost for Shared<ConversationDetail> {
    /// Bytes.
    fn cost(&self) -> usize {
        self.approximate_bytes()
    }
}

/// Answers of one kind (shallow pages, deep pages' blocks, details) and
/// their bound.
struct Held<K, V> {
    max_cost: usize,
    pages: Mutex<Pages<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Epoch {
    /// What the detector's connection last answered.
    seen: Option<i64>,
    number: u64,
}

/// Every answer held was read at `epoch`.
struct Pages<K, V> {
    epoch: u64,
    cost: usize,
    held: HashMap<K, V>,
    /// Asked for and not held at `epoch`, and since when one read reads it
    /// (blocks only: [`BlockLookup`]).
    wanted: HashMap<K, Option<Instant>>,
}

impl<K, V> Pages<K, V> {
    fn start_over(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.cost = 0;
        self.held.clear();
        self.wanted.clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves its state whole at every step.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PageCache {
    pub(crate) fn new(path: PathBuf, settings: PageCacheSettings) -> PageCache {
        PageCache {
            detector: ReadPool::new(path, 1),
            epoch: Mutex::new(Epoch {
                seen: None,
                number: 0,
            }),
            pages: Held::new(settings.max_rows),
            blocks: Held::new(settings.max_block_rows),
            details: Held::new(settings.max_detail_bytes),
        }
    }

    /// Whether shallow pages are kept.
    pub(crate) fn enabled(&self) -> bool {
        self.pages.max_cost > 0
    }

    /// Whether deep pages' blocks are kept.
    pub(crate) fn blocks_enabled(&self) -> bool {
        self.blocks.max_cost > 0
    }

    /// Whether details are kept.
    pub(crate) fn details_enabled(&self) -> bool {
        self.details.max_cost > 0
    }

    pub(crate) fn detail_reads(&self) -> PageCacheReads {
        self.details.reads()
    }

    pub(crate) fn reads(&self) -> PageCacheReads {
        self.pages.reads()
    }

    pub(crate) fn block_reads(&self) -> PageCacheReads {
        self.blocks.reads()
    }

    pub(crate) fn close(&self) {
        self.detector.close();
    }

    /// The epoch now: asks the database whether anything was committed since
    /// the last time.
    pub(crate) async fn epoch(&self) -> StoreResult<u64> {
        let asked = self
            .detector
            .read(|connection| {
                let version: i64 = connection
                    .prepare_cached("PRAGMA data_version")?
                    .query_row([], |row| row.get(0))?;
                // Under the detector's one connection: answers are taken in
                // the order SQLite gave them.
                let mut epoch = lock(&self.epoch);
                if epoch.seen != Some(version) {
                    epoch.seen = Some(version);
                    epoch.number += 1;
                }
                Ok(epoch.number)
            })
            .await;
        if asked.is_err() {
            // The next answer may come from a new connection, whose values
            // start over: whatever it says then moves the epoch on.
            lock(&self.epoch).seen = None;
        }
        asked
    }

    /// The epoch for a read of `what` that may use or keep something held, or
    /// `None` (logged) when SQLite could not be asked: the caller then reads
    /// as if nothing were held, and keeps nothing.
    pub(crate) async fn epoch_for(&self, what: &'static str) -> Option<u64> {
        match self.epoch().await {
            Ok(epoch) => Some(epoch),
            Err(err) => {
                tracing::warn!(%err, what, "could not ask SQLite for changes; read afresh");
                None
            }
        }
    }

    /// The page held for `key` if it was read at `epoch`.
    pub(crate) fn get(&self, key: &PageKey, epoch: u64) -> Option<Shared<Vec<Conversation>>> {
        self.pages.get(key, epoch)
    }

    /// Holds `page`, read after the epoch was `epoch`, unless something was
    /// committed since.
    pub(crate) fn put(&self, key: PageKey, epoch: u64, page: Shared<Vec<Conversation>>) {
        self.pages.put(key, epoch, page)
    }

    /// The block held for `key` if it was read at `epoch`, or whether to read
    /// it (`now` tells a read under way from one given up).
    pub(crate) fn get_block(&self, key: &BlockKey, epoch: u64, now: Instant) -> BlockLookup {
        match self.blocks.get_or_want(key, epoch, now) {
            Ok(block) => BlockLookup::Held(block),
            Err(true) => BlockLookup::Read,
            Err(false) => BlockLookup::NotYet,
        }
    }

    /// Holds a block as [`put`](Self::put) holds a page.
    pub(crate) fn put_block(&self, key: BlockKey, epoch: u64, block: Shared<Vec<Conversation>>) {
        self.blocks.put(key, epoch, block)
    }

    /// The detail held for `key` if it was read at `epoch`.
    pub(crate) fn get_detail(
        &self,
        key: &DetailKey,
        epoch: u64,
    ) -> Option<Shared<ConversationDetail>> {
        self.details.get(key, epoch)
    }

    /// Holds a detail as [`put`](Self::put) holds a page.
    pub(crate) fn put_detail(
        &self,
        key: DetailKey,
        epoch: u64,
        detail: Shared<ConversationDetail>,
    ) {
        self.details.put(key, epoch, detail)
    }
}

impl<K: Eq + Hash, V: Clone + Cost> Held<K, V> {
    fn new(max_cost: usize) -> Self {
        Held {
            max_cost,
            pages: Mutex::new(Pages {
                epoch: 0,
                cost: 0,
                held: HashMap::new(),
                wanted: HashMap::new(),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn reads(&self) -> PageCacheReads {
        PageCacheReads {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn get(&self, key: &K, epoch: u64) -> Option<V> {
        self.look_up(key, epoch, |_, _| ()).ok()
    }

    /// As [`get`](Self::get), or whether the caller is to read the answer:
    /// when `key` was asked for before at `epoch` and no read of it is under
    /// way (the caller's read is then noted as under way).
    fn get_or_want(&self, key: &K, epoch: u64, now: Instant) -> Result<V, bool>
    where
        K: Clone,
    {
        self.look_up(key, epoch, |pages, key| {
            if pages.epoch != epoch {
                return false;
            }
            if let Some(reading) = pages.wanted.get_mut(key) {
                let free = reading.is_none_or(|since| now.duration_since(since) >= READ_GIVEN_UP);
                if free {
                    *reading = Some(now);
                }
                return free;
            }
            if pages.wanted.len() >= MAX_WANTED {
                pages.wanted.clear();
            }
            pages.wanted.insert(key.clone(), None);
            false
        })
    }

    /// The answer held for `key` at `epoch`, or what `missed` says.
    fn look_up<M>(
        &self,
        key: &K,
        epoch: u64,
        missed: impl FnOnce(&mut Pages<K, V>, &K) -> M,
    ) -> Result<V, M> {
        let mut pages = lock(&self.pages);
        if epoch > pages.epoch {
            pages.start_over(epoch);
        }
        let held = (pages.epoch == epoch)
            .then(|| pages.held.get(key).cloned())
            .flatten();
        let counter = if held.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        held.ok_or_else(|| missed(&mut pages, key))
    }

    /// When the answers held would pass `max_cost`, the others are dropped
    /// first: all of them go at the next commit anyway.
    fn put(&self, key: K, epoch: u64, page: V) {
        let cost = page.cost();
        let mut pages = lock(&self.pages);
        if epoch < pages.epoch || cost > self.max_cost {
            return;
        }
        if epoch > pages.epoch {
            pages.start_over(epoch);
        }
        if let Some(replaced) = pages.held.remove(&key) {
            pages.cost -= replaced.cost();
        }
        if pages.cost + cost > self.max_cost {
            pages.start_over(epoch);
        }
        pages.cost += cost;
        pages.held.insert(key, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key(offset: u64) -> PageKey {
        PageKey {
            tenant: TenantId(Uuid::nil()),
            shape: ListShape {
                status: None,
                widget: None,
            },
            limit: 20,
            offset,
        }
    }

    fn page(rows: usize) -> Shared<Vec<Conversation>> {
        let conversation = Conversation {
            id: enuchat_domain::ConversationId(Uuid::nil()),
            tenant_id: TenantId(Uuid::nil()),
            widget_id: enuchat_domain::WidgetId(Uuid::nil()),
            visitor_id: enuchat_domain::VisitorId::parse("v-1").expect("visitor id"),
            visitor_name: None,
            visitor_email: None,
            visitor_language: None,
            status: enuchat_domain::ConversationStatus::Open,
            assigned_to: None,
            last_message_at: chrono::Utc::now(),
            started_at: chrono::Utc::now(),
            last_seq: 0,
            handed_off_at: None,
        };
        Shared::new(vec![conversation; rows])
    }

    fn database() -> (tempfile::TempDir, PathBuf, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pages.db");
        let writer = rusqlite::Connection::open(&path).expect("open");
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .expect("setup");
        (dir, path, writer)
    }

    #[tokio::test]
    async fn the_epoch_moves_on_with_every_commit_of_another_connection() {
        let (_dir, path, writer) = database();
        let cache = PageCache::new(path, PageCacheSettings::default());
        let first = cache.epoch().await.expect("epoch");
        assert_eq!(
            cache.epoch().await.expect("epoch"),
            first,
            "nothing committed"
        );
        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        let second = cache.epoch().await.expect("epoch");
        assert!(second > first);
        assert_eq!(cache.epoch().await.expect("epoch"), second);
        // A transaction still open is not a commit.
        writer
            .execute_batch("BEGIN; INSERT INTO t VALUES (2);")
            .expect("begin");
        assert_eq!(cache.epoch().await.expect("epoch"), second);
        writer.execute_batch("COMMIT").expect("commit");
        assert!(cache.epoch().await.expect("epoch") > second);
    }

    #[tokio::test]
    async fn pages_are_served_only_at_the_epoch_they_were_read_at() {
        let (_dir, path, writer) = database();
        let cache = PageCache::new(path, PageCacheSettings::default());
        let before = cache.epoch().await.expect("epoch");
        let held = page(3);
        cache.put(key(0), before, held.clone());
        let got = cache.get(&key(0), before).expect("held");
        assert!(Shared::same(&got, &held));
        assert!(cache.get(&key(1), before).is_none(), "another page");

        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        let after = cache.epoch().await.expect("epoch");
        assert!(cache.get(&key(0), after).is_none(), "dropped at the commit");
        // A page read before the commit but put after it is not held.
        cache.put(key(0), before, page(3));
        assert!(cache.get(&key(0), after).is_none());
        cache.put(key(0), after, page(3));
        assert!(cache.get(&key(0), after).is_some());
        assert_eq!(cache.reads(), PageCacheReads { hits: 2, misses: 3 });
    }

    fn block(offset: u64, anchor: u128) -> BlockKey {
        BlockKey {
            page: key(offset),
            anchor: (0, Uuid::from_u128(anchor)),
        }
    }

    fn lookup_at(cache: &PageCache, key: BlockKey, epoch: u64, now: Instant) -> &'static str {
        match cache.get_block(&key, epoch, now) {
            BlockLookup::Held(_) => "held",
            BlockLookup::Read => "read",
            BlockLookup::NotYet => "not yet",
        }
    }

    fn lookup(cache: &PageCache, key: BlockKey, epoch: u64) -> &'static str {
        lookup_at(cache, key, epoch, Instant::now())
    }

    #[tokio::test]
    async fn a_block_is_read_once_a_second_page_wants_it_at_the_same_epoch() {
        let (_dir, path, writer) = database();
        let cache = PageCache::new(path, PageCacheSettings::default());
        let epoch = cache.epoch().await.expect("epoch");
        assert_eq!(lookup(&cache, block(0, 1), epoch), "not yet");
        assert_eq!(lookup(&cache, block(3, 1), epoch), "not yet", "another");
        assert_eq!(lookup(&cache, block(0, 1), epoch), "read");
        cache.put_block(block(0, 1), epoch, page(3));
        assert_eq!(lookup(&cache, block(0, 1), epoch), "held");
        assert_eq!(
            lookup(&cache, block(0, 2), epoch),
            "not yet",
            "from another row"
        );

        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        let after = cache.epoch().await.expect("epoch");
        assert_eq!(lookup(&cache, block(0, 1), after), "not yet", "dropped");
        assert_eq!(lookup(&cache, block(3, 1), after), "not yet", "forgotten");
        assert_eq!(lookup(&cache, block(0, 1), after), "read");
        // An epoch already gone: read, never held.
        assert_eq!(lookup(&cache, block(0, 1), epoch), "not yet");
        assert_eq!(lookup(&cache, block(0, 1), epoch), "not yet");
        assert_eq!(cache.block_reads(), PageCacheReads { hits: 1, misses: 9 });
    }

    #[tokio::test]
    async fn one_read_reads_a_block_until_it_is_given_up() {
        let (_dir, path, _writer) = database();
        let cache = PageCache::new(path, PageCacheSettings::default());
        let epoch = cache.epoch().await.expect("epoch");
        let start = Instant::now();
        assert_eq!(lookup_at(&cache, block(0, 1), epoch, start), "not yet");
        assert_eq!(lookup_at(&cache, block(0, 1), epoch, start), "read");
        assert_eq!(
            lookup_at(&cache, block(0, 1), epoch, start),
            "not yet",
            "read by the one before"
        );
        let later = start + READ_GIVEN_UP;
        assert_eq!(lookup_at(&cache, block(0, 1), epoch, later), "read");
        assert_eq!(lookup_at(&cache, block(0, 1), epoch, later), "not yet");
        cache.put_block(block(0, 1), epoch, page(3));
        assert_eq!(lookup_at(&cache, block(0, 1), epoch, later), "held");
    }

    #[tokio::test]
    async fn blocks_wanted_are_bounded() {
        let (_dir, path, _writer) = database();
        let cache = PageCache::new(path, PageCacheSettings::default());
        let epoch = cache.epoch().await.expect("epoch");
        for offset in 1..MAX_WANTED as u64 {
            assert_eq!(lookup(&cache, block(offset, 1), epoch), "not yet");
        }
        assert_eq!(lookup(&cache, block(1, 1), epoch), "read");
        assert_eq!(lookup(&cache, block(0, 1), epoch), "not yet", "the last");
        assert_eq!(lookup(&cache, block(u64::MAX, 1), epoch), "not yet");
        assert_eq!(lookup(&cache, block(2, 1), epoch), "not yet", "forgotten");
        assert!(lock(&cache.blocks.pages).wanted.len() <= MAX_WANTED);
    }

    #[tokio::test]
    async fn held_rows_stay_within_the_bound() {
        let (_dir, path, _writer) = database();
        let cache = PageCache::new(
            path,
            PageCacheSettings {
                max_rows: 5,
                ..PageCacheSettings::default()
            },
        );
        let epoch = cache.epoch().await.expect("epoch");
        cache.put(key(0), epoch, page(3));
        cache.put(key(0), epoch, page(2));
        cache.put(key(1), epoch, page(3));
        assert!(cache.get(&key(0), epoch).is_some(), "2 + 3 rows fit");
        assert!(cache.get(&key(1), epoch).is_some());
        cache.put(key(2), epoch, page(1));
        assert!(cache.get(&key(2), epoch).is_some());
        assert!(cache.get(&key(0), epoch).is_none(), "started over");
        assert!(cache.get(&key(1), epoch).is_none());
        cache.put(key(3), epoch, page(6));
        assert!(cache.get(&key(3), epoch).is_none(), "larger than the bound");

        // Holding a page again counts it once.
        let epoch = cache.epoch().await.expect("epoch");
        cache.put(key(0), epoch, page(3));
        cache.put(key(1), epoch, page(2));
        cache.put(key(0), epoch, page(3));
        assert!(cache.get(&key(1), epoch).is_some(), "3 + 2 rows still fit");

        let off = PageCache::new(
            _dir.path().join("pages.db"),
            PageCacheSettings {
                max_rows: 0,
                ..PageCacheSettings::default()
            },
        );
        assert!(!off.enabled());
    }
}
