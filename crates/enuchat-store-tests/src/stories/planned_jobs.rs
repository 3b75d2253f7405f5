//! Appends whose jobs the store decides (`NewMessage::plan`): from the
//! conversation's facts as they are when the message is appended, also when
//! many appends of one conversation are written together.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;
use std::collections::HashMap;

fn planned(role: MessageRole, body: &str, language: Option<&str>) -> NewMessage {
    NewMessage {
        content_language: language.map(str::to_owned),
        plan: Some(JobPlan::default()),
        ..NewMessage::new(role, text(body))
    }
}

/// Each message's jobs as `(kind, payload)`, by message id.
async fn jobs_by_message(
    store: &dyn Store,
    tenant: TenantId,
) -> HashMap<MessageId, Vec<(JobKind, serde_json::Value)>> {
    let mut by_message: HashMap<MessageId, Vec<_>> = HashMap::new();
    for job in store.list_jobs(tenant, None, 1000, 0).await.unwrap() {
        by_message
            .entry(job.message_id)
            .or_default()
            .push((job.kind, job.payload));
    }
    for jobs in by_message.values_mut() {
        jobs.sort_by_key(|(kind, _)| kind.as_str());
    }
    by_message
}

fn translate(from: &str, to: &str) -> (JobKind, serde_json::Value) {
    (
        JobKind::Translate,
        serde_json::json!({ "from": from, "to": to }),
    )
}

fn ai_reply() -> (JobKind, serde_json::Value) {
    (JobKind::AiReply, serde_json::json!({}))
}

async fn set_widget(store: &dyn Store, tenant: TenantId, widget: WidgetId, ai: bool, tr: bool) {
    let update = WidgetUpdate {
        ai_enabled: Some(ai),
        translation_enabled: Some(tr),
        ..Default::default()
    };
    store
        .update_widget(tenant, widget, update)
        .await
        .unwrap()
        .expect("the tenant's widget");
}

pub async fn planned_appends_follow_the_facts_at_append_time(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await; // the visitor speaks "pl"
    let append = |new| store.append_message(t.id, c.id, new);

    // Translation on, AI off: a reply goes into the visitor's language.
    let system = append(planned(MessageRole::System, "Hello", None))
        .await
        .unwrap()
        .unwrap();
    assert!(system.translation_pending);

    // The widget changes: the next message is planned on the new settings.
    set_widget(store, t.id, w.id, true, false).await;
    let asking = append(planned(MessageRole::Visitor, "Hallo", Some("de")))
        .await
        .unwrap()
        .unwrap();
    assert!(!asking.translation_pending);
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(now.visitor_language.as_deref(), Some("de"));

    // Humans took over: no AI reply any more.
    store.set_handed_off(t.id, c.id, true).await.unwrap();
    let after_hand_off = append(planned(MessageRole::Visitor, "Hallo?", Some("de")))
        .await
        .unwrap()
        .unwrap();

    // Not the tenant's conversation, or none: nothing is stored.
    let other = tenant(store, "Other").await;
    let theirs = store
        .append_message(other.id, c.id, planned(MessageRole::System, "x", None))
        .await
        .unwrap();
    assert!(theirs.is_none());
    let missing = store
        .append_message(
            t.id,
            ConversationId::new(),
            planned(MessageRole::System, "x", None),
        )
        .await
        .unwrap();
    assert!(missing.is_none());

    let jobs = jobs_by_message(store, t.id).await;
    assert_eq!(jobs.get(&system.id), Some(&vec![translate("en", "pl")]));
    assert_eq!(jobs.get(&asking.id), Some(&vec![ai_reply()]));
    assert_eq!(jobs.get(&after_hand_off.id), None);
    assert_eq!(jobs.len(), 2, "no job for what was not stored: {jobs:?}");
    assert!(store
        .list_jobs(other.id, None, 10, 0)
        .await
        .unwrap()
        .is_empty());
    let stored = store.recent_messages(t.id, c.id, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
}

/// Many planned appends at once (PostgreSQL writes them in batches, reading
/// the facts once per batch): each message's jobs are those of the facts as
/// the messages before it, in seq order, left them.
pub async fn concurrent_planned_appends_see_the_messages_before_them(store: SharedStore) {
    const CONVERSATIONS: usize = 6;
    const EACH: usize = 12;
    let (t, w) = tenant_with_widget(&*store, "Acme").await;
    set_widget(&*store, t.id, w.id, true, true).await;
    let mut conversations = Vec::new();
    for _ in 0..CONVERSATIONS {
        conversations.push(conversation(&*store, t.id, w.id).await.id);
    }

    // Visitors in changing languages, replies, and one operator stepping in
    // somewhere in the middle, all racing.
    let mut tasks = Vec::new();
    for (n, &c) in conversations.iter().enumerate() {
        for i in 0..EACH {
            let new = match (i + n) % 4 {
                _ if i == EACH / 2 => planned(MessageRole::Operator, "Let me help", None),
                0 => planned(MessageRole::Visitor, "Hallo", Some("de")),
                1 => planned(MessageRole::Visitor, "Bonjour", Some("fr")),
                2 => planned(MessageRole::System, "Noted", None),
                _ => planned(MessageRole::Visitor, "Hola", Some(UNKNOWN_LANGUAGE)),
            };
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.append_message(t.id, c, new).await.unwrap().unwrap()
            }));
        }
    }
    let mut messages = Vec::new();
    for task in tasks {
        messages.push(task.await.expect("append task panicked"));
    }
    messages.sort_by_key(|m| (m.conversation_id.0, m.seq));

    let jobs = jobs_by_message(&*store, t.id).await;
    let mut state: HashMap<ConversationId, (bool, String)> = HashMap::new();
    for m in &messages {
        let (handed_off, visitor_language) = state
            .entry(m.conversation_id)
            .or_insert((false, "pl".to_owned()));
        let language = m.content_language.as_deref();
        let expected = match m.role {
            MessageRole::Visitor => {
                let mut expected = Vec::new();
                let known = language.filter(|l| *l != UNKNOWN_LANGUAGE);
                let from = known.unwrap_or(visitor_language);
                expected.push(translate(from, "en"));
                if !*handed_off {
                    expected.push(ai_reply());
                }
                if let Some(l) = known {
                    *visitor_language = l.to_owned();
                }
                expected
            }
            MessageRole::Operator => {
                *handed_off = true;
                vec![translate("en", visitor_language)]
            }
            _ => vec![translate("en", visitor_language)],
        };
        let mut expected = expected;
        expected.sort_by_key(|(kind, _)| kind.as_str());
        assert_eq!(
            jobs.get(&m.id).cloned().unwrap_or_default(),
            expected,
            "{:?} message seq {} in {}",
            m.role,
            m.seq,
            m.conversation_id
        );
        assert!(m.translation_pending);
    }
    assert_eq!(jobs.len(), CONVERSATIONS * EACH);
}
