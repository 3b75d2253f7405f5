//! Shallow list pages, which a backend may serve from memory (PostgreSQL's
//! page cache), are what the database holds now, whichever instance changed
//! it: every field a list shows, after every kind of change.

use super::SharedStore;
use crate::fixtures::*;
use chrono::Utc;
use enuchat_domain::*;

const PAGE: u32 = 3;

/// Every page of `PAGE` rows up to just past the end, read twice through
/// `reader` (the second read may come from memory), equals the page that
/// `reference`, which keeps nothing in memory, reads.
async fn assert_pages_are_current(
    reader: &dyn Store,
    reference: &dyn Store,
    tenant: TenantId,
    filters: &[ConversationFilter],
    step: &str,
) {
    for filter in filters {
        let whole = reference
            .list_conversations(tenant, filter, 100, 0)
            .await
            .expect("whole list");
        for offset in 0..=whole.len() as u64 + 1 {
            let expected = reference
                .list_conversations(tenant, filter, PAGE, offset)
                .await
                .expect("reference page");
            for read in 0..2 {
                let page = reader
                    .list_conversations(tenant, filter, PAGE, offset)
                    .await
                    .expect("page");
                assert_eq!(
                    page, expected,
                    "after {step}: {filter:?} at offset {offset}, read {read}"
                );
            }
        }
    }
}

/// `writer` makes every kind of change a list shows while `reader` keeps
/// reading the same pages; `reference` tells what they should be.
pub async fn shallow_pages_follow_another_instances_writes(
    reader: SharedStore,
    writer: SharedStore,
    reference: SharedStore,
) {
    let (reader, writer, reference) = (&*reader, &*writer, &*reference);
    let (t, w1) = tenant_with_widget(writer, "Acme").await;
    let w2 = widget(writer, t.id).await;
    let mut conversations = Vec::new();
    for i in 0..7 {
        let w = if i % 3 == 0 { w2.id } else { w1.id };
        conversations.push(conversation(writer, t.id, w).await);
    }
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
    let status = |s| ConversationFilter {
        status: Some(s),
        widget_id: None,
    };
    let filters = [
        ConversationFilter::default(),
        status(ConversationStatus::Open),
        status(ConversationStatus::Pending),
        ConversationFilter {
            status: None,
            widget_id: Some(w1.id),
        },
    ];
    let check =
        |step: &'static str| assert_pages_are_current(reader, reference, t.id, &filters, step);
    check("creation").await;

    append(writer, t.id, ids[0], "back again").await;
    check("an append").await;

    let op = operator(writer, t.id, "ann@example.com").await;
    for id in [ids[2], ids[3]] {
        assign(writer, t.id, id, Some(op.id)).await;
    }
    check("an assignment").await;
    assign(writer, t.id, ids[3], None).await;
    check("an unassignment").await;

    set_status(writer, t.id, ids[4], ConversationStatus::Closed).await;
    check("a status change").await;

    // Humans take over without a status change: only `handed_off_at` moves.
    hand_off(writer, t.id, ids[1], false).await;
    check("a hand-off").await;
    hand_off(writer, t.id, ids[5], true).await;
    check("a hand-off to pending").await;

    rename_visitor(writer, t.id, &conversations[6].visitor_id, "Zoe").await;
    check("a visitor's new name").await;

    assert!(writer.delete_operator(t.id, op.id).await.expect("delete"));
    check("the assignee leaving").await;

    conversation(writer, t.id, w1.id).await;
    check("a new conversation").await;

    ask_the_ai(writer, t.id, ids[6]).await;
    check("a question").await;
    answer_the_queued_question(writer, t.id).await;
    check("an AI reply").await;

    let together = ids[1..6]
        .iter()
        .map(|id| append(writer, t.id, *id, "all together"));
    futures::future::join_all(together).await;
    check("appends at once").await;

    writer
        .import_demo_batch(t.id, tied_import(t.id, w1.id, 4, Utc::now()))
        .await
        .expect("import");
    check("an import").await;
}
