//! A message answered with `2xx` must survive a crash. On PostgreSQL that
//! holds only while the server flushes each commit to disk before reporting
//! it and can repair pages torn by a crash, which three of its settings can
//! quietly turn off. They are read once at connect (as this store's
//! connections see them: per-database and per-role settings count, changes
//! made later are not seen) and each risk is logged as a warning; enuchat
//! does not override them, since the operator may have reasons (a test
//! database).

use crate::error::db_err;
use enuchat_domain::store::StoreResult;
use sqlx::PgPool;

/// The settings under which a committed message may be lost if the database
/// server crashes, each with why, in words for the log. Empty when none.
pub(crate) async fn risks(pool: &PgPool) -> StoreResult<Vec<String>> {
    let (fsync, synchronous_commit, full_page_writes): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('fsync'), current_setting('synchronous_commit'), \
                    current_setting('full_page_writes')",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let mut risks = Vec::new();
    if fsync == "off" {
        risks.push(
            "PostgreSQL runs with fsync = off: a crash of the database server may lose or \
             corrupt messages that were already answered with 2xx"
                .to_owned(),
        );
    }
    if synchronous_commit == "off" {
        risks.push(
            "PostgreSQL runs with synchronous_commit = off: a crash of the database server may \
             lose the last messages that were already answered with 2xx"
                .to_owned(),
        );
    }
    if full_page_writes == "off" {
        risks.push(
            "PostgreSQL runs with full_page_writes = off: a crash of the database server may \
             leave pages it cannot repair, and the messages on them lost"
                .to_owned(),
        );
    }
    Ok(risks)
}
