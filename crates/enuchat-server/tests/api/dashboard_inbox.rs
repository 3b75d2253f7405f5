//! The dashboard inbox and conversation view: filters, unread markers,
//! paging older messages, replies and assignment.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use enuchat_domain::*;
use enuchat_server::admin::{self, WidgetOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

both_backends!(
    inbox_filters_by_status_widget_and_assignee,
    unread_follows_read_markers,
    older_messages_page_with_before,
    replies_are_the_operators_and_assign_them,
);

async fn visitor_says(
    app: &TestApp,
    tenant: TenantId,
    conversation: ConversationId,
    text: &str,
) -> Message {
    app.store
        .append_message(
            tenant,
            conversation,
            NewMessage::new(
                MessageRole::Visitor,
                MessageContent::parse(text.into()).unwrap(),
            ),
        )
        .await
        .unwrap()
        .unwrap()
}

fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn inbox_filters_by_status_widget_and_assignee(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let t = acme.tenant.id;
    let mate = admin::create_operator(
        app.store.as_ref(),
        t,
        "mate@example.com",
        "Mate",
        PASSWORD,
        OperatorRole::Admin,
    )
    .await
    .unwrap();
    let shop = admin::create_widget(app.store.as_ref(), t, WidgetOptions::default())
        .await
        .unwrap();
    let a = acme.conversation.clone();
    let b = app.conversation(&acme.tenant, &shop).await;
    let c = app.conversation(&acme.tenant, &acme.widget).await;
    visitor_says(&app, t, a.id, "a").await;
    visitor_says(&app, t, b.id, "b").await;
    visitor_says(&app, t, c.id, "c").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let me = acme.operator.id.to_string();
    let r = dash
        .patch(
            &app,
            &format!("/conversations/{}", a.id),
            json!({"assignedTo": me}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["assignedTo"], me.as_str());
    let r = dash
        .patch(
            &app,
            &format!("/conversations/{}", b.id),
            json!({"assignedTo": mate.id.to_string(), "status": "pending"}),
        )
        .await;
    assert_eq!(r.body["data"]["status"], "pending");

    let (a, b, c) = (a.id.to_string(), b.id.to_string(), c.id.to_string());
    assert_eq!(
        ids(&dash.get(&app, "/conversations").await),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        ids(&dash.get(&app, "/conversations?assignee=anyone").await).len(),
        3
    );
    assert_eq!(
        ids(&dash.get(&app, "/conversations?assignee=me").await),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&dash.get(&app, "/conversations?assignee=unassigned").await),
        vec![c.clone()]
    );
    assert_eq!(
        ids(&dash.get(&app, "/conversations?status=pending").await),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&dash
            .get(&app, "/conversations?status=open&assignee=me")
            .await),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&dash
            .get(&app, &format!("/conversations?widgetId={}", shop.id))
            .await),
        vec![b.clone()]
    );
    assert_eq!(
        ids(&dash
            .get(
                &app,
                &format!(
                    "/conversations?widgetId={}&assignee=unassigned",
                    acme.widget.id
                )
            )
            .await),
        vec![c.clone()]
    );
    assert_eq!(
        ids(&dash.get(&app, "/conversations?limit=1&offset=1").await),
        vec![b.clone()]
    );
    // The teammate's "mine" is theirs.
    let mate_dash = sign_in(&app, "mate@example.com").await;
    assert_eq!(
        ids(&mate_dash.get(&app, "/conversations?assignee=me").await),
        vec![b]
    );

    for bad in [
        "assignee=nobody",
        "status=done",
        "limit=0",
        "limit=101",
        "widgetId=x",
        "sort=new",
    ] {
        dash.get(&app, &format!("/conversations?{bad}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Items carry the Tenant API fields and the preview.
    let list = dash.get(&app, "/conversations").await;
    let first = &list.body["data"][0];
    assert_eq!(first["visitorName"], "John");
    assert_eq!(first["lastMessage"]["role"], "visitor");
    assert_eq!(first["lastMessage"]["content"], "c");
    assert!(first["lastMessage"]["createdAt"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert_eq!(first["unread"], true);
}

async fn unread_follows_read_markers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let t = acme.tenant.id;
    let conv = acme.conversation.id;
    let dash = sign_in(&app, &acme.operator.email).await;
    let unread = |r: &Reply| r.body["data"][0]["unread"].clone();
    let list = dash.get(&app, "/conversations").await;
    assert_eq!(unread(&list), false, "no messages yet");
    assert_eq!(list.body["data"][0]["lastMessage"], Value::Null);

    visitor_says(&app, t, conv, "one").await;
    let two = visitor_says(&app, t, conv, "two").await;
    assert_eq!(unread(&dash.get(&app, "/conversations").await), true);
    let read = dash
        .post(
            &app,
            &format!("/conversations/{conv}/read"),
            json!({"seq": two.seq}),
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT, "{}", read.body);
    assert_eq!(unread(&dash.get(&app, "/conversations").await), false);
    // Markers are per operator.
    admin::create_operator(
        app.store.as_ref(),
        t,
        "mate@example.com",
        "Mate",
        PASSWORD,
        OperatorRole::Operator,
    )
    .await
    .unwrap();
    let mate = sign_in(&app, "mate@example.com").await;
    assert_eq!(unread(&mate.get(&app, "/conversations").await), true);
    // The operator's own reply does not make it unread; the visitor's does.
    let r = dash
        .post(
            &app,
            &format!("/conversations/{conv}/messages"),
            json!({"content": "hello"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(unread(&dash.get(&app, "/conversations").await), false);
    visitor_says(&app, t, conv, "three").await;
    assert_eq!(unread(&dash.get(&app, "/conversations").await), true);
    // A marker does not move back.
    dash.post(
        &app,
        &format!("/conversations/{conv}/read"),
        json!({"seq": 4}),
    )
    .await;
    dash.post(
        &app,
        &format!("/conversations/{conv}/read"),
        json!({"seq": 1}),
    )
    .await;
    assert_eq!(unread(&dash.get(&app, "/conversations").await), false);
    for bad in [
        json!({"seq": -1}),
        json!({}),
        json!({"seq": "1"}),
        json!({"seq": 1, "x": 1}),
    ] {
        dash.post(&app, &format!("/conversations/{conv}/read"), bad)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    dash.post(
        &app,
        &format!("/conversations/{}/read", ConversationId::new()),
        json!({"seq": 1}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn older_messages_page_with_before(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let conv = acme.conversation.id;
    for i in 1..=7 {
        visitor_says(&app, acme.tenant.id, conv, &format!("m{i}")).await;
    }
    let dash = sign_in(&app, &acme.operator.email).await;
    let page = |r: Reply| {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let seqs: Vec<i64> = r.body["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        (seqs, r.body["data"]["hasOlder"].as_bool().unwrap())
    };
    let path = format!("/conversations/{conv}");
    let newest = dash.get(&app, &format!("{path}?limit=3")).await;
    assert_eq!(newest.body["data"]["id"], conv.to_string());
    assert_eq!(newest.body["data"]["visitorEmail"], "john@example.com");
    let m = &newest.body["data"]["messages"][0];
    assert_eq!(m["content"], "m5");
    assert_eq!(m["role"], "visitor");
    assert_eq!(m["authorId"], Value::Null);
    assert_eq!(page(newest), (vec![5, 6, 7], true));
    assert_eq!(
        page(dash.get(&app, &format!("{path}?before=5&limit=3")).await),
        (vec![2, 3, 4], true)
    );
    assert_eq!(
        page(dash.get(&app, &format!("{path}?before=2&limit=3")).await),
        (vec![1], false)
    );
    assert_eq!(
        page(dash.get(&app, &format!("{path}?before=4&limit=3")).await),
        (vec![1, 2, 3], false)
    );
    assert_eq!(
        page(dash.get(&app, &path).await),
        (vec![1, 2, 3, 4, 5, 6, 7], false)
    );
    for bad in ["before=0", "before=x", "limit=201", "after=1"] {
        dash.get(&app, &format!("{path}?{bad}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    dash.get(&app, "/conversations/nope")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

async fn replies_are_the_operators_and_assign_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let conv = acme.conversation.id;
    visitor_says(&app, acme.tenant.id, conv, "help").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let r = dash
        .post(
            &app,
            &format!("/conversations/{conv}/messages"),
            json!({"content": "On it!"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let me = acme.operator.id.to_string();
    assert_eq!(r.body["data"]["role"], "operator");
    assert_eq!(r.body["data"]["authorId"], me.as_str());
    assert_eq!(r.body["data"]["seq"], 2);
    assert_eq!(r.body["data"]["content"], "On it!");
    let stored = app
        .store
        .get_conversation(acme.tenant.id, conv)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.assigned_to, Some(acme.operator.id));
    // An assigned conversation stays with its assignee when someone else replies.
    admin::create_operator(
        app.store.as_ref(),
        acme.tenant.id,
        "mate@example.com",
        "Mate",
        PASSWORD,
        OperatorRole::Operator,
    )
    .await
    .unwrap();
    let mate = sign_in(&app, "mate@example.com").await;
    let r = mate
        .post(
            &app,
            &format!("/conversations/{conv}/messages"),
            json!({"content": "Me too"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["data"]["authorId"], mate.operator["id"]);
    let stored = app
        .store
        .get_conversation(acme.tenant.id, conv)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.assigned_to, Some(acme.operator.id));
    // Unassign, and change status.
    let r = dash
        .patch(
            &app,
            &format!("/conversations/{conv}"),
            json!({"assignedTo": null, "status": "closed"}),
        )
        .await;
    assert_eq!(r.body["data"]["assignedTo"], Value::Null);
    assert_eq!(r.body["data"]["status"], "closed");
    for bad in [
        json!({"content": "  "}),
        json!({"content": "x", "role": "system"}),
        json!({}),
    ] {
        dash.post(&app, &format!("/conversations/{conv}/messages"), bad)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    dash.patch(&app, &format!("/conversations/{conv}"), json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}
