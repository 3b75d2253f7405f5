//! API key authentication and rate limiting for the Tenant API, as one
//! middleware: find the key, refuse it if missing/unknown/revoked/expired,
//! apply the key's rate limit, then run the handler with a [`TenantContext`]
//! and put the `X-RateLimit-*` headers on whatever it returns.

use crate::error::ApiError;
use crate::extract::TenantContext;
use crate::key_cache::{CachedKey, KeyCache, KeyEntry};
use crate::limiter::RateLimiter;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use enuchat_domain::rate_limit::{RateDecision, RateLimit};
use enuchat_domain::{secret, ApiKeyId, Store};
use std::sync::Arc;
use std::time::Instant;

/// A `HeaderName` rather than a `&str`: looking a `&str` up in a
/// `HeaderMap` parses and lowercases it first, on every request.
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
/// `last_used_at` is written at most this often per key.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let gate = KeyGate {
        store: state.store.as_ref(),
        cache: &state.key_cache,
        limiter: &state.limiter,
        limit: state.limits.api_key,
    };
    let admission = match gate.admit(req.headers()).await {
        Ok(admission) => admission,
        Err(err) => return err.into_response(),
    };
    let decision = admission.decision;
    if !decision.allowed {
        state.metrics.rate_limited.inc();
        let mut response = ApiError::RateLimited {
            limit: decision.limit,
            retry_after_secs: decision.retry_after_secs,
            per: "per API key",
        }
        .into_response();
        add_rate_headers(response.headers_mut(), &decision);
        return response;
    }
    if admission.record_use {
        record_use(&state, admission.context);
    }
    req.extensions_mut().insert(admission.context);
    let mut response = next.run(req).await;
    add_rate_headers(response.headers_mut(), &decision);
    response
}

/// The rate limiter's bucket for a key.
fn key_bucket(key: ApiKeyId) -> String {
    format!("key:{key}")
}

/// Everything that admitting a Tenant API request needs, borrowed from the
/// server's state (or set up by the benchmark, which measures exactly
/// [`KeyGate::admit`]).
pub struct KeyGate<'a> {
    pub store: &'a dyn Store,
    pub cache: &'a KeyCache,
    pub limiter: &'a RateLimiter,
    pub limit: RateLimit,
}

/// A known, usable key and what its rate limit decided.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub context: TenantContext,
    pub decision: RateDecision,
    /// This use of the key is to be written to `last_used_at` (only when
    /// the request is allowed).
    pub record_use: bool,
}

impl KeyGate<'_> {
    /// Finds the presented key (see [`KeyGate::authenticate`]) and spends one
    /// request from its bucket. A refused request is still `Ok`, with the
    /// decision that refused it, for the `429`'s headers.
    pub async fn admit(&self, headers: &HeaderMap) -> Result<Admission, ApiError> {
        let presented = headers
            .get(&API_KEY_HEADER)
            .map(|v| v.as_bytes().trim_ascii())
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::ApiKeyMissing)?;
        // Our keys are ASCII; anything else is a key that is not ours. The
        // shape check that `authenticate` does first refuses it either way.
        let presented = std::str::from_utf8(presented).map_err(|_| ApiError::ApiKeyInvalid)?;
        // One clock reading serves the cache's TTL, the limiter and the use
        // record.
        let now = Instant::now();
        let (context, entry) = self.authenticate(presented, now).await?;
        let decision = self
            .limiter
            .check_bucket(&entry.bucket, self.limit, now)
            .await?;
        let record_use = decision.allowed && self.cache.claim_use(&entry, now);
        Ok(Admission {
            context,
            decision,
            record_use,
        })
    }

    /// Checks a presented key (the header's value): from the cache when it
    /// holds the key, else from the database (then cached with its rate-limit
    /// bucket). Returns the key's tenant and its entry (bucket and use clock).
    pub async fn authenticate(
        &self,
        presented: &str,
        now: Instant,
    ) -> Result<(TenantContext, Arc<KeyEntry>), ApiError> {
        if !secret::looks_like_api_key(presented) {
            return Err(ApiError::ApiKeyInvalid);
        }
        let hash = secret::hash(presented);
        let entry = match self.cache.get(&hash, now) {
            Some(found) => found,
            None => {
                let generation = self.cache.generation();
                let key = self
                    .store
                    .find_api_key_by_hash(&hash)
                    .await?
                    // The index found it by hash; compare again in constant
                    // time so that no code path depends on a byte-by-byte
                    // comparison of secrets.
                    .filter(|key| secret::hashes_match(&key.key_hash, &hash))
                    .ok_or(ApiError::ApiKeyInvalid)?;
                let bucket = self.limiter.bucket(&key_bucket(key.id));
                let entry = self
                    .cache
                    .entry(CachedKey::from(&key), key.last_used_at, bucket);
                self.cache.insert(generation, hash, entry.clone());
                entry
            }
        };
        let key = entry.key;
        if key.revoked {
            return Err(ApiError::ApiKeyRevoked);
        }
        if key.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::ApiKeyExpired);
        }
        let context = TenantContext {
            tenant_id: key.tenant_id,
            api_key_id: key.id,
        };
        Ok((context, entry))
    }
}

/// Queues this use for `last_used_at` (written about once a second with
/// the others, `key_uses.rs`): bookkeeping never holds up or fails the
/// caller's request.
fn record_use(state: &AppState, context: TenantContext) {
    state
        .key_uses
        .record(context.tenant_id, context.api_key_id, Utc::now());
}

fn add_rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_secs));
}
