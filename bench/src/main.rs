//! `enuchat-bench`: measurements that need a running server.
//!
//! `idle-connections` answers "what does one idle visitor cost?": it creates
//! visitors through the visitor API, reads the server's resident memory,
//! opens one WebSocket per visitor, waits until every socket is live (its
//! `ready` event), reads the memory again and reports the growth per
//! connection. Run it against a release build on loopback.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Memory per idle visitor WebSocket
    IdleConnections {
        /// Server base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        server: String,
        /// Process id of the server, to read its resident memory
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        widget: String,
        #[arg(long, default_value_t = 2000)]
        connections: usize,
        /// Each visitor writes one message first, so its socket follows a
        /// conversation (instead of waiting for the first message)
        #[arg(long)]
        with_conversation: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::IdleConnections {
            server,
            pid,
            widget,
            connections,
            with_conversation,
        } => idle_connections(&server, pid, &widget, connections, with_conversation).await,
    }
}

/// Resident set size of a process, in KiB, from /proc.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

async fn idle_connections(
    server: &str,
    pid: u32,
    widget: &str,
    connections: usize,
    with_conversation: bool,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(connections);
    for _ in 0..connections {
        let reply: Value = http
            .post(format!("{server}/api/v1/widget/widgets/{widget}/visitors"))
            .json(&serde_json::json!({}))
            .send()
            .await?
            .error_for_status()
            .context("creating a visitor (raise ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE)")?
            .json()
            .await?;
        let token = reply["data"]["token"].as_str().context("token")?.to_owned();
        if with_conversation {
            http.post(format!("{server}/api/v1/widget/messages"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"content": "hello"}))
                .send()
                .await?
                .error_for_status()
                .context("first message (raise ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE)")?;
        }
        tokens.push(token);
    }
    // Let allocator caches settle after the HTTP burst.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let ws_base = server.replacen("http", "ws", 1);
    let mut sockets = Vec::with_capacity(connections);
    for token in &tokens {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{ws_base}/api/v1/widget/ws?token={token}"))
                .await?;
        // Wait for `ready`: the server side of this socket is fully set up.
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.contains("\"ready\"") => break,
                Some(Ok(_)) => continue,
                other => bail!("socket ended before ready: {other:?}"),
            }
        }
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let per_connection = (after.saturating_sub(before) as f64 * 1024.0) / connections as f64;
    println!(
        "{}",
        serde_json::json!({
            "connections": connections,
            "withConversation": with_conversation,
            "rssBeforeKiB": before,
            "rssAfterKiB": after,
            "bytesPerConnection": per_connection.round(),
            "secondsToConnect": started.elapsed().as_secs_f64(),
        })
    );
    drop(sockets);
    Ok(())
}
