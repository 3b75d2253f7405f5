//! The dashboard's admin screens: changing widgets, changing and removing
//! operators (the last owner stays).

use super::SharedStore;
use crate::fixtures::*;
use chrono::{Duration, Utc};
use enuchat_domain::*;
use std::sync::Arc;

async fn operator_with_role(
    store: &dyn Store,
    tenant: TenantId,
    email: &str,
    role: OperatorRole,
) -> Operator {
    store
        .create_operator(
            tenant,
            NewOperator {
                role,
                ..new_operator(email)
            },
        )
        .await
        .expect("create operator")
}

fn session_for(operator: OperatorId, byte: u8) -> NewSession {
    let now = Utc::now();
    NewSession {
        id_hash: [byte; 32],
        operator_id: operator,
        csrf_token: format!("csrf-{byte}"),
        created_at: now,
        expires_at: now + Duration::days(7),
    }
}

pub async fn update_widget_changes_only_what_is_set(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, theirs) = tenant_with_widget(store, "Other").await;

    // Nothing set: the widget as it is.
    let same = store
        .update_widget(t.id, w.id, WidgetUpdate::default())
        .await
        .unwrap();
    assert_eq!(same.as_ref(), Some(&w));

    let changed = store
        .update_widget(
            t.id,
            w.id,
            WidgetUpdate {
                name: Some(name("Shop chat")),
                is_active: Some(false),
                primary_color: Some(HexColor::parse("#ABCDEF").unwrap()),
                allowed_origins: Some(vec![
                    origin("https://shop.example.com"),
                    origin("http://localhost:3000"),
                ]),
                ..WidgetUpdate::default()
            },
        )
        .await
        .unwrap()
        .expect("the tenant's widget");
    assert_eq!(changed.id, w.id);
    assert_eq!(changed.name, "Shop chat");
    assert!(!changed.is_active);
    assert_eq!(changed.primary_color, "#abcdef");
    assert_eq!(
        changed.allowed_origins,
        vec!["https://shop.example.com", "http://localhost:3000"]
    );
    // Untouched fields keep their values.
    assert_eq!(changed.ai_enabled, w.ai_enabled);
    assert_eq!(changed.translation_enabled, w.translation_enabled);
    assert_eq!(changed.position, w.position);
    assert_eq!(changed.greeting, w.greeting);
    assert_eq!(micros(changed.created_at), micros(w.created_at));
    assert_eq!(
        store.get_widget(t.id, w.id).await.unwrap().as_ref(),
        Some(&changed)
    );

    // The rest of the fields, and clearing the greeting and the origins.
    let changed = store
        .update_widget(
            t.id,
            w.id,
            WidgetUpdate {
                ai_enabled: Some(true),
                translation_enabled: Some(false),
                position: Some(WidgetPosition::BottomRight),
                greeting: Some(None),
                allowed_origins: Some(Vec::new()),
                ..WidgetUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(changed.ai_enabled && !changed.translation_enabled);
    assert_eq!(changed.position, WidgetPosition::BottomRight);
    assert_eq!(changed.greeting, None);
    assert!(changed.allowed_origins.is_empty());
    assert_eq!(changed.name, "Shop chat");
    let changed = store
        .update_widget(
            t.id,
            w.id,
            WidgetUpdate {
                greeting: Some(Some("Hi there".into())),
                ..WidgetUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.greeting.as_deref(), Some("Hi there"));

    // Another tenant's widget, or none at all: `None`, nothing changes.
    let rename = || WidgetUpdate {
        name: Some(name("Hijacked")),
        ..WidgetUpdate::default()
    };
    assert_eq!(
        store
            .update_widget(t.id, theirs.id, rename())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_widget(t.id, WidgetId::new(), rename())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_widget(other.id, theirs.id).await.unwrap(),
        Some(theirs)
    );
}

pub async fn update_operator_keeps_an_owner(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;
    let owner = operator_with_role(store, t.id, "owner@example.com", OperatorRole::Owner).await;
    let ada = operator(store, t.id, "ada@example.com").await;
    let eve = operator_with_role(store, other.id, "eve@example.com", OperatorRole::Owner).await;

    let renamed = store
        .update_operator(
            t.id,
            ada.id,
            OperatorUpdate {
                name: Some(name("Ada Lovelace")),
                role: Some(OperatorRole::Admin),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Ada Lovelace");
    assert_eq!(renamed.role, OperatorRole::Admin);
    assert_eq!(renamed.email, ada.email);
    assert_eq!(renamed.password_hash, ada.password_hash);
    assert_eq!(
        store.get_operator(t.id, ada.id).await.unwrap().as_ref(),
        Some(&renamed)
    );

    // The only owner cannot be demoted...
    let err = store
        .update_operator(
            t.id,
            owner.id,
            OperatorUpdate {
                role: Some(OperatorRole::Admin),
                ..OperatorUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == LAST_OWNER_CONFLICT),
        "got {err:?}"
    );
    assert_eq!(
        store
            .get_operator(t.id, owner.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        OperatorRole::Owner
    );
    // ...but may be renamed, or "promoted" to what they are.
    let owner = store
        .update_operator(
            t.id,
            owner.id,
            OperatorUpdate {
                name: Some(name("Boss")),
                role: Some(OperatorRole::Owner),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.name, "Boss");

    // With a second owner, either may step down, but not both.
    store
        .update_operator(
            t.id,
            ada.id,
            OperatorUpdate {
                role: Some(OperatorRole::Owner),
                ..OperatorUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let demote = || OperatorUpdate {
        role: Some(OperatorRole::Operator),
        ..OperatorUpdate::default()
    };
    let demoted = store
        .update_operator(t.id, owner.id, demote())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demoted.role, OperatorRole::Operator);
    assert!(matches!(
        store.update_operator(t.id, ada.id, demote()).await,
        Err(StoreError::Conflict(_))
    ));

    // Other tenants' operators are out of reach.
    assert_eq!(
        store.update_operator(t.id, eve.id, demote()).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .update_operator(t.id, OperatorId::new(), demote())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_operator(other.id, eve.id).await.unwrap(),
        Some(eve)
    );
}

/// Two owners each demoting the other at the same moment: one wins, the
/// account keeps exactly one owner.
pub async fn concurrent_demotions_leave_one_owner(store: SharedStore) {
    let t = tenant(&*store, "Acme").await;
    for round in 0..5 {
        let a = operator_with_role(
            &*store,
            t.id,
            &format!("a{round}@example.com"),
            OperatorRole::Owner,
        )
        .await;
        let b = operator_with_role(
            &*store,
            t.id,
            &format!("b{round}@example.com"),
            OperatorRole::Owner,
        )
        .await;
        // Only a and b are owners of the tenant this round.
        for previous in store.list_operators(t.id).await.unwrap() {
            if previous.id != a.id && previous.id != b.id && previous.role == OperatorRole::Owner {
                store.delete_operator(t.id, previous.id).await.unwrap();
            }
        }
        let demote = |id: OperatorId| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .update_operator(
                        t.id,
                        id,
                        OperatorUpdate {
                            role: Some(OperatorRole::Admin),
                            ..OperatorUpdate::default()
                        },
                    )
                    .await
            })
        };
        let (ra, rb) = tokio::join!(demote(a.id), demote(b.id));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra.is_ok() != rb.is_ok(),
            "exactly one demotion succeeds: {ra:?} / {rb:?}"
        );
        let owners = store
            .list_operators(t.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.role == OperatorRole::Owner)
            .count();
        assert_eq!(owners, 1, "round {round}");
    }
}

pub async fn delete_operator_ends_sessions_and_unassigns(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, theirs_w) = tenant_with_widget(store, "Other").await;
    let owner = operator_with_role(store, t.id, "owner@example.com", OperatorRole::Owner).await;
    let ada = operator(store, t.id, "ada@example.com").await;
    let eve = operator(store, other.id, "eve@example.com").await;
    let idle = 12 * 3600;

    let mine = conversation(store, t.id, w.id).await;
    let kept = conversation(store, t.id, w.id).await;
    append(store, t.id, mine.id, "hello").await;
    let assign = |to: OperatorId| ConversationPatch {
        status: None,
        assigned_to: Some(Some(to)),
    };
    store
        .update_conversation(t.id, mine.id, assign(ada.id))
        .await
        .unwrap()
        .unwrap();
    store
        .update_conversation(t.id, kept.id, assign(owner.id))
        .await
        .unwrap()
        .unwrap();
    assert!(store.mark_read(t.id, ada.id, mine.id, 1).await.unwrap());
    store
        .create_session(t.id, session_for(ada.id, 1))
        .await
        .unwrap();
    store
        .create_session(t.id, session_for(ada.id, 2))
        .await
        .unwrap();
    store
        .create_session(t.id, session_for(owner.id, 3))
        .await
        .unwrap();
    let theirs = conversation(store, other.id, theirs_w.id).await;
    store
        .update_conversation(other.id, theirs.id, assign(eve.id))
        .await
        .unwrap()
        .unwrap();
    store
        .create_session(other.id, session_for(eve.id, 4))
        .await
        .unwrap();

    // Another tenant cannot remove ada, nor this tenant eve.
    assert!(!store.delete_operator(other.id, ada.id).await.unwrap());
    assert!(!store.delete_operator(t.id, eve.id).await.unwrap());
    assert!(!store
        .delete_operator(t.id, OperatorId::new())
        .await
        .unwrap());
    assert!(store
        .find_session(&[1; 32], Utc::now(), idle)
        .await
        .unwrap()
        .is_some());

    assert!(store.delete_operator(t.id, ada.id).await.unwrap());
    assert_eq!(store.get_operator(t.id, ada.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_operator_by_email("ada@example.com")
            .await
            .unwrap(),
        None
    );
    for byte in [1, 2] {
        assert_eq!(
            store
                .find_session(&[byte; 32], Utc::now(), idle)
                .await
                .unwrap(),
            None,
            "ada's sessions ended"
        );
    }
    let conv = store
        .get_conversation(t.id, mine.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.assigned_to, None, "ada's conversation is unassigned");
    assert_eq!(conv.last_seq, 1, "its messages stay");
    // Everything else is as it was.
    let kept_now = store
        .get_conversation(t.id, kept.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept_now.assigned_to, Some(owner.id));
    assert!(store
        .find_session(&[3; 32], Utc::now(), idle)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .find_session(&[4; 32], Utc::now(), idle)
        .await
        .unwrap()
        .is_some());
    let theirs_now = store
        .get_conversation(other.id, theirs.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs_now.assigned_to, Some(eve.id));
    assert_eq!(
        store.list_operators(t.id).await.unwrap(),
        vec![owner.clone()]
    );
    // Deleting again: gone.
    assert!(!store.delete_operator(t.id, ada.id).await.unwrap());
    // The email is free again.
    operator(store, t.id, "ada@example.com").await;

    // The last owner stays.
    let err = store.delete_operator(t.id, owner.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == LAST_OWNER_CONFLICT),
        "got {err:?}"
    );
    assert!(store.get_operator(t.id, owner.id).await.unwrap().is_some());
    // With another owner, an owner may go.
    let second = operator_with_role(store, t.id, "second@example.com", OperatorRole::Owner).await;
    assert!(store.delete_operator(t.id, owner.id).await.unwrap());
    assert!(matches!(
        store.delete_operator(t.id, second.id).await,
        Err(StoreError::Conflict(_))
    ));
}
