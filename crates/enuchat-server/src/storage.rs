//! Picks the storage backend from the database URL, once, at launch.

use enuchat_domain::{Store, StoreError};
use enuchat_store_postgres::PostgresStore;
use enuchat_store_sqlite::SqliteStore;
use std::sync::Arc;

pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect_with(url, max_connections).await?,
        ))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database URL {:?}: use sqlite://FILE or postgres://...",
            crate::settings::redact_url(url)
        )))
    }
}
