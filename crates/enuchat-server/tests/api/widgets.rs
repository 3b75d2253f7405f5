use crate::helpers::*;
use enuchat_server::admin::{self, WidgetOptions};
use reqwest::StatusCode;

both_backends!(
    lists_the_tenants_widgets_with_reference_fields,
    widgets_of_other_tenants_are_invisible
);

async fn lists_the_tenants_widgets_with_reference_fields(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let second = admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        WidgetOptions {
            name: "Help center".into(),
            is_active: false,
            ai_enabled: true,
            translation_enabled: true,
            primary_color: "#FF0000".into(),
            position: "bottom-left".into(),
            greeting: None,
            allowed_origins: Vec::new(),
        },
    )
    .await
    .unwrap();

    let reply = app.get("/widgets", &acme.key).await;
    assert_eq!(reply.status, StatusCode::OK);
    let widgets = reply.body["data"].as_array().expect("data array");
    assert_eq!(widgets.len(), 2);
    assert_eq!(widgets[0]["id"], acme.widget.id.to_string());
    let w = &widgets[1];
    assert_eq!(w["id"], second.id.to_string());
    assert_eq!(w["name"], "Help center");
    assert_eq!(w["isActive"], false);
    assert_eq!(w["aiEnabled"], true);
    assert_eq!(w["translationEnabled"], true);
    assert_eq!(w["primaryColor"], "#ff0000");
    assert_eq!(w["position"], "bottom-left");
    let mut keys: Vec<_> = w.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "aiEnabled",
            "id",
            "isActive",
            "name",
            "position",
            "primaryColor",
            "translationEnabled"
        ]
    );
}

async fn widgets_of_other_tenants_are_invisible(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let globex = app.account("Globex").await;
    let reply = app.get("/widgets", &globex.key).await;
    let ids: Vec<_> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert_eq!(ids, vec![serde_json::json!(globex.widget.id.to_string())]);
    assert!(!reply.body.to_string().contains(&acme.widget.id.to_string()));
}
