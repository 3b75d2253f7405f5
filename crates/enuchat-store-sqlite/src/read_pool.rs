//! The hot reads, on plain SQLite connections (rusqlite) run where they are
//! awaited.
//!
//! sqlx-sqlite gives each connection a worker thread and passes every command
//! and its results between that thread and the awaiting task through
//! channels: at least two thread switches per query. The Tenant API's hot
//! reads (a page of 20 conversations, the newest 50 messages, the facts a new
//! message needs) are index seeks on cached pages that take SQLite tens of
//! microseconds, and the profile of the list scenario showed the switches
//! costing more than SQLite itself (bench/profiles). So these reads use
//! connections held here:
//! - [`ReadPool::read`] runs the read on the calling thread, for reads whose
//!   work is bounded by what they return: handing such a read to another
//!   thread costs more than doing it.
//! - [`ReadPool::read_off_thread`] runs it on tokio's blocking pool, for reads
//!   whose work grows with the data (deep offsets), so that they never hold up
//!   the runtime's other tasks.
//!
//! WAL lets these connections read while the writer writes, each statement
//! seeing the last commit. They are `query_only`: a write sent here by mistake
//! fails instead of bypassing the writer.

use crate::{sqlite, BUSY_TIMEOUT};
use enuchat_domain::store::StoreResult;
use enuchat_domain::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Prepared statements kept per connection; more than the store's distinct
/// hot queries, so none is prepared twice.
const STATEMENTS_PER_CONNECTION: usize = 32;

/// How much of the database file a connection of a [`ReadPool::mapped`]
/// pool maps into memory (`PRAGMA mmap_size`): the most this build of SQLite
/// allows (`SQLITE_MAX_MMAP_SIZE`, 2 GiB less 64 KiB). Pages past it, and
/// pages still in the WAL, are read with `pread` as before.
///
/// Each connection has a small page cache of its own (2 MiB), so a read of
/// rows it has not read lately (a deep page of the list: 20 rows and their
/// visitors from anywhere in the file) copies every page from the OS page
/// cache with a system call; in the list-deep profile that copy was about a
/// fifth of the server's CPU. Mapped, SQLite reads those pages in place.
/// Server CPU per deep page at a fixed 2,000/s fell by about a quarter
/// (medians 841 → 596 µs); the first page and a conversation's messages,
/// which the page cache already holds, did not change
/// (`bench/profiles/README.md`, session 17).
///
/// So only the store's deep reads map the file: every page read through a
/// map counts in the process's resident size (it is the OS page cache, not a
/// copy, but it is what operators and the per-connection memory benchmark
/// see), and mapped hot reads grew it by ~6 KiB per new visitor for nothing.
/// The other price is how a disk error shows: a failed read of a mapped page
/// stops the process (SIGBUS) where `pread` fails one request; acknowledged
/// messages are on disk either way. Writers never map: their pages change
/// under them, and mapping them measured slower (session 12).
pub(crate) const READER_MMAP_BYTES: i64 = 0x7fff_0000;

/// Up to `max` read connections to one database file, opened when first
/// needed and kept.
#[derive(Clone)]
pub(crate) struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    /// The number of permits.
    max: usize,
    /// `PRAGMA mmap_size` of every connection: 0 reads with `pread` alone.
    mmap_bytes: i64,
}

impl ReadPool {
    /// A pool whose connections read pages with `pread` into their caches.
    pub(crate) fn new(path: PathBuf, max: usize) -> ReadPool {
        Self::with_map(path, max, 0)
    }

    /// A pool whose connections map the file ([`READER_MMAP_BYTES`]), for
    /// reads that wander over it.
    pub(crate) fn mapped(path: PathBuf, max: usize) -> ReadPool {
        Self::with_map(path, max, READER_MMAP_BYTES)
    }

    fn with_map(path: PathBuf, max: usize, mmap_bytes: i64) -> ReadPool {
        ReadPool {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::with_capacity(max)),
                permits: Arc::new(Semaphore::new(max)),
                max,
                mmap_bytes,
            }),
        }
    }

    /// The database file this pool reads.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Runs `read` on this thread. Only for reads bounded by what they return.
    pub(crate) async fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let _permit = self.inner.permits.acquire().await.map_err(closed)?;
        // Nothing below awaits: once started, the read runs to its end even if
        // the caller is dropped, and the connection goes back to the pool.
        self.inner.with_connection(read)
    }

    /// Runs `read` on tokio's blocking pool, for reads that may take long.
    pub(crate) async fn read_off_thread<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(closed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.with_connection(read)
        })
        .await
        .map_err(|e| StoreError::Database(format!("a read task failed: {e}")))?
    }
}

impl ReadPool {
    /// Closes the idle connections; later reads fail, and connections in use
    /// close when their read ends.
    pub(crate) fn close(&self) {
        self.inner.permits.close();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Connections (in use, idle), for the pool gauges.
    pub(crate) fn counts(&self) -> (u32, u32) {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let in_use = self.inner.max - self.inner.permits.available_permits();
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (to_u32(in_use), to_u32(idle))
    }
}

impl Inner {
    fn with_connection<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open().map_err(sqlite)?,
        };
        let result = read(&connection).map_err(sqlite);
        if !self.permits.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(connection);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // The file exists and is migrated: the writer opened it first. Full
        // mutexing is not needed since a connection is used by one thread at a
        // time (it is taken out of `idle` while in use).
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", true)?;
        connection.pragma_update(None, "mmap_size", self.mmap_bytes)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS_PER_CONNECTION);
        Ok(connection)
    }
}

fn closed(_: tokio::sync::AcquireError) -> StoreError {
    StoreError::Database("the read pool is closed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database file with a table `t` of three rows.
    fn new_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("reads.db");
        let setup = Connection::open(&path).expect("create");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); \
                 INSERT INTO t VALUES (1), (2), (3);",
            )
            .expect("schema");
        (dir, path)
    }

    fn pool_on_new_file(max: usize) -> (tempfile::TempDir, ReadPool) {
        let (dir, path) = new_file();
        (dir, ReadPool::new(path, max))
    }

    fn mapped_pool_on_new_file(max: usize) -> (tempfile::TempDir, ReadPool) {
        let (dir, path) = new_file();
        (dir, ReadPool::mapped(path, max))
    }

    #[tokio::test]
    async fn writes_sent_to_the_read_pool_fail_and_change_nothing() {
        let (_dir, pool) = pool_on_new_file(2);
        let write = pool.read(|c| c.execute("DELETE FROM t", [])).await;
        assert!(write.is_err(), "a read connection wrote: {write:?}");
        let count = pool
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .await
            .expect("count");
        assert_eq!(count, 3);
    }

    /// A mapped pool's connections map the file, whole (the build's
    /// ceiling, not a smaller one); a plain pool's do not map at all.
    #[tokio::test]
    async fn only_a_mapped_pools_connections_map_the_database_file() {
        let map_size = |c: &Connection| c.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0));
        let (_dir, mapped) = mapped_pool_on_new_file(1);
        assert_eq!(
            mapped.read(map_size).await.expect("mmap_size"),
            READER_MMAP_BYTES
        );
        let (_dir, plain) = pool_on_new_file(1);
        assert_eq!(plain.read(map_size).await.expect("mmap_size"), 0);
    }

    /// A reader that mapped the file sees what a writer commits afterwards:
    /// changed pages copied into the mapped part of the file, and a file
    /// that grew past what was mapped when the reader first read.
    #[tokio::test]
    async fn mapped_readers_see_every_later_commit() {
        let (dir, pool) = mapped_pool_on_new_file(1);
        let sum = |c: &Connection| c.query_row("SELECT sum(n) FROM t", [], |r| r.get::<_, i64>(0));
        assert_eq!(pool.read(sum).await.expect("sum"), 6);
        let writer = Connection::open(dir.path().join("reads.db")).expect("writer");
        writer
            .execute_batch(
                "UPDATE t SET n = n * 10; \
                 WITH RECURSIVE k (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 5000) \
                 INSERT INTO t SELECT 1 FROM k;",
            )
            .expect("write");
        // Into the database file itself, where the map reads it.
        let busy: i64 = writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .expect("checkpoint");
        assert_eq!(busy, 0, "the checkpoint was complete");
        assert_eq!(pool.read(sum).await.expect("sum"), 60 + 5000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn more_reads_than_connections_wait_for_one_and_all_finish() {
        let (_dir, pool) = pool_on_new_file(2);
        let reads = (0..20).map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let sum = |c: &Connection| c.query_row("SELECT sum(n) FROM t", [], |r| r.get(0));
                if i % 2 == 0 {
                    pool.read(sum).await
                } else {
                    pool.read_off_thread(sum).await
                }
            })
        });
        for read in reads {
            let sum: i64 = read.await.expect("task").expect("read");
            assert_eq!(sum, 6);
        }
        let (in_use, idle) = pool.counts();
        assert_eq!(in_use, 0, "every read gave its connection back");
        assert!(
            (1..=2).contains(&idle),
            "{idle} connections for a pool of 2"
        );
    }
}
