//! The enuchat server as a library: [`launch`] runs it on a given listener
//! until a shutdown future completes, so tests start the real thing on port 0.

pub mod admin;
pub mod auth;
pub mod error;
pub mod extract;
mod failure_streak;
pub mod jobs;
pub mod key_cache;
pub mod key_uses;
pub mod lease_limiter;
pub mod limiter;
pub mod providers;
pub mod realtime;
pub mod routes;
pub mod settings;
pub mod state;
pub mod storage;
mod tcp;
pub mod telemetry;

use anyhow::Context;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::StoreKind;
use limiter::{MemoryLimiter, RateLimiter};
use realtime::hub::Hub;
use realtime::sockets::{LiveSockets, DRAIN_TIMEOUT};
use settings::Settings;
use state::{AppState, Limits, Shared};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::Database;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use routes::tenant_api::openapi;

/// How often per-key state (rate limits, key use) of idle keys is forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Days a finished job is kept (for looking into what happened).
const JOB_HISTORY_DAYS: i64 = 7;
/// How long the shutdown waits for pending API key uses to be written.
const KEY_USES_FINAL_FLUSH: Duration = Duration::from_secs(5);

/// Connects to the database (running migrations), then serves HTTP on
/// `listener` until `shutdown` completes, finishing in-flight requests and
/// closing WebSockets with code 1001 (going away).
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let database = storage::open(&settings.database_url, settings.max_db_connections)
        .await
        .with_context(|| {
            format!(
                "opening database {}",
                settings::redact_url(&settings.database_url)
            )
        })?;
    serve(settings, database, listener, shutdown).await
}

/// Serves with an already opened database.
pub async fn serve(
    settings: Settings,
    database: Database,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let providers = providers::build(&settings).context("configuring providers")?;
    tracing::info!(?providers, "providers");
    let state = build_state(&settings, &database);
    let mut background = vec![tokio::spawn(prune_periodically(state.clone()))];
    // Not aborted with the others: it is told to stop, and writes what is
    // pending before the database closes.
    let key_uses_stop = CancellationToken::new();
    let key_uses = tokio::spawn(
        state
            .key_uses
            .clone()
            .run(state.store.clone(), key_uses_stop.clone()),
    );
    if settings.run_jobs {
        let worker = jobs::Worker::new(
            state.store.clone(),
            state.hub.clone(),
            providers,
            providers::Pricing::from(&settings),
            state.metrics.clone(),
            Duration::from_secs(settings.provider_timeout_secs.max(1)),
        );
        background.push(tokio::spawn(Arc::new(worker).run(state.jobs_wake.clone())));
    }
    if let Some(postgres) = database.postgres {
        background.push(tokio::spawn(realtime::feed::run(
            postgres,
            state.store.clone(),
            state.hub.clone(),
            state.key_cache.clone(),
        )));
    }
    let sockets = state.sockets.clone();
    let app = routes::router(state);
    tracing::info!(address = %listener.local_addr()?, "enuchat is listening");
    // Sockets are told to go away as soon as the shutdown starts, while
    // requests in flight are being answered.
    let stopping = {
        let sockets = sockets.clone();
        async move {
            shutdown.await;
            sockets.go_away();
        }
    };
    let served = axum::serve(
        tcp::without_nagle(listener),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopping)
    .await;
    // Upgraded connections are not part of axum's graceful shutdown.
    let dropped = sockets.drain(DRAIN_TIMEOUT).await;
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "WebSockets still open after the drain timeout were dropped"
        );
    }
    for task in &background {
        task.abort();
    }
    for task in background {
        // Returns once the task is really gone (cancelled at its next await).
        let _ = task.await;
    }
    // Key uses of the last second are still pending. A database that does
    // not answer must not hold the shutdown for long: this is bookkeeping.
    key_uses_stop.cancel();
    match tokio::time::timeout(KEY_USES_FINAL_FLUSH, key_uses).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(%err, "the API key use recorder failed"),
        Err(_) => tracing::warn!("API key uses pending at shutdown were not written in time"),
    }
    // Every request has been answered (graceful shutdown), so every message
    // acknowledged is committed; now the connections can go.
    database.store.close().await;
    served.context("HTTP server failed")
}

fn build_state(settings: &Settings, database: &Database) -> AppState {
    let store = database.store.clone();
    let kind = store.kind();
    let limiter = match store.kind() {
        StoreKind::Sqlite => RateLimiter::Memory(MemoryLimiter::new()),
        StoreKind::Postgres => RateLimiter::Shared(lease_limiter::LeaseLimiter::new(store.clone())),
    };
    AppState::new(Shared {
        store,
        limiter: Arc::new(limiter),
        limits: Limits {
            api_key: RateLimit::per_minute(settings.rate_limit_per_minute),
            visitor_messages: RateLimit::per_minute(settings.visitor_messages_per_minute),
            new_visitors_per_ip: RateLimit::per_minute(settings.new_visitors_per_ip_per_minute),
            new_conversations_per_ip: RateLimit::per_minute(
                settings.new_conversations_per_ip_per_minute,
            ),
        },
        key_uses: Arc::new(key_uses::KeyUses::new(auth::LAST_USED_GRANULARITY_SECS)),
        key_cache: Arc::new(key_cache::KeyCache::new(
            Duration::from_secs(settings.api_key_cache_secs),
            key_cache::DEFAULT_CAPACITY,
        )),
        metrics: Arc::new(telemetry::Metrics::new()),
        hub: Arc::new(match kind {
            StoreKind::Sqlite => Hub::new(),
            StoreKind::Postgres => Hub::with_feed(),
        }),
        sockets: LiveSockets::new(),
        public_origin: settings
            .public_url
            .as_deref()
            .and_then(routes::dashboard::origin_of),
        secure_cookies: settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://")),
        trust_forwarded_for: settings.trust_forwarded_for,
        jobs_wake: Arc::new(tokio::sync::Notify::new()),
        translation_wait: Duration::from_millis(settings.translation_wait_ms),
    })
}

async fn prune_periodically(state: AppState) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        state.key_cache.prune();
        if let Err(err) = state
            .store
            .prune_sessions(chrono::Utc::now(), routes::dashboard::IDLE_TIMEOUT_SECS)
            .await
        {
            tracing::warn!(%err, "could not prune ended sessions");
        }
        if let Err(err) = state.limiter.prune().await {
            tracing::warn!(%err, "could not prune rate-limit state");
        }
        // Finished jobs are history; failed ones stay for people to look at.
        let done_before = chrono::Utc::now() - chrono::Duration::days(JOB_HISTORY_DAYS);
        if let Err(err) = state.store.prune_jobs(done_before).await {
            tracing::warn!(%err, "could not prune finished jobs");
        }
    }
}
