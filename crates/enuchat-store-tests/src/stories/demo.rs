//! Bulk import for `enuchat demo`.

use super::SharedStore;
use crate::fixtures::*;
use chrono::{DateTime, Utc};
use enuchat_domain::*;

const BASE_US: i64 = 1_700_000_000_000_000;

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(BASE_US + us).unwrap()
}

/// `conversations` conversations, conversation `i` by visitor `i` (a visitor
/// has at most one) with `i % 5` messages. `start` is the first `i`.
fn batch(
    tenant: TenantId,
    widget: WidgetId,
    operator: OperatorId,
    visitors: &[Visitor],
    conversations: usize,
    start: usize,
) -> DemoBatch {
    let mut out = DemoBatch::default();
    for n in 0..conversations {
        let i = start + n;
        let v = &visitors[i];
        let started = at(i as i64 * 1_000_000);
        let count = (i % 5) as i64;
        let id = ConversationId::new();
        for seq in 1..=count {
            let role = MessageRole::ALL[(seq as usize) % MessageRole::ALL.len()];
            out.messages.push(Message {
                id: MessageId::new(),
                conversation_id: id,
                seq,
                role,
                content: format!("conversation {i} message {seq}"),
                content_language: Some("pl".into()),
                translated_content: (seq % 2 == 0).then(|| format!("translated {seq}")),
                translated_language: (seq % 2 == 0).then(|| "en".into()),
                is_auto_reply: role == MessageRole::Ai,
                author_id: (role == MessageRole::Operator).then_some(operator),
                created_at: at(i as i64 * 1_000_000 + seq * 1_000),
                translation_pending: false,
            });
        }
        out.conversations.push(Conversation {
            id,
            tenant_id: tenant,
            widget_id: widget,
            visitor_id: v.id.clone(),
            visitor_name: v.name.clone(),
            visitor_email: v.email.clone(),
            visitor_language: v.language.clone(),
            status: ConversationStatus::ALL[i % 3],
            assigned_to: (i % 4 == 0).then_some(operator),
            last_message_at: at(i as i64 * 1_000_000 + count * 1_000),
            started_at: started,
            last_seq: count,
            handed_off_at: None,
        });
    }
    out
}

fn demo_visitors(tenant: TenantId, widget: WidgetId, n: usize) -> Vec<Visitor> {
    (0..n)
        .map(|i| Visitor {
            id: VisitorId::generate(),
            tenant_id: tenant,
            widget_id: widget,
            name: (i % 2 == 0).then(|| format!("Visitor {i}")),
            email: (i % 3 == 0).then(|| format!("v{i}@example.com")),
            language: Some("pl".into()),
            created_at: at(i as i64),
        })
        .collect()
}

pub async fn demo_batches_round_trip(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Demo").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let op = operator(store, t.id, "demo@example.com").await;
    let visitors = demo_visitors(t.id, w.id, 1_100);

    // Enough rows that messages need several multi-row statements, and a
    // second batch whose conversations belong to visitors written by the
    // first.
    let mut first = batch(t.id, w.id, op.id, &visitors, 900, 0);
    first.visitors = visitors.clone();
    let second = batch(t.id, w.id, op.id, &visitors, 200, 900);
    let mut expected: Vec<Conversation> = first.conversations.clone();
    expected.extend(second.conversations.clone());
    let mut messages: Vec<Message> = first.messages.clone();
    messages.extend(second.messages.clone());
    assert!(messages.len() > 1_000);

    store.import_demo_batch(t.id, first).await.unwrap();
    store.import_demo_batch(t.id, second).await.unwrap();

    for v in &visitors {
        assert_eq!(
            store.get_visitor(t.id, &v.id).await.unwrap().as_ref(),
            Some(v)
        );
    }
    expected.sort_by_key(|c| std::cmp::Reverse((c.last_message_at, c.id)));
    let listed = store
        .list_conversations(t.id, &ConversationFilter::default(), 10_000, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), expected.len());
    assert_eq!(listed, expected);

    // Pages on either side of offset 1,000, which the SQLite store reads off
    // the async threads beyond, hold the same rows as the full list.
    for offset in [980, 1_001, 1_090] {
        let page = store
            .list_conversations(t.id, &ConversationFilter::default(), 20, offset as u64)
            .await
            .unwrap();
        let end = expected.len().min(offset + 20);
        assert_eq!(page[..], expected[offset..end], "page at offset {offset}");
    }

    let closed = ConversationFilter {
        status: Some(ConversationStatus::Closed),
        widget_id: None,
    };
    let closed_count = expected
        .iter()
        .filter(|c| c.status == ConversationStatus::Closed)
        .count();
    let listed_closed = store
        .list_conversations(t.id, &closed, 10_000, 0)
        .await
        .unwrap();
    assert_eq!(listed_closed.len(), closed_count);

    let mut stored_messages = 0;
    for c in &expected {
        let got = store.recent_messages(t.id, c.id, 100).await.unwrap();
        let want: Vec<&Message> = messages
            .iter()
            .filter(|m| m.conversation_id == c.id)
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "messages of {}", c.id);
        stored_messages += got.len();
    }
    assert_eq!(stored_messages, messages.len());

    // Imported conversations carry on numbering from their last_seq.
    let busiest = expected.iter().find(|c| c.last_seq == 4).unwrap();
    let next = append(store, t.id, busiest.id, "after the import").await;
    assert_eq!(next.seq, 5);

    let leaked = store
        .list_conversations(other.id, &ConversationFilter::default(), 10, 0)
        .await
        .unwrap();
    assert!(leaked.is_empty());
}
