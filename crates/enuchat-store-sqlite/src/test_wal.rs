//! Test set-up shared by the modules that look at WAL files directly.

use std::path::Path;

/// A plain rusqlite connection to a new WAL-mode database at `path`, with
/// SQLite's own automatic checkpoints off (so commits stay in the `-wal`
/// file until a test checkpoints), after running `setup` on it.
pub(crate) fn wal_writer(path: &Path, setup: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    conn.execute_batch(setup).unwrap();
    conn
}
