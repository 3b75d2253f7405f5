use crate::helpers::*;
use reqwest::StatusCode;

both_backends!(
    health_readiness_and_metrics,
    openapi_document_describes_every_endpoint
);

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    app.get("/widgets", &acme.key).await;
    app.get(
        &format!("/conversations/{}", acme.conversation.id),
        &acme.key,
    )
    .await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"enuchat_http_requests_total{method="GET",route="/api/v1/tenant-api/widgets",status="200"} 1"#),
        "{metrics}"
    );
    // Routes are labelled by template, never by raw path (bounded cardinality).
    assert!(
        metrics.contains(r#"route="/api/v1/tenant-api/conversations/{id}""#),
        "{metrics}"
    );
    assert!(!metrics.contains(&acme.conversation.id.to_string()));
    assert!(metrics.contains("enuchat_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("enuchat_db_pool_connections_idle"));
}

async fn openapi_document_describes_every_endpoint(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reply = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let doc: serde_json::Value = reply.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/widgets", "get"),
        ("/conversations", "get"),
        ("/conversations/{id}", "get"),
        ("/conversations/{id}", "patch"),
        ("/conversations/{id}/messages", "post"),
        ("/billing/balance", "get"),
    ] {
        assert!(paths[path][method].is_object(), "missing {method} {path}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["name"],
        "X-Api-Key"
    );
}

#[test]
fn patch_body_schema_requires_a_field() {
    let doc = serde_json::to_value(enuchat_server::openapi()).unwrap();
    let schema = &doc["components"]["schemas"]["UpdateConversationBody"];
    assert_eq!(schema["minProperties"], 1, "{schema}");
    assert!(schema.get("maxProperties").is_none(), "{schema}");
    assert_eq!(schema["additionalProperties"], false);
}

/// Readiness follows the database: when PostgreSQL goes away, `/readyz` says
/// 503 (while `/healthz` still says the process is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_database_is_gone() {
    use sqlx::{Connection, Executor};
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let admin_url = std::env::var("ENUCHAT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();

    let ready = Reply::from(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    ready.expect_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

/// A stopped server closes its store: on SQLite the database file alone then
/// holds every write, so a backup that copies just that file (without its
/// `-wal`) after a stop misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_leaves_a_complete_database_file() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let acme = app.account("Acme").await;
    // Let any checkpoint that the account's writes started finish first.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // A write through the server that is not a message, so no checkpoint
    // follows it by itself.
    let conversation = acme.conversation.id;
    let changed = app
        .patch(
            &format!("/conversations/{conversation}"),
            &acme.key,
            serde_json::json!({"status": "closed"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let TestApp { db, server, .. } = app;
    server.stop().await;

    let file = db.url.strip_prefix("sqlite://").expect("a file URL");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(file, &copy).expect("copy the database file alone");
    let store = enuchat_server::storage::connect(&format!("sqlite://{}", copy.display()), 1)
        .await
        .expect("open the copy");
    let stored = store
        .get_conversation(acme.tenant.id, conversation)
        .await
        .expect("read")
        .expect("the conversation is in the copy");
    assert_eq!(stored.status, enuchat_domain::ConversationStatus::Closed);
}
