//! The plans PostgreSQL runs the store's statements with, for the plan tests.
//!
//! `EXPLAIN` of a statement with bound parameters plans it for those values
//! (a custom plan), which is not what the store runs: its connections use
//! generic plans (`SESSION_SETTINGS` in lib.rs). So the statement is prepared
//! as sqlx prepares it and explained through `EXPLAIN EXECUTE`, on a store
//! connection, which shows the plan its executions actually use.

use crate::error::db_err;
use enuchat_domain::store::StoreResult;
use sqlx::{PgPool, Row};

/// A value for `EXPLAIN EXECUTE`'s argument list, written as an SQL literal.
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    fn literal(&self) -> String {
        match self {
            Arg::Text(text) => format!("'{}'", text.replace('\'', "''")),
            Arg::Int(n) => n.to_string(),
        }
    }
}

impl From<uuid::Uuid> for Arg {
    fn from(id: uuid::Uuid) -> Self {
        Arg::Text(id.to_string())
    }
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Arg::Text(text.to_owned())
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

/// The plan `sql` runs with when its parameters `$1, $2, …` are `args`
/// (`EXPLAIN` text, one line per row).
pub(crate) async fn explain_prepared(
    pool: &PgPool,
    sql: &str,
    args: &[Arg],
) -> StoreResult<String> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    sqlx::raw_sql(&format!("PREPARE enuchat_explain AS {sql}"))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let arguments: Vec<String> = args.iter().map(Arg::literal).collect();
    let explained = sqlx::raw_sql(&format!(
        "EXPLAIN EXECUTE enuchat_explain({})",
        arguments.join(", ")
    ))
    .fetch_all(&mut *conn)
    .await;
    // Deallocate even when EXPLAIN failed: the connection goes back to the pool.
    sqlx::raw_sql("DEALLOCATE enuchat_explain")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let lines = explained
        .map_err(db_err)?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(lines.join("\n"))
}
