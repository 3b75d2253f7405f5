//! The operator dashboard: sign-in look-ups, sessions, read markers, inbox.

use super::SharedStore;
use crate::fixtures::*;
use chrono::{Duration, Utc};
use enuchat_domain::*;

fn new_session(operator: OperatorId, byte: u8) -> NewSession {
    let now = Utc::now();
    NewSession {
        id_hash: [byte; 32],
        operator_id: operator,
        csrf_token: format!("csrf-{byte}"),
        created_at: now,
        expires_at: now + Duration::days(7),
    }
}

pub async fn operators_by_email_and_per_tenant(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;
    let ada = operator(store, t.id, "ada@example.com").await;
    let bob = operator(store, t.id, "bob@example.com").await;
    let eve = operator(store, other.id, "eve@example.com").await;

    let found = store
        .find_operator_by_email("ada@example.com")
        .await
        .unwrap();
    assert_eq!(found, Some(ada.clone()));
    assert_eq!(
        store
            .find_operator_by_email("eve@example.com")
            .await
            .unwrap(),
        Some(eve.clone()),
        "emails are global: the look-up is not scoped"
    );
    assert_eq!(
        store
            .find_operator_by_email("nobody@example.com")
            .await
            .unwrap(),
        None
    );

    assert_eq!(store.list_operators(t.id).await.unwrap(), vec![ada, bob]);
    assert_eq!(store.list_operators(other.id).await.unwrap(), vec![eve]);
    assert!(store
        .list_operators(TenantId::new())
        .await
        .unwrap()
        .is_empty());
}

pub async fn sessions_expire_touch_and_end(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;
    let other = tenant(store, "Other").await;
    let ada = operator(store, t.id, "ada@example.com").await;
    let eve = operator(store, other.id, "eve@example.com").await;
    let idle = 12 * 3600;

    let new = new_session(ada.id, 1);
    let created = store.create_session(t.id, new.clone()).await.unwrap();
    assert_eq!(created.id_hash, [1; 32]);
    assert_eq!(created.tenant_id, t.id);
    assert_eq!(created.operator, ada);
    assert_eq!(created.csrf_token, "csrf-1");
    assert_eq!(micros(created.created_at), micros(new.created_at));
    assert_eq!(micros(created.last_seen_at), micros(new.created_at));
    assert_eq!(micros(created.expires_at), micros(new.expires_at));

    // Another tenant's operator cannot get a session under this tenant.
    let err = store
        .create_session(t.id, new_session(eve.id, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingReference("operator")),
        "{err:?}"
    );

    let now = Utc::now();
    let found = store.find_session(&[1; 32], now, idle).await.unwrap();
    assert_eq!(found, Some(created.clone()));
    assert_eq!(store.find_session(&[9; 32], now, idle).await.unwrap(), None);
    // Idle too long, or past the absolute end: not valid.
    let later = now + Duration::seconds(idle + 1);
    assert_eq!(
        store.find_session(&[1; 32], later, idle).await.unwrap(),
        None
    );
    let past_end = now + Duration::days(8);
    assert_eq!(
        store
            .find_session(&[1; 32], past_end, 30 * 24 * 3600)
            .await
            .unwrap(),
        None
    );

    // Touching within the granularity writes nothing; later it moves.
    store
        .touch_session(t.id, &[1; 32], now + Duration::seconds(30), 60)
        .await
        .unwrap();
    let seen = store
        .find_session(&[1; 32], now, idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(micros(seen.last_seen_at), micros(created.last_seen_at));
    let moved = now + Duration::hours(11);
    store
        .touch_session(t.id, &[1; 32], moved, 60)
        .await
        .unwrap();
    // Another tenant's touch changes nothing.
    store
        .touch_session(other.id, &[1; 32], moved + Duration::hours(11), 60)
        .await
        .unwrap();
    let seen = store
        .find_session(&[1; 32], moved, idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(micros(seen.last_seen_at), micros(moved));
    // Still valid 12 hours after the first use thanks to the touch.
    assert!(store
        .find_session(&[1; 32], now + Duration::hours(13), idle)
        .await
        .unwrap()
        .is_some());

    // Ending: only by its own tenant.
    assert!(!store.delete_session(other.id, &[1; 32]).await.unwrap());
    assert!(store.delete_session(t.id, &[1; 32]).await.unwrap());
    assert!(!store.delete_session(t.id, &[1; 32]).await.unwrap());
    assert_eq!(store.find_session(&[1; 32], now, idle).await.unwrap(), None);

    // Pruning removes only sessions that are no longer valid.
    store
        .create_session(t.id, new_session(ada.id, 3))
        .await
        .unwrap();
    let mut old = new_session(ada.id, 4);
    old.created_at = now - Duration::days(2);
    store.create_session(t.id, old).await.unwrap();
    assert_eq!(store.prune_sessions(now, idle).await.unwrap(), 1);
    assert!(store
        .find_session(&[3; 32], now, idle)
        .await
        .unwrap()
        .is_some());
}

pub async fn inbox_previews_unread_and_filters(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let w2 = widget(store, t.id).await;
    let (other, ow) = tenant_with_widget(store, "Other").await;
    let ada = operator(store, t.id, "ada@example.com").await;
    let bob = operator(store, t.id, "bob@example.com").await;

    let empty = conversation(store, t.id, w.id).await;
    let a = conversation(store, t.id, w.id).await;
    append(store, t.id, a.id, "hello from a").await;
    let b = conversation(store, t.id, w2.id).await;
    append(store, t.id, b.id, &"x".repeat(PREVIEW_CHARS + 50)).await;
    let reply = store
        .append_message(t.id, b.id, {
            let mut m = NewMessage::new(MessageRole::Operator, text("we are on it"));
            m.author_id = Some(ada.id);
            m
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.author_id, Some(ada.id));
    let foreign = conversation(store, other.id, ow.id).await;
    append(store, other.id, foreign.id, "not yours").await;

    store
        .update_conversation(
            t.id,
            b.id,
            ConversationPatch {
                status: Some(ConversationStatus::Pending),
                assigned_to: Some(Some(ada.id)),
            },
        )
        .await
        .unwrap();

    let list = |operator: OperatorId, filter: InboxFilter| async move {
        store
            .list_inbox(t.id, operator, &filter, 50, 0)
            .await
            .unwrap()
    };
    let all = list(ada.id, InboxFilter::default()).await;
    let ids: Vec<_> = all.iter().map(|i| i.conversation.id).collect();
    assert_eq!(ids, vec![b.id, a.id, empty.id], "newest activity first");
    assert_eq!(all[0].conversation.assigned_to, Some(ada.id));
    let last_b = all[0].last_message.as_ref().unwrap();
    assert_eq!(last_b.role, MessageRole::Operator);
    assert_eq!(last_b.content, "we are on it");
    assert_eq!(micros(last_b.created_at), micros(reply.created_at));
    assert_eq!(
        all[1].last_message.as_ref().unwrap().content,
        "hello from a"
    );
    assert_eq!(all[2].last_message, None);
    assert_eq!(
        all.iter().map(|i| i.unread).collect::<Vec<_>>(),
        vec![true, true, false]
    );

    // A long newest message is previewed, not sent whole.
    append(store, t.id, a.id, &"y".repeat(PREVIEW_CHARS + 50)).await;
    let all = list(ada.id, InboxFilter::default()).await;
    assert_eq!(all[0].conversation.id, a.id);
    assert_eq!(
        all[0]
            .last_message
            .as_ref()
            .unwrap()
            .content
            .chars()
            .count(),
        PREVIEW_CHARS
    );

    // Read markers are per operator and never move back or past the end.
    assert!(store.mark_read(t.id, ada.id, a.id, 99).await.unwrap());
    assert!(store.mark_read(t.id, ada.id, a.id, 1).await.unwrap());
    let unread = |items: &[InboxItem], id: ConversationId| {
        items
            .iter()
            .find(|i| i.conversation.id == id)
            .unwrap()
            .unread
    };
    let for_ada = list(ada.id, InboxFilter::default()).await;
    assert!(!unread(&for_ada, a.id));
    assert!(unread(&for_ada, b.id));
    assert!(unread(&list(bob.id, InboxFilter::default()).await, a.id));
    // A new visitor message after the marker (which stopped at seq 2) is unread.
    append(store, t.id, a.id, "anyone there?").await;
    assert!(unread(&list(ada.id, InboxFilter::default()).await, a.id));
    // Only visitor messages count: read b up to the visitor's message.
    assert!(store.mark_read(t.id, ada.id, b.id, 1).await.unwrap());
    assert!(!unread(&list(ada.id, InboxFilter::default()).await, b.id));
    // Other tenants' conversations and operators are refused.
    assert!(!store.mark_read(t.id, ada.id, foreign.id, 1).await.unwrap());
    assert!(!store
        .mark_read(other.id, ada.id, foreign.id, 1)
        .await
        .unwrap());

    // Filters: assignee, status, widget and their combinations.
    let ids = |items: Vec<InboxItem>| {
        items
            .into_iter()
            .map(|i| i.conversation.id)
            .collect::<Vec<_>>()
    };
    let mine = InboxFilter {
        assignee: AssigneeFilter::Operator(ada.id),
        ..Default::default()
    };
    assert_eq!(ids(list(ada.id, mine.clone()).await), vec![b.id]);
    let bobs = InboxFilter {
        assignee: AssigneeFilter::Operator(bob.id),
        ..Default::default()
    };
    assert!(list(bob.id, bobs).await.is_empty());
    let unassigned = InboxFilter {
        assignee: AssigneeFilter::Unassigned,
        ..Default::default()
    };
    assert_eq!(
        ids(list(ada.id, unassigned.clone()).await),
        vec![a.id, empty.id]
    );
    let open_unassigned = InboxFilter {
        status: Some(ConversationStatus::Open),
        ..unassigned.clone()
    };
    assert_eq!(
        ids(list(ada.id, open_unassigned).await),
        vec![a.id, empty.id]
    );
    let pending_mine = InboxFilter {
        status: Some(ConversationStatus::Pending),
        ..mine.clone()
    };
    assert_eq!(ids(list(ada.id, pending_mine).await), vec![b.id]);
    let widget_two = InboxFilter {
        widget_id: Some(w2.id),
        ..Default::default()
    };
    assert_eq!(ids(list(ada.id, widget_two).await), vec![b.id]);
    let everything = InboxFilter {
        status: Some(ConversationStatus::Pending),
        widget_id: Some(w2.id),
        assignee: AssigneeFilter::Operator(ada.id),
    };
    assert_eq!(ids(list(ada.id, everything).await), vec![b.id]);
    let widget_unassigned = InboxFilter {
        widget_id: Some(w.id),
        ..unassigned
    };
    assert_eq!(
        ids(list(ada.id, widget_unassigned).await),
        vec![a.id, empty.id]
    );
    // Paging.
    let page = store
        .list_inbox(t.id, ada.id, &InboxFilter::default(), 2, 1)
        .await
        .unwrap();
    assert_eq!(ids(page), vec![b.id, empty.id]);
    // Another tenant sees only its own.
    let theirs = store
        .list_inbox(other.id, ada.id, &InboxFilter::default(), 50, 0)
        .await
        .unwrap();
    assert_eq!(ids(theirs), vec![foreign.id]);
}

pub async fn messages_before_pages_backwards(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let c = conversation(store, t.id, w.id).await;
    for i in 1..=7 {
        append(store, t.id, c.id, &format!("m{i}")).await;
    }
    let seqs = |m: Vec<Message>| m.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.messages_before(t.id, c.id, 6, 3).await.unwrap()),
        vec![3, 4, 5]
    );
    assert_eq!(
        seqs(store.messages_before(t.id, c.id, 3, 10).await.unwrap()),
        vec![1, 2]
    );
    assert!(store
        .messages_before(t.id, c.id, 1, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        seqs(
            store
                .messages_before(t.id, c.id, i64::MAX, 2)
                .await
                .unwrap()
        ),
        vec![6, 7]
    );
    assert!(store
        .messages_before(other.id, c.id, 6, 3)
        .await
        .unwrap()
        .is_empty());
}
