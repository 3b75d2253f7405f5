//! Fresh databases for the stories.

use enuchat_domain::Store;
use enuchat_store_sqlite::AnchorSettings;
use futures::FutureExt;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs `story` on a new SQLite file in a temporary directory.
pub async fn on_sqlite<F, Fut>(story: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_sqlite_with(AnchorSettings::default(), story).await;
}

/// Runs `story` on a new SQLite file whose deep-page anchors start at offset
/// 3, every 3 rows, built on a list's first deep read.
pub async fn on_sqlite_anchored<F, Fut>(story: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_sqlite_with(small_anchors(), story).await;
}

/// Anchors every 3 rows from offset 3 on, built on a list's first deep read,
/// so that a story's few rows reach anchored pages.
pub fn small_anchors() -> AnchorSettings {
    AnchorSettings {
        spacing: 3,
        min_offset: 3,
        ttl: Duration::from_secs(3600),
        build_at_first_deep_read: true,
        ..AnchorSettings::default()
    }
}

async fn on_sqlite_with<F, Fut>(anchors: AnchorSettings, story: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("enuchat.db").display());
    let store = enuchat_store_sqlite::SqliteStore::connect_with(&url, anchors)
        .await
        .expect("open SQLite store");
    story(Arc::new(store)).await;
    // `dir` is removed here, after the story (and its pools) are done.
}

/// Runs `story` on a new PostgreSQL database, dropped afterwards even when
/// the story panics.
pub async fn on_postgres<F, Fut>(story: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_postgres_with(|url| async move {
        let store = postgres_store(&url, AnchorSettings::default()).await;
        story(Arc::new(store)).await;
    })
    .await;
}

/// Runs `story` on a new PostgreSQL database with deep-page anchors from
/// offset 3 on, every 3 rows, built on a list's first deep read.
pub async fn on_postgres_anchored<F, Fut>(story: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_postgres_with(|url| async move {
        let store = postgres_store(&url, small_anchors()).await;
        story(Arc::new(store)).await;
    })
    .await;
}

/// A store on the database at `url` keeping deep-page anchors under `anchors`.
pub async fn postgres_store(
    url: &str,
    anchors: AnchorSettings,
) -> enuchat_store_postgres::PostgresStore {
    enuchat_store_postgres::PostgresStore::connect(url)
        .await
        .expect("open PostgreSQL store")
        .with_anchor_settings(anchors)
}

/// Runs `story` with the URL of a new PostgreSQL database (for stories that
/// open several stores on it), dropped afterwards even when the story panics.
pub async fn on_postgres_with<F, Fut>(story: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let admin_url =
        std::env::var("ENUCHAT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let Some(mut admin) = connect_admin(&admin_url).await else {
        return;
    };
    let name = format!("enuchat_test_{:016x}", rand::random::<u64>());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");

    let url = with_database(&admin_url, &name);
    let outcome = AssertUnwindSafe(story(url)).catch_unwind().await;

    // FORCE ends the store's pooled connections, which may outlive the story.
    let dropped = admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
    dropped.expect("drop test database");
}

/// The admin connection, or `None` (after saying SKIP) when PostgreSQL is not
/// there outside CI.
async fn connect_admin(url: &str) -> Option<PgConnection> {
    let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await;
    let error = match attempt {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out after 10s".to_owned(),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL required in CI: cannot connect to {url}: {error}");
    }
    eprintln!("SKIP: PostgreSQL unreachable at {url} ({error}); set ENUCHAT_TEST_DATABASE_URL");
    None
}

/// `url` with its database name replaced, keeping any `?query`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(with_database("postgres://u:p@h", "x"), "postgres://u:p@h/x");
    assert_eq!(
        with_database("postgres://h:1/db?sslmode=disable", "x"),
        "postgres://h:1/x?sslmode=disable"
    );
}
