//! What the HTTP providers share: one client per provider with the configured
//! timeout, and the rules that sort a failed call into "retry" or "give up".

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How to reach one HTTP provider.
#[derive(Clone)]
pub struct HttpOptions {
    /// Scheme, host, optional port and path prefix, without a trailing slash.
    pub base_url: String,
    /// Sent as the provider expects (header or body). Never logged.
    pub api_key: Option<String>,
    /// For chat-completion providers.
    pub model: Option<String>,
    /// The whole request, from connecting to the last byte of the body.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("base_url", &crate::settings::redact_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpOptions {
    /// `base_url` joined with an absolute `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}

/// Why a call failed, before each provider turns it into its own error type.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The server answered with a non-success status.
    Status { status: StatusCode, body: String },
    /// No (complete) answer: connection refused or reset, timeout. Worth retrying.
    Transport(String),
    /// A success status with a body we cannot read. Retrying will not fix it.
    Malformed(String),
}

impl CallError {
    /// 408, 429 and 5xx are the server's momentary trouble; every other status
    /// (400, 401, 403, 404, DeepL's 456 "quota exceeded", ...) says the request
    /// or the account is wrong, so sending it again cannot help.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            CallError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || status.is_server_error()
            }
            CallError::Transport(_) => true,
            CallError::Malformed(_) => false,
        }
    }

    /// A short description for logs and job records, without secrets.
    pub(crate) fn describe(&self, provider: &str) -> String {
        match self {
            CallError::Status { status, body } => {
                format!("{provider} answered {status}: {}", excerpt(body))
            }
            CallError::Transport(msg) => format!("{provider} could not be reached: {msg}"),
            CallError::Malformed(msg) => format!("{provider} sent an unreadable answer: {msg}"),
        }
    }
}

/// At most 300 characters of a provider's error body: enough to diagnose,
/// not enough to flood the logs.
fn excerpt(body: &str) -> String {
    let body = body.trim();
    let mut out: String = body.chars().take(300).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

/// A client that gives up after `timeout` for the whole request.
pub(crate) fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("enuchat/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Sends `request`, expects a 2xx with a JSON body of type `T`.
pub(crate) async fn send_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, CallError> {
    // `without_url`: a base URL may carry credentials (`https://user:pass@...`).
    let response = request
        .send()
        .await
        .map_err(|e| CallError::Transport(transport_message(e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| CallError::Transport(transport_message(e)))?;
    if !status.is_success() {
        return Err(CallError::Status {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| CallError::Malformed(e.to_string()))
}

fn transport_message(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        format!("connection failed ({})", err.without_url())
    } else {
        err.without_url().to_string()
    }
}
