//! A widget's knowledge base in the dashboard: `GET`/`POST
//! /widgets/{id}/knowledge` and `DELETE /knowledge/{id}`, with the role rule
//! (any role reads, owners and admins write), tenant isolation and validation.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use enuchat_domain::*;
use enuchat_server::admin;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    entries_are_added_listed_and_deleted,
    operators_read_but_may_not_write,
    other_tenants_widgets_and_entries_are_not_found,
    entry_input_is_validated,
);

/// An account (from `app.account`, with its `operator`-role member) plus an
/// owner and an admin, all with the test password.
async fn account_with_admins(app: &TestApp, name: &str) -> (Account, Operator, Operator) {
    let acme = app.account(name).await;
    let slug = name.to_lowercase();
    let mut made = Vec::new();
    for role in [OperatorRole::Owner, OperatorRole::Admin] {
        let email = format!("{role}@{slug}.example.com");
        made.push(
            admin::create_operator(
                app.store.as_ref(),
                acme.tenant.id,
                &email,
                "Someone",
                PASSWORD,
                role,
            )
            .await
            .unwrap(),
        );
    }
    let admin = made.pop().unwrap();
    let owner = made.pop().unwrap();
    (acme, owner, admin)
}

fn data(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.body["data"].clone()
}

async fn delete(dash: &Dash, app: &TestApp, path: &str) -> Reply {
    dash.call(app, Method::DELETE, path, None).await
}

async fn entries_are_added_listed_and_deleted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (acme, owner, admin) = account_with_admins(&app, "Acme").await;
    let dash = sign_in(&app, &owner.email).await;
    let path = format!("/widgets/{}/knowledge", acme.widget.id);

    assert_eq!(
        data(&dash.get(&app, &path).await, StatusCode::OK),
        json!([])
    );

    let hours = data(
        &dash
            .post(
                &app,
                &path,
                json!({"question": "What are your opening hours?",
                       "answer": "9–17, Monday to Friday. <b>not bold</b>"}),
            )
            .await,
        StatusCode::CREATED,
    );
    let mut keys: Vec<&String> = hours.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["answer", "createdAt", "id", "question", "widgetId"],
        "{hours}"
    );
    assert_eq!(hours["widgetId"], acme.widget.id.to_string());
    assert_eq!(hours["question"], "What are your opening hours?");
    assert_eq!(hours["answer"], "9–17, Monday to Friday. <b>not bold</b>");
    assert!(hours["createdAt"].as_str().unwrap().ends_with("+00:00"));

    // An admin may write too.
    let admin_dash = sign_in(&app, &admin.email).await;
    let shipping = data(
        &admin_dash
            .post(
                &app,
                &path,
                json!({"question": "Do you ship abroad?", "answer": "Yes, to the EU."}),
            )
            .await,
        StatusCode::CREATED,
    );

    let listed = data(&dash.get(&app, &path).await, StatusCode::OK);
    assert_eq!(listed, json!([hours.clone(), shipping.clone()]));
    // What the AI answers from is what the dashboard shows.
    let stored = app
        .store
        .list_knowledge_entries(acme.tenant.id, acme.widget.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id.to_string(), hours["id"].as_str().unwrap());

    let gone = delete(
        &dash,
        &app,
        &format!("/knowledge/{}", hours["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(gone.body, Value::Null);
    assert_eq!(
        data(&dash.get(&app, &path).await, StatusCode::OK),
        json!([shipping])
    );
    // Deleting it again: it is gone.
    delete(
        &dash,
        &app,
        &format!("/knowledge/{}", hours["id"].as_str().unwrap()),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn operators_read_but_may_not_write(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (acme, _, _) = account_with_admins(&app, "Acme").await;
    let entry = app
        .store
        .create_knowledge_entry(
            acme.tenant.id,
            acme.widget.id,
            MessageContent::parse("Q?".into()).unwrap(),
            MessageContent::parse("A.".into()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let dash = sign_in(&app, &acme.operator.email).await;
    assert_eq!(dash.operator["role"], "operator");
    let path = format!("/widgets/{}/knowledge", acme.widget.id);

    let listed = data(&dash.get(&app, &path).await, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], entry.id.to_string());

    let entry_path = format!("/knowledge/{}", entry.id);
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::POST,
            path.as_str(),
            Some(json!({"question": "Q", "answer": "A"})),
        ),
        // Refused before the body is looked at.
        (Method::POST, path.as_str(), Some(json!({"bogus": 1}))),
        (Method::DELETE, entry_path.as_str(), None),
    ];
    for (method, p, body) in calls {
        let message = dash
            .call(&app, method.clone(), p, body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            message.contains("owner or admin"),
            "{method} {p}: {message}"
        );
    }
    let after = app
        .store
        .list_knowledge_entries(acme.tenant.id, acme.widget.id)
        .await
        .unwrap();
    assert_eq!(after, vec![entry], "nothing changed");
}

async fn other_tenants_widgets_and_entries_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (acme, owner, _) = account_with_admins(&app, "Acme").await;
    let (other, _, _) = account_with_admins(&app, "Other").await;
    let theirs = app
        .store
        .create_knowledge_entry(
            other.tenant.id,
            other.widget.id,
            MessageContent::parse("Secret?".into()).unwrap(),
            MessageContent::parse("Theirs.".into()).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let dash = sign_in(&app, &owner.email).await;
    let their_widget = format!("/widgets/{}/knowledge", other.widget.id);
    let missing_widget = format!("/widgets/{}/knowledge", WidgetId::new());

    for path in [&their_widget, &missing_widget] {
        let message = dash
            .get(&app, path)
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(message, "Widget not found.");
        dash.post(&app, path, json!({"question": "Q", "answer": "A"}))
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    for id in [theirs.id, KnowledgeEntryId::new()] {
        delete(&dash, &app, &format!("/knowledge/{id}"))
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    assert_eq!(
        app.store
            .list_knowledge_entries(other.tenant.id, other.widget.id)
            .await
            .unwrap(),
        vec![theirs],
        "the other tenant's knowledge is untouched"
    );
    assert!(app
        .store
        .list_knowledge_entries(acme.tenant.id, other.widget.id)
        .await
        .unwrap()
        .is_empty());
}

async fn entry_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (acme, owner, _) = account_with_admins(&app, "Acme").await;
    let dash = sign_in(&app, &owner.email).await;
    let path = format!("/widgets/{}/knowledge", acme.widget.id);
    let long = "é".repeat(MAX_MESSAGE_CHARS + 1);
    let at_limit = "é".repeat(MAX_MESSAGE_CHARS);

    for (body, needle) in [
        (json!({"question": "  ", "answer": "A"}), "`question`"),
        (json!({"question": "Q", "answer": "\n\t "}), "`answer`"),
        (json!({"question": "Q", "answer": long}), "at most 10000"),
        (json!({"question": long, "answer": "A"}), "`question`"),
        (json!({"question": "Q\u{0}", "answer": "A"}), "NUL"),
        (json!({"question": "Q"}), "answer"),
        (json!({"question": "Q", "answer": null}), "answer"),
        (json!({"question": "Q", "answer": 5}), "answer"),
        (
            json!({"question": "Q", "answer": "A", "widgetId": acme.widget.id}),
            "widgetId",
        ),
    ] {
        let r = dash.post(&app, &path, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body}: {message}");
    }
    dash.get(&app, "/widgets/not-a-uuid/knowledge")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    delete(&dash, &app, "/knowledge/not-a-uuid")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    dash.get(&app, &format!("{path}?limit=5"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(app
        .store
        .list_knowledge_entries(acme.tenant.id, acme.widget.id)
        .await
        .unwrap()
        .is_empty());

    // Exactly at the limit is fine.
    let r = dash
        .post(
            &app,
            &path,
            json!({"question": "Long?", "answer": at_limit}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
