//! Visitors, and creating and listing conversations.

use super::SharedStore;
use crate::fixtures::*;
use chrono::{DateTime, Utc};
use enuchat_domain::*;

fn all() -> ConversationFilter {
    ConversationFilter::default()
}

/// The documented list order, computed independently of the backend.
fn sorted_newest_first(mut list: Vec<Conversation>) -> Vec<Conversation> {
    list.sort_by_key(|c| std::cmp::Reverse((c.last_message_at, c.id)));
    list
}

pub async fn visitors_create_get_and_widget_ownership(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, other_w) = tenant_with_widget(store, "Other").await;

    let new = new_visitor(w.id);
    let v = store.create_visitor(t.id, new.clone()).await.unwrap();
    assert_eq!(v.id, new.id);
    assert_eq!((v.tenant_id, v.widget_id), (t.id, w.id));
    assert_eq!(v.name.as_deref(), Some("Grace"));
    assert_eq!(v.email.as_deref(), Some("grace@example.com"));
    assert_eq!(v.language.as_deref(), Some("pl"));
    assert_eq!(
        store.get_visitor(t.id, &v.id).await.unwrap(),
        Some(v.clone())
    );
    assert_eq!(store.get_visitor(other.id, &v.id).await.unwrap(), None);

    let foreign = store.create_visitor(t.id, new_visitor(other_w.id)).await;
    assert!(
        matches!(foreign, Err(StoreError::MissingReference("widget"))),
        "got {foreign:?}"
    );
    let unknown = store
        .create_visitor(t.id, new_visitor(WidgetId::new()))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::MissingReference("widget"))),
        "got {unknown:?}"
    );
}

pub async fn conversation_create_get_and_references(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, other_w) = tenant_with_widget(store, "Other").await;
    let v = visitor(store, t.id, w.id).await;
    let other_v = visitor(store, other.id, other_w.id).await;

    let before = micros(Utc::now());
    let c = store
        .create_conversation(
            t.id,
            NewConversation {
                widget_id: w.id,
                visitor_id: v.id.clone(),
                visitor_language: Some(lang("de")),
            },
        )
        .await
        .unwrap();
    let after = micros(Utc::now());
    assert_eq!(
        (c.tenant_id, c.widget_id, &c.visitor_id),
        (t.id, w.id, &v.id)
    );
    assert_eq!(c.visitor_name, v.name, "visitor details are joined in");
    assert_eq!(c.visitor_email, v.email);
    assert_eq!(
        c.visitor_language.as_deref(),
        Some("de"),
        "the conversation's own language"
    );
    assert_eq!(c.status, ConversationStatus::Open);
    assert_eq!((c.assigned_to, c.last_seq), (None, 0));
    assert_eq!(c.last_message_at, c.started_at);
    assert!((before..=after).contains(&micros(c.started_at)));

    assert_eq!(
        store.get_conversation(t.id, c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(store.get_conversation(other.id, c.id).await.unwrap(), None);
    assert_eq!(
        store
            .get_conversation(t.id, ConversationId::new())
            .await
            .unwrap(),
        None
    );

    let attempts = [
        (other_w.id, v.id.clone()),
        (w.id, other_v.id.clone()),
        (WidgetId::new(), v.id.clone()),
        (w.id, VisitorId::generate()),
    ];
    for (widget_id, visitor_id) in attempts {
        let res = store
            .create_conversation(
                t.id,
                NewConversation {
                    widget_id,
                    visitor_id,
                    visitor_language: None,
                },
            )
            .await;
        assert!(
            matches!(res, Err(StoreError::MissingReference(_))),
            "got {res:?}"
        );
    }
    let listed = store
        .list_conversations(t.id, &all(), 100, 0)
        .await
        .unwrap();
    assert_eq!(listed, vec![c], "refused conversations left nothing behind");
}

pub async fn conversations_list_order_and_filters(store: SharedStore) {
    let store = &*store;
    let (t, w1) = tenant_with_widget(store, "Acme").await;
    let w2 = widget(store, t.id).await;
    let (other, _) = tenant_with_widget(store, "Other").await;

    let a = conversation(store, t.id, w1.id).await;
    let b = conversation(store, t.id, w2.id).await;
    let c = conversation(store, t.id, w1.id).await;
    let d = conversation(store, t.id, w2.id).await;
    // A message moves `a` to the top although it was created first.
    append(store, t.id, a.id, "bump").await;
    let closed = ConversationPatch {
        status: Some(ConversationStatus::Closed),
        ..Default::default()
    };
    store
        .update_conversation(t.id, b.id, closed.clone())
        .await
        .unwrap()
        .unwrap();
    store
        .update_conversation(t.id, c.id, closed)
        .await
        .unwrap()
        .unwrap();

    let mut current = Vec::new();
    for id in [a.id, b.id, c.id, d.id] {
        current.push(store.get_conversation(t.id, id).await.unwrap().unwrap());
    }
    let expected = sorted_newest_first(current);
    let listed = store
        .list_conversations(t.id, &all(), 100, 0)
        .await
        .unwrap();
    assert_eq!(listed, expected);
    assert_eq!(
        listed[0].id, a.id,
        "the conversation with the newest message comes first"
    );

    let ids = |list: Vec<Conversation>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let pick = |keep: &dyn Fn(&Conversation) -> bool| {
        ids(expected.iter().filter(|c| keep(c)).cloned().collect())
    };
    let cases: [(ConversationFilter, Vec<ConversationId>); 4] = [
        (
            ConversationFilter {
                status: Some(ConversationStatus::Closed),
                widget_id: None,
            },
            pick(&|c| c.status == ConversationStatus::Closed),
        ),
        (
            ConversationFilter {
                status: Some(ConversationStatus::Open),
                widget_id: None,
            },
            pick(&|c| c.status == ConversationStatus::Open),
        ),
        (
            ConversationFilter {
                status: None,
                widget_id: Some(w2.id),
            },
            pick(&|c| c.widget_id == w2.id),
        ),
        (
            ConversationFilter {
                status: Some(ConversationStatus::Open),
                widget_id: Some(w1.id),
            },
            pick(&|c| c.widget_id == w1.id && c.status == ConversationStatus::Open),
        ),
    ];
    for (filter, want) in cases {
        assert!(!want.is_empty());
        let got = ids(store
            .list_conversations(t.id, &filter, 100, 0)
            .await
            .unwrap()
            .into_value());
        assert_eq!(got, want, "filter {filter:?}");
    }
    let pending = ConversationFilter {
        status: Some(ConversationStatus::Pending),
        widget_id: None,
    };
    assert!(store
        .list_conversations(t.id, &pending, 100, 0)
        .await
        .unwrap()
        .is_empty());

    assert!(store
        .list_conversations(other.id, &all(), 100, 0)
        .await
        .unwrap()
        .is_empty());
    let foreign_widget = ConversationFilter {
        status: None,
        widget_id: Some(w1.id),
    };
    let leaked = store
        .list_conversations(other.id, &foreign_widget, 100, 0)
        .await
        .unwrap();
    assert!(
        leaked.is_empty(),
        "another tenant's widget filter finds nothing"
    );
}

pub async fn conversation_paging_is_stable_with_ties(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    // Only a bulk import can give many conversations the very same
    // last_message_at; the id then decides the order. A visitor has at most
    // one conversation, so each gets its own.
    let at: DateTime<Utc> = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
    let batch = tied_import(t.id, w.id, 11, at);
    let conversations = batch.conversations.clone();
    store.import_demo_batch(t.id, batch).await.unwrap();
    let newest = conversation(store, t.id, w.id).await;

    let mut expected = sorted_newest_first(conversations);
    expected.insert(0, newest);
    let full = store
        .list_conversations(t.id, &all(), 100, 0)
        .await
        .unwrap();
    assert_eq!(full, expected);

    let mut paged = Vec::new();
    for page in 0..5u64 {
        let got = store
            .list_conversations(t.id, &all(), 3, page * 3)
            .await
            .unwrap();
        assert!(got.len() <= 3);
        paged.extend(got.into_value());
    }
    assert_eq!(paged, expected, "pages neither skip nor repeat rows");
    let past_end = store.list_conversations(t.id, &all(), 3, 12).await.unwrap();
    assert!(past_end.is_empty());
    assert!(store
        .list_conversations(t.id, &all(), 0, 0)
        .await
        .unwrap()
        .is_empty());
}

/// Every field of a listed conversation is the stored one, on every page
/// and under every filter, with each optional field set on some rows and
/// unset on others. (A backend may read lists from other places than the
/// rows themselves: indexes that carry the columns, remembered pages.)
pub async fn listed_rows_are_the_stored_rows(store: SharedStore) {
    let store = &*store;
    let (t, w1) = tenant_with_widget(store, "Acme").await;
    let w2 = widget(store, t.id).await;
    let op = operator(store, t.id, "agent@acme.test").await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let widget = if n % 2 == 0 { w1.id } else { w2.id };
        ids.push(conversation(store, t.id, widget).await.id);
    }
    assign(store, t.id, ids[1], Some(op.id)).await;
    assign(store, t.id, ids[4], Some(op.id)).await;
    hand_off(store, t.id, ids[2], true).await;
    hand_off(store, t.id, ids[5], false).await;
    set_status(store, t.id, ids[3], ConversationStatus::Closed).await;
    let c = store.get_conversation(t.id, ids[6]).await.unwrap().unwrap();
    rename_visitor(store, t.id, &c.visitor_id, "Zofia").await;
    append(store, t.id, ids[0], "latest").await;

    let mut stored = Vec::new();
    for id in &ids {
        stored.push(store.get_conversation(t.id, *id).await.unwrap().unwrap());
    }
    let stored = sorted_newest_first(stored);
    assert!(stored.iter().any(|c| c.assigned_to.is_some()));
    assert!(stored.iter().any(|c| c.handed_off_at.is_some()));
    assert!(stored
        .iter()
        .any(|c| c.visitor_name.as_deref() == Some("Zofia")));

    let filters = [
        all(),
        ConversationFilter {
            status: Some(ConversationStatus::Pending),
            widget_id: None,
        },
        ConversationFilter {
            status: None,
            widget_id: Some(w2.id),
        },
        ConversationFilter {
            status: Some(ConversationStatus::Open),
            widget_id: Some(w1.id),
        },
    ];
    for filter in filters {
        let expected: Vec<Conversation> = stored
            .iter()
            .filter(|c| filter.status.is_none_or(|s| c.status == s))
            .filter(|c| filter.widget_id.is_none_or(|w| c.widget_id == w))
            .cloned()
            .collect();
        assert!(!expected.is_empty(), "{filter:?}");
        for offset in 0..expected.len() {
            // Twice: the second read may be answered from memory.
            for _ in 0..2 {
                let page = store
                    .list_conversations(t.id, &filter, 2, offset as u64)
                    .await
                    .unwrap();
                let want: Vec<_> = expected.iter().skip(offset).take(2).cloned().collect();
                assert_eq!(*page, want, "{filter:?} at offset {offset}");
            }
        }
    }
}
