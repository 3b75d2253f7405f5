use crate::helpers::*;
use enuchat_domain::{
    ConversationPatch, ConversationStatus, MessageContent, MessageRole, NewMessage,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

both_backends!(
    lists_newest_activity_first_with_reference_fields,
    filters_and_pages_are_stable,
    list_parameters_are_validated,
    detail_has_recent_messages_oldest_first,
    patch_changes_status_and_assignment,
    patch_refuses_bad_input_and_changes_nothing,
    other_tenants_conversations_are_not_found,
    held_answers_are_sent_again_only_while_unchanged,
);

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn say(
    app: &TestApp,
    account: &Account,
    conversation: enuchat_domain::ConversationId,
    text: &str,
) {
    app.store
        .append_message(
            account.tenant.id,
            conversation,
            NewMessage::new(
                MessageRole::Visitor,
                MessageContent::parse(text.into()).unwrap(),
            ),
        )
        .await
        .unwrap()
        .unwrap();
}

async fn lists_newest_activity_first_with_reference_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let second = app.conversation(&acme.tenant, &acme.widget).await;
    // The first conversation gets the newest message, so it comes first.
    say(
        &app,
        &acme,
        acme.conversation.id,
        "Hello, how much does it cost?",
    )
    .await;

    let reply = app.get("/conversations", &acme.key).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        ids(&reply),
        vec![acme.conversation.id.to_string(), second.id.to_string()]
    );
    let c = &reply.body["data"][0];
    assert_eq!(c["widgetId"], acme.widget.id.to_string());
    assert!(c["visitorId"].as_str().unwrap().starts_with("v-"));
    assert_eq!(c["visitorName"], "John");
    assert_eq!(c["visitorEmail"], "john@example.com");
    assert_eq!(c["visitorLanguage"], "en");
    assert_eq!(c["status"], "open");
    assert_eq!(c["assignedTo"], Value::Null);
    for field in ["lastMessageAt", "startedAt"] {
        let text = c[field].as_str().unwrap();
        assert!(
            text.ends_with("+00:00") && text.len() == 25,
            "{field} = {text}"
        );
        chrono::DateTime::parse_from_rfc3339(text).unwrap();
    }
}

async fn filters_and_pages_are_stable(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let other_widget = enuchat_server::admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        enuchat_server::admin::WidgetOptions::default(),
    )
    .await
    .unwrap();
    for _ in 0..6 {
        app.conversation(&acme.tenant, &acme.widget).await;
    }
    let on_other = app.conversation(&acme.tenant, &other_widget).await;
    let closed = app.conversation(&acme.tenant, &acme.widget).await;
    app.store
        .update_conversation(
            acme.tenant.id,
            closed.id,
            ConversationPatch {
                status: Some(ConversationStatus::Closed),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let all = ids(&app.get("/conversations?limit=100", &acme.key).await);
    assert_eq!(all.len(), 9);
    // Pages of 2 put together give exactly the full list, in order.
    let mut paged = Vec::new();
    for offset in (0..10).step_by(2) {
        paged.extend(ids(&app
            .get(
                &format!("/conversations?limit=2&offset={offset}"),
                &acme.key,
            )
            .await));
    }
    assert_eq!(paged, all);
    assert_eq!(
        ids(&app.get("/conversations", &acme.key).await).len(),
        9,
        "default limit is 20"
    );

    assert_eq!(
        ids(&app.get("/conversations?status=closed", &acme.key).await),
        vec![closed.id.to_string()]
    );
    assert_eq!(
        ids(&app
            .get("/conversations?status=open&limit=100", &acme.key)
            .await)
        .len(),
        8
    );
    assert!(ids(&app.get("/conversations?status=pending", &acme.key).await).is_empty());
    let by_widget = app
        .get(
            &format!("/conversations?widgetId={}", other_widget.id),
            &acme.key,
        )
        .await;
    assert_eq!(ids(&by_widget), vec![on_other.id.to_string()]);
    let both = app
        .get(
            &format!("/conversations?widgetId={}&status=closed", acme.widget.id),
            &acme.key,
        )
        .await;
    assert_eq!(ids(&both), vec![closed.id.to_string()]);
    assert!(ids(&app.get("/conversations?offset=1000", &acme.key).await).is_empty());
}

async fn list_parameters_are_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    for (query, needle) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("status=archived", "status"),
        ("status=OPEN", "status"),
        ("widgetId=not-a-uuid", "widgetId"),
        ("stauts=open", "stauts"),
        ("limit=1&limit=2", "limit"),
    ] {
        let reply = app.get(&format!("/conversations?{query}"), &acme.key).await;
        let message = reply.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(needle), "{query}: {message}");
    }
    assert_eq!(
        app.get("/conversations?limit=100&offset=0", &acme.key)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/conversations?limit=1", &acme.key).await.status,
        StatusCode::OK
    );
}

async fn detail_has_recent_messages_oldest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let id = acme.conversation.id;
    for i in 1..=60 {
        say(&app, &acme, id, &format!("message {i}")).await;
    }
    let reply = app.get(&format!("/conversations/{id}"), &acme.key).await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.body["data"];
    assert_eq!(data["id"], id.to_string());
    assert_eq!(data["status"], "open");
    assert_eq!(data["visitorLanguage"], "en");
    assert_eq!(data["visitorName"], "John");
    let messages = data["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 50, "default limit");
    assert_eq!(messages[0]["content"], "message 11");
    assert_eq!(messages[49]["content"], "message 60");
    let m = &messages[0];
    assert_eq!(m["role"], "visitor");
    assert_eq!(m["isAutoReply"], false);
    for field in ["contentLanguage", "translatedContent", "translatedLanguage"] {
        assert!(
            m.get(field).is_some() && m[field].is_null(),
            "{field} must be present and null"
        );
    }
    let few = app
        .get(&format!("/conversations/{id}?limit=3"), &acme.key)
        .await;
    let contents: Vec<_> = few.body["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        vec![
            json!("message 58"),
            json!("message 59"),
            json!("message 60")
        ]
    );
    assert_eq!(
        app.get(&format!("/conversations/{id}?limit=200"), &acme.key)
            .await
            .body["data"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        60
    );
    for bad in ["limit=0", "limit=201", "limit=x", "foo=1"] {
        app.get(&format!("/conversations/{id}?{bad}"), &acme.key)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    app.get("/conversations/not-a-uuid", &acme.key)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let missing = app
        .get(
            &format!("/conversations/{}", uuid::Uuid::now_v7()),
            &acme.key,
        )
        .await;
    assert_eq!(
        missing.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND"),
        "Conversation not found."
    );
}

async fn patch_changes_status_and_assignment(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let path = format!("/conversations/{}", acme.conversation.id);

    let reply = app
        .patch(&path, &acme.key, json!({"status": "closed"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["status"], "closed");
    assert_eq!(reply.body["data"]["id"], acme.conversation.id.to_string());

    let reply = app
        .patch(
            &path,
            &acme.key,
            json!({"assignedTo": acme.operator.id.to_string()}),
        )
        .await;
    assert_eq!(
        reply.body["data"]["assignedTo"],
        acme.operator.id.to_string()
    );
    assert_eq!(
        reply.body["data"]["status"], "closed",
        "status untouched when not sent"
    );

    let reply = app
        .patch(
            &path,
            &acme.key,
            json!({"status": "pending", "assignedTo": null}),
        )
        .await;
    assert_eq!(reply.body["data"]["status"], "pending");
    assert_eq!(reply.body["data"]["assignedTo"], Value::Null);

    let stored = app
        .store
        .get_conversation(acme.tenant.id, acme.conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, ConversationStatus::Pending);
    assert_eq!(stored.assigned_to, None);
}

async fn patch_refuses_bad_input_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let path = format!("/conversations/{}", acme.conversation.id);
    let cases = [
        (json!({}), "Nothing to update"),
        (json!({"status": "archived"}), "status"),
        (json!({"status": null}), "status"),
        (json!({"status": 3}), "status"),
        (json!({"assignedTo": "nope"}), "assignedTo"),
        (
            json!({"assignedTo": globex.operator.id.to_string()}),
            "assignedTo",
        ),
        (
            json!({"assignedTo": uuid::Uuid::now_v7().to_string()}),
            "assignedTo",
        ),
        (json!({"status": "closed", "priority": "high"}), "priority"),
        (json!(["closed"]), "body"),
    ];
    for (body, needle) in cases {
        let reply = app.patch(&path, &acme.key, body.clone()).await;
        let message = reply.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let stored = app
        .store
        .get_conversation(acme.tenant.id, acme.conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored, acme.conversation,
        "a refused PATCH must change nothing"
    );
}

async fn other_tenants_conversations_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let theirs = acme.conversation.id;

    let list = app.get("/conversations?limit=100", &globex.key).await;
    assert_eq!(ids(&list), vec![globex.conversation.id.to_string()]);
    let filtered = app
        .get(
            &format!("/conversations?widgetId={}", acme.widget.id),
            &globex.key,
        )
        .await;
    assert!(ids(&filtered).is_empty());

    let get = app
        .get(&format!("/conversations/{theirs}"), &globex.key)
        .await;
    get.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let patch = app
        .patch(
            &format!("/conversations/{theirs}"),
            &globex.key,
            json!({"status": "closed"}),
        )
        .await;
    patch.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let post = app
        .post(
            &format!("/conversations/{theirs}/messages"),
            &globex.key,
            json!({"content": "hi"}),
        )
        .await;
    post.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // Assigning one's own conversation to another tenant's operator is refused too.
    let cross = app
        .patch(
            &format!("/conversations/{}", globex.conversation.id),
            &globex.key,
            json!({"assignedTo": acme.operator.id.to_string()}),
        )
        .await;
    cross.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let stored = app
        .store
        .get_conversation(acme.tenant.id, theirs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, acme.conversation);
    assert!(app
        .store
        .recent_messages(acme.tenant.id, theirs, 10)
        .await
        .unwrap()
        .is_empty());
}

/// PostgreSQL serves repeated list and detail reads from memory and sends the
/// JSON it rendered for the first of them (`Shared` in the domain crate); any
/// change must reach the next read's body. SQLite reads afresh every time;
/// the same answers are expected.
async fn held_answers_are_sent_again_only_while_unchanged(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let first = acme.conversation.id;
    let second = app.conversation(&acme.tenant, &acme.widget).await.id;
    say(&app, &acme, first, "one").await;
    let detail_path = format!("/conversations/{first}?limit=5");

    // Several reads of an unchanged list and detail send the same JSON.
    let list = app.get("/conversations", &acme.key).await;
    let detail = app.get(&detail_path, &acme.key).await;
    for _ in 0..3 {
        let again = app.get("/conversations", &acme.key).await;
        assert_eq!(again.headers["content-type"], "application/json");
        assert_eq!(again.body, list.body);
        let again = app.get(&detail_path, &acme.key).await;
        assert_eq!(again.headers["content-type"], "application/json");
        assert_eq!(again.body, detail.body);
    }
    assert_eq!(ids(&list), vec![first.to_string(), second.to_string()]);

    // A message moves its conversation up and shows in its detail.
    say(&app, &acme, second, "two").await;
    assert_eq!(
        ids(&app.get("/conversations", &acme.key).await),
        vec![second.to_string(), first.to_string()]
    );
    say(&app, &acme, first, "three").await;
    let messages = &app.get(&detail_path, &acme.key).await.body["data"]["messages"];
    assert_eq!(messages[1]["content"], "three");

    // So does a change of status, in the list and the detail.
    let patched = app
        .patch(
            &format!("/conversations/{first}"),
            &acme.key,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let list = app.get("/conversations", &acme.key).await;
    assert_eq!(list.body["data"][0]["id"], first.to_string());
    assert_eq!(list.body["data"][0]["status"], "closed");
    assert_eq!(
        app.get(&detail_path, &acme.key).await.body["data"]["status"],
        "closed"
    );
}
