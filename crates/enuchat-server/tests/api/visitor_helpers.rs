//! A scripted visitor: what `widget.js` does, over plain HTTP and WebSocket.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;

pub struct TestVisitor {
    pub base: String,
    pub id: String,
    pub token: String,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl TestVisitor {
    pub async fn create(
        app: &TestApp,
        widget: &enuchat_domain::Widget,
        body: Value,
    ) -> TestVisitor {
        Self::create_on(app, &app.server.base, widget, body).await
    }

    /// Creates a visitor through the given instance.
    pub async fn create_on(
        app: &TestApp,
        base: &str,
        widget: &enuchat_domain::Widget,
        body: Value,
    ) -> TestVisitor {
        let reply = Reply::from(
            app.client
                .post(format!(
                    "{base}/api/v1/widget/widgets/{}/visitors",
                    widget.id
                ))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        TestVisitor {
            base: base.to_owned(),
            id: reply.body["data"]["visitorId"].as_str().unwrap().to_owned(),
            token: reply.body["data"]["token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn call(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = app
            .client
            .request(method, format!("{}/api/v1/widget{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn say(&self, app: &TestApp, text: &str) -> Value {
        let reply = self
            .call(
                app,
                reqwest::Method::POST,
                "/messages",
                Some(json!({"content": text})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["data"].clone()
    }

    pub async fn connect(&self, after: i64) -> Socket {
        let url = format!(
            "{}/api/v1/widget/ws?token={}&after={after}",
            self.base.replacen("http", "ws", 1),
            self.token
        );
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        socket
    }
}

/// The next JSON frame, skipping pings; panics after `wait`.
pub async fn next_event(socket: &mut Socket, wait: Duration) -> Value {
    loop {
        let frame = tokio::time::timeout(wait, socket.next())
            .await
            .expect("no event in time")
            .expect("socket ended")
            .expect("socket error");
        if let Frame::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads events until `ready`, returning the messages' contents before it.
pub async fn until_ready(socket: &mut Socket) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let event = next_event(socket, Duration::from_secs(5)).await;
        match event["type"].as_str() {
            Some("ready") => return messages,
            Some("message") => messages.push(event["message"].clone()),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Collects `n` message events (panics if they do not come within 5 s).
pub async fn messages(socket: &mut Socket, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = next_event(socket, Duration::from_secs(5)).await;
        if event["type"] == "message" {
            out.push(event["message"].clone());
        }
    }
    out
}

/// Asserts nothing more arrives for a short while (no duplicates).
pub async fn quiet(socket: &mut Socket) {
    if let Ok(Some(Ok(Frame::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(300), socket.next()).await
    {
        panic!("unexpected extra event: {text}");
    }
}

pub async fn close(mut socket: Socket) {
    let _ = socket.close(None).await;
}

pub fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}
