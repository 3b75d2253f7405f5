//! What the visitor API (the chat widget) needs: widgets found by id alone,
//! visitors found by token, one conversation per visitor, catching up on
//! messages, and a visitor writing back into a closed conversation.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;
use std::sync::Arc;
use tokio::sync::Barrier;

pub async fn find_widget_by_id_alone(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, other_w) = tenant_with_widget(store, "Other").await;

    // The id alone finds any tenant's widget; the tenant comes with it.
    let found = store.find_widget(w.id).await.unwrap();
    assert_eq!(found.as_ref(), Some(&w));
    assert_eq!(found.map(|w| w.tenant_id), Some(t.id));
    let found = store.find_widget(other_w.id).await.unwrap();
    assert_eq!(found.as_ref(), Some(&other_w));
    assert_eq!(found.map(|w| w.tenant_id), Some(other.id));

    assert_eq!(store.find_widget(WidgetId::new()).await.unwrap(), None);
}

pub async fn widget_allowed_origins_round_trip(store: SharedStore) {
    let store = &*store;
    let t = tenant(store, "Acme").await;

    let listed = vec![
        origin("https://shop.example.com"),
        origin("HTTP://Localhost:8080/"),
        origin("https://[::1]:8443"),
    ];
    let w = store
        .create_widget(
            t.id,
            NewWidget {
                allowed_origins: listed,
                ..new_widget("Shop")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.allowed_origins,
        vec![
            "https://shop.example.com",
            "http://localhost:8080",
            "https://[::1]:8443"
        ],
        "stored normalised, in the order given"
    );
    let open = store.create_widget(t.id, new_widget("Open")).await.unwrap();
    assert!(open.allowed_origins.is_empty(), "empty means any origin");

    for created in [&w, &open] {
        assert_eq!(
            store.get_widget(t.id, created.id).await.unwrap().as_ref(),
            Some(created)
        );
        assert_eq!(
            store.find_widget(created.id).await.unwrap().as_ref(),
            Some(created)
        );
    }
    assert_eq!(store.list_widgets(t.id).await.unwrap(), vec![w, open]);
}

pub async fn visitor_token_lookup_and_uniqueness(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, other_w) = tenant_with_widget(store, "Other").await;

    let (v, token) = visitor_with_token(store, t.id, w.id).await;
    let (theirs, their_token) = visitor_with_token(store, other.id, other_w.id).await;
    assert_eq!(
        store.get_visitor(t.id, &v.id).await.unwrap().as_ref(),
        Some(&v)
    );

    // Unscoped: the token alone finds its visitor, whichever the tenant.
    let hash = secret::hash(&token);
    assert_eq!(
        store.find_visitor_by_token(&hash).await.unwrap().as_ref(),
        Some(&v)
    );
    let found = store
        .find_visitor_by_token(&secret::hash(&their_token))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&theirs));
    assert_eq!(found.map(|v| v.tenant_id), Some(other.id));
    let unknown = secret::generate_visitor_token();
    assert_eq!(
        store.find_visitor_by_token(&unknown.hash).await.unwrap(),
        None
    );

    // Visitors without a token are as many as needed, and no token finds them.
    for _ in 0..3 {
        visitor(store, t.id, w.id).await;
    }

    // A token hash belongs to one visitor only, in any tenant.
    for (tenant, widget) in [(t.id, w.id), (other.id, other_w.id)] {
        let copy = NewVisitor {
            token_hash: Some(hash),
            ..new_visitor(widget)
        };
        let res = store.create_visitor(tenant, copy.clone()).await;
        assert!(matches!(res, Err(StoreError::Conflict(_))), "got {res:?}");
        assert_eq!(
            store.get_visitor(tenant, &copy.id).await.unwrap(),
            None,
            "a refused visitor leaves nothing behind"
        );
    }
    assert_eq!(
        store.find_visitor_by_token(&hash).await.unwrap(),
        Some(v),
        "the first visitor keeps the token"
    );
}

pub async fn update_visitor_sets_clears_and_respects_tenants(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let (v, token) = visitor_with_token(store, t.id, w.id).await;
    let c = store
        .get_or_create_visitor_conversation(t.id, for_visitor(&v))
        .await
        .unwrap();

    let renamed = store
        .update_visitor(
            t.id,
            &v.id,
            VisitorPatch {
                name: Some(Some("Ada".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let expected = Visitor {
        name: Some("Ada".into()),
        ..v.clone()
    };
    assert_eq!(renamed.as_ref(), Some(&expected), "only the name changed");

    let patch = VisitorPatch {
        name: None,
        email: Some(None),
        language: Some(Some(lang("pt-BR"))),
    };
    let updated = store.update_visitor(t.id, &v.id, patch).await.unwrap();
    let expected = Visitor {
        email: None,
        language: Some("pt-BR".into()),
        ..expected
    };
    assert_eq!(
        updated.as_ref(),
        Some(&expected),
        "email cleared, language set"
    );

    let noop = store
        .update_visitor(t.id, &v.id, VisitorPatch::default())
        .await
        .unwrap();
    assert_eq!(
        noop.as_ref(),
        Some(&expected),
        "an empty patch changes nothing"
    );

    let cleared = store
        .update_visitor(
            t.id,
            &v.id,
            VisitorPatch {
                name: Some(None),
                email: Some(Some("ada@example.com".into())),
                language: Some(None),
            },
        )
        .await
        .unwrap()
        .unwrap();
    let expected = Visitor {
        name: None,
        email: Some("ada@example.com".into()),
        language: None,
        ..expected
    };
    assert_eq!(cleared, expected);
    assert_eq!(
        store.get_visitor(t.id, &v.id).await.unwrap().as_ref(),
        Some(&expected)
    );
    assert_eq!(
        store
            .find_visitor_by_token(&secret::hash(&token))
            .await
            .unwrap()
            .as_ref(),
        Some(&expected),
        "the token still finds the visitor"
    );
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(
        (now.visitor_name, now.visitor_email.as_deref()),
        (None, Some("ada@example.com")),
        "conversations show the visitor's current details"
    );

    // Another tenant can neither change nor see the visitor.
    let hijack = VisitorPatch {
        name: Some(Some("Mallory".into())),
        email: Some(None),
        language: Some(Some(lang("de"))),
    };
    let res = store
        .update_visitor(other.id, &v.id, hijack.clone())
        .await
        .unwrap();
    assert_eq!(res, None);
    let res = store
        .update_visitor(other.id, &v.id, VisitorPatch::default())
        .await
        .unwrap();
    assert_eq!(res, None, "not even an empty patch reveals the visitor");
    assert_eq!(
        store.get_visitor(t.id, &v.id).await.unwrap(),
        Some(expected),
        "unchanged"
    );
    let res = store
        .update_visitor(t.id, &VisitorId::generate(), hijack)
        .await
        .unwrap();
    assert_eq!(res, None);
}

pub async fn get_or_create_visitor_conversation_is_idempotent(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (v, _) = visitor_with_token(store, t.id, w.id).await;
    let neighbour = visitor(store, t.id, w.id).await;

    assert_eq!(store.visitor_conversation(t.id, &v.id).await.unwrap(), None);
    let first = store
        .get_or_create_visitor_conversation(t.id, for_visitor(&v))
        .await
        .unwrap();
    assert_eq!(
        (first.tenant_id, first.widget_id, &first.visitor_id),
        (t.id, w.id, &v.id)
    );
    assert_eq!(
        (first.visitor_name.as_ref(), first.visitor_email.as_ref()),
        (v.name.as_ref(), v.email.as_ref())
    );
    assert_eq!(first.visitor_language.as_deref(), Some("pl"));
    assert_eq!(first.status, ConversationStatus::Open);
    assert_eq!((first.assigned_to, first.last_seq), (None, 0));
    assert_eq!(first.last_message_at, first.started_at);

    let again = NewConversation {
        visitor_language: Some(lang("de")),
        ..for_visitor(&v)
    };
    let second = store
        .get_or_create_visitor_conversation(t.id, again)
        .await
        .unwrap();
    assert_eq!(second, first, "the same conversation, unchanged");

    // It is returned as it is now, whatever happened to it since.
    let m = append(store, t.id, first.id, "hello").await;
    let closed = ConversationPatch {
        status: Some(ConversationStatus::Closed),
        ..Default::default()
    };
    store
        .update_conversation(t.id, first.id, closed)
        .await
        .unwrap()
        .unwrap();
    let third = store
        .get_or_create_visitor_conversation(t.id, for_visitor(&v))
        .await
        .unwrap();
    assert_eq!(third.id, first.id);
    assert_eq!(
        (third.last_seq, third.status),
        (1, ConversationStatus::Closed)
    );
    assert_eq!(micros(third.last_message_at), micros(m.created_at));
    assert_eq!(
        store.get_conversation(t.id, first.id).await.unwrap(),
        Some(third.clone())
    );

    // Another visitor gets a conversation of their own.
    let theirs = store
        .get_or_create_visitor_conversation(t.id, for_visitor(&neighbour))
        .await
        .unwrap();
    assert_ne!(theirs.id, first.id);
    assert_eq!(theirs.visitor_id, neighbour.id);

    // The rule holds for every way of creating a conversation.
    let res = store.create_conversation(t.id, for_visitor(&v)).await;
    assert!(matches!(res, Err(StoreError::Conflict(_))), "got {res:?}");
    let listed = store
        .list_conversations(t.id, &ConversationFilter::default(), 100, 0)
        .await
        .unwrap();
    let mut ids: Vec<ConversationId> = listed.iter().map(|c| c.id).collect();
    ids.sort();
    let mut want = vec![first.id, theirs.id];
    want.sort();
    assert_eq!(ids, want, "one conversation per visitor");
}

pub async fn get_or_create_visitor_conversation_under_concurrency(store: SharedStore) {
    const CALLERS: usize = 10;
    let (t, w) = tenant_with_widget(&*store, "Acme").await;
    let (v, _) = visitor_with_token(&*store, t.id, w.id).await;

    // The barrier releases every caller at once, so the calls overlap.
    let start = Arc::new(Barrier::new(CALLERS));
    let mut handles = Vec::new();
    for _ in 0..CALLERS {
        let store = store.clone();
        let start = start.clone();
        let new = for_visitor(&v);
        handles.push(tokio::spawn(async move {
            start.wait().await;
            store.get_or_create_visitor_conversation(t.id, new).await
        }));
    }
    let mut got = Vec::new();
    for handle in handles {
        got.push(handle.await.expect("task panicked").expect("get or create"));
    }
    let first = got[0].clone();
    assert!(
        got.iter().all(|c| *c == first),
        "every caller got the same conversation: {got:?}"
    );
    assert_eq!(
        store.visitor_conversation(t.id, &v.id).await.unwrap(),
        Some(first.clone())
    );
    let listed = store
        .list_conversations(t.id, &ConversationFilter::default(), 100, 0)
        .await
        .unwrap();
    assert_eq!(listed, vec![first], "exactly one row was created");
}

pub async fn get_or_create_visitor_conversation_checks_references(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, other_w) = tenant_with_widget(store, "Other").await;
    let (v, _) = visitor_with_token(store, t.id, w.id).await;
    let (other_v, _) = visitor_with_token(store, other.id, other_w.id).await;

    let attempts = |v: &Visitor| {
        vec![
            (t.id, other_w.id, v.id.clone()),
            (t.id, w.id, other_v.id.clone()),
            (t.id, WidgetId::new(), v.id.clone()),
            (t.id, w.id, VisitorId::generate()),
            // Another tenant asking for our visitor, through either widget.
            (other.id, w.id, v.id.clone()),
            (other.id, other_w.id, v.id.clone()),
        ]
    };
    let try_all = |attempts: Vec<(TenantId, WidgetId, VisitorId)>| async move {
        for (tenant, widget_id, visitor_id) in attempts {
            let new = NewConversation {
                widget_id,
                visitor_id: visitor_id.clone(),
                visitor_language: None,
            };
            let res = store.get_or_create_visitor_conversation(tenant, new).await;
            assert!(
                matches!(res, Err(StoreError::MissingReference(_))),
                "tenant {tenant}, widget {widget_id}, visitor {visitor_id}: got {res:?}"
            );
        }
    };

    try_all(attempts(&v)).await;
    for tenant in [t.id, other.id] {
        let left = store
            .list_conversations(tenant, &ConversationFilter::default(), 100, 0)
            .await
            .unwrap();
        assert!(left.is_empty(), "refused calls left nothing behind");
    }

    // Still refused once the visitor has a conversation.
    let c = store
        .get_or_create_visitor_conversation(t.id, for_visitor(&v))
        .await
        .unwrap();
    try_all(attempts(&v)).await;
    let listed = store
        .list_conversations(t.id, &ConversationFilter::default(), 100, 0)
        .await
        .unwrap();
    assert_eq!(listed, vec![c]);
    assert_eq!(
        store.visitor_conversation(other.id, &v.id).await.unwrap(),
        None
    );
}

pub async fn visitor_conversation_finds_the_visitors_one(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let v = visitor(store, t.id, w.id).await;
    let quiet = visitor(store, t.id, w.id).await;
    let neighbour = conversation(store, t.id, w.id).await;

    assert_eq!(store.visitor_conversation(t.id, &v.id).await.unwrap(), None);
    assert_eq!(
        store.visitor_conversation(t.id, &quiet.id).await.unwrap(),
        None,
        "a visitor who never wrote has none"
    );

    // However it was created.
    let c = store
        .create_conversation(t.id, for_visitor(&v))
        .await
        .unwrap();
    assert_eq!(
        store.visitor_conversation(t.id, &v.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store
            .visitor_conversation(t.id, &neighbour.visitor_id)
            .await
            .unwrap(),
        Some(neighbour)
    );

    // It is read as it is now.
    append(store, t.id, c.id, "one").await;
    append(store, t.id, c.id, "two").await;
    let now = store
        .visitor_conversation(t.id, &v.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.id, c.id);
    assert_eq!(now.last_seq, 2);
    assert_eq!(store.get_conversation(t.id, c.id).await.unwrap(), Some(now));

    assert_eq!(
        store.visitor_conversation(other.id, &v.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .visitor_conversation(t.id, &VisitorId::generate())
            .await
            .unwrap(),
        None
    );
}

pub async fn messages_after_returns_what_was_missed(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let c = conversation(store, t.id, w.id).await;
    let elsewhere = conversation(store, t.id, w.id).await;

    assert!(store
        .messages_after(t.id, c.id, 0, 50)
        .await
        .unwrap()
        .is_empty());
    let mut sent = Vec::new();
    for i in 1..=10 {
        sent.push(append(store, t.id, c.id, &format!("m{i}")).await);
        append(store, t.id, elsewhere.id, &format!("elsewhere {i}")).await;
    }

    let after = |seq: i64, limit: u32| store.messages_after(t.id, c.id, seq, limit);
    assert_eq!(
        after(0, 100).await.unwrap(),
        sent,
        "everything, oldest first"
    );
    assert_eq!(after(0, 10).await.unwrap(), sent);
    assert_eq!(after(3, 100).await.unwrap(), sent[3..].to_vec());
    assert_eq!(
        after(3, 2).await.unwrap(),
        sent[3..5].to_vec(),
        "the oldest first"
    );
    assert_eq!(after(9, 5).await.unwrap(), sent[9..].to_vec());
    assert!(after(10, 100).await.unwrap().is_empty());
    assert!(after(1_000, 100).await.unwrap().is_empty());
    assert!(after(0, 0).await.unwrap().is_empty());

    // Asking again from the last seq received until a short page comes back
    // gets every message exactly once.
    let mut caught_up = Vec::new();
    let mut last = 0;
    loop {
        let page = after(last, 3).await.unwrap();
        let done = page.len() < 3;
        if let Some(m) = page.last() {
            last = m.seq;
        }
        caught_up.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(caught_up, sent);

    assert!(store
        .messages_after(other.id, c.id, 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .messages_after(t.id, ConversationId::new(), 0, 100)
        .await
        .unwrap()
        .is_empty());
    let theirs = store
        .messages_after(t.id, elsewhere.id, 8, 100)
        .await
        .unwrap();
    let seqs: Vec<(i64, &str)> = theirs.iter().map(|m| (m.seq, m.content.as_str())).collect();
    assert_eq!(seqs, vec![(9, "elsewhere 9"), (10, "elsewhere 10")]);
}

async fn set_status(store: &dyn Store, tenant: TenantId, c: ConversationId, s: ConversationStatus) {
    let patch = ConversationPatch {
        status: Some(s),
        ..Default::default()
    };
    let updated = store.update_conversation(tenant, c, patch).await.unwrap();
    assert_eq!(updated.map(|c| c.status), Some(s));
}

fn message(reopen: bool) -> NewMessage {
    NewMessage {
        reopen,
        ..NewMessage::new(MessageRole::Visitor, text("I am back"))
    }
}

pub async fn append_with_reopen_reopens_only_closed(store: SharedStore) {
    use ConversationStatus::{Closed, Open, Pending};
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let op = operator(store, t.id, "ada@example.com").await;
    let c = conversation(store, t.id, w.id).await;
    let assign = ConversationPatch {
        assigned_to: Some(Some(op.id)),
        ..Default::default()
    };
    store
        .update_conversation(t.id, c.id, assign)
        .await
        .unwrap()
        .unwrap();

    // (status before, reopen, status after)
    let cases = [
        (Closed, false, Closed),
        (Closed, true, Open),
        (Pending, true, Pending),
        (Open, true, Open),
        (Pending, false, Pending),
    ];
    for (seq, (before, reopen, after)) in (1..).zip(cases) {
        set_status(store, t.id, c.id, before).await;
        let m = store
            .append_message(t.id, c.id, message(reopen))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.seq, seq);
        let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
        assert_eq!(now.status, after, "{before} conversation, reopen {reopen}");
        assert_eq!(now.last_seq, seq);
        assert_eq!(micros(now.last_message_at), micros(m.created_at));
        assert_eq!(now.assigned_to, Some(op.id), "the assignee stays");
    }

    // A refused append changes nothing, status included.
    set_status(store, t.id, c.id, Closed).await;
    let before = store.get_conversation(t.id, c.id).await.unwrap();
    let foreign = store
        .append_message(other.id, c.id, message(true))
        .await
        .unwrap();
    assert_eq!(foreign, None);
    assert_eq!(store.get_conversation(t.id, c.id).await.unwrap(), before);
    assert_eq!(
        store.recent_messages(t.id, c.id, 100).await.unwrap().len(),
        cases.len()
    );
}
