//! The enuchat server as a library: [`launch`] runs it on a given listener
//! until a shutdown future completes, so tests start the real thing on port 0.

pub mod admin;
pub mod auth;
pub mod error;
pub mod extract;
pub mod key_use;
pub mod limiter;
pub mod routes;
pub mod settings;
pub mod state;
pub mod storage;
pub mod telemetry;

use anyhow::Context;
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::{Store, StoreKind};
use limiter::{MemoryLimiter, RateLimiter};
use settings::Settings;
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use routes::tenant_api::openapi;

/// How often per-key state (rate limits, key use) of idle keys is forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Connects to the database (running migrations), then serves HTTP on
/// `listener` until `shutdown` completes, finishing in-flight requests.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = storage::connect(&settings.database_url, settings.max_db_connections)
        .await
        .with_context(|| {
            format!(
                "opening database {}",
                settings::redact_url(&settings.database_url)
            )
        })?;
    serve(settings, store, listener, shutdown).await
}

/// Serves with an already opened store.
pub async fn serve(
    settings: Settings,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build_state(&settings, store);
    let pruner = tokio::spawn(prune_periodically(state.clone()));
    let app = routes::router(state);
    tracing::info!(address = %listener.local_addr()?, "enuchat is listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    pruner.abort();
    served.context("HTTP server failed")
}

fn build_state(settings: &Settings, store: Arc<dyn Store>) -> AppState {
    let limit = RateLimit::per_minute(settings.rate_limit_per_minute);
    let limiter = match store.kind() {
        StoreKind::Sqlite => RateLimiter::Memory(MemoryLimiter::new(limit)),
        StoreKind::Postgres => RateLimiter::Shared(store.clone(), limit),
    };
    AppState {
        store,
        limiter: Arc::new(limiter),
        key_use: Arc::new(key_use::KeyUseTracker::new(Duration::from_secs(
            auth::LAST_USED_GRANULARITY_SECS as u64,
        ))),
        metrics: Arc::new(telemetry::Metrics::new()),
    }
}

async fn prune_periodically(state: AppState) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        state.key_use.prune();
        if let Err(err) = state.limiter.prune().await {
            tracing::warn!(%err, "could not prune rate-limit state");
        }
    }
}
