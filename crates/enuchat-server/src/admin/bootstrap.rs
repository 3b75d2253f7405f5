//! First start: an empty database gets a tenant, an owner login, a widget and
//! an API key, so `enuchat serve` is usable at once.

use super::{
    create_api_key, create_operator, create_tenant, create_widget, random_password, WidgetOptions,
};
use enuchat_domain::{OperatorRole, Store, Tenant, Widget};

pub const OWNER_EMAIL: &str = "owner@example.com";

/// What was created, including the two secrets, which are printed once.
pub struct FirstStart {
    pub tenant: Tenant,
    pub widget: Widget,
    pub owner_email: String,
    pub owner_password: String,
    pub api_key: String,
}

/// Creates the first account if the database has no tenant; `None` otherwise.
pub async fn first_start(store: &dyn Store) -> anyhow::Result<Option<FirstStart>> {
    // Accounts made with the CLI count as set up. Otherwise exactly one of
    // several instances starting together wins the claim and creates the
    // account (if it dies before finishing, use the CLI).
    if store.has_tenants().await? || !store.claim_first_start().await? {
        return Ok(None);
    }
    let tenant = create_tenant(store, "My Company", "free", "en").await?;
    let owner_password = random_password();
    create_operator(
        store,
        tenant.id,
        OWNER_EMAIL,
        "Owner",
        &owner_password,
        OperatorRole::Owner,
    )
    .await?;
    let widget = create_widget(
        store,
        tenant.id,
        WidgetOptions {
            greeting: Some("Hi! How can we help you today?".into()),
            ..WidgetOptions::default()
        },
    )
    .await?;
    let key = create_api_key(store, tenant.id, "Default key", None).await?;
    Ok(Some(FirstStart {
        tenant,
        widget,
        owner_email: OWNER_EMAIL.into(),
        owner_password,
        api_key: key.secret,
    }))
}
