use crate::helpers::*;
use enuchat_domain::{ConversationPatch, ConversationStatus};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

both_backends!(
    posting_stores_a_message_and_moves_last_message_at,
    closed_conversations_accept_follow_ups_and_stay_closed,
    invalid_messages_are_refused_and_nothing_is_stored,
);

async fn posting_stores_a_message_and_moves_last_message_at(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let id = acme.conversation.id;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let reply = app
        .post(
            &format!("/conversations/{id}/messages"),
            &acme.key,
            json!({"content": "Thanks for reaching out!"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let m = &reply.body["data"];
    assert_eq!(m["role"], "system", "system is the default role");
    assert_eq!(m["content"], "Thanks for reaching out!");
    assert_eq!(m["isAutoReply"], false);
    assert_eq!(
        uuid::Uuid::parse_str(m["id"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        7
    );
    let created_at = m["createdAt"].as_str().unwrap().to_owned();

    let reply = app
        .post(
            &format!("/conversations/{id}/messages"),
            &acme.key,
            json!({"content": "I can help.", "role": "operator"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["data"]["role"], "operator");

    let detail = app.get(&format!("/conversations/{id}"), &acme.key).await;
    let messages = detail.body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], m["id"]);
    assert_eq!(messages[1]["content"], "I can help.");
    let last = detail.body["data"]["lastMessageAt"].as_str().unwrap();
    assert!(
        last >= created_at.as_str(),
        "lastMessageAt {last} moved to the message time {created_at}"
    );
    assert!(last > detail.body["data"]["startedAt"].as_str().unwrap());
}

async fn closed_conversations_accept_follow_ups_and_stay_closed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let id = acme.conversation.id;
    app.store
        .update_conversation(
            acme.tenant.id,
            id,
            ConversationPatch {
                status: Some(ConversationStatus::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let reply = app
        .post(
            &format!("/conversations/{id}/messages"),
            &acme.key,
            json!({"content": "Thanks for chatting! Is there anything else we can help with?"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let conversation = app.get(&format!("/conversations/{id}"), &acme.key).await;
    assert_eq!(conversation.body["data"]["status"], "closed");
    assert_eq!(
        conversation.body["data"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn invalid_messages_are_refused_and_nothing_is_stored(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let path = format!("/conversations/{}/messages", acme.conversation.id);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "VALIDATION_ERROR", "content"),
        (json!({"content": ""}), "VALIDATION_ERROR", "content"),
        (json!({"content": "   \n "}), "VALIDATION_ERROR", "blank"),
        (
            json!({"content": "x".repeat(10_001)}),
            "VALIDATION_ERROR",
            "10000",
        ),
        (json!({"content": "a\u{0}b"}), "VALIDATION_ERROR", "NUL"),
        (json!({"content": 42}), "VALIDATION_ERROR", "content"),
        (json!({"content": null}), "VALIDATION_ERROR", "content"),
        (
            json!({"content": "hi", "role": "visitor"}),
            "VALIDATION_ERROR",
            "role",
        ),
        (
            json!({"content": "hi", "role": "ai"}),
            "VALIDATION_ERROR",
            "role",
        ),
        (
            json!({"content": "hi", "role": "admin"}),
            "VALIDATION_ERROR",
            "role",
        ),
        (
            json!({"content": "hi", "sender": "bob"}),
            "VALIDATION_ERROR",
            "sender",
        ),
        (json!("hi"), "VALIDATION_ERROR", "body"),
    ];
    for (body, code, needle) in cases {
        let reply = app.post(&path, &acme.key, body.clone()).await;
        let message = reply.expect_error(StatusCode::BAD_REQUEST, code);
        assert!(message.contains(needle), "{body}: {message}");
    }

    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.api(&path))
            .header("X-Api-Key", &acme.key)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req
    };
    let reply = Reply::from(
        raw("{\"content\": \"hi\"", Some("application/json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "INVALID_JSON");
    let reply = Reply::from(raw("", Some("application/json")).send().await.unwrap()).await;
    reply.expect_error(StatusCode::BAD_REQUEST, "INVALID_JSON");
    let reply = Reply::from(raw("{\"content\": \"hi\"}", None).send().await.unwrap()).await;
    reply.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    let reply = Reply::from(
        raw("content=hi", Some("application/x-www-form-urlencoded"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    let huge = format!("{{\"content\": \"{}\"}}", "x".repeat(1024 * 1024));
    let reply = app
        .client
        .post(app.api(&path))
        .header("X-Api-Key", &acme.key)
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    Reply::from(reply)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    // A body still being sent when the server has seen enough (over the
    // limit, or not JSON): the client must get the answer, not a connection
    // closed under it. Sent slowly, in chunks, so the server always answers
    // before the client is done.
    for (content_type, status, code) in [
        (
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ] {
        let chunks = futures::stream::iter(0..16).then(|_| async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024])
        });
        let reply = app
            .client
            .post(app.api(&path))
            .header("X-Api-Key", &acme.key)
            .header("Content-Type", content_type)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("an answer, not a closed connection");
        Reply::from(reply).await.expect_error(status, code);
    }

    assert!(app
        .store
        .recent_messages(acme.tenant.id, acme.conversation.id, 10)
        .await
        .unwrap()
        .is_empty());
    let stored = app
        .store
        .get_conversation(acme.tenant.id, acme.conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, acme.conversation);

    // The longest allowed message, in multi-byte characters, is accepted.
    let longest = "é".repeat(10_000);
    let reply = app
        .post(&path, &acme.key, json!({"content": longest}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        reply.body["data"]["content"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        10_000
    );
}
