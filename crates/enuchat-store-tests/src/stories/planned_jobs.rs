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

/// A visitor message that asks for a person (`JobPlan::asks_for_person`).
fn asking(body: &str, language: Option<&str>) -> NewMessage {
    NewMessage {
        plan: Some(JobPlan {
            asks_for_person: true,
            ..JobPlan::default()
        }),
        reopen: true,
        ..planned(MessageRole::Visitor, body, language)
    }
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

/// A visitor asking for a person hands the conversation to humans in the
/// append itself, only while the AI answers it.
pub async fn asking_for_a_person_hands_off_in_the_append(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    set_widget(store, t.id, w.id, true, false).await;
    let c = conversation(store, t.id, w.id).await;
    let get = |id| store.get_conversation(t.id, id);

    // The AI answers: a plain question gets a reply queued.
    let question = store
        .append_message(t.id, c.id, planned(MessageRole::Visitor, "Where?", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(c.id).await.unwrap().unwrap().handed_off_at, None);

    // The request: handed off and pending, in the same append, no reply.
    let request = store
        .append_message(t.id, c.id, asking("A human please", None))
        .await
        .unwrap()
        .unwrap();
    let now = get(c.id).await.unwrap().unwrap();
    assert_eq!(now.status, ConversationStatus::Pending);
    let at = now.handed_off_at.expect("handed off by the request");
    assert!(at >= question.created_at, "{at:?}");
    assert_eq!(now.last_seq, request.seq);

    // Asked again once humans are in charge: nothing changes (a status an
    // operator set stays).
    let patch = ConversationPatch {
        status: Some(ConversationStatus::Open),
        assigned_to: None,
    };
    store.update_conversation(t.id, c.id, patch).await.unwrap();
    let again = store
        .append_message(t.id, c.id, asking("Human!", None))
        .await
        .unwrap()
        .unwrap();
    let now = get(c.id).await.unwrap().unwrap();
    assert_eq!(now.status, ConversationStatus::Open);
    assert_eq!(now.handed_off_at, Some(at), "set once");

    // Without AI humans answer anyway: the request changes nothing.
    set_widget(store, t.id, w.id, false, false).await;
    let plain = conversation(store, t.id, w.id).await;
    let unheeded = store
        .append_message(t.id, plain.id, asking("A human please", None))
        .await
        .unwrap()
        .unwrap();
    let now = get(plain.id).await.unwrap().unwrap();
    assert_eq!(
        (now.status, now.handed_off_at),
        (ConversationStatus::Open, None)
    );

    // A closed conversation the AI answered: the visitor writes back asking
    // for a person, and it waits for one (not merely reopened).
    set_widget(store, t.id, w.id, true, false).await;
    let closed = conversation(store, t.id, w.id).await;
    let patch = ConversationPatch {
        status: Some(ConversationStatus::Closed),
        assigned_to: None,
    };
    store
        .update_conversation(t.id, closed.id, patch)
        .await
        .unwrap();
    store
        .append_message(t.id, closed.id, asking("Back, need a human", None))
        .await
        .unwrap()
        .unwrap();
    let now = get(closed.id).await.unwrap().unwrap();
    assert_eq!(now.status, ConversationStatus::Pending);
    assert!(now.handed_off_at.is_some());

    // Another tenant's conversation: nothing stored, nothing changed.
    let other = tenant(store, "Other").await;
    let theirs = store
        .append_message(other.id, c.id, asking("Human", None))
        .await
        .unwrap();
    assert!(theirs.is_none());

    let jobs = jobs_by_message(store, t.id).await;
    assert_eq!(jobs.get(&question.id), Some(&vec![ai_reply()]));
    assert_eq!(jobs.get(&request.id), None);
    assert_eq!(jobs.get(&again.id), None);
    assert_eq!(jobs.get(&unheeded.id), None, "no AI, no translation");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
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

    // Visitors in changing languages, replies, one operator stepping in
    // somewhere in the middle, and in half of the conversations a visitor
    // asking for a person a little earlier, all racing.
    let mut tasks = Vec::new();
    for (n, &c) in conversations.iter().enumerate() {
        for i in 0..EACH {
            let new = match (i + n) % 4 {
                _ if i == EACH / 2 => planned(MessageRole::Operator, "Let me help", None),
                _ if i == EACH / 3 && n % 2 == 0 => asking("A person please", Some("de")),
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
    // Per conversation: humans in charge, the visitor's language, and
    // whether a request for a person made it wait (`pending`).
    let mut state: HashMap<ConversationId, (bool, String, bool)> = HashMap::new();
    for m in &messages {
        let (handed_off, visitor_language, waiting) =
            state
                .entry(m.conversation_id)
                .or_insert((false, "pl".to_owned(), false));
        let language = m.content_language.as_deref();
        let expected = match m.role {
            MessageRole::Visitor => {
                let mut expected = Vec::new();
                let known = language.filter(|l| *l != UNKNOWN_LANGUAGE);
                let from = known.unwrap_or(visitor_language);
                expected.push(translate(from, "en"));
                if m.content == "A person please" && !*handed_off {
                    *handed_off = true;
                    *waiting = true;
                }
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
    for (id, (_, _, waiting)) in state {
        let now = store.get_conversation(t.id, id).await.unwrap().unwrap();
        let expected = if waiting {
            ConversationStatus::Pending
        } else {
            ConversationStatus::Open
        };
        assert_eq!(now.status, expected, "{id}");
        assert!(now.handed_off_at.is_some(), "the operator stepped in");
    }
}
