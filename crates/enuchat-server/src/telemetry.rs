//! Prometheus metrics and request tracing.
//!
//! Metrics live in a registry owned by the app state (no global recorder), so
//! several servers in one test process never mix their numbers.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The matched route template (`/conversations/{id}`), never the raw path,
    /// so label cardinality stays bounded.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: &'static str,
    /// done, skipped, retry, failed
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TranslationFailureLabels {
    pub provider: &'static str,
    /// unsupported, transient, permanent
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub kind: &'static str,
    /// queued, running, failed
    pub status: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub job_queue: Family<QueueLabels, Gauge>,
    pub jobs: Family<JobLabels, Counter>,
    pub translation_failures: Family<TranslationFailureLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub rate_limited: Counter,
    pub db_connections_in_use: Gauge,
    pub db_connections_idle: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("enuchat");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 100 µs .. ~1.6 s
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5,
            ])
        });
        let rate_limited = Counter::default();
        let jobs = Family::<JobLabels, Counter>::default();
        let job_queue = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "job_queue",
            "Jobs waiting, running or failed, by kind (read at scrape time)",
            job_queue.clone(),
        );
        let translation_failures = Family::<TranslationFailureLabels, Counter>::default();
        registry.register(
            "jobs",
            "Background job runs by kind and outcome",
            jobs.clone(),
        );
        registry.register(
            "translation_failures",
            "Translations that failed, by provider and reason (the original is shown instead)",
            translation_failures.clone(),
        );
        let db_connections_in_use = Gauge::default();
        let db_connections_idle = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Requests refused by a rate limit (Tenant API keys, visitors, addresses, sign-ins)",
            rate_limited.clone(),
        );
        registry.register(
            "db_pool_connections_in_use",
            "Database connections currently checked out",
            db_connections_in_use.clone(),
        );
        registry.register(
            "db_pool_connections_idle",
            "Database connections open and idle",
            db_connections_idle.clone(),
        );
        Self {
            registry,
            job_queue,
            jobs,
            translation_failures,
            requests,
            latency,
            rate_limited,
            db_connections_in_use,
            db_connections_idle,
        }
    }

    pub fn job_finished(&self, kind: &'static str, outcome: &'static str) {
        self.jobs.get_or_create(&JobLabels { kind, outcome }).inc();
    }

    /// Sets the queue gauges from `(kind, status, count)` rows; kinds and
    /// statuses not in the rows read 0.
    pub fn set_job_counts(
        &self,
        counts: &[(enuchat_domain::JobKind, enuchat_domain::JobStatus, i64)],
    ) {
        use enuchat_domain::{JobKind, JobStatus};
        for kind in JobKind::ALL {
            for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Failed] {
                let count = counts
                    .iter()
                    .find(|(k, s, _)| k == kind && *s == status)
                    .map_or(0, |(_, _, n)| *n);
                self.job_queue
                    .get_or_create(&QueueLabels {
                        kind: kind.as_str(),
                        status: status.as_str(),
                    })
                    .set(count);
            }
        }
    }

    pub fn translation_failed(&self, provider: &'static str, reason: &'static str) {
        self.translation_failures
            .get_or_create(&TranslationFailureLabels { provider, reason })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts and times every request by its matched route.
pub async fn track_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
