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

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

/// How long commits gather before a checkpoint copies them: one checkpoint
/// (and one pair of syncs) per interval at most, however many commits.
const INTERVAL: Duration = Duration::from_millis(50);

/// The writer's `wal_autocheckpoint`: pages in the WAL past which the
/// committing writer checkpoints by itself (SQLite's default is 1,000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 8_000;

/// The handle the store keeps; cheap to clone. The thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub(crate) struct Checkpointer(SyncSender<()>);

impl Checkpointer {
    /// Starts the thread on the database at `path`.
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Checkpointer> {
        // One pending request at most: commits while one waits add nothing.
        let (due, requests) = sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &requests))?;
        Ok(Checkpointer(due))
    }

    /// Something was committed: checkpoint it soon.
    pub(crate) fn committed(&self) {
        // Full: a checkpoint is already due. Disconnected: no thread.
        let _ = self.0.try_send(());
    }
}

fn run(path: &Path, requests: &Receiver<()>) {
    let conn = match rusqlite::Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, "the checkpoint thread cannot open the database; the writer checkpoints alone");
            return;
        }
    };
    // Ends with an error once every handle is gone.
    while requests.recv().is_ok() {
        std::thread::sleep(INTERVAL);
        // This round covers the commits made while it waited; later ones
        // request the next.
        let _ = requests.try_recv();
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match done {
            Ok((log, copied)) => tracing::trace!(log, copied, "checkpoint"),
            // The writer's backstop checkpoint is running: it does the work.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            Err(e) => tracing::warn!(error = %e, "checkpoint failed; the next commit retries"),
        }
    }
}

#[cfg(test)]
mod tests {
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
        let path = dir.path().join("checkpointed.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let conversation = conversation(&store, tenant.id, widget.id).await;
        let before = std::fs::metadata(&path).unwrap().len();
        for i in 0..300 {
            let text = format!("message {i}: {}", "x".repeat(500));
            let new = NewMessage::new(MessageRole::Visitor, MessageContent::parse(text).unwrap());
            store
                .append_message(tenant.id, conversation.id, new)
                .await
                .unwrap()
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(Instant::now() < deadline, "nothing was checkpointed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
