//! A conversation's detail (the conversation and its newest messages), which
//! a backend may serve from memory (PostgreSQL's detail cache), is what the
//! database holds now, whichever instance changed it: every field it shows,
//! after every kind of change.

use super::SharedStore;
use crate::fixtures::*;
use enuchat_domain::*;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

pub async fn a_detail_is_the_conversation_and_its_newest_messages(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let c = conversation(store, t.id, w.id).await;
    let empty = store
        .conversation_detail(t.id, c.id, 50)
        .await
        .expect("detail")
        .expect("found");
    assert_eq!((empty.conversation.clone(), empty.messages.len()), (c, 0));
    for body in ["one", "two", "three"] {
        append(store, t.id, empty.conversation.id, body).await;
    }
    for read in 0..2 {
        let detail = store
            .conversation_detail(t.id, empty.conversation.id, 2)
            .await
            .expect("detail")
            .expect("found");
        let bodies: Vec<&str> = detail.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            bodies,
            ["two", "three"],
            "read {read}: newest, oldest first"
        );
        assert_eq!(detail.conversation.last_seq, 3);
        assert_eq!(
            Some(detail.conversation.clone()),
            store
                .get_conversation(t.id, empty.conversation.id)
                .await
                .expect("get")
        );
    }
    // Another account's conversation does not exist, read after read.
    for _ in 0..2 {
        let theirs = store
            .conversation_detail(other.id, empty.conversation.id, 50)
            .await
            .expect("detail");
        assert_eq!(theirs, None);
    }
    let nobody = store
        .conversation_detail(t.id, ConversationId::new(), 50)
        .await
        .expect("detail");
    assert_eq!(nobody, None);
}

/// The details of `conversations` at two lengths, each read twice through
/// `reader` (the second read may come from memory), equal what `reference`,
/// which keeps nothing in memory, reads.
async fn assert_details_are_current(
    reader: &dyn Store,
    reference: &dyn Store,
    tenant: TenantId,
    conversations: &[ConversationId],
    step: &str,
) {
    for id in conversations {
        for limit in [2, 50] {
            let expected = reference
                .conversation_detail(tenant, *id, limit)
                .await
                .expect("reference detail");
            assert!(expected.is_some(), "after {step}: {id} exists");
            for read in 0..2 {
                let detail = reader
                    .conversation_detail(tenant, *id, limit)
                    .await
                    .expect("detail");
                assert_eq!(
                    detail, expected,
                    "after {step}: {id} with {limit} messages, read {read}"
                );
            }
        }
    }
}

fn with_translation(body: &str) -> NewMessage {
    NewMessage {
        jobs: vec![NewJob {
            kind: JobKind::Translate,
            payload: serde_json::json!({ "from": "pl", "to": "en" }),
        }],
        ..NewMessage::new(MessageRole::Visitor, text(body))
    }
}

/// Claims every queued job (all translations here).
async fn claim_all(store: &dyn Store) -> Vec<ClaimedJob> {
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    store.claim_jobs(soon, LEASE, 10).await.expect("claim")
}

/// `writer` makes every kind of change a detail shows while `reader` keeps
/// reading the same details; `reference` tells what they should be.
pub async fn details_follow_another_instances_writes(
    reader: SharedStore,
    writer: SharedStore,
    reference: SharedStore,
) {
    let (reader, writer, reference) = (&*reader, &*writer, &*reference);
    let (t, w) = tenant_with_widget(writer, "Acme").await;
    let mut conversations = Vec::new();
    for _ in 0..4 {
        let c = conversation(writer, t.id, w.id).await;
        append(writer, t.id, c.id, "hello").await;
        conversations.push(c);
    }
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
    let check =
        |step: &'static str| assert_details_are_current(reader, reference, t.id, &ids, step);
    check("creation").await;

    for n in 0..3 {
        append(writer, t.id, ids[0], &format!("more {n}")).await;
    }
    check("appends").await;

    let op = operator(writer, t.id, "ann@example.com").await;
    assign(writer, t.id, ids[1], Some(op.id)).await;
    check("an assignment").await;
    assign(writer, t.id, ids[1], None).await;
    assign(writer, t.id, ids[2], Some(op.id)).await;
    check("an unassignment").await;

    set_status(writer, t.id, ids[3], ConversationStatus::Closed).await;
    check("a status change").await;

    hand_off(writer, t.id, ids[0], false).await;
    check("a hand-off").await;

    rename_visitor(writer, t.id, &conversations[1].visitor_id, "Zoe").await;
    check("a visitor's new name").await;

    assert!(writer.delete_operator(t.id, op.id).await.expect("delete"));
    check("the assignee leaving").await;

    ask_the_ai(writer, t.id, ids[2]).await;
    check("a question").await;
    answer_the_queued_question(writer, t.id).await;
    check("an AI reply").await;

    // A translation arriving changes a message, not the conversation.
    for id in [ids[0], ids[3]] {
        writer
            .append_message(t.id, id, with_translation("Dzień dobry"))
            .await
            .expect("append")
            .expect("found");
    }
    check("messages waiting for their translation").await;
    let mut claimed = claim_all(writer).await;
    assert_eq!(claimed.len(), 2, "two translations queued");
    let translated = TranslationOutcome {
        translated_content: "Good morning".into(),
        translated_language: "en".into(),
        charge: 0,
    };
    writer
        .complete_translation(t.id, &claimed.remove(0), translated)
        .await
        .expect("translate")
        .expect("lease held");
    check("a translation").await;
    // One that fails for good only stops waiting.
    assert!(writer
        .fail_job(t.id, &claimed.remove(0), "no provider", None)
        .await
        .expect("fail"));
    check("a translation given up").await;

    let together = ids
        .iter()
        .map(|id| append(writer, t.id, *id, "all together"));
    futures::future::join_all(together).await;
    check("appends at once").await;
}
