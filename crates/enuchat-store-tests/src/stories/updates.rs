//! Changing a conversation's status and assignee.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;

fn status(s: ConversationStatus) -> ConversationPatch {
    ConversationPatch {
        status: Some(s),
        assigned_to: None,
    }
}

fn assign(to: Option<OperatorId>) -> ConversationPatch {
    ConversationPatch {
        status: None,
        assigned_to: Some(to),
    }
}

pub async fn update_conversation_status_and_assignment(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let op = operator(store, t.id, "ada@example.com").await;
    let c = conversation(store, t.id, w.id).await;

    let pending = store
        .update_conversation(t.id, c.id, status(ConversationStatus::Pending))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pending,
        Conversation {
            status: ConversationStatus::Pending,
            ..c.clone()
        },
        "only the status changed"
    );

    let assigned = store
        .update_conversation(t.id, c.id, assign(Some(op.id)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assigned.assigned_to, Some(op.id));
    assert_eq!(
        assigned.status,
        ConversationStatus::Pending,
        "status left alone"
    );

    let closed = store
        .update_conversation(t.id, c.id, status(ConversationStatus::Closed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.assigned_to, Some(op.id), "assignee left alone");
    assert_eq!(closed.status, ConversationStatus::Closed);

    let both = ConversationPatch {
        status: Some(ConversationStatus::Open),
        assigned_to: Some(None),
    };
    let reopened = store
        .update_conversation(t.id, c.id, both)
        .await
        .unwrap()
        .unwrap();
    // Back to the start, except that the assignment handed the
    // conversation to humans for good.
    assert!(assigned.handed_off_at.is_some());
    let c = Conversation {
        handed_off_at: assigned.handed_off_at,
        ..c
    };
    assert_eq!(reopened, c, "reopened and unassigned: back to the start");

    let noop = store
        .update_conversation(t.id, c.id, ConversationPatch::default())
        .await
        .unwrap();
    assert_eq!(noop, Some(c.clone()));
    assert_eq!(store.get_conversation(t.id, c.id).await.unwrap(), Some(c));
}

pub async fn update_conversation_respects_tenants(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let ours = operator(store, t.id, "ada@example.com").await;
    let theirs = operator(store, other.id, "grace@example.com").await;
    let c = conversation(store, t.id, w.id).await;
    let c = store
        .update_conversation(t.id, c.id, assign(Some(ours.id)))
        .await
        .unwrap()
        .unwrap();

    for foreign in [theirs.id, OperatorId::new()] {
        let patch = ConversationPatch {
            status: Some(ConversationStatus::Closed),
            assigned_to: Some(Some(foreign)),
        };
        let res = store.update_conversation(t.id, c.id, patch).await;
        assert!(
            matches!(res, Err(StoreError::MissingReference("operator"))),
            "got {res:?}"
        );
        let now = store.get_conversation(t.id, c.id).await.unwrap();
        assert_eq!(
            now,
            Some(c.clone()),
            "a refused patch changes nothing, status included"
        );
    }

    for patch in [
        status(ConversationStatus::Closed),
        assign(None),
        assign(Some(theirs.id)),
    ] {
        let res = store.update_conversation(other.id, c.id, patch).await;
        assert!(
            matches!(res, Ok(None)),
            "another tenant's conversation: got {res:?}"
        );
    }
    assert_eq!(store.get_conversation(t.id, c.id).await.unwrap(), Some(c));
    let missing = store
        .update_conversation(t.id, ConversationId::new(), assign(None))
        .await;
    assert!(matches!(missing, Ok(None)), "got {missing:?}");
}
