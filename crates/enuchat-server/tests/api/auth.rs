use crate::helpers::*;
use chrono::Utc;
use enuchat_domain::{secret, DisplayName, NewApiKey};
use enuchat_server::auth::LAST_USED_GRANULARITY_SECS;
use enuchat_server::key_uses::KeyUses;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::json;

both_backends!(
    every_endpoint_requires_a_key,
    unknown_expired_and_revoked_keys_say_why,
    keys_expire_on_time,
    use_of_a_key_is_recorded,
    uses_pending_at_shutdown_are_written,
    key_uses_that_fail_to_be_written_are_kept_for_the_next_flush,
);

fn endpoints(account: &Account) -> Vec<(Method, String, Option<serde_json::Value>)> {
    let id = account.conversation.id;
    vec![
        (Method::GET, "/widgets".into(), None),
        (Method::GET, "/conversations".into(), None),
        (Method::GET, format!("/conversations/{id}"), None),
        (
            Method::PATCH,
            format!("/conversations/{id}"),
            Some(json!({"status": "closed"})),
        ),
        (
            Method::POST,
            format!("/conversations/{id}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (Method::GET, "/billing/balance".into(), None),
    ]
}

async fn every_endpoint_requires_a_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    for (method, path, body) in endpoints(&acme) {
        let reply = app.call(method.clone(), &path, None, body.clone()).await;
        let message = reply.expect_error(StatusCode::UNAUTHORIZED, "API_KEY_MISSING");
        assert!(message.contains("X-Api-Key"), "{message}");
        let reply = app
            .call(method.clone(), &path, Some(""), body.clone())
            .await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "API_KEY_MISSING");
        let ok = app.call(method, &path, Some(&acme.key), body).await;
        assert!(ok.status.is_success(), "{path}: {}", ok.body);
    }
    // Nothing was written by the refused calls: only the one accepted message exists.
    assert_eq!(
        app.store
            .recent_messages(acme.tenant.id, acme.conversation.id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn unknown_expired_and_revoked_keys_say_why(backend: Backend) {
    // No key cache: a revocation written straight into the database (which
    // this server does not hear of on SQLite) must count from the next
    // request. With the cache, see `key_cache.rs` for the bounds that hold.
    let Some(app) = spawn_app_with(backend, |s| s.api_key_cache_secs = 0).await else {
        return;
    };
    let acme = app.account("Acme").await;

    for bogus in [
        "nonsense",
        "tak_short",
        "Bearer tak_xxx",
        &format!("{}x", acme.key),
    ] {
        app.get("/widgets", bogus)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_INVALID");
    }
    // Bytes that are no key of ours at all (not ASCII; not even UTF-8) are
    // a key presented and refused, not a missing one.
    for bytes in [
        &b"tak_\xc3\xa9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..],
        b"tak_\xff\xfe",
    ] {
        let reply = Reply::from(
            app.client
                .get(app.api("/widgets"))
                .header("X-Api-Key", HeaderValue::from_bytes(bytes).unwrap())
                .send()
                .await
                .unwrap(),
        )
        .await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "API_KEY_INVALID");
    }
    let unknown = secret::generate_api_key();
    app.get("/widgets", &unknown.secret)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_INVALID");

    let expired = secret::generate_api_key();
    app.store
        .create_api_key(
            acme.tenant.id,
            NewApiKey {
                name: DisplayName::parse("old").unwrap(),
                prefix: expired.prefix.clone(),
                key_hash: expired.hash,
                expires_at: Some(Utc::now() - chrono::Duration::seconds(5)),
            },
        )
        .await
        .unwrap();
    let message = app
        .get("/widgets", &expired.secret)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_EXPIRED");
    assert!(message.contains("expired"), "{message}");

    app.store
        .revoke_api_key(acme.tenant.id, acme.key_id)
        .await
        .unwrap()
        .unwrap();
    for (method, path, body) in endpoints(&acme) {
        let reply = app.call(method, &path, Some(&acme.key), body).await;
        let message = reply.expect_error(StatusCode::UNAUTHORIZED, "API_KEY_REVOKED");
        assert!(message.contains("revoked"), "{message}");
        assert!(!reply.body.to_string().contains(&acme.tenant.id.to_string()));
    }
    let stored = app
        .store
        .get_conversation(acme.tenant.id, acme.conversation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, acme.conversation, "a revoked key changes nothing");
}

async fn keys_expire_on_time(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let short = enuchat_server::admin::create_api_key(
        app.store.as_ref(),
        acme.tenant.id,
        "short-lived",
        Some(std::time::Duration::from_secs(1)),
    )
    .await
    .unwrap();
    assert_eq!(
        app.get("/widgets", &short.secret).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    app.get("/widgets", &short.secret)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_EXPIRED");
    // Other keys of the tenant still work.
    assert_eq!(app.get("/widgets", &acme.key).await.status, StatusCode::OK);
}

async fn use_of_a_key_is_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let before = app.store.find_api_key(acme.key_id).await.unwrap().unwrap();
    assert_eq!(before.last_used_at, None);
    app.get("/widgets", &acme.key).await;
    // Recorded off the request path: poll briefly.
    for _ in 0..100 {
        let key = app.store.find_api_key(acme.key_id).await.unwrap().unwrap();
        if key.last_used_at.is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("last_used_at was never recorded");
}

async fn uses_pending_at_shutdown_are_written(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    for account in [&acme, &globex] {
        let listed = app.get("/widgets", &account.key).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    }
    // Stopped well within the flush interval: the uses are still pending.
    let TestApp {
        server, store, db, ..
    } = app;
    server.stop().await;
    let _db = db;
    for account in [&acme, &globex] {
        let key = store.find_api_key(account.key_id).await.unwrap().unwrap();
        assert!(key.last_used_at.is_some(), "a use was lost at shutdown");
    }
}

async fn key_uses_that_fail_to_be_written_are_kept_for_the_next_flush(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let uses = KeyUses::new(LAST_USED_GRANULARITY_SECS);
    uses.record(acme.tenant.id, acme.key_id, Utc::now());
    uses.flush(app.store.as_ref()).await;
    assert_eq!(uses.pending(), 0);
    let written = app.store.find_api_key(acme.key_id).await.unwrap().unwrap();
    assert!(written.last_used_at.is_some(), "the flush wrote the use");

    // The test's own handle on the database is closed: its writes fail.
    uses.record(globex.tenant.id, globex.key_id, Utc::now());
    app.store.close().await;
    uses.flush(app.store.as_ref()).await;
    assert_eq!(uses.pending(), 1, "the failed use waits for the next flush");
}
