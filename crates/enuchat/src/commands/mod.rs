//! One function per command. Each opens the store, does its work through
//! `enuchat_server::admin` and prints JSON (create/list commands) on stdout.

mod accounts;
mod backup;
mod knowledge;
mod serve;

use crate::cli::Command;
use crate::config::Config;
use enuchat_domain::Store;
use std::sync::Arc;

pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args, config).await,
        Command::Backup(args) => backup::run(args, &config).await,
        Command::Knowledge(command) => {
            let store = open(&config).await?;
            let done = knowledge::run(command, store.as_ref()).await;
            store.close().await;
            done
        }
        other => {
            let store = open(&config).await?;
            let done = accounts::run(other, store.as_ref()).await;
            store.close().await;
            done
        }
    }
}

async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let max = config.file.max_db_connections.unwrap_or(4);
    Ok(enuchat_server::storage::connect(&config.database_url, max).await?)
}

/// Prints one JSON object on one line.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
