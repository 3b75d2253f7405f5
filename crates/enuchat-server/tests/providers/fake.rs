//! A loopback HTTP server on port 0 that records every request and answers
//! with whatever the test scripted: a status, a body and a delay.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use enuchat_server::providers::http::HttpOptions;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the fake answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(value: serde_json::Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: value.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

pub struct Fake {
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Answers every request with `reply`.
    pub async fn start(reply: Reply) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            let reply = reply.clone();
            async move {
                log.lock().unwrap().push(Received {
                    method,
                    path: uri.path().to_owned(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                });
                tokio::time::sleep(reply.delay).await;
                let response: Response = (
                    reply.status,
                    [("content-type", "application/json")],
                    reply.body,
                )
                    .into_response();
                response
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url,
            received,
            task,
        }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The only request received; fails if there were none or several.
    pub fn single(&self) -> Received {
        let all = self.received();
        assert_eq!(all.len(), 1, "expected exactly one request: {all:#?}");
        all.into_iter().next().unwrap()
    }

    pub fn options(&self, api_key: Option<&str>, timeout: Duration) -> HttpOptions {
        HttpOptions {
            base_url: self.base_url.clone(),
            api_key: api_key.map(str::to_owned),
            model: None,
            timeout,
        }
    }
}

/// Plenty for a loopback answer; the timeout tests use a shorter one.
pub const GENEROUS: Duration = Duration::from_secs(5);
/// The configured timeout in the timeout tests.
pub const SHORT: Duration = Duration::from_millis(300);
/// Longer than [`SHORT`]: the client must give up before the fake answers.
pub const TOO_SLOW: Duration = Duration::from_millis(1500);

/// An address where nothing listens: bind port 0, note it, close it.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
