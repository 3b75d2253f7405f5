//! `enuchat-bench`: measurements that need a running server.
//!
//! `idle-connections` answers "what does one idle visitor cost?": it creates
//! visitors through the visitor API, reads the server's resident memory,
//! opens one WebSocket per visitor, waits until every socket is live (its
//! `ready` event), reads the memory again and reports the growth per
//! connection. Run it against a release build on loopback.
//!
//! `load` drives the Tenant API (or the HTTP baseline) with the open-loop
//! generator of [`load`], finds each scenario's peak rate and holds 70% of it;
//! `storage` does the same for raw database statements; `http-baseline`
//! serves the minimal axum server the HTTP figures are compared with;
//! `realtime` measures delivery to many connected visitors, on enuchat or on
//! nginx + nchan (scenario 4, see [`realtime`]).
//! `bench/run.sh` runs them all and writes `bench/REPORT.md`.

mod auth;
mod http;
mod load;
mod realtime;
mod storage;
mod wire;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The server's allocator (`crates/enuchat/src/main.rs`), for three reasons:
/// the HTTP and storage baselines run in this binary and would otherwise pay
/// glibc's malloc where the server does not; scenario 6 times the server's
/// own key check in this process; and the load generator shares the cores
/// with what it measures, so what it spends is taken from the server. Its
/// allocations took 11% of its CPU time under glibc and 5% with mimalloc
/// (`bench/profiles/README.md`, session 34).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct PeakArgs {
    /// First rate of the peak search, requests/s
    #[arg(long, default_value_t = 200.0)]
    start_rps: f64,
    /// Seconds per step of the peak search
    #[arg(long, default_value_t = 2.0)]
    step_seconds: f64,
    #[arg(long, default_value_t = 14)]
    max_steps: usize,
    /// A step fails when its p99 exceeds this many milliseconds
    #[arg(long, default_value_t = 50.0)]
    p99_break_ms: f64,
    /// Requests outstanding at most
    #[arg(long, default_value_t = 256)]
    max_inflight: usize,
    /// Seconds of the run at `hold-share` of the peak
    #[arg(long, default_value_t = 5.0)]
    hold_seconds: f64,
    #[arg(long, default_value_t = 0.7)]
    hold_share: f64,
    /// What wakes the generator for each request's send time
    #[arg(long, value_enum, default_value_t = load::Pacing::Timer)]
    pacing: load::Pacing,
    /// Free-form JSON object merged into every result line (backend, run number)
    #[arg(long, default_value = "{}")]
    tag: String,
}

impl PeakArgs {
    fn options(&self) -> load::PeakOptions {
        load::PeakOptions {
            start_rps: self.start_rps,
            step_seconds: self.step_seconds,
            max_steps: self.max_steps,
            p99_break_us: (self.p99_break_ms * 1000.0) as u64,
            max_error_ratio: 0.001,
            min_achieved_share: 0.95,
            max_inflight: self.max_inflight,
            hold_seconds: self.hold_seconds,
            hold_share: self.hold_share,
            pacing: self.pacing,
        }
    }

    fn emit(&self, mut line: Value) -> anyhow::Result<()> {
        let tag: Value = serde_json::from_str(&self.tag).context("--tag is not JSON")?;
        if let (Some(obj), Some(tag)) = (line.as_object_mut(), tag.as_object()) {
            for (k, v) in tag {
                obj.insert(k.clone(), v.clone());
            }
        }
        println!("{line}");
        Ok(())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the minimal axum baseline (GET /json) until killed
    HttpBaseline {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Peak rate and a 70%-of-peak run for HTTP scenarios: list, list-filtered,
    /// list-deep, get, post, post-readers, widgets, healthz, baseline
    Load {
        /// Base URL (loopback only), e.g. http://127.0.0.1:8080
        #[arg(long)]
        url: String,
        /// File with one API key per line; requests rotate over them
        #[arg(long)]
        keys: Option<String>,
        /// Comma-separated scenarios
        #[arg(long, value_delimiter = ',')]
        scenarios: Vec<String>,
        /// Conversations in the data set (for list-deep offsets)
        #[arg(long, default_value_t = 0)]
        conversations: u64,
        /// Concurrent reader load (GET /conversations/{id}) during post-readers, requests/s
        #[arg(long, default_value_t = 200.0)]
        readers_rps: f64,
        #[command(flatten)]
        peak: PeakArgs,
    },
    /// Scenario 6: time added by the API key check and the per-key limiter,
    /// on the server's own code, plus in-memory limiter state for many keys
    AuthOverhead {
        /// An enuchat database (sqlite://FILE or postgres://...) with the keys
        #[arg(long)]
        database_url: String,
        /// File with one API key per line
        #[arg(long)]
        keys: String,
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
        #[arg(long, default_value_t = 100_000)]
        limiter_keys: usize,
        #[arg(long, default_value = "{}")]
        tag: String,
    },
    /// Raw storage baselines: single-row insert and indexed 20-row select
    Storage {
        /// sqlite://FILE (created) or postgres://... (an empty database)
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 100_000)]
        conversations: u64,
        #[arg(long, value_delimiter = ',', default_values_t = ["insert".to_string(), "select".to_string()])]
        ops: Vec<String>,
        #[command(flatten)]
        peak: PeakArgs,
    },
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
    /// Scenario 4: messages at a fixed rate to many connected visitors, from
    /// POST to WebSocket receipt; on enuchat (--widget and --keys) or on
    /// nginx + nchan (--nchan)
    Realtime {
        /// Base URL (loopback only), e.g. http://127.0.0.1:8080
        #[arg(long)]
        url: String,
        /// The server is nginx + nchan (/pub/<channel>, /sub/<channel>)
        #[arg(long)]
        nchan: bool,
        #[arg(long)]
        widget: Option<String>,
        /// File with one API key per line (enuchat); sends rotate over them
        #[arg(long)]
        keys: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        visitors: usize,
        /// Messages per second, over all visitors
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Wait this long at the end for messages still under way
        #[arg(long, default_value_t = 5.0)]
        grace_seconds: f64,
        #[arg(long, default_value_t = 32)]
        setup_concurrency: usize,
        /// Also write every message's instants to this CSV file (due, sent,
        /// answered, received; microseconds from one origin, empty where it
        /// did not happen), to tell a steady tail from a few stalls
        #[arg(long)]
        timeline: Option<std::path::PathBuf>,
        #[arg(long, default_value = "{}")]
        tag: String,
    },
}

fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    // The HTTP load generator runs on one thread. It shares the two cores
    // with the server it measures, and on a multi-threaded runtime its
    // workers spent much of their time waking and parking each other
    // (futex and epoll wake-ups, `bench/profiles/README.md`, session 35).
    // The other commands do the measured work in this process (storage
    // baselines, the key check) or hold thousands of sockets (real time),
    // and keep a worker per core.
    let runtime = match command {
        Command::Load { .. } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Runtime::new()?,
    };
    runtime.block_on(run(command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::HttpBaseline { listen } => http::serve_baseline(&listen).await,
        Command::Load {
            url,
            keys,
            scenarios,
            conversations,
            readers_rps,
            peak,
        } => load_command(url, keys, scenarios, conversations, readers_rps, peak).await,
        Command::AuthOverhead {
            database_url,
            keys,
            iterations,
            limiter_keys,
            tag,
        } => {
            let keys = http::read_keys(&keys)?;
            let mut line = auth::run(&database_url, &keys, iterations, limiter_keys).await?;
            let tag: Value = serde_json::from_str(&tag).context("--tag is not JSON")?;
            if let (Some(obj), Some(tag)) = (line.as_object_mut(), tag.as_object()) {
                obj.extend(tag.clone());
            }
            println!("{line}");
            Ok(())
        }
        Command::Storage {
            database_url,
            conversations,
            ops,
            peak,
        } => storage_command(database_url, conversations, ops, peak).await,
        Command::IdleConnections {
            server,
            pid,
            widget,
            connections,
            with_conversation,
        } => idle_connections(&server, pid, &widget, connections, with_conversation).await,
        Command::Realtime {
            url,
            nchan,
            widget,
            keys,
            visitors,
            rate,
            seconds,
            grace_seconds,
            setup_concurrency,
            timeline,
            tag,
        } => {
            http::check_loopback(&url)?;
            let base = url.trim_end_matches('/').to_owned();
            let peer = if nchan {
                realtime::Peer::Nchan { base }
            } else {
                realtime::Peer::Ours {
                    base,
                    widget: widget.context("--widget is needed (or --nchan)")?,
                    keys: http::read_keys(&keys.context("--keys is needed (or --nchan)")?)?,
                }
            };
            let options = realtime::Options {
                visitors,
                rate,
                seconds,
                grace_seconds,
                setup_concurrency,
                timeline,
            };
            let mut line = realtime::run(peer, &options).await?;
            let tag: Value = serde_json::from_str(&tag).context("--tag is not JSON")?;
            if let (Some(obj), Some(tag)) = (line.as_object_mut(), tag.as_object()) {
                obj.extend(tag.clone());
            }
            println!("{line}");
            Ok(())
        }
    }
}

async fn load_command(
    url: String,
    keys: Option<String>,
    scenarios: Vec<String>,
    conversations: u64,
    readers_rps: f64,
    peak: PeakArgs,
) -> anyhow::Result<()> {
    http::check_loopback(&url)?;
    let url = url.trim_end_matches('/').to_owned();
    let needs_data = scenarios
        .iter()
        .any(|s| !matches!(s.as_str(), "baseline" | "healthz"));
    let keys = match &keys {
        Some(path) => http::read_keys(path)?,
        None if needs_data => bail!("--keys is needed for Tenant API scenarios"),
        None => vec!["none".into()],
    };
    let fixture = if needs_data {
        let started = Instant::now();
        let mut f = http::prepare(&url, keys, 20, 1000).await?;
        f.total_conversations = conversations;
        eprintln!("prepared in {:.1}s", started.elapsed().as_secs_f64());
        f
    } else {
        http::Fixture {
            keys,
            widget: String::new(),
            full: vec![],
            targets: vec![],
            total_conversations: 0,
        }
    };
    let fixture = std::sync::Arc::new(fixture);
    let wire = std::sync::Arc::new(wire::WireClient::new(&url, Duration::from_secs(10)).await?);
    let options = peak.options();
    for scenario in &scenarios {
        let (name, readers) = match scenario.as_str() {
            "post-readers" => ("post", true),
            other => (other, false),
        };
        // Fail fast on a broken scenario before searching for its peak.
        wire.send(&http::make_request(&wire, &fixture, name, 0)?)
            .await
            .with_context(|| format!("first request of {scenario}"))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader_task = readers.then(|| {
            let (wire, fixture, stop) = (wire.clone(), fixture.clone(), stop.clone());
            tokio::spawn(async move {
                let mut runs = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = load::open_loop(readers_rps, Duration::from_secs(1), 64, |i| {
                        let req = http::make_request(&wire, &fixture, "get", i);
                        let wire = wire.clone();
                        async move { wire.send(&req?).await }
                    })
                    .await;
                    runs.push(r);
                }
                runs
            })
        });
        let started = Instant::now();
        let result = load::find_peak(&options, |i| {
            let req = http::make_request(&wire, &fixture, name, i);
            let wire = wire.clone();
            async move { wire.send(&req?).await }
        })
        .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let readers = match reader_task {
            Some(task) => {
                let runs = task.await?;
                let errors: u64 = runs.iter().map(|r| r.errors + r.unsent).sum();
                let worst_p99 = runs.iter().map(|r| r.p99_us).max().unwrap_or(0);
                serde_json::json!({"rps": readers_rps, "seconds": runs.len(), "errors": errors, "worstP99Us": worst_p99})
            }
            None => Value::Null,
        };
        peak.emit(serde_json::json!({
            "kind": "http",
            "scenario": scenario,
            "keys": fixture.keys.len(),
            "readers": readers,
            "wallSeconds": started.elapsed().as_secs_f64().round(),
            "result": result,
        }))?;
    }
    Ok(())
}

async fn storage_command(
    database_url: String,
    conversations: u64,
    ops: Vec<String>,
    peak: PeakArgs,
) -> anyhow::Result<()> {
    if let Some(rest) = database_url.strip_prefix("postgres://") {
        let host = rest.split('@').nth(1).unwrap_or(rest);
        if !(host.starts_with("127.0.0.1") || host.starts_with("localhost")) {
            bail!("benchmarks only target loopback databases");
        }
    }
    let started = Instant::now();
    let store = std::sync::Arc::new(storage::Storage::create(&database_url, conversations).await?);
    eprintln!(
        "storage prepared in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let backend = match store.backend {
        storage::Backend::Sqlite(_) => "sqlite",
        storage::Backend::Postgres(_) => "postgres",
    };
    let options = peak.options();
    for op in &ops {
        let started = Instant::now();
        let result = match op.as_str() {
            "insert" => {
                store.clone().insert(0).await.context("first insert")?;
                load::find_peak(&options, |i| store.clone().insert(i)).await
            }
            "select" => {
                store.clone().select(0).await.context("first select")?;
                load::find_peak(&options, |i| store.clone().select(i)).await
            }
            other => bail!("unknown storage op {other}"),
        };
        peak.emit(serde_json::json!({
            "kind": "storage",
            "storageBackend": backend,
            "scenario": format!("raw-{op}"),
            "wallSeconds": started.elapsed().as_secs_f64().round(),
            "result": result,
        }))?;
    }
    Ok(())
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
        let first_message = with_conversation.then_some("hello");
        let token = realtime::create_visitor(&http, server, widget, first_message).await?;
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
