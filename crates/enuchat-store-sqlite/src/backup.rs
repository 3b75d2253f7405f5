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
    if crate::is_throwaway(url) {
        return Err(BackupError::Refused(
            "an in-memory database cannot be backed up".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| BackupError::Refused(format!("invalid SQLite URL {url:?}: {e}")))?;
    Ok(options.get_filename().to_owned())
}

fn copy(source: &Path, target: &Path) -> Result<u64, BackupError> {
    if !source.is_file() {
        return Err(BackupError::Refused(format!(
            "there is no database at {}",
            std::path::absolute(source)
                .unwrap_or_else(|_| source.to_owned())
                .display()
        )));
    }
    // Checked first for a clear message; the hard link below is what makes
    // it hold (it fails on any existing entry, a dangling symlink included).
    if target.symlink_metadata().is_ok() {
        return Err(refused_existing(target));
    }
    let (dir, partial) = partial_path(target)?;
    // Ours alone (this process's id): a leftover of an earlier run that had
    // the same id and was killed would make `VACUUM INTO` refuse.
    let _ = std::fs::remove_file(&partial);
    let written = write_copy(source, &partial).and_then(|bytes| {
        // The copy appears under its name complete and synced, or not at
        // all: a failed or interrupted run leaves no file that looks like a
        // backup or blocks the next attempt.
        match std::fs::hard_link(&partial, target) {
            Ok(()) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(refused_existing(target))
            }
            Err(e) => Err(failed(source, "naming the copy", &e)),
        }
    });
    let _ = std::fs::remove_file(&partial);
    let bytes = written?;
    // Both directory entries (the link made, the temporary removed) must
    // outlive a crash too.
    std::fs::File::open(&dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| failed(source, "syncing the backup's directory", &e))?;
    Ok(bytes)
}

/// Writes the consistent copy of `source` to `partial` (a new file) and
/// syncs it; returns its size.
fn write_copy(source: &Path, partial: &Path) -> Result<u64, BackupError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| failed(source, what, e);
    let Some(partial_name) = partial.to_str() else {
        return Err(BackupError::Refused(format!(
            "the backup path {} is not valid UTF-8",
            partial.display()
        )));
    };
    // Not created if missing (checked before, but it could vanish meanwhile:
    // an empty new database must not pass for a backup).
    let conn = rusqlite::Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail("opening it", &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("setting the busy timeout", &e))?;
    conn.execute("VACUUM INTO ?1", [partial_name])
        .map_err(|e| fail("copying it", &e))?;
    drop(conn);
    // SQLite documents no sync for `VACUUM INTO`; a backup that a crash
    // could truncate is not one.
    let file = std::fs::File::open(partial).map_err(|e| fail("reopening the copy", &e))?;
    file.sync_all().map_err(|e| fail("syncing the copy", &e))?;
    file.metadata()
        .map(|meta| meta.len())
        .map_err(|e| fail("reading the copy's size", &e))
}

/// The target's directory, and a temporary name in it for the copy being
/// written (same directory, so that linking it to the target is one step on
/// one file system). It starts with a dot and a path, so SQLite never reads
/// it as a `file:` URI.
fn partial_path(target: &Path) -> Result<(PathBuf, PathBuf), BackupError> {
    let Some(name) = target.file_name() else {
        return Err(BackupError::Refused(format!(
            "{} does not name a file",
            target.display()
        )));
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = dir.join(partial);
    Ok((dir, partial))
}

fn refused_existing(target: &Path) -> BackupError {
    BackupError::Refused(format!(
        "{} already exists; a backup never overwrites a file",
        target.display()
    ))
}

fn failed(source: &Path, what: &str, e: &dyn std::fmt::Display) -> BackupError {
    BackupError::Failed(format!("backup of {}: {what}: {e}", source.display()))
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
        assert_eq!(bytes, std::fs::metadata(&target).unwrap().len());
        assert_eq!(integrity(&target), "ok");

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

    fn integrity(path: &std::path::Path) -> String {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap()
    }

    /// Commits that nothing has checkpointed yet are only in the `-wal`
    /// file; a copy of the database file alone would miss them.
    #[tokio::test]
    async fn commits_still_only_in_the_wal_are_in_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let writer = crate::test_wal::wal_writer(&path, "CREATE TABLE notes (text TEXT NOT NULL);");
        for i in 0..100 {
            writer
                .execute(
                    "INSERT INTO notes (text) VALUES (?1)",
                    [format!("note {i}")],
                )
                .unwrap();
        }
        let wal = dir.path().join("wal.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        let count = |file: &std::path::Path| -> rusqlite::Result<i64> {
            rusqlite::Connection::open(file)?
                .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
        };
        let plain = dir.path().join("plain.db");
        std::fs::copy(&path, &plain).unwrap();
        assert_ne!(
            count(&plain).ok(),
            Some(100),
            "the database file alone holds them"
        );

        let target = dir.path().join("copy.db");
        let url = format!("sqlite://{}", path.display());
        backup(&url, &target).await.unwrap();
        assert_eq!(count(&target).unwrap(), 100);
        assert_eq!(integrity(&target), "ok");
        drop(writer);
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
