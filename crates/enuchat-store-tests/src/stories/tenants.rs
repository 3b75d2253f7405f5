//! Tenants and operators.

use super::SharedStore;
use crate::fixtures::*;
use chrono::Utc;
use enuchat_domain::*;

pub async fn tenant_create_get_and_has_tenants(store: SharedStore) {
    let store = &*store;
    assert!(
        !store.has_tenants().await.unwrap(),
        "a fresh database has no tenants"
    );

    let before = micros(Utc::now());
    let created = store
        .create_tenant(NewTenant {
            name: name("Acme"),
            plan: PlanName::parse("pro").unwrap(),
            operator_language: lang("pt-BR"),
        })
        .await
        .unwrap();
    let after = micros(Utc::now());
    assert_eq!(created.name, "Acme");
    assert_eq!(created.plan, "pro");
    assert_eq!(created.operator_language, "pt-BR");
    assert_eq!(created.credit_balance, 0);
    assert_eq!(created.total_credits_added, 0);
    let at = micros(created.created_at);
    assert!(
        (before..=after).contains(&at),
        "created_at {at} not in [{before}, {after}]"
    );

    assert!(store.has_tenants().await.unwrap());
    assert_eq!(
        store.get_tenant(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.get_tenant(TenantId::new()).await.unwrap(), None);

    let other = tenant(store, "Other").await;
    assert_ne!(other.id, created.id);
    assert_eq!(store.get_tenant(created.id).await.unwrap(), Some(created));
}

pub async fn operator_create_get_and_isolation(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;

    let op = store
        .create_operator(
            t.id,
            NewOperator {
                role: OperatorRole::Admin,
                ..new_operator("Ada@Example.com")
            },
        )
        .await
        .unwrap();
    assert_eq!(op.tenant_id, t.id);
    assert_eq!(op.email, "ada@example.com");
    assert_eq!(op.name, "Ada");
    assert_eq!(op.role, OperatorRole::Admin);
    assert_eq!(
        op.password_hash,
        new_operator("x@example.com").password_hash
    );

    assert_eq!(
        store.get_operator(t.id, op.id).await.unwrap(),
        Some(op.clone())
    );
    assert_eq!(store.get_operator(other.id, op.id).await.unwrap(), None);
    assert_eq!(
        store.get_operator(t.id, OperatorId::new()).await.unwrap(),
        None
    );
}

pub async fn operator_email_is_unique_across_tenants(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;
    let first = operator(store, t.id, "ada@example.com").await;

    let same_tenant = store
        .create_operator(t.id, new_operator("ada@example.com"))
        .await;
    assert!(
        matches!(same_tenant, Err(StoreError::Conflict(_))),
        "got {same_tenant:?}"
    );
    // Emails are lowercased on the way in, so case does not dodge the rule.
    let other_tenant = store
        .create_operator(other.id, new_operator("ADA@example.com"))
        .await;
    assert!(
        matches!(other_tenant, Err(StoreError::Conflict(_))),
        "got {other_tenant:?}"
    );

    // The failed inserts left nothing behind and did not disturb the first.
    assert_eq!(
        store.get_operator(t.id, first.id).await.unwrap(),
        Some(first)
    );
    operator(store, other.id, "grace@example.com").await;
}

pub async fn first_start_is_claimed_once(store: SharedStore) {
    // Many instances starting at once: exactly one wins.
    let claims = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_first_start().await.unwrap() })
    });
    let mut won = 0;
    for claim in claims {
        if claim.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one claim succeeds");
    assert!(!store.claim_first_start().await.unwrap(), "and never again");
}

/// `close` ends the store: later calls fail at once instead of hanging or
/// reopening connections. (That SQLite's file then holds everything is
/// checked in its own crate, on a file.)
pub async fn a_closed_store_refuses_calls(store: SharedStore) {
    let new_tenant = || NewTenant {
        name: name("Closing Time"),
        plan: PlanName::parse("free").unwrap(),
        operator_language: lang("en"),
    };
    let tenant = store.create_tenant(new_tenant()).await.unwrap();
    store.close().await;
    assert!(store.ping().await.is_err());
    assert!(store.get_tenant(tenant.id).await.is_err());
    assert!(store.create_tenant(new_tenant()).await.is_err());
}
