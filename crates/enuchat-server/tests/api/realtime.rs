use crate::helpers::*;
use crate::visitor_helpers::*;
use serde_json::json;
use std::time::Duration;

both_backends!(
    stored_then_live_messages_arrive_in_order_exactly_once,
    a_reconnect_resumes_without_gaps_or_duplicates,
    a_socket_opened_before_the_first_message_follows_the_conversation,
    every_tab_of_a_visitor_gets_every_message,
);

async fn stored_then_live_messages_arrive_in_order_exactly_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "first").await;
    let conversation = visitor
        .call(&app, reqwest::Method::GET, "/me", None)
        .await
        .body["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut socket = visitor.connect(0).await;
    let stored = until_ready(&mut socket).await;
    assert_eq!(seqs(&stored), vec![1]);

    // 30 messages posted concurrently through the Tenant API.
    let posts = (0..30).map(|i| {
        let path = format!("/conversations/{conversation}/messages");
        let app = &app;
        let key = acme.key.clone();
        async move {
            app.post(
                &path,
                &key,
                json!({"content": format!("reply {i}"), "role": "operator"}),
            )
            .await
        }
    });
    for reply in futures::future::join_all(posts).await {
        assert_eq!(reply.status, reqwest::StatusCode::CREATED);
    }
    let live = messages(&mut socket, 30).await;
    assert_eq!(seqs(&live), (2..=31).collect::<Vec<_>>());
    assert!(live.iter().all(|m| m["role"] == "operator"));
    quiet(&mut socket).await;
    close(socket).await;
}

async fn a_reconnect_resumes_without_gaps_or_duplicates(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    visitor.say(&app, "hello").await;
    let conversation = visitor
        .call(&app, reqwest::Method::GET, "/me", None)
        .await
        .body["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut socket = visitor.connect(0).await;
    assert_eq!(seqs(&until_ready(&mut socket).await), vec![1]);
    app.post(
        &format!("/conversations/{conversation}/messages"),
        &acme.key,
        json!({"content": "a"}),
    )
    .await;
    let got = messages(&mut socket, 1).await;
    let last = got[0]["seq"].as_i64().unwrap();
    close(socket).await;

    // While away: three messages.
    for text in ["b", "c", "d"] {
        app.post(
            &format!("/conversations/{conversation}/messages"),
            &acme.key,
            json!({"content": text}),
        )
        .await;
    }
    let mut socket = visitor.connect(last).await;
    let missed = until_ready(&mut socket).await;
    let contents: Vec<_> = missed.iter().map(|m| m["content"].clone()).collect();
    assert_eq!(contents, vec![json!("b"), json!("c"), json!("d")]);
    assert_eq!(seqs(&missed), vec![3, 4, 5]);
    quiet(&mut socket).await;
    close(socket).await;
}

async fn a_socket_opened_before_the_first_message_follows_the_conversation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    let mut socket = visitor.connect(0).await;
    assert!(until_ready(&mut socket).await.is_empty());
    visitor.say(&app, "my first words").await;
    let first = messages(&mut socket, 1).await;
    assert_eq!(first[0]["content"], "my first words");
    let conversation = visitor
        .call(&app, reqwest::Method::GET, "/me", None)
        .await
        .body["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = std::time::Instant::now();
    app.post(
        &format!("/conversations/{conversation}/messages"),
        &acme.key,
        json!({"content": "Welcome!"}),
    )
    .await;
    let reply = messages(&mut socket, 1).await;
    assert_eq!(reply[0]["content"], "Welcome!");
    assert_eq!(reply[0]["role"], "system");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "delivered in {:?}",
        started.elapsed()
    );
    close(socket).await;
}

async fn every_tab_of_a_visitor_gets_every_message(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let visitor = TestVisitor::create(&app, &acme.widget, json!({})).await;
    let mut tab1 = visitor.connect(0).await;
    let mut tab2 = visitor.connect(0).await;
    until_ready(&mut tab1).await;
    until_ready(&mut tab2).await;
    for i in 0..5 {
        visitor.say(&app, &format!("tab message {i}")).await;
    }
    for tab in [&mut tab1, &mut tab2] {
        assert_eq!(seqs(&messages(tab, 5).await), vec![1, 2, 3, 4, 5]);
        quiet(tab).await;
    }
}

/// Two instances on one PostgreSQL: a message accepted by A reaches a
/// visitor connected to B, and B's socket follows a conversation that A
/// started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_delivers_across_instances() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let b = Instance::start(&app.db.url, 10_000).await;
    let acme = app.account("Acme").await;
    let on_b = TestVisitor::create_on(&app, &b.base, &acme.widget, json!({})).await;
    let mut socket = on_b.connect(0).await;
    assert!(until_ready(&mut socket).await.is_empty());

    // The first message is accepted by instance A (same visitor, other instance).
    let on_a = TestVisitor {
        base: app.server.base.clone(),
        id: on_b.id.clone(),
        token: on_b.token.clone(),
    };
    on_a.say(&app, "started on A").await;
    assert_eq!(messages(&mut socket, 1).await[0]["content"], "started on A");

    let conversation = on_a
        .call(&app, reqwest::Method::GET, "/me", None)
        .await
        .body["data"]["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..20 {
        app.post(
            &format!("/conversations/{conversation}/messages"),
            &acme.key,
            json!({"content": format!("from A {i}")}),
        )
        .await;
    }
    assert_eq!(
        seqs(&messages(&mut socket, 20).await),
        (2..=21).collect::<Vec<_>>()
    );
    quiet(&mut socket).await;
    close(socket).await;
    b.stop().await;
}
