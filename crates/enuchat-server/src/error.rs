//! The one error type of the HTTP layer. Every failure a handler or extractor
//! can meet becomes an [`ApiError`], which renders as
//! `{"error":{"code":"...","message":"..."}}` with the matching status.
//! Server-side failures are logged with their detail and shown to clients
//! only as a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use enuchat_domain::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter or body field is missing, malformed or out of range.
    #[error("{0}")]
    Validation(String),
    /// The body is not valid JSON, or not the JSON object expected.
    #[error("{0}")]
    InvalidJson(String),
    #[error("Send the request body as JSON with 'Content-Type: application/json'.")]
    UnsupportedMediaType,
    #[error("The request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("No API key was sent. Put your key in the X-Api-Key header.")]
    ApiKeyMissing,
    #[error("The API key is not valid.")]
    ApiKeyInvalid,
    #[error("The API key has expired. Create a new key in Settings -> API Keys.")]
    ApiKeyExpired,
    #[error("The API key has been revoked.")]
    ApiKeyRevoked,
    #[error("No visitor token was sent: use 'Authorization: Bearer <token>' (or '?token=' on the WebSocket).")]
    VisitorTokenMissing,
    #[error("The visitor token is not valid.")]
    VisitorTokenInvalid,
    #[error("Wrong email or password.")]
    InvalidCredentials,
    #[error("You are not signed in, or your session has ended. Sign in again.")]
    NotSignedIn,
    #[error("This request was refused as a possible cross-site request forgery: send the X-CSRF-Token of your session, from the dashboard's own origin.")]
    CsrfRejected,
    /// Signed in, but the operator's role does not allow this (e.g. an
    /// `operator` managing API keys). The text says what is needed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request clashes with the current state (a taken email, the last
    /// owner of an account). The text says what clashed.
    #[error("{0}")]
    Conflict(String),
    #[error("This chat widget is switched off.")]
    WidgetInactive,
    #[error("This widget may not be used from this site.")]
    OriginNotAllowed,
    /// `what` is capitalised for the message: "Conversation not found."
    #[error("{0} not found.")]
    NotFound(&'static str),
    #[error("Method not allowed for this path.")]
    MethodNotAllowed,
    #[error(
        "Rate limit exceeded: at most {limit} per minute {per}. Retry in {retry_after_secs} s."
    )]
    RateLimited {
        limit: u32,
        retry_after_secs: u64,
        /// What is limited, e.g. "per API key".
        per: &'static str,
    },
    #[error("The service is not ready.")]
    Unavailable(String),
    /// Anything else. The detail is logged, never sent.
    #[error("Internal server error.")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::ApiKeyMissing
            | ApiError::ApiKeyInvalid
            | ApiError::ApiKeyExpired
            | ApiError::ApiKeyRevoked
            | ApiError::VisitorTokenMissing
            | ApiError::VisitorTokenInvalid
            | ApiError::InvalidCredentials
            | ApiError::NotSignedIn => StatusCode::UNAUTHORIZED,
            ApiError::WidgetInactive
            | ApiError::OriginNotAllowed
            | ApiError::CsrfRejected
            | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, documented machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "VALIDATION_ERROR",
            ApiError::InvalidJson(_) => "INVALID_JSON",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::ApiKeyMissing => "API_KEY_MISSING",
            ApiError::ApiKeyInvalid => "API_KEY_INVALID",
            ApiError::ApiKeyExpired => "API_KEY_EXPIRED",
            ApiError::ApiKeyRevoked => "API_KEY_REVOKED",
            ApiError::VisitorTokenMissing => "VISITOR_TOKEN_MISSING",
            ApiError::VisitorTokenInvalid => "VISITOR_TOKEN_INVALID",
            ApiError::InvalidCredentials => "INVALID_CREDENTIALS",
            ApiError::NotSignedIn => "NOT_SIGNED_IN",
            ApiError::CsrfRejected => "CSRF_REJECTED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::WidgetInactive => "WIDGET_INACTIVE",
            ApiError::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    pub fn validation(msg: impl Into<String>) -> Self {
        ApiError::Validation(msg.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Internal(err.to_string())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `NOT_FOUND`.
    #[schema(example = "NOT_FOUND")]
    pub code: String,
    /// Human-readable explanation, safe to show.
    #[schema(example = "Conversation not found.")]
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "not ready"),
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(err: ApiError) -> (StatusCode, serde_json::Value, axum::http::HeaderMap) {
        let response = err.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), headers)
    }

    #[tokio::test]
    async fn server_faults_hide_their_details() {
        let (status, body, _) = body_of(ApiError::from(StoreError::Database(
            "connection to 10.0.0.5 refused; password=hunter2".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "INTERNAL_ERROR", "message": "Internal server error."}})
        );
    }

    #[tokio::test]
    async fn rate_limited_responses_say_when_to_retry() {
        let (status, body, headers) = body_of(ApiError::RateLimited {
            limit: 60,
            retry_after_secs: 2,
            per: "per API key",
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
        assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "2");
    }
}
