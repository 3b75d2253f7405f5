//! `enuchat backup --to FILE`: a copy of the SQLite database that holds every
//! commit, made while `serve` goes on (no `sqlite3` program needed).

use super::print_json;
use crate::cli::BackupArgs;
use crate::config::Config;
use serde_json::json;

pub async fn run(args: BackupArgs, config: &Config) -> anyhow::Result<()> {
    let bytes = enuchat_server::storage::backup(&config.database_url, &args.to).await?;
    print_json(&json!({ "backup": args.to.display().to_string(), "bytes": bytes }));
    Ok(())
}
