//! The background worker: runs the jobs that messages leave in the database
//! (translations, AI replies).
//!
//! Every instance runs one. Jobs are claimed with a lease, so several
//! instances never run the same job at once, and a worker that dies leaves
//! its jobs to be claimed again when the lease expires. Effects (the
//! translation, the AI message, the credit charge) are written together with
//! "done" and only while the lease is still held: a job never has a visible
//! effect twice. Tests call [`Worker::step`] directly.

mod ai_reply;
pub mod retry;
mod translate;

use crate::failure_streak::FailureStreak;
use crate::providers::{Pricing, Providers};
use crate::realtime::hub::Hub;
use crate::telemetry::Metrics;
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ClaimedJob, JobKind, Store, TenantId};
use retry::RetryPolicy;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Jobs claimed per round.
const BATCH: u32 = 16;
/// How often an idle worker looks for jobs written by other instances (its
/// own instance wakes it at once).
const POLL_EVERY: Duration = Duration::from_millis(500);

/// How a job ended this time.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its effect is written (together with "done").
    Done,
    /// Nothing to do (handed off, no credits, nothing to say...): done.
    Skipped(&'static str),
    /// Worth another attempt later (timeouts, 5xx, rate limits).
    Retry(String),
    /// Will not work however often it is tried: kept as `failed`.
    Failed(String),
}

pub struct Worker {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    providers: Providers,
    pricing: Pricing,
    metrics: Arc<Metrics>,
    retry: RetryPolicy,
    /// How long a claimed job is ours: longer than any provider call.
    lease: Duration,
    /// Language pairs a translator lacks, logged once each.
    reported_pairs: Mutex<HashSet<(String, String)>>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        providers: Providers,
        pricing: Pricing,
        metrics: Arc<Metrics>,
        provider_timeout: Duration,
    ) -> Self {
        Self {
            store,
            hub,
            providers,
            pricing,
            metrics,
            retry: RetryPolicy::default(),
            lease: provider_timeout * 3 + Duration::from_secs(30),
            reported_pairs: Mutex::new(HashSet::new()),
        }
    }

    /// A worker that retries at once (for tests of retries).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Claims due jobs and runs them; returns how many ran.
    pub async fn step(&self) -> StoreResult<usize> {
        let claimed = self
            .store
            .claim_jobs(chrono::Utc::now(), self.lease, BATCH)
            .await?;
        let count = claimed.len();
        futures::future::join_all(claimed.iter().map(|job| self.run_one(job))).await;
        Ok(count)
    }

    /// Runs jobs until none is due; returns how many ran.
    pub async fn drain(&self) -> StoreResult<usize> {
        let mut total = 0;
        loop {
            let ran = self.step().await?;
            if ran == 0 {
                return Ok(total);
            }
            total += ran;
        }
    }

    /// Runs forever: woken by this instance's new jobs, polling for others'.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>) {
        let mut failures = FailureStreak::default();
        loop {
            match self.step().await {
                Ok(ran) => {
                    if let Some(failed) = failures.succeeded() {
                        tracing::info!(failed, "claiming jobs works again");
                    }
                    if ran == 0 {
                        tokio::select! {
                            () = wake.notified() => {}
                            () = tokio::time::sleep(POLL_EVERY) => {}
                        }
                    }
                }
                Err(err) => {
                    if let Some(failed) = failures.failed(std::time::Instant::now()) {
                        tracing::warn!(%err, failed, "could not claim jobs; will retry");
                    }
                    tokio::time::sleep(POLL_EVERY * 4).await;
                }
            }
        }
    }

    async fn run_one(&self, claimed: &ClaimedJob) {
        let job = &claimed.job;
        let outcome = match job.kind {
            JobKind::Translate => translate::run(self, claimed).await,
            JobKind::AiReply => ai_reply::run(self, claimed).await,
        };
        let outcome = outcome.unwrap_or_else(|err| Outcome::Retry(format!("storage: {err}")));
        let kind = job.kind.as_str();
        let tenant = job.tenant_id;
        let recorded = match &outcome {
            Outcome::Done => Ok(true),
            Outcome::Skipped(why) => {
                tracing::debug!(job = %job.id, kind, why, "job skipped");
                self.store.finish_job(tenant, claimed, Some(why)).await
            }
            Outcome::Retry(err) => {
                let retry_at = self
                    .retry
                    .next_delay(job.attempts)
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| chrono::Utc::now() + d);
                if retry_at.is_some() {
                    tracing::warn!(job = %job.id, kind, attempts = job.attempts, error = %err,
                        "job failed; will retry");
                } else {
                    tracing::error!(job = %job.id, kind, attempts = job.attempts, error = %err,
                        "job failed for good after its last attempt");
                }
                self.store.fail_job(tenant, claimed, err, retry_at).await
            }
            Outcome::Failed(err) => {
                tracing::error!(job = %job.id, kind, error = %err, "job failed for good");
                self.store.fail_job(tenant, claimed, err, None).await
            }
        };
        match recorded {
            Ok(true) => {}
            // Someone else holds the job now (our lease ran out): theirs counts.
            Ok(false) => {
                tracing::warn!(job = %job.id, "lost the lease before recording the outcome")
            }
            // The lease runs out and the job is claimed again: not lost.
            Err(err) => tracing::warn!(job = %job.id, %err, "could not record a job's outcome"),
        }
        self.metrics.job_finished(kind, outcome.label());
    }

    /// Whether the tenant can still pay for AI and translation.
    async fn can_pay(&self, tenant: TenantId) -> StoreResult<bool> {
        Ok(self
            .store
            .get_tenant(tenant)
            .await?
            .is_some_and(|t| t.credit_balance > 0))
    }
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped(_) => "skipped",
            Outcome::Retry(_) => "retry",
            Outcome::Failed(_) => "failed",
        }
    }
}
