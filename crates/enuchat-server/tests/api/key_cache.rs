//! The API key cache never outlives a revocation by more than it promises:
//! at once through the dashboard (on every PostgreSQL instance once the
//! notice is heard), within the cache's TTL when the database is changed
//! behind the server's back (what `enuchat api-key revoke` does).

use crate::dashboard_helpers::*;
use crate::helpers::*;
use enuchat_domain::OperatorRole;
use enuchat_server::admin;
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

both_backends!(
    a_dashboard_revocation_is_refused_at_once,
    a_revocation_in_the_store_is_refused_once_the_ttl_has_passed,
);

/// Far longer than any test: only an eviction can explain a refusal.
const LONG_TTL: u64 = 3600;
/// Generous: the machine may be busy; this bounds a hang, it times nothing.
const DEADLINE: Duration = Duration::from_secs(60);

async fn admin_of(app: &TestApp, account: &Account) -> String {
    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    admin::create_operator(
        app.store.as_ref(),
        account.tenant.id,
        &email,
        "Ada",
        PASSWORD,
        OperatorRole::Admin,
    )
    .await
    .expect("admin");
    email
}

async fn revoke_in_dashboard(app: &TestApp, dash: &Dash, account: &Account) {
    let path = format!("/api-keys/{}", account.key_id);
    let r = dash.call(app, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Calls with the key until it is refused as revoked; panics at the deadline.
async fn wait_until_refused(app: &TestApp, base: &str, key: &str) {
    let started = Instant::now();
    loop {
        let reply = Reply::from(
            app.client
                .get(format!("{base}/api/v1/tenant-api/widgets"))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            reply.expect_error(StatusCode::UNAUTHORIZED, "API_KEY_REVOKED");
            return;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            started.elapsed() < DEADLINE,
            "the revoked key was still accepted after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_dashboard_revocation_is_refused_at_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.api_key_cache_secs = LONG_TTL).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let dash = sign_in(&app, &admin_of(&app, &acme).await).await;
    // Used, so the key is cached.
    for _ in 0..2 {
        assert_eq!(app.get("/widgets", &acme.key).await.status, StatusCode::OK);
    }
    revoke_in_dashboard(&app, &dash, &acme).await;
    app.get("/widgets", &acme.key)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_REVOKED");
}

async fn a_revocation_in_the_store_is_refused_once_the_ttl_has_passed(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.api_key_cache_secs = 1).await else {
        return;
    };
    let acme = app.account("Acme").await;
    assert_eq!(app.get("/widgets", &acme.key).await.status, StatusCode::OK);
    // As `enuchat api-key revoke` does: straight into the database, which on
    // SQLite the server does not hear of.
    app.store
        .revoke_api_key(acme.tenant.id, acme.key_id)
        .await
        .unwrap()
        .unwrap();
    wait_until_refused(&app, &app.server.base, &acme.key).await;
}

/// Two instances on one PostgreSQL, both with the key cached for an hour:
/// revoking on A refuses on A at once and on B once B hears the notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_revocation_reaches_every_instance() {
    let Some(app) = spawn_app_with(Backend::Postgres, |s| s.api_key_cache_secs = LONG_TTL).await
    else {
        return;
    };
    let b = Instance::start_with(enuchat_server::settings::Settings {
        database_url: app.db.url.clone(),
        rate_limit_per_minute: 10_000,
        max_db_connections: 5,
        api_key_cache_secs: LONG_TTL,
        ..Default::default()
    })
    .await;
    let acme = app.account("Acme").await;
    let other = app.account("Other").await;
    for base in [&app.server.base, &b.base] {
        for key in [&acme.key, &other.key] {
            let r = app
                .client
                .get(format!("{base}/api/v1/tenant-api/widgets"))
                .header("x-api-key", key.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    }
    let dash = sign_in(&app, &admin_of(&app, &acme).await).await;
    revoke_in_dashboard(&app, &dash, &acme).await;
    app.get("/widgets", &acme.key)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_REVOKED");
    wait_until_refused(&app, &b.base, &acme.key).await;
    // The other tenant's key still works.
    let r = app
        .client
        .get(format!("{}/api/v1/tenant-api/widgets", b.base))
        .header("x-api-key", other.key.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    b.stop().await;
}
