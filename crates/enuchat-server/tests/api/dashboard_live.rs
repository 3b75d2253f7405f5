//! Live updates: operator replies reach the visitor's widget, visitors'
//! messages and conversation changes reach the dashboard's WebSocket (across
//! instances too).

use crate::dashboard_helpers::*;
use crate::helpers::*;
use crate::visitor_helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;

both_backends!(
    an_operator_reply_reaches_the_visitor_live,
    the_dashboard_socket_hears_its_tenant_only,
    the_dashboard_socket_needs_a_session_and_the_same_origin,
    signing_out_refuses_new_dashboard_sockets,
);

/// The next event of `kind`, skipping others.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_event(socket, Duration::from_secs(5)).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// The next `message` event and the next `conversation` event, in whichever
/// order they come; anything else is a failure.
async fn message_and_conversation(socket: &mut Socket) -> (Value, Value) {
    let (mut message, mut conversation) = (Value::Null, Value::Null);
    while message.is_null() || conversation.is_null() {
        let next = next_event(socket, Duration::from_secs(5)).await;
        match next["type"].as_str() {
            Some("message") if message.is_null() => message = next,
            Some("conversation") if conversation.is_null() => conversation = next,
            _ => panic!("unexpected {next}"),
        }
    }
    (message, conversation)
}

/// Asserts no further *message* event arrives for a while.
async fn no_more_messages(socket: &mut Socket) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Frame::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(event["type"], "message", "unexpected message: {event}");
        }
    }
}

/// Asserts that no further message or conversation event arrives for a
/// while.
async fn no_more_events(socket: &mut Socket) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Frame::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            assert!(
                event["type"] != "message" && event["type"] != "conversation",
                "unexpected event: {event}"
            );
        }
    }
}

async fn an_operator_reply_reaches_the_visitor_live(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "Is my order shipped?").await;
    let mut widget = visitor.connect(1).await;
    assert!(until_ready(&mut widget).await.is_empty());
    let dash = sign_in(&app, &acme.operator.email).await;
    let inbox = dash.get(&app, "/conversations?assignee=unassigned").await;
    let id = inbox.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = dash
        .post(
            &app,
            &format!("/conversations/{id}/messages"),
            json!({"content": "Yes, today."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let got = messages(&mut widget, 1).await;
    assert_eq!(got[0]["content"], "Yes, today.");
    assert_eq!(got[0]["role"], "operator");
    quiet(&mut widget).await;
    close(widget).await;
}

async fn the_dashboard_socket_hears_its_tenant_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let other = app.account("Other").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let mut socket = dash.connect().await;
    assert_eq!(
        next_event(&mut socket, Duration::from_secs(5)).await["type"],
        "ready"
    );

    let stranger = TestVisitor::create(&app, &other.widget, json!({})).await;
    stranger.say(&app, "not for acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "hello acme").await;
    // A new conversation is announced, and its message arrives. (With
    // PostgreSQL the message comes back through the database feed, so it may
    // come first; the order is not promised and the dashboard copes.)
    let (event, started) = message_and_conversation(&mut socket).await;
    assert_eq!(started["conversation"]["visitorId"], visitor.id.as_str());
    let conversation = started["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(event["conversationId"], conversation.as_str());
    assert_eq!(event["message"]["content"], "hello acme");
    assert_eq!(event["message"]["seq"], 1);
    assert_eq!(event["message"]["role"], "visitor");

    // The operator's own reply and a status change come back too, once.
    dash.post(
        &app,
        &format!("/conversations/{conversation}/messages"),
        json!({"content": "hi!"}),
    )
    .await;
    let (event, changed) = message_and_conversation(&mut socket).await;
    assert_eq!(event["message"]["content"], "hi!");
    assert_eq!(event["message"]["authorId"], dash.operator["id"]);
    assert_eq!(changed["conversation"]["assignedTo"], dash.operator["id"]);
    dash.patch(
        &app,
        &format!("/conversations/{conversation}"),
        json!({"status": "pending"}),
    )
    .await;
    let changed = next_of(&mut socket, "conversation").await;
    assert_eq!(changed["conversation"]["status"], "pending");
    // Tenant API messages too.
    app.post(
        &format!("/conversations/{conversation}/messages"),
        &acme.key,
        json!({"content": "api"}),
    )
    .await;
    assert_eq!(
        next_of(&mut socket, "message").await["message"]["content"],
        "api"
    );
    no_more_messages(&mut socket).await;
    close(socket).await;
}

async fn the_dashboard_socket_needs_a_session_and_the_same_origin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let url = dash.url("/ws");
    let upgrade = |cookie: Option<String>, origin: &str| {
        let mut req = app
            .client
            .get(&url)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Origin", origin);
        if let Some(cookie) = cookie {
            req = req.header("Cookie", cookie);
        }
        async move { reply(req.send().await.unwrap()).await }
    };
    upgrade(None, &dash.base)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    upgrade(Some(dash.cookie.clone()), "https://evil.example")
        .await
        .expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
}

async fn signing_out_refuses_new_dashboard_sockets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let mut socket = dash.connect().await;
    assert_eq!(
        next_event(&mut socket, Duration::from_secs(5)).await["type"],
        "ready"
    );
    let r = dash
        .call(&app, reqwest::Method::DELETE, "/session", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A new socket with the old cookie is refused.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            dash.url("/ws").replacen("http", "ws", 1),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("Cookie", dash.cookie.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    close(socket).await;
}

/// Two instances on one PostgreSQL: a visitor's message accepted by A
/// reaches a dashboard connected to B, and each message reaches each
/// dashboard exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dashboards_hear_messages_from_every_instance() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let b = Instance::start(&app.db.url, 10_000).await;
    let acme = app.account("Acme").await;
    let on_a = sign_in(&app, &acme.operator.email).await;
    let on_b = sign_in_on(&app, &b.base, &acme.operator.email).await;
    let mut socket_a = on_a.connect().await;
    let mut socket_b = on_b.connect().await;
    for socket in [&mut socket_a, &mut socket_b] {
        assert_eq!(
            next_event(socket, Duration::from_secs(5)).await["type"],
            "ready"
        );
    }
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "via A").await;
    for socket in [&mut socket_a, &mut socket_b] {
        let event = next_of(socket, "message").await;
        assert_eq!(event["message"]["content"], "via A");
    }
    let id = app
        .store
        .visitor_conversation(
            acme.tenant.id,
            &enuchat_domain::VisitorId::parse(&visitor.id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    on_b.post(
        &app,
        &format!("/conversations/{id}/messages"),
        json!({"content": "reply via B"}),
    )
    .await;
    for socket in [&mut socket_a, &mut socket_b] {
        let event = next_of(socket, "message").await;
        assert_eq!(event["message"]["content"], "reply via B");
        no_more_messages(socket).await;
    }
    close(socket_a).await;
    close(socket_b).await;
    b.stop().await;
}

/// Two instances on one PostgreSQL: a conversation started, and status and
/// assignment changes made through A (dashboard and Tenant API) reach the
/// dashboards on A and on B, each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dashboards_hear_conversation_changes_from_every_instance() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let b = Instance::start(&app.db.url, 10_000).await;
    let acme = app.account("Acme").await;
    let on_a = sign_in(&app, &acme.operator.email).await;
    let on_b = sign_in_on(&app, &b.base, &acme.operator.email).await;
    let mut socket_a = on_a.connect().await;
    let mut socket_b = on_b.connect().await;
    for socket in [&mut socket_a, &mut socket_b] {
        assert_eq!(
            next_event(socket, Duration::from_secs(5)).await["type"],
            "ready"
        );
    }

    // A conversation started through A.
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "started via A").await;
    let mut id = String::new();
    for socket in [&mut socket_a, &mut socket_b] {
        let (message, started) = message_and_conversation(socket).await;
        assert_eq!(started["conversation"]["visitorId"], visitor.id.as_str());
        assert_eq!(started["conversation"]["status"], "open");
        assert_eq!(message["message"]["content"], "started via A");
        id = started["conversation"]["id"].as_str().unwrap().to_owned();
        assert_eq!(message["conversationId"], id.as_str());
        no_more_events(socket).await;
    }

    // Each change is the next event on both sockets (a duplicate of the
    // previous one would show up here instead), and nothing follows the last.
    let operator = on_a.operator["id"].clone();
    let path = format!("/conversations/{id}");
    let id = id.as_str();
    let expect_change = |status: &'static str, assigned: Value| {
        move |event: Value| {
            assert_eq!(event["type"], "conversation", "{event}");
            assert_eq!(event["conversation"]["id"], id, "{event}");
            assert_eq!(event["conversation"]["status"], status, "{event}");
            assert_eq!(event["conversation"]["assignedTo"], assigned, "{event}");
        }
    };
    let r = on_a.patch(&app, &path, json!({"status": "pending"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let check = expect_change("pending", Value::Null);
    for socket in [&mut socket_a, &mut socket_b] {
        check(next_event(socket, Duration::from_secs(5)).await);
    }
    let r = on_a
        .patch(&app, &path, json!({"assignedTo": operator.clone()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let check = expect_change("pending", operator.clone());
    for socket in [&mut socket_a, &mut socket_b] {
        check(next_event(socket, Duration::from_secs(5)).await);
    }
    // The Tenant API, on A too.
    let r = app
        .patch(&path, &acme.key, json!({"status": "closed"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let check = expect_change("closed", operator.clone());
    for socket in [&mut socket_a, &mut socket_b] {
        check(next_event(socket, Duration::from_secs(5)).await);
    }
    let r = app
        .patch(
            &path,
            &acme.key,
            json!({"status": "open", "assignedTo": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let check = expect_change("open", Value::Null);
    for socket in [&mut socket_a, &mut socket_b] {
        check(next_event(socket, Duration::from_secs(5)).await);
        no_more_events(socket).await;
    }
    close(socket_a).await;
    close(socket_b).await;
    b.stop().await;
}
