//! API key authentication and rate limiting for the Tenant API, as one
//! middleware: find the key, refuse it if missing/unknown/revoked/expired,
//! apply the key's rate limit, then run the handler with a [`TenantContext`]
//! and put the `X-RateLimit-*` headers on whatever it returns.

use crate::error::ApiError;
use crate::extract::TenantContext;
use crate::key_cache::{CachedKey, KeyCache};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use enuchat_domain::rate_limit::RateDecision;
use enuchat_domain::{secret, ApiKeyId, Store};

pub const API_KEY_HEADER: &str = "x-api-key";
/// `last_used_at` is written at most this often per key.
pub const LAST_USED_GRANULARITY_SECS: i64 = 60;

pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let context = match authenticate(&state, req.headers()).await {
        Ok(context) => context,
        Err(err) => return err.into_response(),
    };
    let bucket = key_bucket(context.api_key_id);
    let decision = match state.limiter.check(&bucket, state.limits.api_key).await {
        Ok(decision) => decision,
        Err(err) => return ApiError::from(err).into_response(),
    };
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
    record_use(&state, context);
    req.extensions_mut().insert(context);
    let mut response = next.run(req).await;
    add_rate_headers(response.headers_mut(), &decision);
    response
}

/// The rate limiter's bucket for a key.
pub fn key_bucket(key: ApiKeyId) -> String {
    format!("key:{key}")
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<TenantContext, ApiError> {
    let presented = headers
        .get(API_KEY_HEADER)
        .map(|v| v.to_str().map(str::trim).unwrap_or_default())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::ApiKeyMissing)?;
    authenticate_key(state.store.as_ref(), &state.key_cache, presented).await
}

/// Checks a presented key (the header's value): from the cache when it holds
/// the key, else from the database (then cached). Public so that the
/// benchmark measures exactly what requests pay.
pub async fn authenticate_key(
    store: &dyn Store,
    cache: &KeyCache,
    presented: &str,
) -> Result<TenantContext, ApiError> {
    if !secret::looks_like_api_key(presented) {
        return Err(ApiError::ApiKeyInvalid);
    }
    let hash = secret::hash(presented);
    let key = match cache.get(&hash) {
        Some(key) => key,
        None => {
            let generation = cache.generation();
            let key = store
                .find_api_key_by_hash(&hash)
                .await?
                // The index found it by hash; compare again in constant time so
                // that no code path depends on a byte-by-byte comparison of
                // secrets.
                .filter(|key| secret::hashes_match(&key.key_hash, &hash))
                .ok_or(ApiError::ApiKeyInvalid)?;
            let key = CachedKey::from(&key);
            cache.insert(generation, hash, key);
            key
        }
    };
    if key.revoked {
        return Err(ApiError::ApiKeyRevoked);
    }
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::ApiKeyExpired);
    }
    Ok(TenantContext {
        tenant_id: key.tenant_id,
        api_key_id: key.id,
    })
}

/// Updates `last_used_at` off the request path: a failed bookkeeping write
/// must not fail the caller's request.
fn record_use(state: &AppState, context: TenantContext) {
    if !state.key_use.should_record(context.api_key_id) {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(err) = store
            .touch_api_key(
                context.tenant_id,
                context.api_key_id,
                Utc::now(),
                LAST_USED_GRANULARITY_SECS,
            )
            .await
        {
            tracing::warn!(%err, "could not record API key use");
        }
    });
}

fn add_rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_secs));
}
