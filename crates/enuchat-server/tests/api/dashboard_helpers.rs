//! A scripted dashboard: sign in like the browser does, then call the
//! dashboard API with the session cookie and CSRF token.

use crate::helpers::*;
use crate::visitor_helpers::Socket;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const PASSWORD: &str = "password123";

pub struct Dash {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub operator: Value,
}

/// A response whose body may be empty (204).
pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text:?}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// `POST /session` with these credentials, as the browser sends it.
pub async fn try_sign_in(app: &TestApp, base: &str, email: &str, password: &str) -> Reply {
    reply(
        app.client
            .post(format!("{base}/api/v1/dashboard/session"))
            .header("Origin", base)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn sign_in(app: &TestApp, email: &str) -> Dash {
    sign_in_on(app, &app.server.base, email).await
}

pub async fn sign_in_on(app: &TestApp, base: &str, email: &str) -> Dash {
    let r = try_sign_in(app, base, email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let set_cookie = r.header("set-cookie").expect("a cookie").to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Dash {
        base: base.to_owned(),
        cookie,
        csrf: r.body["data"]["csrfToken"].as_str().unwrap().to_owned(),
        operator: r.body["data"]["operator"].clone(),
    }
}

impl Dash {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/dashboard{path}", self.base)
    }

    /// A request with the cookie, the CSRF token and the page's Origin.
    pub async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = app
            .client
            .request(method, self.url(path))
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .header("Origin", &self.base);
        if let Some(body) = body {
            req = req.json(&body);
        }
        reply(req.send().await.unwrap()).await
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> Reply {
        self.call(app, Method::GET, path, None).await
    }

    pub async fn post(&self, app: &TestApp, path: &str, body: Value) -> Reply {
        self.call(app, Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, app: &TestApp, path: &str, body: Value) -> Reply {
        self.call(app, Method::PATCH, path, Some(body)).await
    }

    pub async fn connect(&self) -> Socket {
        let mut request = format!(
            "{}/api/v1/dashboard/ws",
            self.base.replacen("http", "ws", 1)
        )
        .into_client_request()
        .unwrap();
        request
            .headers_mut()
            .insert("Cookie", self.cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("Origin", self.base.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("dashboard websocket");
        socket
    }
}
