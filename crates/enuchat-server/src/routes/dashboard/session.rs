//! `POST /session` (sign in), `GET /session`, `DELETE /session` (sign out).
//!
//! Failed sign-ins are throttled per email and per client address with the
//! shared rate limiter: a failure spends from both buckets, and an empty
//! bucket refuses the next attempt before the password is even checked. An
//! unknown email costs the same argon2 work as a wrong password, so timing
//! does not tell which emails exist.

use super::views::{OperatorView, SessionView};
use super::{request_is_https, ABSOLUTE_TIMEOUT_SECS, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::extract::session::current_session;
use crate::extract::{ApiJson, ClientIp, OperatorSession};
use crate::routes::tenant_api::views::Data;
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, Utc};
use enuchat_domain::rate_limit::RateLimit;
use enuchat_domain::{secret, NewSession, Session};
use serde::Deserialize;
use std::sync::OnceLock;

/// Failed sign-ins allowed per minute for one email...
const FAILURES_PER_EMAIL: u32 = 5;
/// ...and from one client address.
const FAILURES_PER_IP: u32 = 20;
/// Passwords longer than this are refused without hashing (argon2 work
/// grows with the input).
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub email: String,
    pub password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignInBody>,
) -> ApiResult<Response> {
    let email = body.email.trim().to_lowercase();
    let buckets = [
        (
            format!("signin-email:{email}"),
            RateLimit::per_minute(FAILURES_PER_EMAIL),
            "per email address for failed sign-ins",
        ),
        (
            format!("signin-ip:{}", client.network()),
            RateLimit::per_minute(FAILURES_PER_IP),
            "per IP address for failed sign-ins",
        ),
    ];
    for (bucket, limit, per) in &buckets {
        let decision = state.limiter.peek(bucket, *limit).await?;
        if !decision.allowed {
            state.metrics.rate_limited.inc();
            return Err(ApiError::RateLimited {
                limit: decision.limit,
                retry_after_secs: decision.retry_after_secs,
                per,
            });
        }
    }

    let operator = if email.is_empty() || email.len() > 254 {
        None
    } else {
        state.store.find_operator_by_email(&email).await?
    };
    let hash = operator
        .as_ref()
        .map(|o| o.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password = body.password;
    let verified = password.len() <= MAX_PASSWORD_BYTES
        && tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    let operator = match operator {
        Some(operator) if verified => operator,
        _ => {
            for (bucket, limit, _) in &buckets {
                state.limiter.check(bucket, *limit).await?;
            }
            return Err(ApiError::InvalidCredentials);
        }
    };

    let id = secret::generate_session_id();
    let now = Utc::now();
    let session = state
        .store
        .create_session(
            operator.tenant_id,
            NewSession {
                id_hash: secret::hash(&id),
                operator_id: operator.id,
                csrf_token: secret::random_base62(secret::SESSION_ID_LEN),
                created_at: now,
                expires_at: now + Duration::seconds(ABSOLUTE_TIMEOUT_SECS),
            },
        )
        .await?;
    let cookie = cookie(&state, &headers, &id, ABSOLUTE_TIMEOUT_SECS);
    let mut response = Json(Data::new(view(&session))).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

pub async fn get_session(session: OperatorSession) -> Json<Data<SessionView>> {
    Json(Data::new(view(&session.0)))
}

/// Ends the session server-side, so the cookie stops working everywhere.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: OperatorSession,
) -> ApiResult<Response> {
    let session = session.0;
    state
        .store
        .delete_session(session.tenant_id, &session.id_hash)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&state, &headers, "", 0));
    Ok(response)
}

fn view(session: &Session) -> SessionView {
    SessionView {
        operator: OperatorView::from(&session.operator),
        csrf_token: session.csrf_token.clone(),
    }
}

fn cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.secure_cookies || request_is_https(headers) {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A real argon2id hash (of a random password nobody knows) with the
/// parameters operators' hashes have, checked against for unknown emails.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        crate::admin::hash_password(&secret::random_base62(32)).expect("hashing a random password")
    })
}

/// Used by the WebSocket, which re-checks its session now and then.
pub async fn still_valid(state: &AppState, headers: &HeaderMap) -> bool {
    current_session(state, headers).await.is_ok()
}
