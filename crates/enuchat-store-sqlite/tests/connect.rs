//! Opening databases; the behaviour of the store itself is covered by the
//! shared suite in `enuchat-store-tests`.

use enuchat_domain::*;
use enuchat_store_sqlite::SqliteStore;

fn new_tenant() -> NewTenant {
    NewTenant {
        name: DisplayName::parse("Acme").expect("name"),
        plan: PlanName::parse("free").expect("plan"),
        operator_language: LanguageCode::parse("en").expect("language"),
    }
}

#[tokio::test]
async fn in_memory_database_keeps_its_data_across_calls() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    assert_eq!(store.kind(), StoreKind::Sqlite);
    let tenant = store.create_tenant(new_tenant()).await.expect("create");
    store.ping().await.expect("ping");
    assert_eq!(
        store.get_tenant(tenant.id).await.expect("get"),
        Some(tenant)
    );
}

#[tokio::test]
async fn file_database_is_created_and_reopened() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("nested.db");
    let url = format!("sqlite://{}", path.display());
    let tenant = {
        let store = SqliteStore::connect(&url).await.expect("create file");
        let (in_use, idle) = store.pool_stats();
        assert!(in_use + idle >= 1, "connections are open");
        store.create_tenant(new_tenant()).await.expect("create")
    };
    assert!(path.exists());
    // Reopening runs the (already applied) migrations again without harm.
    let store = SqliteStore::connect(&url).await.expect("reopen");
    assert_eq!(
        store.get_tenant(tenant.id).await.expect("get"),
        Some(tenant)
    );
}

#[tokio::test]
async fn bad_urls_are_database_errors() {
    let err = SqliteStore::connect("sqlite:///nonexistent-dir/sub/x.db").await;
    assert!(matches!(err, Err(StoreError::Database(_))));
}

/// After `close`, the database file alone holds everything: a backup that
/// copies only `enuchat.db` of a stopped server misses nothing, even writes
/// that no checkpoint had reached yet (a new tenant is not a message, so it
/// does not wake the checkpoint thread).
#[tokio::test]
async fn after_close_the_database_file_alone_is_complete() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("live.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::connect(&url).await.expect("create file");
    let tenant = store.create_tenant(new_tenant()).await.expect("create");
    // Another user of the file (a second process, say) keeps its connections,
    // so this close is not the file's last one (which SQLite would follow
    // with a checkpoint of its own).
    let other = SqliteStore::connect(&url).await.expect("second handle");
    other.ping().await.expect("read");
    store.close().await;
    assert!(store.ping().await.is_err(), "a closed store refuses calls");
    assert!(store.get_tenant(tenant.id).await.is_err());

    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).expect("copy the database file alone");
    let reopened = SqliteStore::connect(&format!("sqlite://{}", copy.display()))
        .await
        .expect("open the copy");
    assert_eq!(
        reopened.get_tenant(tenant.id).await.expect("get"),
        Some(tenant)
    );
    drop(other);
}
