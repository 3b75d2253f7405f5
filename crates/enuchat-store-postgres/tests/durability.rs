//! The store names the server settings under which a message answered with
//! `2xx` could be lost in a crash of the database server.

mod common;

use common::*;
use enuchat_domain::Store;
use enuchat_store_postgres::PostgresStore;
use sqlx::{Connection, Executor, PgConnection};

async fn set_synchronous_commit(db: &TestDb, value: &str) {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        format!(
            "ALTER DATABASE {} SET synchronous_commit = {value}",
            db.name
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.close().await.unwrap();
}

fn about_synchronous_commit(risks: &[String]) -> bool {
    risks.iter().any(|risk| risk.contains("synchronous_commit"))
}

#[tokio::test]
async fn commits_that_skip_the_flush_are_named_as_a_risk() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Settings of a database apply to connections made after the change, so
    // each case connects a store of its own.
    set_synchronous_commit(&db, "off").await;
    let store: PostgresStore = db.store().await;
    let risks = store.durability_risks().await.unwrap();
    assert!(about_synchronous_commit(&risks), "{risks:?}");
    store.close().await;

    for safe in ["on", "remote_apply"] {
        set_synchronous_commit(&db, safe).await;
        let store = db.store().await;
        let risks = store.durability_risks().await.unwrap();
        assert!(!about_synchronous_commit(&risks), "{safe}: {risks:?}");
        store.close().await;
    }
}
