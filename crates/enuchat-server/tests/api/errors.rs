use crate::helpers::*;
use reqwest::{Method, StatusCode};

both_backends!(unknown_paths_and_methods_get_json_errors);

async fn unknown_paths_and_methods_get_json_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    for path in [
        "/nope",
        "/api/v1/tenant-api/nope",
        "/api/v1/tenant-api/conversations/x/y/z",
        "/api/v2/tenant-api/widgets",
    ] {
        let reply = Reply::from(
            app.client
                .get(app.url(path))
                .header("X-Api-Key", &acme.key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        reply.expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let id = acme.conversation.id;
    for (method, path) in [
        (Method::DELETE, "/widgets".to_owned()),
        (Method::POST, "/widgets".to_owned()),
        (Method::PUT, format!("/conversations/{id}")),
        (Method::DELETE, format!("/conversations/{id}")),
        (Method::GET, format!("/conversations/{id}/messages")),
        (Method::POST, "/billing/balance".to_owned()),
    ] {
        let reply = app.call(method.clone(), &path, Some(&acme.key), None).await;
        reply.expect_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    }
}
