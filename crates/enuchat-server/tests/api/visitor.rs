use crate::helpers::*;
use crate::visitor_helpers::*;
use enuchat_server::admin::{self, WidgetOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    a_visitors_first_message_starts_a_conversation_seen_by_the_tenant_api,
    visitors_only_reach_their_own_conversation,
    inactive_widgets_refuse_visitors,
    allowed_origins_are_enforced,
    a_visitor_writing_back_reopens_a_closed_conversation,
    visitor_input_is_validated_and_rate_limited,
    new_visitors_are_counted_on_the_address_the_proxy_saw,
    forwarded_addresses_are_ignored_unless_trusted,
);

async fn a_visitors_first_message_starts_a_conversation_seen_by_the_tenant_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let config = Reply::from(
        app.client
            .get(app.url(&format!("/api/v1/widget/widgets/{}", acme.widget.id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(config.body["data"]["isActive"], true);
    assert_eq!(config.body["data"]["position"], "bottom-right");

    let visitor = TestVisitor::create(&app, &acme.widget, json!({"language": "pl"})).await;
    assert!(visitor.id.starts_with("v-"));
    let me = visitor.call(&app, Method::GET, "/me", None).await;
    assert_eq!(me.body["data"]["conversation"], Value::Null);
    let me = visitor
        .call(
            &app,
            Method::PATCH,
            "/me",
            Some(json!({"name": "Zofia", "email": "Zofia@Example.com"})),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["data"]["email"], "zofia@example.com");

    let sent = visitor.say(&app, "Cześć, ile to kosztuje?").await;
    assert_eq!(sent["seq"], 1);
    assert_eq!(sent["role"], "visitor");

    let list = app.get("/conversations?limit=100", &acme.key).await;
    let ours: Vec<&Value> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["visitorId"] == visitor.id.as_str())
        .collect();
    assert_eq!(ours.len(), 1);
    let c = ours[0];
    assert_eq!(c["status"], "open");
    assert_eq!(c["visitorName"], "Zofia");
    assert_eq!(c["visitorEmail"], "zofia@example.com");
    assert_eq!(c["visitorLanguage"], "pl");
    assert_eq!(c["widgetId"], acme.widget.id.to_string());
    let detail = app
        .get(
            &format!("/conversations/{}", c["id"].as_str().unwrap()),
            &acme.key,
        )
        .await;
    let messages = detail.body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "visitor");
    assert_eq!(messages[0]["content"], "Cześć, ile to kosztuje?");

    // The second message goes to the same conversation.
    visitor.say(&app, "Halo?").await;
    let me = visitor.call(&app, Method::GET, "/me", None).await;
    assert_eq!(me.body["data"]["conversation"]["id"], c["id"]);
    assert_eq!(me.body["data"]["conversation"]["lastSeq"], 2);
    let history = visitor.call(&app, Method::GET, "/messages", None).await;
    assert_eq!(seqs(history.body["data"].as_array().unwrap()), vec![1, 2]);
    let after = visitor
        .call(&app, Method::GET, "/messages?after=1", None)
        .await;
    assert_eq!(seqs(after.body["data"].as_array().unwrap()), vec![2]);
}

async fn visitors_only_reach_their_own_conversation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let anna = TestVisitor::create(&app, &acme.widget, json!({})).await;
    let bob = TestVisitor::create(&app, &acme.widget, json!({})).await;
    let carl = TestVisitor::create(&app, &globex.widget, json!({})).await;
    anna.say(&app, "anna's secret").await;
    bob.say(&app, "bob's question").await;
    carl.say(&app, "carl at globex").await;

    for (visitor, own) in [
        (&anna, "anna's secret"),
        (&bob, "bob's question"),
        (&carl, "carl at globex"),
    ] {
        let history = visitor.call(&app, Method::GET, "/messages", None).await;
        let contents: Vec<_> = history.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].clone())
            .collect();
        assert_eq!(contents, vec![json!(own)]);
        let mut socket = visitor.connect(0).await;
        let seen = until_ready(&mut socket).await;
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0]["content"], own);
        close(socket).await;
    }
    // Tenant API keys see only their own tenant's visitors.
    let globex_list = app
        .get("/conversations", &globex.key)
        .await
        .body
        .to_string();
    assert!(globex_list.contains(&carl.id) && !globex_list.contains(&anna.id));

    // Bad tokens.
    let forged = TestVisitor {
        base: anna.base.clone(),
        id: anna.id.clone(),
        token: format!("{}x", anna.token),
    };
    forged
        .call(&app, Method::GET, "/messages", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "VISITOR_TOKEN_INVALID");
    let unknown = TestVisitor {
        token: enuchat_domain::secret::generate_visitor_token().secret,
        ..forged
    };
    unknown
        .call(&app, Method::GET, "/me", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "VISITOR_TOKEN_INVALID");
    let api_key_as_token = TestVisitor {
        token: acme.key.clone(),
        ..unknown
    };
    api_key_as_token
        .call(&app, Method::GET, "/me", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "VISITOR_TOKEN_INVALID");
    let none = Reply::from(
        app.client
            .get(app.url("/api/v1/widget/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    none.expect_error(StatusCode::UNAUTHORIZED, "VISITOR_TOKEN_MISSING");
    let url = format!(
        "{}/api/v1/widget/ws?token={}",
        anna.base.replacen("http", "ws", 1),
        api_key_as_token.token
    );
    assert!(
        tokio_tungstenite::connect_async(url).await.is_err(),
        "a WebSocket needs a visitor token"
    );
}

async fn inactive_widgets_refuse_visitors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let inactive = admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        WidgetOptions {
            is_active: false,
            ..WidgetOptions::default()
        },
    )
    .await
    .unwrap();
    let config = Reply::from(
        app.client
            .get(app.url(&format!("/api/v1/widget/widgets/{}", inactive.id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(config.body["data"]["isActive"], false);
    let reply = Reply::from(
        app.client
            .post(app.url(&format!("/api/v1/widget/widgets/{}/visitors", inactive.id)))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.expect_error(StatusCode::FORBIDDEN, "WIDGET_INACTIVE");
    let unknown = Reply::from(
        app.client
            .get(app.url(&format!("/api/v1/widget/widgets/{}", uuid::Uuid::now_v7())))
            .send()
            .await
            .unwrap(),
    )
    .await;
    unknown.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn allowed_origins_are_enforced(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let shop = admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        WidgetOptions {
            allowed_origins: vec!["https://shop.example.com".into()],
            ..WidgetOptions::default()
        },
    )
    .await
    .unwrap();
    let path = app.url(&format!("/api/v1/widget/widgets/{}/visitors", shop.id));
    for origin in [
        None,
        Some("https://evil.example.net"),
        Some("http://shop.example.com"),
    ] {
        let mut req = app.client.post(&path).json(&json!({}));
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        Reply::from(req.send().await.unwrap())
            .await
            .expect_error(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
    }
    let ok = app
        .client
        .post(&path)
        .header("Origin", "https://shop.example.com")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let token = Reply::from(ok).await.body["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The token does not lift the origin rule.
    let elsewhere = app
        .client
        .get(app.url("/api/v1/widget/me"))
        .bearer_auth(&token)
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    Reply::from(elsewhere)
        .await
        .expect_error(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED");
    // CORS preflight is answered.
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/widget/messages"))
        .header("Origin", "https://shop.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
}

async fn a_visitor_writing_back_reopens_a_closed_conversation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "hello").await;
    let me = visitor.call(&app, Method::GET, "/me", None).await;
    let id = me.body["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch(
        &format!("/conversations/{id}"),
        &acme.key,
        json!({"status": "closed"}),
    )
    .await;
    // A Tenant API follow-up leaves it closed...
    app.post(
        &format!("/conversations/{id}/messages"),
        &acme.key,
        json!({"content": "Anything else?"}),
    )
    .await;
    assert_eq!(
        app.get(&format!("/conversations/{id}"), &acme.key)
            .await
            .body["data"]["status"],
        "closed"
    );
    // ...the visitor answering opens it again.
    visitor.say(&app, "Yes, one more thing").await;
    let detail = app.get(&format!("/conversations/{id}"), &acme.key).await;
    assert_eq!(detail.body["data"]["status"], "open");
    assert_eq!(detail.body["data"]["messages"].as_array().unwrap().len(), 3);
}

async fn visitor_input_is_validated_and_rate_limited(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    for (body, needle) in [
        (json!({"content": "  "}), "content"),
        (json!({"content": "x".repeat(10_001)}), "content"),
        (json!({"content": "hi", "role": "operator"}), "role"),
    ] {
        let reply = visitor
            .call(&app, Method::POST, "/messages", Some(body))
            .await;
        assert!(reply
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
            .contains(needle));
    }
    let reply = visitor
        .call(
            &app,
            Method::PATCH,
            "/me",
            Some(json!({"email": "not-an-email"})),
        )
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(
        visitor.call(&app, Method::GET, "/me", None).await.body["data"]["conversation"],
        Value::Null
    );

    // 20 messages a minute per visitor (the default), then 429.
    for i in 0..20 {
        visitor.say(&app, &format!("message {i}")).await;
    }
    let reply = visitor
        .call(
            &app,
            Method::POST,
            "/messages",
            Some(json!({"content": "one too many"})),
        )
        .await;
    reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(reply.header("retry-after").is_some());
    // Another visitor is not affected.
    let other = TestVisitor::create(&app, &acme.widget, json!({})).await;
    other.say(&app, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_can_be_created_without_a_body() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let url = app.url(&format!(
        "/api/v1/widget/widgets/{}/visitors",
        acme.widget.id
    ));
    let reply = app.client.post(&url).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let reply = app
        .client
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    Reply::from(reply)
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
}

/// Creates a visitor with this `X-Forwarded-For` and returns the status.
async fn create_visitor_from(
    app: &TestApp,
    widget: &enuchat_domain::Widget,
    forwarded: &str,
) -> StatusCode {
    let url = app.url(&format!("/api/v1/widget/widgets/{}/visitors", widget.id));
    let reply = app
        .client
        .post(&url)
        .header("X-Forwarded-For", forwarded)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = reply.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        Reply::from(reply)
            .await
            .expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    }
    status
}

async fn new_visitors_are_counted_on_the_address_the_proxy_saw(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.trust_forwarded_for = true;
        s.new_visitors_per_ip_per_minute = 2;
    })
    .await
    else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = &acme.widget;
    // The first entries are what the client sent; the proxy appended the
    // last one, and that is the address counted.
    for claimed in ["203.0.113.1", "203.0.113.2"] {
        let forwarded = format!("{claimed}, 198.51.100.7");
        assert_eq!(
            create_visitor_from(&app, widget, &forwarded).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        create_visitor_from(&app, widget, "203.0.113.3, 198.51.100.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        create_visitor_from(&app, widget, "198.51.100.7, 198.51.100.8").await,
        StatusCode::CREATED
    );
    // IPv6 addresses count by their /64.
    for address in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_eq!(
            create_visitor_from(&app, widget, address).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        create_visitor_from(&app, widget, "2001:db8:1:2:ffff::9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        create_visitor_from(&app, widget, "2001:db8:1:3::1").await,
        StatusCode::CREATED
    );
}

async fn forwarded_addresses_are_ignored_unless_trusted(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.new_visitors_per_ip_per_minute = 2).await else {
        return;
    };
    let acme = app.account("Acme").await;
    for forwarded in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            create_visitor_from(&app, &acme.widget, forwarded).await,
            StatusCode::CREATED
        );
    }
    // Every request came from this test's loopback address.
    assert_eq!(
        create_visitor_from(&app, &acme.widget, "198.51.100.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
