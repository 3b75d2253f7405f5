use crate::helpers::*;
use reqwest::StatusCode;

both_backends!(balance_shows_plan_and_credits_of_the_keys_tenant);

async fn balance_shows_plan_and_credits_of_the_keys_tenant(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;

    let reply = app.get("/billing/balance", &acme.key).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body["data"],
        serde_json::json!({"plan": "pro", "creditBalance": 0, "totalCreditsAdded": 0})
    );

    app.store
        .add_credits(acme.tenant.id, 10_000_000)
        .await
        .unwrap()
        .unwrap();
    app.store
        .add_credits(acme.tenant.id, 500)
        .await
        .unwrap()
        .unwrap();
    let reply = app.get("/billing/balance", &acme.key).await;
    assert_eq!(reply.body["data"]["creditBalance"], 10_000_500);
    assert_eq!(reply.body["data"]["totalCreditsAdded"], 10_000_500);

    // Another tenant's credits are not visible through this key, and vice versa.
    let reply = app.get("/billing/balance", &globex.key).await;
    assert_eq!(reply.body["data"]["creditBalance"], 0);
}
