//! The SQLite implementation of the enuchat [`Store`].
//!
//! One database file in WAL mode. SQLite allows many readers but one writer at
//! a time, so the store keeps these connections to the same file:
//! - two writer connections that take turns in a fair queue (`writer.rs`)
//!   instead of meeting on SQLite's busy handler: the message appender's,
//!   on a thread of its own, and a pool of exactly one for all other writes;
//! - reader connections, which WAL lets run alongside the writer without
//!   blocking: the hot reads on rusqlite connections run where they are
//!   awaited (`read_pool.rs`), the others on an sqlx pool. Deep list pages
//!   have a pool of their own whose connections map the database file into
//!   memory (`ReadPool::mapped`), so that only they pay for the map;
//! - a checkpoint thread's connection, which copies committed pages from the
//!   WAL into the database file off the commit path (`checkpointer.rs`).
//!
//! Message appends, the hot write, do not take the writer one by one: the
//! appender writes every append waiting at that moment in one transaction
//! (`appender.rs`, group commit).
//!
//! Every multi-statement write runs in `BEGIN IMMEDIATE`, taking the write lock
//! before the first read: a deferred transaction that reads and then writes can
//! fail with `SQLITE_BUSY` when another process wrote in between, and no
//! amount of waiting fixes that. `busy_timeout` covers the remaining
//! contention (another process holding the lock).
//!
//! Ids are 16-byte BLOBs, timestamps INTEGER microseconds since the Unix epoch
//! (UTC), booleans 0/1: the same columns and meaning as the PostgreSQL backend.

mod api_keys;
mod appender;
mod backup;
mod checkpointer;
mod conversations;
// Issue 6: charges, the job queue and knowledge entries.
mod credits;
mod dashboard;
mod demo;
mod jobs;
mod knowledge;
mod list_anchors;
mod messages;
mod page_cache;
#[cfg(test)]
mod plan_tests;
mod rate_limits;
mod raw_connection;
mod read_pool;
mod rows;
mod store_impl;
mod tenants;
#[cfg(test)]
mod test_wal;
mod widgets;
mod writer;

use appender::Appender;
pub use backup::{backup, BackupError};
use chrono::{DateTime, Utc};
pub use enuchat_domain::deep_pages::{AnchorSettings, DeepPageReads};
use enuchat_domain::store::StoreResult;
use enuchat_domain::{StoreError, TenantId, Timestamp};
use list_anchors::ListAnchors;
use page_cache::PageCache;
pub use page_cache::{PageCacheReads, PageCacheSettings};
use read_pool::ReadPool;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use writer::{WriteTurn, WriteTx, Writer};

/// Readers allowed at once; WAL lets them run while the writer works.
const MAX_READERS: u32 = 8;
/// How long a statement waits for another process's write lock before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `url` asks for SQLite's in-memory database, which this store
/// replaces with a temporary file (and which has nothing to back up).
pub(crate) fn is_throwaway(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// A [`Store`](enuchat_domain::Store) backed by one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    /// Writes other than message appends, in turn with the appender.
    writer: Writer,
    reader: SqlitePool,
    /// The hot reads (pages, a conversation, message facts).
    reads: ReadPool,
    /// Deep pages of the conversation lists, on connections that map the
    /// file (`read_pool.rs`, [`read_pool::READER_MMAP_BYTES`]).
    deep_reads: ReadPool,
    /// Message appends, written in groups on a connection of their own.
    appender: Appender,
    /// Where deep pages of the Tenant API's conversation lists start.
    lists: Arc<ListAnchors>,
    /// Shallow list pages, held until the next commit (`page_cache.rs`).
    pages: Arc<PageCache>,
    /// Deletes a throwaway database's files once the last clone is dropped.
    _throwaway: Option<Arc<ThrowawayFile>>,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database at `url`:
    /// `sqlite://path/to/file.db`, or `sqlite::memory:` for a throwaway one.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        Self::connect_with(url, AnchorSettings::default()).await
    }

    /// [`connect`](Self::connect) with deep-page anchors set as given.
    pub async fn connect_with(
        url: &str,
        anchors: AnchorSettings,
    ) -> Result<SqliteStore, StoreError> {
        // A throwaway database is a temporary file rather than SQLite's
        // in-memory database: readers on their own connections need a file
        // to share, and it then behaves exactly like a real one.
        let (options, throwaway) = if is_throwaway(url) {
            let file = ThrowawayFile::new();
            let options = SqliteConnectOptions::new().filename(&file.0);
            (options, Some(Arc::new(file)))
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Database(format!("invalid SQLite URL {url:?}: {e}")))?;
            (options, None)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit returns only once the WAL is on disk, so a
            // message acknowledged with a 2xx survives a power loss or a
            // kernel crash too, as on PostgreSQL. NORMAL would save that
            // sync (~0.3 ms per commit here; appends share one per batch)
            // but lose the commits since the last checkpoint on power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let writer_options = options.clone().pragma(
            "wal_autocheckpoint",
            checkpointer::WRITER_BACKSTOP_PAGES.to_string(),
        );
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(writer_options)
            .await
            .map_err(db)?;
        // Migrate before any reader opens, so readers never see a half-built schema.
        migrate(&writer).await?;
        let reads = ReadPool::new(options.get_filename().to_owned(), MAX_READERS as usize);
        let pages = Arc::new(PageCache::new(
            options.get_filename().to_owned(),
            PageCacheSettings::default(),
        ));
        // Opened when first needed: a server nobody pages deep has none.
        let deep_reads = ReadPool::mapped(options.get_filename().to_owned(), MAX_READERS as usize);
        let turn = WriteTurn::new();
        let checkpointer = checkpointer::Checkpointer::start(
            options.get_filename().to_owned(),
            turn.clone(),
            checkpointer::RESTART_PAGES,
        )
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
        let lists = Arc::new(ListAnchors::new(anchors));
        let appender = Appender::start(
            options.get_filename(),
            checkpointer.clone(),
            turn.clone(),
            lists.clone(),
        )?;
        // No idle timeout or lifetime on either pool: connections to a local
        // file have no reason to be recycled, and without those sqlx starts no
        // maintenance task. That task can spin a core forever in sqlx 0.8.6
        // (a race in its idle count: sqlx issue 3645, fixed upstream in PR 4289,
        // not yet released); a CI run hung on it.
        // Nor a ping before each use (sqlx's default): a connection to a
        // local file does not go stale the way a network one does, and the
        // ping is one more round trip to the connection's worker thread per
        // acquire (per append batch for the writer).
        let reader = SqlitePoolOptions::new()
            .max_connections(MAX_READERS)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(SqliteStore {
            appender,
            lists,
            pages,
            writer: Writer::new(writer, turn, checkpointer),
            reader,
            reads,
            deep_reads,
            _throwaway: throwaway,
        })
    }

    /// Moves everything committed from the WAL into the database file, then
    /// closes every connection. The database file alone is then a complete
    /// copy: copying it without its `-wal` file after a stop loses nothing.
    pub(crate) async fn close_impl(&self) {
        self.appender.stop().await;
        self.writer.stop_checkpoints().await;
        // (busy, WAL frames, frames checkpointed); busy = 1 when a reader or
        // another process kept it from finishing.
        let checkpoint: Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer.pool)
                .await;
        match checkpoint {
            Ok((0, _, _)) => {}
            Ok(_) => tracing::warn!("the WAL could not be checkpointed at close: in use elsewhere"),
            Err(e) => tracing::warn!(error = %e, "the WAL could not be checkpointed at close"),
        }
        self.reads.close();
        self.deep_reads.close();
        self.pages.close();
        self.reader.close().await;
        self.writer.pool.close().await;
    }

    /// Starts a write transaction holding SQLite's write lock from the start.
    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx> {
        self.writer.begin().await
    }

    /// The same, for a write that may change the tenant's conversation lists
    /// (order, status, membership): deep-page anchors of the tenant are not
    /// used from now until after the commit or rollback (`list_anchors.rs`).
    pub(crate) async fn begin_conversation_write(&self, tenant: TenantId) -> StoreResult<WriteTx> {
        let mut tx = self.writer.begin().await?;
        tx.hold(self.lists.changing([tenant]));
        Ok(tx)
    }

    fn pool_counts(pool: &SqlitePool) -> (u32, u32) {
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        (pool.size().saturating_sub(idle), idle)
    }

    /// The same store holding list pages as `settings` say (tests turn it
    /// off, or compare it with a store that keeps nothing).
    pub fn with_page_cache(mut self, settings: PageCacheSettings) -> Self {
        // Clones made before keep the pages they share.
        let path = self.reads.path().to_owned();
        self.pages = Arc::new(PageCache::new(path, settings));
        self
    }

    /// How the Tenant API's shallow conversation pages were read so far.
    pub fn page_cache_reads(&self) -> PageCacheReads {
        self.pages.reads()
    }

    /// How conversation details were read so far.
    pub fn detail_cache_reads(&self) -> PageCacheReads {
        self.pages.detail_reads()
    }

    /// How the blocks that deep pages are cut from were read so far.
    pub fn deep_block_reads(&self) -> PageCacheReads {
        self.pages.block_reads()
    }

    /// How the Tenant API's deep conversation pages were read so far.
    pub fn deep_page_reads(&self) -> DeepPageReads {
        self.lists.counts.snapshot()
    }

    pub(crate) fn stats(&self) -> (u32, u32) {
        [
            Self::pool_counts(&self.writer.pool),
            Self::pool_counts(&self.reader),
            self.reads.counts(),
            self.deep_reads.counts(),
            self.appender.counts(),
        ]
        .into_iter()
        .fold((0, 0), |(used, idle), (u, i)| (used + u, idle + i))
    }
}

/// A database file in the temporary directory, deleted (with its WAL and
/// shared-memory files) on drop. A process killed before that leaves it
/// behind, as any temporary file.
struct ThrowawayFile(PathBuf);

impl ThrowawayFile {
    fn new() -> ThrowawayFile {
        let name = format!("enuchat-throwaway-{}.db", uuid::Uuid::now_v7());
        ThrowawayFile(std::env::temp_dir().join(name))
    }
}

impl Drop for ThrowawayFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            // Missing files are fine: SQLite may have removed them already.
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::migrate!()
        .run(pool)
        .await
        .map_err(|e| StoreError::Database(format!("migrating the SQLite database: {e}")))
}

/// Any database failure the caller cannot fix.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The same, from the connections used through rusqlite (the hot reads, the
/// appender's raw handle).
pub(crate) fn sqlite(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// For inserts and updates: a broken unique rule is a `Conflict` and a broken
/// foreign key means the referenced row (`missing`) does not exist.
pub(crate) fn write_err(e: sqlx::Error, missing: &'static str) -> StoreError {
    if let sqlx::Error::Database(inner) = &e {
        match inner.kind() {
            sqlx::error::ErrorKind::UniqueViolation => {
                return StoreError::Conflict(inner.message().to_owned())
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return StoreError::MissingReference(missing)
            }
            _ => {}
        }
    }
    db(e)
}

/// Now, in stored form. Reading the clock once per write keeps every time
/// written by one call identical.
pub(crate) fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

pub(crate) fn to_us(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_us(us: i64) -> StoreResult<Timestamp> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Database(format!("timestamp out of range: {us}")))
}

pub(crate) fn opt_from_us(us: Option<i64>) -> StoreResult<Option<Timestamp>> {
    us.map(from_us).transpose()
}

/// SQLite binds signed 64-bit integers; page sizes beyond that mean "all".
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::ThrowawayFile;

    /// No pool of the store recycles connections, so sqlx runs no pool
    /// maintenance task, nor pings them before use (see `connect`).
    #[tokio::test]
    async fn the_pools_start_no_maintenance_task_and_send_no_pings() {
        let store = super::SqliteStore::connect("sqlite::memory:")
            .await
            .expect("connect");
        for pool in [&store.writer.pool, &store.reader] {
            let options = pool.options();
            assert_eq!(
                (options.get_idle_timeout(), options.get_max_lifetime()),
                (None, None)
            );
            assert!(!options.get_test_before_acquire(), "no ping per acquire");
        }
    }

    /// Commits wait for the disk (`connect`); readers only read, so their
    /// setting does not matter.
    #[tokio::test]
    async fn the_writer_syncs_every_commit() {
        let store = super::SqliteStore::connect("sqlite::memory:")
            .await
            .expect("connect");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.writer.pool)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
    }

    #[test]
    fn a_throwaway_database_leaves_no_files_behind() {
        let file = ThrowawayFile::new();
        let path = file.0.clone();
        let wal = format!("{}-wal", path.display());
        std::fs::write(&path, b"db").expect("write");
        std::fs::write(&wal, b"wal").expect("write");
        drop(file);
        assert!(!path.exists());
        assert!(!std::path::Path::new(&wal).exists());
    }

    /// The build's statement-journal threshold (`.cargo/config.toml`) must
    /// let a journal pass it: past it, the journal moves to a temporary file,
    /// and with a threshold SQLite cannot write in one piece every such
    /// statement failed ("database or disk is full"). This one journals
    /// about 10 MB: each of 20,000 rows changes, and a unique index makes it
    /// a statement that may have to be undone alone.
    #[test]
    fn a_statement_that_journals_megabytes_inside_a_transaction_succeeds() {
        let file = ThrowawayFile::new();
        let c = rusqlite::Connection::open(&file.0).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE);
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO t SELECT i, printf('%0500d', i) FROM n;
             BEGIN;
             UPDATE t SET v = v || 'a' WHERE id = 1;",
        )
        .expect("set up");
        let changed = c.execute("UPDATE t SET v = v || 'b'", []);
        c.execute_batch("COMMIT").expect("commit");
        assert_eq!(changed.expect("the large statement"), 20000);
        let ends: i64 = c
            .query_row("SELECT count(*) FROM t WHERE v LIKE '%b'", [], |r| r.get(0))
            .expect("count");
        assert_eq!(ends, 20000);
    }
}
