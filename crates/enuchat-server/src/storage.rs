//! Picks the storage backend from the database URL, once, at launch.

use enuchat_domain::{Store, StoreError, StoreKind};
use enuchat_store_postgres::PostgresStore;
pub use enuchat_store_sqlite::BackupError;
use enuchat_store_sqlite::SqliteStore;
use std::path::Path;
use std::sync::Arc;

/// An opened database. PostgreSQL also gives the server its message feed
/// (`LISTEN/NOTIFY`), which is not part of the backend-neutral [`Store`].
pub struct Database {
    pub store: Arc<dyn Store>,
    pub postgres: Option<PostgresStore>,
}

pub async fn open(url: &str, max_connections: u32) -> Result<Database, StoreError> {
    match backend_of(url) {
        Some(StoreKind::Sqlite) => Ok(Database {
            store: Arc::new(SqliteStore::connect(url).await?),
            postgres: None,
        }),
        Some(StoreKind::Postgres) => {
            let pg = PostgresStore::connect_with(url, max_connections).await?;
            Ok(Database {
                store: Arc::new(pg.clone()),
                postgres: Some(pg),
            })
        }
        None => Err(StoreError::Database(unsupported(url))),
    }
}

/// Which backend a database URL names, by its scheme.
fn backend_of(url: &str) -> Option<StoreKind> {
    if url.starts_with("sqlite:") {
        Some(StoreKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(StoreKind::Postgres)
    } else {
        None
    }
}

fn unsupported(url: &str) -> String {
    format!(
        "unsupported database URL {:?}: use sqlite://FILE or postgres://...",
        crate::settings::redact_url(url)
    )
}

/// Just the store, for tools that do not serve (the admin CLI, tests).
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open(url, max_connections).await?.store)
}

/// Copies the SQLite database at `url` to `target`, consistently even while
/// a server uses it (see `enuchat_store_sqlite::backup`). PostgreSQL has
/// its own tools for that.
pub async fn backup(url: &str, target: &Path) -> Result<u64, BackupError> {
    match backend_of(url) {
        Some(StoreKind::Sqlite) => enuchat_store_sqlite::backup(url, target).await,
        Some(StoreKind::Postgres) => Err(BackupError::Refused(
            "backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)"
                .into(),
        )),
        None => Err(BackupError::Refused(unsupported(url))),
    }
}
