//! Appending and reading messages.

use super::SharedStore;
use crate::fixtures::*;
use chrono::Utc;
use enuchat_domain::*;

pub async fn append_message_numbers_without_gaps(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let op = operator(store, t.id, "ada@example.com").await;
    let c = conversation(store, t.id, w.id).await;

    let mut previous_at = c.last_message_at;
    for seq in 1..=4 {
        let before = micros(Utc::now());
        let m = append(store, t.id, c.id, &format!("message {seq}")).await;
        assert_eq!((m.seq, m.conversation_id), (seq, c.id));
        assert_eq!(
            (m.role, m.content.as_str()),
            (MessageRole::Visitor, &*format!("message {seq}"))
        );
        assert!(micros(m.created_at) >= before);
        assert!(!m.is_auto_reply && m.author_id.is_none() && m.content_language.is_none());
        assert_eq!(
            (
                m.translated_content.as_deref(),
                m.translated_language.as_deref()
            ),
            (None, None)
        );

        let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
        assert_eq!(now.last_seq, seq);
        assert_eq!(
            micros(now.last_message_at),
            micros(m.created_at),
            "last_message_at moves"
        );
        assert!(now.last_message_at >= previous_at);
        assert_eq!(now.started_at, c.started_at);
        previous_at = now.last_message_at;
    }

    // Closing does not stop messages, and a message does not reopen.
    let closed = ConversationPatch {
        status: Some(ConversationStatus::Closed),
        ..Default::default()
    };
    store
        .update_conversation(t.id, c.id, closed)
        .await
        .unwrap()
        .unwrap();
    let reply = NewMessage {
        content_language: Some("en".into()),
        is_auto_reply: true,
        author_id: Some(op.id),
        ..NewMessage::new(MessageRole::Operator, text("We are closed"))
    };
    let m = store
        .append_message(t.id, c.id, reply)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.seq, 5);
    assert_eq!(m.role, MessageRole::Operator);
    assert_eq!(
        (m.content_language.as_deref(), m.is_auto_reply),
        (Some("en"), true)
    );
    assert_eq!(m.author_id, Some(op.id));
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!((now.status, now.last_seq), (ConversationStatus::Closed, 5));

    // Another tenant cannot write into the conversation.
    let foreign = store
        .append_message(
            other.id,
            c.id,
            NewMessage::new(MessageRole::Visitor, text("hi")),
        )
        .await
        .unwrap();
    assert_eq!(foreign, None);
    let unknown = store
        .append_message(
            t.id,
            ConversationId::new(),
            NewMessage::new(MessageRole::Visitor, text("hi")),
        )
        .await
        .unwrap();
    assert_eq!(unknown, None);
    assert_eq!(store.get_conversation(t.id, c.id).await.unwrap(), Some(now));
    let stored = store.recent_messages(t.id, c.id, 100).await.unwrap();
    let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5],
        "nothing stored for the refused appends"
    );
    assert_eq!(stored.last(), Some(&m), "stored exactly as returned");
}

pub async fn recent_messages_are_the_newest_oldest_first(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let c = conversation(store, t.id, w.id).await;
    let quiet = conversation(store, t.id, w.id).await;

    let mut sent = Vec::new();
    for i in 1..=10 {
        sent.push(append(store, t.id, c.id, &format!("m{i}")).await);
    }
    append(store, t.id, quiet.id, "elsewhere").await;

    assert_eq!(
        store.recent_messages(t.id, c.id, 3).await.unwrap(),
        sent[7..].to_vec()
    );
    assert_eq!(store.recent_messages(t.id, c.id, 10).await.unwrap(), sent);
    assert_eq!(store.recent_messages(t.id, c.id, 1000).await.unwrap(), sent);
    assert!(store
        .recent_messages(t.id, c.id, 0)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .recent_messages(other.id, c.id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .recent_messages(t.id, ConversationId::new(), 10)
        .await
        .unwrap()
        .is_empty());
    let elsewhere = store.recent_messages(t.id, quiet.id, 10).await.unwrap();
    assert_eq!(elsewhere.len(), 1);
    assert_eq!(
        (elsewhere[0].seq, elsewhere[0].content.as_str()),
        (1, "elsewhere")
    );
}

pub async fn concurrent_appends_get_distinct_gapless_seqs(store: SharedStore) {
    const TASKS: usize = 20;
    const EACH: usize = 10;
    let (t, w) = tenant_with_widget(&*store, "Acme").await;
    let c = conversation(&*store, t.id, w.id).await;

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let m = append(&*store, t.id, c.id, &format!("task {task} message {i}")).await;
                seqs.push(m.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        let seqs = handle.await.expect("append task panicked");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one task's messages keep their order"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    let expected: Vec<i64> = (1..=(TASKS * EACH) as i64).collect();
    assert_eq!(all, expected, "every seq handed out exactly once");

    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(now.last_seq, (TASKS * EACH) as i64);
    let stored = store.recent_messages(t.id, c.id, 1000).await.unwrap();
    let stored_seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(stored_seqs, expected);
    assert_eq!(
        micros(now.last_message_at),
        micros(stored[stored.len() - 1].created_at)
    );
}
