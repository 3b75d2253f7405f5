//! WAL checkpoints on a thread of their own, off the commit path.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past
//! 1,000 pages: that commit copies the pages into the database file and
//! syncs both files, and every append queued behind it waits for the disk.
//! With one message per commit that is several times a second, and it was
//! the POST's p99 (bench scenario 4, `bench/profiles/README.md`).
//!
//! Here a thread with its own connection runs a passive checkpoint (it
//! neither waits for nor blocks readers and the writer) shortly after
//! commits, at most once per [`INTERVAL`]. The writer's own automatic
//! checkpoint stays as a backstop for when this thread falls behind, at
//! [`WRITER_BACKSTOP_PAGES`].
//!
//! Copying is not enough: SQLite writes the WAL from its beginning again only
//! once every frame has been copied, and under steady appends passive passes
//! never get there. The WAL then grew to the backstop about once a second,
//! and that backstop checkpoint, inside an append's commit, was the POST's
//! p99 again (~12 ms of syncing the database file). Past [`RESTART_PAGES`]
//! this thread therefore finishes the job itself ([`start_over`]).

use crate::writer::WriteTurn;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long commits gather before a checkpoint copies them: one checkpoint
/// (and one pair of syncs) per interval at most, however many commits.
///
/// Short on purpose. A pass ends by syncing the database file, and a commit
/// whose WAL sync reaches the disk meanwhile waits for everything that pass
/// wrote. The longer the interval, the more distinct pages a pass copies
/// (appends to random conversations dirty about six index pages each), the
/// longer that sync, and the longer the commits that meet it wait. At 1,000
/// appends/s a commit met a sync every ~60 ms and waited 4-6 ms
/// (`perf trace`): POST p99 7-8 ms at 50 ms, 4-5 ms at 5 ms, 3-4 ms with no
/// checkpoints at all. The peak did not drop (`bench/profiles`, session 30).
const INTERVAL: Duration = Duration::from_millis(5);

/// The writer's `wal_autocheckpoint`: pages in the WAL past which the
/// committing writer checkpoints by itself (SQLite's default is 1,000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 8_000;

/// Pages in the WAL past which this thread makes SQLite write it from its
/// beginning again ([`start_over`]): ~8 MiB at SQLite's 4 KiB pages.
pub(crate) const RESTART_PAGES: i64 = 2_000;

/// How long [`Checkpointer::stop`] waits for the thread at most.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Passes without the writers' turn before the one with it.
const CATCH_UP_PASSES: usize = 3;

/// The handle the store keeps; cheap to clone. The thread ends when the last
/// handle is dropped or [`stop`](Checkpointer::stop) is called.
#[derive(Clone)]
pub(crate) struct Checkpointer {
    due: SyncSender<()>,
    stopped: Arc<AtomicBool>,
    /// Taken by the one [`stop`](Checkpointer::stop) that waits for it.
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Checkpointer {
    /// Starts the thread on the database at `path`; writers there take
    /// `turn`, and past `restart_pages` in the WAL it takes that turn too.
    pub(crate) fn start(
        path: PathBuf,
        turn: WriteTurn,
        restart_pages: i64,
    ) -> std::io::Result<Checkpointer> {
        // One pending request at most: commits while one waits add nothing.
        let (due, requests) = sync_channel(1);
        let stopped = Arc::new(AtomicBool::new(false));
        let thread_stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &turn, restart_pages, &requests, &thread_stopped))?;
        Ok(Checkpointer {
            due,
            stopped,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Something was committed: checkpoint it soon.
    pub(crate) fn committed(&self) {
        // Full: a checkpoint is already due. Disconnected: no thread.
        let _ = self.due.try_send(());
    }

    /// Ends the thread after the pass under way, if any, for a store that
    /// is closing while handles are still held. Returns once the thread has
    /// closed its connection: one closing at the same time as another can
    /// leave both unable to remove the WAL file (each sees the other open).
    ///
    /// False when the thread did not end within [`STOP_WAIT`] (logged).
    pub(crate) async fn stop(&self) -> bool {
        self.stopped.store(true, Ordering::Release);
        // Wakes the thread; when full, a request already will.
        self.committed();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = thread else {
            return true;
        };
        // A pass takes milliseconds; off the runtime's threads all the same,
        // and never waited for without end: a close that hung would hold up
        // the process's exit.
        let joined = tokio::task::spawn_blocking(move || thread.join());
        let ended = tokio::time::timeout(STOP_WAIT, joined).await.is_ok();
        if !ended {
            tracing::warn!("the checkpoint thread did not stop; closing without it");
        }
        ended
    }
}

fn run(
    path: &Path,
    turn: &WriteTurn,
    restart_pages: i64,
    requests: &Receiver<()>,
    stopped: &AtomicBool,
) {
    let conn = match rusqlite::Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, "the checkpoint thread cannot open the database; the writer checkpoints alone");
            return;
        }
    };
    // Ends once stopped, and with an error once every handle is gone. The
    // flag is read before waiting too: a round's `try_recv` may have taken
    // the request `stop` sent to wake the thread.
    while !stopped.load(Ordering::Acquire)
        && requests.recv().is_ok()
        && !stopped.load(Ordering::Acquire)
    {
        std::thread::sleep(INTERVAL);
        // This round covers the commits made while it waited; later ones
        // request the next.
        let _ = requests.try_recv();
        let done = passive(&conn).and_then(|pass| {
            tracing::trace!(log = pass.log, copied = pass.copied, "checkpoint");
            if pass.log >= restart_pages {
                start_over(&conn, turn)?;
            }
            Ok(())
        });
        match done {
            Ok(()) => {}
            // The writer's backstop checkpoint is running: it does the work.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; the next commit retries"),
        }
    }
}

/// Lets SQLite write the WAL from its beginning again.
///
/// SQLite starts the WAL over when a write begins after every frame in it
/// has been copied to the database file (and no reader still reads from
/// it). Under steady commits a passive checkpoint never gets there: commits
/// land while it copies. So this copies everything once more while holding
/// the writers' turn, when no commit can land. Holding the turn stalls every
/// write, so catch-up passes without it come first: each copies what was
/// committed during the one before, and they leave the pass under the turn
/// little or nothing to copy and sync (mostly under a millisecond, against
/// 5–8 ms when it followed the first pass directly; `bench/profiles`).
fn start_over(conn: &rusqlite::Connection, turn: &WriteTurn) -> rusqlite::Result<()> {
    // Always all of them: a pass that copied everything it saw may still
    // have seen commits land while it ran (it reports the log's length from
    // when it began), and stopping early left the pass under the turn with
    // more to sync: p99 4-7 ms against 2-3 ms at 1,000 appends/s.
    for _ in 0..CATCH_UP_PASSES {
        passive(conn)?;
    }
    let _turn = turn.take_blocking();
    passive(conn)?;
    Ok(())
}

/// What a checkpoint reported: frames in the WAL and frames copied from it.
struct Pass {
    log: i64,
    copied: i64,
}

fn passive(conn: &rusqlite::Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Pass {
            log: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::Checkpointer;
    use crate::writer::WriteTurn;
    use crate::SqliteStore;
    use enuchat_domain::{MessageContent, MessageRole, NewMessage, Store};
    use enuchat_store_tests::fixtures::{conversation, tenant_with_widget};
    use std::time::{Duration, Instant};

    /// The writer checkpoints by itself only past 8,000 pages, so the
    /// database file grows with these few appends only if the thread copies
    /// them there.
    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = store_in(&dir, "checkpointed.db").await;
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;
        // Those writes ask for a pass of their own: let it end first.
        let before = settled_size(&path).await;
        for i in 0..300 {
            let text = format!("message {i}: {}", "x".repeat(500));
            let new = NewMessage::new(MessageRole::Visitor, MessageContent::parse(text).unwrap());
            store
                .append_message(tenant.id, conversation.id, new)
                .await
                .unwrap()
                .unwrap();
        }
        grows_past(&path, before).await;
    }

    /// Writes other than appends (here visitors and conversations, no
    /// message at all) ask for passes too: without them nothing but the
    /// writer's backstop at 8,000 pages would ever copy them out of the WAL.
    #[tokio::test]
    async fn writes_other_than_appends_reach_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let (store, path) = store_in(&dir, "other-writes.db").await;
        let before = std::fs::metadata(&path).unwrap().len();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        for _ in 0..50 {
            conversation(&store, tenant.id, widget.id).await;
        }
        grows_past(&path, before).await;
    }

    /// `stop` returns once the thread has closed its connection, although
    /// a handle is still held: the test's own connection is then the last
    /// one, and closing it removes the WAL file, which SQLite does only for
    /// the last connection to close.
    #[tokio::test]
    async fn stopping_closes_the_threads_connection_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stopped.db");
        let writer = crate::test_wal::wal_writer(
            &path,
            "CREATE TABLE t (b BLOB); INSERT INTO t (b) VALUES (zeroblob(10000));",
        );
        let before = std::fs::metadata(&path).unwrap().len();
        let checkpointer = Checkpointer::start(path.clone(), WriteTurn::new(), 1_000).unwrap();
        checkpointer.committed();
        // The thread has made a pass, so its connection has the WAL open.
        grows_past(&path, before).await;
        assert!(checkpointer.stop().await, "the thread did not stop");
        writer.close().unwrap();
        assert!(
            !dir.path().join("stopped.db-wal").exists(),
            "another connection was still open"
        );
        drop(checkpointer);
    }

    /// `stop` right after a request, while the thread waits out the
    /// interval before its pass: that round takes any request sent in the
    /// meantime, `stop`'s own among them, and the thread must not then wait
    /// for another one.
    #[tokio::test]
    async fn stopping_during_a_round_ends_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        drop(crate::test_wal::wal_writer(
            &path,
            "CREATE TABLE t (b BLOB);",
        ));
        for _ in 0..20 {
            let checkpointer = Checkpointer::start(path.clone(), WriteTurn::new(), 1_000).unwrap();
            checkpointer.committed();
            // Let the thread take the request and start its round.
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(checkpointer.stop().await, "the thread did not stop");
        }
    }

    /// Commits back to back, each taking the writers' turn as the store's
    /// writers do, with the writer's own checkpoint off. Passive passes alone
    /// never catch up with such a writer (commits land while they copy), so
    /// without [`super::start_over`] SQLite would never write the WAL from
    /// its beginning again.
    #[test]
    fn the_wal_is_written_from_its_beginning_again_under_steady_commits() {
        const RESTART_PAGES: i64 = 200;
        // Small pages and rows keep the WAL small if this fails.
        const MOST_COMMITS: u32 = 100_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("restarted.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA page_size = 512; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (b BLOB);",
            )
            .unwrap();
        let turn = WriteTurn::new();
        let checkpointer = Checkpointer::start(path.clone(), turn.clone(), RESTART_PAGES).unwrap();
        let mut insert = writer
            .prepare("INSERT INTO t (b) VALUES (zeroblob(100))")
            .unwrap();
        let wal = dir.path().join("restarted.db-wal");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut commits = 0;
        while restarts(&wal) < 3 {
            assert!(
                commits < MOST_COMMITS && Instant::now() < deadline,
                "the WAL was started over {} times in {commits} commits",
                restarts(&wal)
            );
            for _ in 0..100 {
                let held = turn.take_blocking();
                insert.execute([]).unwrap();
                drop(held);
                checkpointer.committed();
            }
            commits += 100;
        }
    }

    async fn store_in(dir: &tempfile::TempDir, name: &str) -> (SqliteStore, std::path::PathBuf) {
        let path = dir.path().join(name);
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        (store, path)
    }

    /// The database file's size once it has not changed for 200 ms (many
    /// times the interval between passes).
    async fn settled_size(path: &std::path::Path) -> u64 {
        let mut size = std::fs::metadata(path).unwrap().len();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = std::fs::metadata(path).unwrap().len();
            if now == size {
                return size;
            }
            size = now;
        }
    }

    /// Waits until the database file is larger than `before` bytes: pages
    /// were copied there from the WAL.
    async fn grows_past(path: &std::path::Path, before: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(path).unwrap().len() <= before {
            assert!(Instant::now() < deadline, "nothing was checkpointed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The WAL header's checkpoint sequence number, which SQLite increments
    /// each time it starts the WAL over.
    fn restarts(wal: &std::path::Path) -> u32 {
        use std::io::Read;
        let mut header = [0; 16];
        std::fs::File::open(wal)
            .unwrap()
            .read_exact(&mut header)
            .unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }
}
