//! Dashboard sign-in, sessions, CSRF and tenant isolation.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use chrono::{Duration, Utc};
use enuchat_domain::{secret, NewSession};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    sign_in_get_and_sign_out,
    cookies_are_secure_behind_https,
    wrong_credentials_are_refused_alike,
    repeated_failures_are_throttled,
    expired_sessions_are_refused,
    writes_without_csrf_proof_are_refused,
    every_endpoint_is_tenant_scoped,
    the_dashboard_page_and_assets_are_served,
);

async fn sign_in_get_and_sign_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    // Emails are matched case-insensitively.
    let r = try_sign_in(
        &app,
        &app.server.base,
        &acme.operator.email.to_uppercase(),
        PASSWORD,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let op = &r.body["data"]["operator"];
    assert_eq!(op["id"], acme.operator.id.to_string());
    assert_eq!(op["email"], acme.operator.email);
    assert_eq!(op["name"], "Olga");
    assert_eq!(op["role"], "operator");
    assert!(op.get("passwordHash").is_none());
    let csrf = r.body["data"]["csrfToken"].as_str().unwrap();
    assert!(csrf.len() >= 32);
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("enuchat_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.split("; ").any(|f| f == flag),
            "{flag} missing: {cookie}"
        );
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");

    let dash = sign_in(&app, &acme.operator.email).await;
    let me = dash.get(&app, "/session").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(
        me.body["data"]["operator"]["id"],
        acme.operator.id.to_string()
    );
    assert_eq!(me.body["data"]["csrfToken"], dash.csrf.as_str());

    let out = dash.call(&app, Method::DELETE, "/session", None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    dash.get(&app, "/session")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    dash.get(&app, "/conversations")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    // The other session of the same operator is unaffected.
    let again = sign_in(&app, &acme.operator.email).await;
    assert_eq!(again.get(&app, "/session").await.status, StatusCode::OK);
    // No cookie, or garbage in it.
    let bare = reply(app.client.get(dash.url("/session")).send().await.unwrap()).await;
    bare.expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    let garbage = reply(
        app.client
            .get(dash.url("/session"))
            .header("Cookie", "enuchat_session=nope; other=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    garbage.expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
}

async fn cookies_are_secure_behind_https(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let r = reply(
        app.client
            .post(format!("{}/api/v1/dashboard/session", app.server.base))
            .header("X-Forwarded-Proto", "https")
            .json(&json!({"email": acme.operator.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.split("; ").any(|f| f == "Secure"), "{cookie}");
}

async fn wrong_credentials_are_refused_alike(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let base = &app.server.base;
    let wrong = try_sign_in(&app, base, &acme.operator.email, "not-it").await;
    let wrong_msg = wrong.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert!(wrong.header("set-cookie").is_none());
    let unknown = try_sign_in(&app, base, "nobody@example.com", PASSWORD).await;
    let unknown_msg = unknown.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(wrong_msg, unknown_msg);
    try_sign_in(&app, base, "", "")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let missing = reply(
        app.client
            .post(format!("{base}/api/v1/dashboard/session"))
            .json(&json!({"email": acme.operator.email}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    missing.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

async fn repeated_failures_are_throttled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let base = &app.server.base;
    for _ in 0..5 {
        try_sign_in(&app, base, &acme.operator.email, "guess")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    let limited = try_sign_in(&app, base, &acme.operator.email, "guess").await;
    limited.expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password waits: guessing cannot go on.
    try_sign_in(&app, base, &acme.operator.email, PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Another operator is not locked out by someone guessing this email.
    let other = app.account("Other").await;
    sign_in(&app, &other.operator.email).await;
    // Successful sign-ins are not failures.
    for _ in 0..6 {
        sign_in(&app, &other.operator.email).await;
    }
    // Per address: 20 failures a minute, whatever the emails (5 spent
    // above). The bucket refills one every 3 s, so count rather than time.
    let mut failures = 5;
    loop {
        let r = try_sign_in(&app, base, &format!("u{failures}@example.com"), "x").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        r.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        failures += 1;
        assert!(failures < 40, "never throttled per address");
    }
    assert!(failures >= 20, "throttled after only {failures} failures");
}

async fn expired_sessions_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let now = Utc::now();
    let make = |created_at, expires_at| {
        let id = secret::generate_session_id();
        let new = NewSession {
            id_hash: secret::hash(&id),
            operator_id: acme.operator.id,
            csrf_token: "t".repeat(43),
            created_at,
            expires_at,
        };
        (id, new)
    };
    let (fresh, new) = make(now, now + Duration::days(7));
    app.store.create_session(acme.tenant.id, new).await.unwrap();
    let (idle, new) = make(now - Duration::hours(13), now + Duration::days(6));
    app.store.create_session(acme.tenant.id, new).await.unwrap();
    let (ended, new) = make(now - Duration::days(8), now - Duration::days(1));
    app.store.create_session(acme.tenant.id, new).await.unwrap();
    let get = |id: String| {
        let req = app
            .client
            .get(format!("{}/api/v1/dashboard/session", app.server.base))
            .header("Cookie", format!("enuchat_session={id}"));
        async move { reply(req.send().await.unwrap()).await }
    };
    assert_eq!(get(fresh).await.status, StatusCode::OK);
    get(idle)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    get(ended)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
}

async fn writes_without_csrf_proof_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let dash = sign_in(&app, &acme.operator.email).await;
    let path = format!("/conversations/{}/messages", acme.conversation.id);
    let url = dash.url(&path);
    let body = json!({"content": "forged"});
    // No token.
    let r = reply(
        app.client
            .post(&url)
            .header("Cookie", &dash.cookie)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    // A wrong token.
    let r = reply(
        app.client
            .post(&url)
            .header("Cookie", &dash.cookie)
            .header("X-CSRF-Token", "x".repeat(43))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    // The right token from a foreign page.
    let r = reply(
        app.client
            .post(&url)
            .header("Cookie", &dash.cookie)
            .header("X-CSRF-Token", &dash.csrf)
            .header("Origin", "https://evil.example")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    // A cross-site HTML form: foreign origin, form encoding, no token.
    let r = reply(
        app.client
            .post(&url)
            .header("Cookie", &dash.cookie)
            .header("Origin", "https://evil.example")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("content=forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    // Same origin with the token, but a form body: only JSON is accepted.
    let r = reply(
        app.client
            .post(&url)
            .header("Cookie", &dash.cookie)
            .header("X-CSRF-Token", &dash.csrf)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("content=forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    // Sign-in and sign-out from a foreign page.
    let r = reply(
        app.client
            .post(dash.url("/session"))
            .header("Origin", "https://evil.example")
            .json(&json!({"email": acme.operator.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    let r = reply(
        app.client
            .delete(dash.url("/session"))
            .header("Cookie", &dash.cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
    // Nothing was written, and the session still works.
    let messages = app
        .store
        .recent_messages(acme.tenant.id, acme.conversation.id, 10)
        .await
        .unwrap();
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(dash.get(&app, "/session").await.status, StatusCode::OK);
    // With the proof it works.
    assert_eq!(
        dash.post(&app, &path, body).await.status,
        StatusCode::CREATED
    );
}

async fn every_endpoint_is_tenant_scoped(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let other = app.account("Other").await;
    app.store
        .append_message(
            other.tenant.id,
            other.conversation.id,
            enuchat_domain::NewMessage::new(
                enuchat_domain::MessageRole::Visitor,
                enuchat_domain::MessageContent::parse("secret".into()).unwrap(),
            ),
        )
        .await
        .unwrap();
    let dash = sign_in(&app, &acme.operator.email).await;
    let theirs = format!("/conversations/{}", other.conversation.id);
    dash.get(&app, &theirs)
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    dash.patch(&app, &theirs, json!({"status": "closed"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    dash.post(
        &app,
        &format!("{theirs}/messages"),
        json!({"content": "hi"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    dash.post(&app, &format!("{theirs}/read"), json!({"seq": 1}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    // Assigning another tenant's operator.
    dash.patch(
        &app,
        &format!("/conversations/{}", acme.conversation.id),
        json!({"assignedTo": other.operator.id.to_string()}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let list = dash.get(&app, "/conversations").await;
    let ids: Vec<_> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![acme.conversation.id.to_string()]);
    let operators = dash.get(&app, "/operators").await;
    assert_eq!(operators.status, StatusCode::OK);
    let emails: Vec<_> = operators.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, vec![acme.operator.email.clone()]);
    let widgets = dash.get(&app, "/widgets").await;
    assert_eq!(widgets.status, StatusCode::OK);
    let widget_ids: Vec<_> = widgets.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(widget_ids, vec![acme.widget.id.to_string()]);
    // The store was not touched for the other tenant.
    let theirs_now = app
        .store
        .get_conversation(other.tenant.id, other.conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs_now.status, other.conversation.status);
    assert_eq!(theirs_now.last_seq, 1);
}

async fn the_dashboard_page_and_assets_are_served(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let get = |path: &str| app.client.get(app.url(path)).send();
    let page = get("/").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("/app/app.js"));
    for (path, kind) in [
        ("/app/app.js", "text/javascript"),
        ("/app/app.css", "text/css"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
    }
    assert_eq!(
        get("/app/nope.js").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/app/../Cargo.toml").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
