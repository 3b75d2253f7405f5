//! The dashboard's admin screens: widgets, API keys, team and billing, with
//! the role rule (owners and admins only), tenant isolation and validation.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use enuchat_domain::*;
use enuchat_server::admin;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_backends!(
    widgets_list_create_and_edit,
    widget_input_is_validated,
    widget_snippet_follows_the_request_origin,
    api_keys_are_created_shown_once_used_and_revoked,
    api_key_input_is_validated,
    operators_are_refused_every_admin_endpoint,
    other_tenants_ids_are_not_found,
    team_members_are_added_changed_and_removed,
    admins_cannot_touch_owners,
    the_last_owner_stays,
    removing_an_operator_ends_their_session_and_unassigns,
    billing_shows_balance_and_ledger,
);

/// A tenant (from `app.account`) plus an owner and an admin, all with the
/// test password.
struct Team {
    acme: Account,
    owner: Operator,
    admin: Operator,
}

async fn team(app: &TestApp, name: &str) -> Team {
    let acme = app.account(name).await;
    let slug = name.to_lowercase();
    let add = |email: String, role: OperatorRole| {
        let store = app.store.clone();
        let tenant = acme.tenant.id;
        async move {
            admin::create_operator(store.as_ref(), tenant, &email, "Someone", PASSWORD, role)
                .await
                .unwrap()
        }
    };
    let owner = add(format!("owner@{slug}.example.com"), OperatorRole::Owner).await;
    let admin = add(format!("admin@{slug}.example.com"), OperatorRole::Admin).await;
    Team { acme, owner, admin }
}

fn data(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.body["data"].clone()
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

async fn delete(dash: &Dash, app: &TestApp, path: &str) -> Reply {
    dash.call(app, Method::DELETE, path, None).await
}

async fn widgets_list_create_and_edit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let dash = sign_in(&app, &t.owner.email).await;
    let origin = app.server.base.clone();

    let list = data(&dash.get(&app, "/widgets").await, StatusCode::OK);
    let first = &list.as_array().unwrap()[0];
    let id = t.acme.widget.id.to_string();
    assert_eq!(
        sorted_keys(first),
        [
            "aiEnabled",
            "allowedOrigins",
            "embedSnippet",
            "greeting",
            "id",
            "isActive",
            "name",
            "position",
            "primaryColor",
            "translationEnabled"
        ]
    );
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["allowedOrigins"], json!([]));
    assert_eq!(
        first["embedSnippet"],
        format!(r#"<script src="{origin}/widget.js" data-widget-id="{id}" async></script>"#)
    );

    // Only a name: the CLI's defaults.
    let plain = data(
        &dash
            .post(&app, "/widgets", json!({"name": "Help desk"}))
            .await,
        StatusCode::CREATED,
    );
    assert_eq!(plain["name"], "Help desk");
    assert_eq!(plain["isActive"], true);
    assert_eq!(plain["aiEnabled"], false);
    assert_eq!(plain["translationEnabled"], false);
    assert_eq!(plain["primaryColor"], "#2563eb");
    assert_eq!(plain["position"], "bottom-right");
    assert_eq!(plain["greeting"], Value::Null);
    assert_eq!(plain["allowedOrigins"], json!([]));

    // Every field.
    let full = data(
        &dash
            .post(
                &app,
                "/widgets",
                json!({
                    "name": "  Shop  ",
                    "isActive": false,
                    "aiEnabled": true,
                    "translationEnabled": true,
                    "primaryColor": "#FF8800",
                    "position": "bottom-left",
                    "greeting": "Hi! How can we help?",
                    "allowedOrigins": ["https://Shop.Example.com/", "http://localhost:3000",
                                       "https://shop.example.com"]
                }),
            )
            .await,
        StatusCode::CREATED,
    );
    let full_id = full["id"].as_str().unwrap().to_owned();
    assert_eq!(full["name"], "Shop");
    assert_eq!(full["isActive"], false);
    assert_eq!(full["aiEnabled"], true);
    assert_eq!(full["translationEnabled"], true);
    assert_eq!(full["primaryColor"], "#ff8800");
    assert_eq!(full["position"], "bottom-left");
    assert_eq!(full["greeting"], "Hi! How can we help?");
    assert_eq!(
        full["allowedOrigins"],
        json!(["https://shop.example.com", "http://localhost:3000"])
    );
    assert!(full["embedSnippet"]
        .as_str()
        .unwrap()
        .contains(&format!(r#"data-widget-id="{full_id}""#)));
    let stored = app
        .store
        .get_widget(t.acme.tenant.id, full_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.allowed_origins.len(), 2);
    assert!(stored.ai_enabled && !stored.is_active);

    // The list, oldest first, has all three.
    let list = data(&dash.get(&app, "/widgets").await, StatusCode::OK);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![id.as_str(), plain["id"].as_str().unwrap(), full_id.as_str()]
    );

    // Edit: only what is sent changes.
    let edited = data(
        &dash
            .patch(
                &app,
                &format!("/widgets/{full_id}"),
                json!({"isActive": true, "greeting": null, "allowedOrigins": []}),
            )
            .await,
        StatusCode::OK,
    );
    assert_eq!(edited["isActive"], true);
    assert_eq!(edited["greeting"], Value::Null);
    assert_eq!(edited["allowedOrigins"], json!([]));
    assert_eq!(edited["name"], "Shop");
    assert_eq!(edited["primaryColor"], "#ff8800");
    assert_eq!(edited["position"], "bottom-left");
    assert_eq!(edited["aiEnabled"], true);
    let edited = data(
        &dash
            .patch(
                &app,
                &format!("/widgets/{full_id}"),
                json!({"name": "Shop 2", "aiEnabled": false, "translationEnabled": false,
                       "primaryColor": "#000000", "position": "bottom-right",
                       "greeting": "Hello", "allowedOrigins": ["https://a.example.com"]}),
            )
            .await,
        StatusCode::OK,
    );
    assert_eq!(edited["name"], "Shop 2");
    assert_eq!(edited["aiEnabled"], false);
    assert_eq!(edited["translationEnabled"], false);
    assert_eq!(edited["primaryColor"], "#000000");
    assert_eq!(edited["position"], "bottom-right");
    assert_eq!(edited["greeting"], "Hello");
    assert_eq!(edited["allowedOrigins"], json!(["https://a.example.com"]));

    // An admin may edit widgets too, and the edit reaches the visitor API.
    let admin_dash = sign_in(&app, &t.admin.email).await;
    let r = admin_dash
        .patch(
            &app,
            &format!("/widgets/{full_id}"),
            json!({"isActive": false}),
        )
        .await;
    assert_eq!(data(&r, StatusCode::OK)["isActive"], false);
    let public = app
        .client
        .get(app.url(&format!("/api/v1/widget/widgets/{full_id}")))
        .send()
        .await
        .unwrap();
    assert_ne!(
        public.status(),
        StatusCode::OK,
        "an inactive widget shows nothing"
    );
}

async fn widget_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let dash = sign_in(&app, &t.owner.email).await;
    let w = format!("/widgets/{}", t.acme.widget.id);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/widgets", json!({}), "name"),
        ("/widgets", json!({"name": "   "}), "name"),
        ("/widgets", json!({"name": null}), "name"),
        ("/widgets", json!({"name": "x".repeat(201)}), "name"),
        (
            "/widgets",
            json!({"name": "A", "primaryColor": "red"}),
            "primaryColor",
        ),
        (
            "/widgets",
            json!({"name": "A", "position": "top"}),
            "position",
        ),
        (
            "/widgets",
            json!({"name": "A", "isActive": "yes"}),
            "isActive",
        ),
        (
            "/widgets",
            json!({"name": "A", "isActive": null}),
            "isActive",
        ),
        (
            "/widgets",
            json!({"name": "A", "greeting": "x".repeat(501)}),
            "greeting",
        ),
        (
            "/widgets",
            json!({"name": "A", "allowedOrigins": ["shop.example.com"]}),
            "allowedOrigins[0]",
        ),
        (
            "/widgets",
            json!({"name": "A", "allowedOrigins": ["https://a.example.com", "https://a.example.com/path"]}),
            "allowedOrigins[1]",
        ),
        (
            "/widgets",
            json!({"name": "A", "allowedOrigins": "https://a.example.com"}),
            "allowedOrigins",
        ),
        (
            "/widgets",
            json!({"name": "A", "colour": "#000000"}),
            "colour",
        ),
        (w.as_str(), json!({}), "Nothing to update"),
        (w.as_str(), json!({"name": null}), "name"),
        (
            w.as_str(),
            json!({"primaryColor": "#12345"}),
            "primaryColor",
        ),
        (
            w.as_str(),
            json!({"allowedOrigins": null}),
            "allowedOrigins",
        ),
        (w.as_str(), json!({"embedSnippet": "x"}), "embedSnippet"),
        ("/widgets/not-a-uuid", json!({"name": "A"}), "id"),
    ];
    for (path, body, names) in cases {
        let method = if path == "/widgets" {
            Method::POST
        } else {
            Method::PATCH
        };
        let r = dash.call(&app, method, path, Some(body.clone())).await;
        let message = r.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(names), "{path} {body}: {message}");
    }
    // Nothing was created or changed.
    let widgets = app.store.list_widgets(t.acme.tenant.id).await.unwrap();
    assert_eq!(widgets, vec![t.acme.widget.clone()]);
    // Not JSON at all.
    let r = reply(
        app.client
            .post(dash.url("/widgets"))
            .header("Cookie", &dash.cookie)
            .header("X-CSRF-Token", &dash.csrf)
            .body("name=A")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    // Writes need the CSRF token, as everywhere in the dashboard.
    let r = reply(
        app.client
            .post(dash.url("/widgets"))
            .header("Cookie", &dash.cookie)
            .json(&json!({"name": "A"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "CSRF_REJECTED");
}

async fn widget_snippet_follows_the_request_origin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let dash = sign_in(&app, &t.owner.email).await;
    let list = |host: &'static str, proto: Option<&'static str>| {
        let mut req = app
            .client
            .get(dash.url("/widgets"))
            .header("Cookie", &dash.cookie)
            .header("Host", host);
        if let Some(proto) = proto {
            req = req.header("X-Forwarded-Proto", proto);
        }
        async { reply(req.send().await.unwrap()).await }
    };
    let id = t.acme.widget.id;
    let r = list("chat.example.com", Some("https")).await;
    assert_eq!(
        data(&r, StatusCode::OK)[0]["embedSnippet"],
        format!(
            r#"<script src="https://chat.example.com/widget.js" data-widget-id="{id}" async></script>"#
        )
    );
    let r = list("chat.example.com:8080", None).await;
    assert!(data(&r, StatusCode::OK)[0]["embedSnippet"]
        .as_str()
        .unwrap()
        .starts_with(r#"<script src="http://chat.example.com:8080/widget.js""#));
}

async fn api_keys_are_created_shown_once_used_and_revoked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let dash = sign_in(&app, &t.admin.email).await;

    // The account's seeded key is listed, without any secret.
    let list = data(&dash.get(&app, "/api-keys").await, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let listed_keys = [
        "createdAt",
        "expiresAt",
        "id",
        "lastUsedAt",
        "name",
        "prefix",
        "revokedAt",
    ];
    assert_eq!(sorted_keys(&list[0]), listed_keys);
    assert_eq!(list[0]["id"], t.acme.key_id.to_string());
    assert_eq!(list[0]["revokedAt"], Value::Null);

    let expires = (chrono::Utc::now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let created = data(
        &dash
            .post(
                &app,
                "/api-keys",
                json!({"name": "Zapier", "expiresAt": expires}),
            )
            .await,
        StatusCode::CREATED,
    );
    let mut with_key: Vec<&str> = listed_keys.to_vec();
    with_key.push("key");
    with_key.sort();
    assert_eq!(sorted_keys(&created), with_key);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(secret::looks_like_api_key(&key), "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["name"], "Zapier");
    assert_eq!(created["lastUsedAt"], Value::Null);
    assert_eq!(created["revokedAt"], Value::Null);
    let stored_expiry: chrono::DateTime<chrono::Utc> =
        created["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        stored_expiry.timestamp(),
        expires
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp()
    );
    let id = created["id"].as_str().unwrap().to_owned();

    // Newest first; the secret is never listed again.
    let list = dash.get(&app, "/api-keys").await;
    let items = data(&list, StatusCode::OK);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[1]["id"], t.acme.key_id.to_string());
    assert!(!list.body.to_string().contains(&key));
    assert_eq!(sorted_keys(&items[0]), listed_keys);

    // The key works with the Tenant API...
    let r = app.get("/widgets", &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"][0]["id"], t.acme.widget.id.to_string());

    // ...until it is revoked.
    let revoked = data(
        &delete(&dash, &app, &format!("/api-keys/{id}")).await,
        StatusCode::OK,
    );
    assert_eq!(revoked["id"], id.as_str());
    let revoked_at = revoked["revokedAt"].as_str().unwrap().to_owned();
    assert_eq!(sorted_keys(&revoked), listed_keys);
    app.get("/widgets", &key)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API_KEY_REVOKED");
    // Again: the same answer, the first revocation time kept.
    let again = data(
        &delete(&dash, &app, &format!("/api-keys/{id}")).await,
        StatusCode::OK,
    );
    assert_eq!(again["revokedAt"], revoked_at.as_str());
    let items = data(&dash.get(&app, "/api-keys").await, StatusCode::OK);
    assert_eq!(items[0]["revokedAt"], revoked_at.as_str());
    assert_eq!(items[1]["revokedAt"], Value::Null);
    // The other key still works.
    assert_eq!(
        app.get("/widgets", &t.acme.key).await.status,
        StatusCode::OK
    );

    // An owner may manage keys too.
    let owner = sign_in(&app, &t.owner.email).await;
    let r = owner.post(&app, "/api-keys", json!({"name": "CI"})).await;
    assert_eq!(data(&r, StatusCode::CREATED)["expiresAt"], Value::Null);
}

async fn api_key_input_is_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let dash = sign_in(&app, &t.owner.email).await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for (body, names) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "A", "expiresAt": "tomorrow"}), "expiresAt"),
        (json!({"name": "A", "expiresAt": "2030-01-01"}), "expiresAt"),
        (json!({"name": "A", "expiresAt": past}), "expiresAt"),
        (json!({"name": "A", "scopes": ["read"]}), "scopes"),
    ] {
        let r = dash.post(&app, "/api-keys", body.clone()).await;
        let message = r.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(names), "{body}: {message}");
    }
    let r = dash
        .post(&app, "/api-keys", json!({"name": "x".repeat(100)}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "100 characters are fine");
    assert_eq!(
        app.store
            .list_api_keys(t.acme.tenant.id)
            .await
            .unwrap()
            .len(),
        2
    );
    delete(&dash, &app, "/api-keys/nope")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    delete(&dash, &app, &format!("/api-keys/{}", ApiKeyId::new()))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    dash.get(&app, "/billing/ledger?limit=0")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

async fn operators_are_refused_every_admin_endpoint(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    // `app.account` made an `operator`-role member.
    let dash = sign_in(&app, &t.acme.operator.email).await;
    assert_eq!(dash.operator["role"], "operator");
    let tenant = t.acme.tenant.id;
    let widgets_before = app.store.list_widgets(tenant).await.unwrap();
    let keys_before = app.store.list_api_keys(tenant).await.unwrap();
    let team_before = app.store.list_operators(tenant).await.unwrap();

    let w = format!("/widgets/{}", t.acme.widget.id);
    let k = format!("/api-keys/{}", t.acme.key_id);
    let o = format!("/operators/{}", t.owner.id);
    let me = format!("/operators/{}", t.acme.operator.id);
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api-keys", None),
        (Method::POST, "/api-keys", Some(json!({"name": "mine"}))),
        // Refused before the body is looked at: no validation detail leaks.
        (Method::POST, "/api-keys", Some(json!({"bogus": true}))),
        (Method::DELETE, k.as_str(), None),
        (Method::POST, "/widgets", Some(json!({"name": "Mine"}))),
        (Method::POST, "/widgets", Some(json!({"name": ""}))),
        (Method::PATCH, w.as_str(), Some(json!({"isActive": false}))),
        (
            Method::POST,
            "/operators",
            Some(
                json!({"email": "x@example.com", "name": "X", "role": "owner",
                        "password": "password123"}),
            ),
        ),
        (Method::PATCH, o.as_str(), Some(json!({"role": "operator"}))),
        (Method::PATCH, me.as_str(), Some(json!({"role": "admin"}))),
        (Method::DELETE, o.as_str(), None),
        (Method::GET, "/billing", None),
        (Method::GET, "/billing/ledger", None),
        (Method::GET, "/billing/ledger?limit=0", None),
    ];
    for (method, path, body) in calls {
        let r = dash.call(&app, method.clone(), path, body).await;
        let message = r.expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            message.contains("owner or admin"),
            "{method} {path}: {message}"
        );
    }
    // Nothing changed.
    assert_eq!(
        app.store.list_widgets(tenant).await.unwrap(),
        widgets_before
    );
    assert_eq!(app.store.list_api_keys(tenant).await.unwrap(), keys_before);
    assert_eq!(app.store.list_operators(tenant).await.unwrap(), team_before);
    assert_eq!(
        app.get("/widgets", &t.acme.key).await.status,
        StatusCode::OK
    );
    // What every role needs still works.
    assert_eq!(dash.get(&app, "/widgets").await.status, StatusCode::OK);
    let members = data(&dash.get(&app, "/operators").await, StatusCode::OK);
    assert_eq!(members.as_array().unwrap().len(), 3);
    assert_eq!(dash.get(&app, "/session").await.status, StatusCode::OK);
}

async fn other_tenants_ids_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let other = team(&app, "Other").await;
    let dash = sign_in(&app, &t.owner.email).await;
    let before = (
        app.store.list_widgets(other.acme.tenant.id).await.unwrap(),
        app.store.list_api_keys(other.acme.tenant.id).await.unwrap(),
        app.store
            .list_operators(other.acme.tenant.id)
            .await
            .unwrap(),
    );

    let theirs_w = format!("/widgets/{}", other.acme.widget.id);
    let theirs_k = format!("/api-keys/{}", other.acme.key_id);
    let theirs_o = format!("/operators/{}", other.acme.operator.id);
    let theirs_owner = format!("/operators/{}", other.owner.id);
    for (method, path, body) in [
        (Method::PATCH, &theirs_w, Some(json!({"name": "Hijacked"}))),
        (Method::DELETE, &theirs_k, None),
        (Method::PATCH, &theirs_o, Some(json!({"role": "admin"}))),
        (Method::PATCH, &theirs_owner, Some(json!({"name": "X"}))),
        (Method::DELETE, &theirs_o, None),
        (Method::DELETE, &theirs_owner, None),
    ] {
        dash.call(&app, method, path, body)
            .await
            .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let after = (
        app.store.list_widgets(other.acme.tenant.id).await.unwrap(),
        app.store.list_api_keys(other.acme.tenant.id).await.unwrap(),
        app.store
            .list_operators(other.acme.tenant.id)
            .await
            .unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(
        app.get("/widgets", &other.acme.key).await.status,
        StatusCode::OK
    );

    // Lists show only the own tenant's rows.
    let keys = data(&dash.get(&app, "/api-keys").await, StatusCode::OK);
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["id"], t.acme.key_id.to_string());
    let widgets = data(&dash.get(&app, "/widgets").await, StatusCode::OK);
    assert_eq!(widgets.as_array().unwrap().len(), 1);
    let members = data(&dash.get(&app, "/operators").await, StatusCode::OK);
    let mut listed: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    listed.sort();
    let mut own = [t.acme.operator.id, t.owner.id, t.admin.id].map(|id| id.to_string());
    own.sort();
    assert_eq!(listed, own);
}

async fn team_members_are_added_changed_and_removed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let owner = sign_in(&app, &t.owner.email).await;

    let members = data(&owner.get(&app, "/operators").await, StatusCode::OK);
    assert_eq!(
        sorted_keys(&members[0]),
        ["createdAt", "email", "id", "name", "role"]
    );

    let created = data(
        &owner
            .post(
                &app,
                "/operators",
                json!({"email": "  Grace@Example.com ", "name": "Grace", "role": "admin",
                       "password": "correct horse"}),
            )
            .await,
        StatusCode::CREATED,
    );
    assert_eq!(
        sorted_keys(&created),
        ["createdAt", "email", "id", "name", "role"]
    );
    assert_eq!(created["email"], "grace@example.com");
    assert_eq!(created["role"], "admin");
    let grace_id: OperatorId = created["id"].as_str().unwrap().parse().unwrap();
    let stored = app
        .store
        .get_operator(t.acme.tenant.id, grace_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    // Grace can sign in with that password.
    let r = try_sign_in(&app, &app.server.base, "grace@example.com", "correct horse").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["operator"]["role"], "admin");

    // An owner may add owners.
    let r = owner
        .post(
            &app,
            "/operators",
            json!({"email": "co@example.com", "name": "Co", "role": "owner",
                   "password": "password123"}),
        )
        .await;
    assert_eq!(data(&r, StatusCode::CREATED)["role"], "owner");

    // The same email, in any case, any tenant: 409.
    let other = app.account("Other").await;
    for email in [
        "grace@example.com",
        "GRACE@example.com",
        other.operator.email.as_str(),
    ] {
        owner
            .post(
                &app,
                "/operators",
                json!({"email": email, "name": "Dup", "role": "operator",
                       "password": "password123"}),
            )
            .await
            .expect_error(StatusCode::CONFLICT, "CONFLICT");
    }
    for (body, names) in [
        (
            json!({"email": "nope", "name": "N", "role": "operator", "password": "password123"}),
            "email",
        ),
        (
            json!({"email": "n@example.com", "name": "", "role": "operator", "password": "password123"}),
            "name",
        ),
        (
            json!({"email": "n@example.com", "name": "N", "role": "boss", "password": "password123"}),
            "role",
        ),
        (
            json!({"email": "n@example.com", "name": "N", "role": "operator", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "n@example.com", "name": "N", "role": "operator"}),
            "password",
        ),
        (
            json!({"email": "n@example.com", "name": "N", "role": "operator", "password": "password123", "admin": true}),
            "admin",
        ),
    ] {
        let r = owner.post(&app, "/operators", body.clone()).await;
        let message = r.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(names), "{body}: {message}");
    }
    assert!(app
        .store
        .find_operator_by_email("n@example.com")
        .await
        .unwrap()
        .is_none());

    // Changes.
    let path = format!("/operators/{grace_id}");
    let changed = data(
        &owner
            .patch(
                &app,
                &path,
                json!({"name": "Grace Hopper", "role": "operator"}),
            )
            .await,
        StatusCode::OK,
    );
    assert_eq!(changed["name"], "Grace Hopper");
    assert_eq!(changed["role"], "operator");
    assert_eq!(changed["email"], "grace@example.com");
    for (body, names) in [
        (json!({}), "Nothing to update"),
        (json!({"role": null}), "role"),
        (json!({"name": " "}), "name"),
        (json!({"email": "x@example.com"}), "email"),
    ] {
        let r = owner.patch(&app, &path, body.clone()).await;
        let message = r.expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(message.contains(names), "{body}: {message}");
    }
    owner
        .patch(
            &app,
            &format!("/operators/{}", OperatorId::new()),
            json!({"name": "X"}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    // An admin manages the team too (but not owners, see below).
    let admin = sign_in(&app, &t.admin.email).await;
    let r = admin.patch(&app, &path, json!({"role": "admin"})).await;
    assert_eq!(data(&r, StatusCode::OK)["role"], "admin");
    let r = admin
        .post(
            &app,
            "/operators",
            json!({"email": "new@example.com", "name": "New", "role": "operator",
                   "password": "password123"}),
        )
        .await;
    let new_id = data(&r, StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = delete(&admin, &app, &format!("/operators/{new_id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    delete(&admin, &app, &format!("/operators/{new_id}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "NOT_FOUND");

    // Nobody removes themselves.
    delete(&admin, &app, &format!("/operators/{}", t.admin.id))
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");
    delete(&owner, &app, &format!("/operators/{}", t.owner.id))
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");

    // A removed member is gone from the list.
    let r = delete(&owner, &app, &path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let members = data(&owner.get(&app, "/operators").await, StatusCode::OK);
    assert!(!members
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == grace_id.to_string()));
}

async fn admins_cannot_touch_owners(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let admin = sign_in(&app, &t.admin.email).await;
    let before = app.store.list_operators(t.acme.tenant.id).await.unwrap();
    let owner_path = format!("/operators/{}", t.owner.id);
    let op_path = format!("/operators/{}", t.acme.operator.id);
    let me_path = format!("/operators/{}", t.admin.id);
    for (method, path, body) in [
        (
            Method::POST,
            "/operators",
            Some(
                json!({"email": "boss@example.com", "name": "Boss", "role": "owner",
                        "password": "password123"}),
            ),
        ),
        (
            Method::PATCH,
            op_path.as_str(),
            Some(json!({"role": "owner"})),
        ),
        (
            Method::PATCH,
            me_path.as_str(),
            Some(json!({"role": "owner"})),
        ),
        (
            Method::PATCH,
            owner_path.as_str(),
            Some(json!({"name": "Renamed"})),
        ),
        (
            Method::PATCH,
            owner_path.as_str(),
            Some(json!({"role": "operator"})),
        ),
        (Method::DELETE, owner_path.as_str(), None),
    ] {
        let r = admin.call(&app, method.clone(), path, body).await;
        let message = r.expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(message.contains("owner"), "{method} {path}: {message}");
    }
    assert_eq!(
        app.store.list_operators(t.acme.tenant.id).await.unwrap(),
        before
    );
    // The owner may do all of it.
    let owner = sign_in(&app, &t.owner.email).await;
    let r = owner.patch(&app, &op_path, json!({"role": "owner"})).await;
    assert_eq!(data(&r, StatusCode::OK)["role"], "owner");
}

async fn the_last_owner_stays(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let owner = sign_in(&app, &t.owner.email).await;
    let me = format!("/operators/{}", t.owner.id);
    let message = owner
        .patch(&app, &me, json!({"role": "admin"}))
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");
    assert!(message.contains("owner"), "{message}");
    let stored = app
        .store
        .get_operator(t.acme.tenant.id, t.owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role, OperatorRole::Owner);
    // Renaming is fine.
    let r = owner.patch(&app, &me, json!({"name": "The Boss"})).await;
    assert_eq!(data(&r, StatusCode::OK)["name"], "The Boss");

    // With a second owner, the first may step down, and then the second is
    // the last one.
    let second = format!("/operators/{}", t.admin.id);
    let r = owner.patch(&app, &second, json!({"role": "owner"})).await;
    assert_eq!(data(&r, StatusCode::OK)["role"], "owner");
    let r = owner.patch(&app, &me, json!({"role": "admin"})).await;
    assert_eq!(data(&r, StatusCode::OK)["role"], "admin");
    // The former owner (now an admin, at once) can no longer touch owners.
    owner
        .patch(&app, &second, json!({"role": "admin"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    let new_owner = sign_in(&app, &t.admin.email).await;
    new_owner
        .patch(&app, &second, json!({"role": "operator"}))
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");
    delete(&new_owner, &app, &second)
        .await
        .expect_error(StatusCode::CONFLICT, "CONFLICT");
    let owners = app
        .store
        .list_operators(t.acme.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.role == OperatorRole::Owner)
        .count();
    assert_eq!(owners, 1);
}

async fn removing_an_operator_ends_their_session_and_unassigns(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let olga = sign_in(&app, &t.acme.operator.email).await;
    let conversation = t.acme.conversation.id;
    let r = olga
        .patch(
            &app,
            &format!("/conversations/{conversation}"),
            json!({"assignedTo": t.acme.operator.id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(olga.get(&app, "/session").await.status, StatusCode::OK);

    let owner = sign_in(&app, &t.owner.email).await;
    let r = delete(&owner, &app, &format!("/operators/{}", t.acme.operator.id)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.body, Value::Null);

    // Her session no longer works, for reads or writes.
    olga.get(&app, "/session")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    olga.get(&app, "/conversations")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "NOT_SIGNED_IN");
    // Nor can she sign in again.
    let r = try_sign_in(&app, &app.server.base, &t.acme.operator.email, PASSWORD).await;
    r.expect_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    // Her conversation is unassigned, with its history.
    let c = app
        .store
        .get_conversation(t.acme.tenant.id, conversation)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.assigned_to, None);
    let r = owner
        .get(&app, &format!("/conversations/{conversation}"))
        .await;
    assert_eq!(data(&r, StatusCode::OK)["assignedTo"], Value::Null);
    // The owner's own session is untouched.
    assert_eq!(owner.get(&app, "/session").await.status, StatusCode::OK);
}

async fn billing_shows_balance_and_ledger(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let t = team(&app, "Acme").await;
    let other = app.account("Other").await;
    let tenant = t.acme.tenant.id;
    let dash = sign_in(&app, &t.admin.email).await;

    let empty = data(&dash.get(&app, "/billing").await, StatusCode::OK);
    assert_eq!(
        empty,
        json!({"plan": "pro", "creditBalance": 0, "totalCreditsAdded": 0})
    );
    assert_eq!(
        data(&dash.get(&app, "/billing/ledger").await, StatusCode::OK),
        json!([])
    );

    let mut entries = Vec::new();
    for amount in [100, 250, 50] {
        entries.push(
            app.store
                .add_credits(tenant, amount)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    app.store.add_credits(other.tenant.id, 999).await.unwrap();

    let balance = data(&dash.get(&app, "/billing").await, StatusCode::OK);
    assert_eq!(
        balance,
        json!({"plan": "pro", "creditBalance": 400, "totalCreditsAdded": 400})
    );
    let ledger = data(&dash.get(&app, "/billing/ledger").await, StatusCode::OK);
    let items = ledger.as_array().unwrap();
    assert_eq!(items.len(), 3, "only this tenant's entries");
    assert_eq!(
        sorted_keys(&items[0]),
        [
            "amount",
            "balanceAfter",
            "createdAt",
            "id",
            "messageId",
            "reason"
        ]
    );
    let newest = &entries[2];
    assert_eq!(items[0]["id"], newest.id.to_string());
    assert_eq!(items[0]["amount"], 50);
    assert_eq!(items[0]["balanceAfter"], 400);
    assert_eq!(items[0]["reason"], "purchase");
    assert_eq!(items[0]["messageId"], Value::Null);
    let ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = entries.iter().rev().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, expected, "newest first");

    let page = data(
        &dash.get(&app, "/billing/ledger?limit=1&offset=1").await,
        StatusCode::OK,
    );
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], entries[1].id.to_string());
    let past_end = data(
        &dash.get(&app, "/billing/ledger?offset=3").await,
        StatusCode::OK,
    );
    assert_eq!(past_end, json!([]));
    for query in ["limit=0", "limit=101", "offset=-1", "limit=x", "page=2"] {
        dash.get(&app, &format!("/billing/ledger?{query}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    dash.get(&app, "/billing?x=1")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let r = dash.get(&app, "/billing/ledger?limit=100").await;
    assert_eq!(r.status, StatusCode::OK);
}
