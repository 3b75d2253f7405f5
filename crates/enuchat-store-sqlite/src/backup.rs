//! `enuchat backup`: a consistent copy of a database that may be in use.
//!
//! Copying `enuchat.db` by itself is not a backup: the latest commits may
//! still be in the `-wal` file only. SQLite's `VACUUM INTO` writes what one
//! read transaction sees (database file and WAL together) into a new file,
//! while the server goes on reading and writing; so no `sqlite3` program is
//! needed beside the one binary.

use crate::BUSY_TIMEOUT;
use rusqlite::OpenFlags;
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Nothing was written: the request itself cannot be carried out (no
    /// such database, the target exists, ...).
    #[error("{0}")]
    Refused(String),
    /// SQLite or the file system failed while copying.
    #[error("{0}")]
    Failed(String),
}

/// Copies the database at `url` (`sqlite://FILE`) to `target`, a file that
/// must not exist yet (a backup never overwrites anything), synced to disk
/// when this returns. Returns the copy's size in bytes.
pub async fn backup(url: &str, target: &Path) -> Result<u64, BackupError> {
    let source = database_file(url)?;
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || copy(&source, &target))
        .await
        .map_err(|e| BackupError::Failed(format!("backup task failed: {e}")))?
}

/// The file behind a `sqlite://` URL; throwaway databases have none worth
/// keeping.
fn database_file(url: &str) -> Result<PathBuf, BackupError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(BackupError::Refused(
            "an in-memory database cannot be backed up".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| BackupError::Refused(format!("invalid SQLite URL {url:?}: {e}")))?;
    Ok(options.get_filename().to_owned())
}

fn copy(source: &Path, target: &Path) -> Result<u64, BackupError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        BackupError::Failed(format!("backup of {}: {what}: {e}", source.display()))
    };
    if !source.is_file() {
        return Err(BackupError::Refused(format!(
            "there is no database at {}",
            source.display()
        )));
    }
    // Checked here for a clear message; SQLite refuses too, since `VACUUM
    // INTO` only writes to a missing or empty file.
    if target.exists() {
        return Err(BackupError::Refused(format!(
            "{} already exists; a backup never overwrites a file",
            target.display()
        )));
    }
    let Some(target_name) = target.to_str() else {
        return Err(BackupError::Refused(format!(
            "the backup path {} is not valid UTF-8",
            target.display()
        )));
    };
    // Not created if missing (checked above, but it could vanish meanwhile:
    // an empty new database must not pass for a backup).
    let conn = rusqlite::Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail("opening it", &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("setting the busy timeout", &e))?;
    conn.execute("VACUUM INTO ?1", [target_name])
        .map_err(|e| fail("copying it", &e))?;
    drop(conn);
    // `VACUUM INTO` does not sync what it wrote; a backup that a crash
    // could truncate is not one.
    let file = std::fs::File::open(target).map_err(|e| fail("reopening the copy", &e))?;
    file.sync_all().map_err(|e| fail("syncing the copy", &e))?;
    if let Some(dir) = target.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(file
        .metadata()
        .map_err(|e| fail("reading the copy's size", &e))?
        .len())
}

#[cfg(test)]
mod tests {
    use super::backup;
    use super::BackupError;
    use crate::SqliteStore;
    use enuchat_domain::{ConversationFilter, MessageContent, MessageRole, NewMessage, Store};
    use enuchat_store_tests::fixtures::{conversation, tenant_with_widget};

    /// The store stays open and keeps its WAL: the copy must hold every
    /// committed message, whether or not it reached the database file yet.
    #[tokio::test]
    async fn a_live_database_is_copied_with_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let (tenant, widget) = tenant_with_widget(&store, "Acme").await;
        let talk = conversation(&store, tenant.id, widget.id).await;
        for i in 0..50 {
            let content = MessageContent::parse(format!("message {i}")).unwrap();
            store
                .append_message(
                    tenant.id,
                    talk.id,
                    NewMessage::new(MessageRole::Visitor, content),
                )
                .await
                .unwrap()
                .unwrap();
        }
        let target = dir.path().join("copy.db");
        let bytes = backup(&url, &target).await.unwrap();
        assert!(bytes > 0);

        let copy_url = format!("sqlite://{}", target.display());
        let copy = SqliteStore::connect(&copy_url).await.unwrap();
        let held = copy
            .get_conversation(tenant.id, talk.id)
            .await
            .unwrap()
            .expect("the conversation is in the copy");
        assert_eq!(held.last_seq, talk.last_seq + 50);
        let listed = copy
            .list_conversations(tenant.id, &ConversationFilter::default(), 20, 0)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        copy.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn nothing_is_overwritten_or_made_up() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        tenant_with_widget(&store, "Acme").await;

        let taken = dir.path().join("taken.db");
        std::fs::write(&taken, b"keep me").unwrap();
        let refused = backup(&url, &taken).await.unwrap_err();
        assert!(matches!(refused, BackupError::Refused(ref m) if m.contains("already exists")));
        assert_eq!(std::fs::read(&taken).unwrap(), b"keep me");

        let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
        let refused = backup(&missing, &dir.path().join("copy.db"))
            .await
            .unwrap_err();
        assert!(matches!(refused, BackupError::Refused(ref m) if m.contains("no database")));
        assert!(!dir.path().join("missing.db").exists());
        assert!(!dir.path().join("copy.db").exists());

        let refused = backup("sqlite::memory:", &dir.path().join("copy.db"))
            .await
            .unwrap_err();
        assert!(matches!(refused, BackupError::Refused(_)));
        store.close().await;
    }
}
