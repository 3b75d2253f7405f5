//! The sqlx writer connection used through rusqlite, for statements shared
//! with the appender inside a transaction begun through sqlx.
//!
//! sqlx-sqlite runs each connection on a worker thread and passes every
//! statement and every result row between that thread and the awaiting task
//! through channels. sqlx can lock its worker out of a connection and hand
//! over the raw SQLite handle; [`with_raw_connection`] runs a closure on that
//! handle, wrapped as a rusqlite connection, on the calling thread. A finished
//! AI job appends its reply this way, with `append_on`, in the transaction
//! that finishes the job. (The appender itself has a connection of its own.)
//!
//! A closure that begins a transaction on the raw handle must end it before
//! it returns: sqlx then gets its connection back as it lent it, outside a
//! transaction. Transactions begun through sqlx around this stay sqlx's to
//! commit.

use crate::{db, sqlite};
use enuchat_domain::store::StoreResult;
use sqlx::SqliteConnection;

/// Runs `work` on `conn`'s SQLite handle on this thread. Nothing awaits
/// while it runs: only for bounded work (a batch of appends).
pub(crate) async fn with_raw_connection<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&rusqlite::Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut locked = conn.lock_handle().await.map_err(db)?;
    let handle = locked.as_raw_handle().as_ptr();
    // SAFETY: `locked` keeps sqlx's worker thread away from this handle, and
    // from every statement on it, until `locked` is dropped, which happens
    // after `raw` is dropped below (also when `work` panics: locals drop in
    // reverse order). `from_handle` borrows the handle: dropping `raw`
    // finalizes the statements it prepared and does not close the
    // connection. rusqlite and sqlx link the same libsqlite3-sys: Cargo
    // allows one crate linking `sqlite3` per build, so there is one SQLite in
    // the binary and the pointer types are the same type.
    let raw = unsafe { rusqlite::Connection::from_handle(handle) }.map_err(sqlite)?;
    let result = work(&raw);
    drop(raw);
    drop(locked);
    result
}

/// For inserts and updates through rusqlite: as [`crate::write_err`] for sqlx.
pub(crate) fn raw_write_err(
    e: rusqlite::Error,
    missing: &'static str,
) -> enuchat_domain::StoreError {
    use enuchat_domain::StoreError;
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(failure, message) = &e {
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::MissingReference(missing),
            _ => {}
        }
    }
    sqlite(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use enuchat_domain::StoreError;

    /// Broken rules map as they do for sqlx writes, and the connection is
    /// sqlx's again afterwards (a statement through sqlx still works).
    #[tokio::test]
    async fn raw_writes_map_broken_rules_and_give_the_connection_back() {
        use sqlx::Connection;
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (id INTEGER PRIMARY KEY, name TEXT UNIQUE, p INTEGER REFERENCES p (id)); \
             INSERT INTO p VALUES (1);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let insert = |c: &rusqlite::Connection, name: &str, p: i64| {
            c.execute("INSERT INTO c (name, p) VALUES (?1, ?2)", (name, p))
                .map_err(|e| raw_write_err(e, "parent"))
        };
        let results = with_raw_connection(&mut conn, |c| {
            Ok((insert(c, "a", 1), insert(c, "a", 1), insert(c, "b", 2)))
        })
        .await
        .unwrap();
        assert_eq!(results.0.unwrap(), 1);
        assert!(
            matches!(results.1, Err(StoreError::Conflict(_))),
            "{:?}",
            results.1
        );
        assert!(
            matches!(results.2, Err(StoreError::MissingReference("parent"))),
            "{:?}",
            results.2
        );
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM c")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }
}
