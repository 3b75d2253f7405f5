//! Pages at any offset match the whole list, after every kind of change to
//! it. A backend may serve deep pages from remembered positions (SQLite's
//! anchors); this holds it to the list as it is now, page after page and
//! read after read.

use super::SharedStore;
use crate::fixtures::*;
use chrono::Utc;
use enuchat_domain::*;

const PAGE: u32 = 4;

/// Every page of `PAGE` rows, at every offset up to just past the end, read
/// three times in a row, equals that slice of the whole list.
async fn assert_every_page_matches(
    store: &dyn Store,
    tenant: TenantId,
    filters: &[ConversationFilter],
) {
    for filter in filters {
        let whole = store
            .list_conversations(tenant, filter, 100, 0)
            .await
            .expect("whole list");
        for offset in 0..=whole.len() + 1 {
            let expected: Vec<Conversation> = whole
                .iter()
                .skip(offset)
                .take(PAGE as usize)
                .cloned()
                .collect();
            for read in 0..3 {
                let page = store
                    .list_conversations(tenant, filter, PAGE, offset as u64)
                    .await
                    .expect("page");
                assert_eq!(page, expected, "{filter:?} at offset {offset}, read {read}");
            }
        }
    }
}

fn filters(widget: WidgetId) -> Vec<ConversationFilter> {
    let status = |s| ConversationFilter {
        status: Some(s),
        widget_id: None,
    };
    vec![
        ConversationFilter::default(),
        status(ConversationStatus::Open),
        status(ConversationStatus::Closed),
        ConversationFilter {
            status: None,
            widget_id: Some(widget),
        },
        ConversationFilter {
            status: Some(ConversationStatus::Open),
            widget_id: Some(widget),
        },
    ]
}

pub async fn deep_pages_follow_every_change(store: SharedStore) {
    let store = &*store;
    let (t, w1) = tenant_with_widget(store, "Acme").await;
    let w2 = widget(store, t.id).await;
    let (other, other_widget) = tenant_with_widget(store, "Other").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let w = if i % 3 == 0 { w2.id } else { w1.id };
        ids.push(conversation(store, t.id, w).await.id);
    }
    store
        .import_demo_batch(t.id, tied_import(t.id, w1.id, 5, Utc::now()))
        .await
        .expect("import");
    let filters = filters(w1.id);
    assert_every_page_matches(store, t.id, &filters).await;

    // An append moves an old conversation to the top.
    append(store, t.id, ids[0], "back again").await;
    assert_every_page_matches(store, t.id, &filters).await;

    // A status change moves one between the filtered lists.
    set_status(store, t.id, ids[4], ConversationStatus::Closed).await;
    assert_every_page_matches(store, t.id, &filters).await;

    // New conversations, from the Tenant API side and from a widget.
    conversation(store, t.id, w1.id).await;
    assert_every_page_matches(store, t.id, &filters).await;
    let v = visitor(store, t.id, w1.id).await;
    store
        .get_or_create_visitor_conversation(t.id, for_visitor(&v))
        .await
        .expect("visitor conversation");
    assert_every_page_matches(store, t.id, &filters).await;

    // A hand-off makes one pending.
    hand_off(store, t.id, ids[5], true).await;
    assert_every_page_matches(store, t.id, &filters).await;

    // A visitor writing back reopens the closed one.
    let reopening = NewMessage {
        reopen: true,
        ..NewMessage::new(MessageRole::Visitor, text("still there?"))
    };
    store
        .append_message(t.id, ids[4], reopening)
        .await
        .expect("append")
        .expect("found");
    assert_every_page_matches(store, t.id, &filters).await;

    // An AI reply written by its job.
    ask_the_ai(store, t.id, ids[7]).await;
    assert_every_page_matches(store, t.id, &filters).await;
    // Others move above it, so that the reply moves it back up from deep
    // in the list.
    appends_at_once(store, t.id, &ids[..6]).await;
    assert_every_page_matches(store, t.id, &filters).await;
    answer_the_queued_question(store, t.id).await;
    assert_every_page_matches(store, t.id, &filters).await;

    // A visitor asking for a person while the AI answers: the append itself
    // makes the conversation pending.
    let ai_on = WidgetUpdate {
        ai_enabled: Some(true),
        ..Default::default()
    };
    store
        .update_widget(t.id, w1.id, ai_on)
        .await
        .unwrap()
        .unwrap();
    let for_a_person = NewMessage {
        plan: Some(JobPlan {
            asks_for_person: true,
            ..JobPlan::default()
        }),
        ..NewMessage::new(MessageRole::Visitor, text("a human please"))
    };
    store
        .append_message(t.id, ids[8], for_a_person)
        .await
        .expect("append")
        .expect("found");
    let now = store.get_conversation(t.id, ids[8]).await.unwrap().unwrap();
    assert_eq!(now.status, ConversationStatus::Pending);
    assert_every_page_matches(store, t.id, &filters).await;

    // Appends arriving together (a backend may write them in one batch).
    appends_at_once(store, t.id, &ids[1..9]).await;
    assert_every_page_matches(store, t.id, &filters).await;

    // Another import of tied conversations lands in the middle of the list.
    store
        .import_demo_batch(t.id, tied_import(t.id, w1.id, 5, Utc::now()))
        .await
        .expect("import");
    assert_every_page_matches(store, t.id, &filters).await;

    // Another tenant's changes change nothing here, and its pages are its own.
    for _ in 0..6 {
        conversation(store, other.id, other_widget.id).await;
    }
    assert_every_page_matches(store, t.id, &filters).await;
    assert_every_page_matches(store, other.id, &[ConversationFilter::default()]).await;
}

/// One append to each of `conversations`, all sent at once.
async fn appends_at_once(store: &dyn Store, tenant: TenantId, conversations: &[ConversationId]) {
    let appends = conversations
        .iter()
        .map(|id| append(store, tenant, *id, "all together"));
    futures::future::join_all(appends).await;
}

/// Pages read through one store match the list after every kind of change
/// made through another store on the same database: for PostgreSQL, two
/// instances behind one load balancer, where the reader may keep deep-page
/// anchors that the writer's changes make stale.
pub async fn deep_pages_follow_another_instances_writes(reader: SharedStore, writer: SharedStore) {
    let (reader, writer) = (&*reader, &*writer);
    let (t, w1) = tenant_with_widget(writer, "Acme").await;
    let w2 = widget(writer, t.id).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let w = if i % 3 == 0 { w2.id } else { w1.id };
        ids.push(conversation(writer, t.id, w).await.id);
    }
    let filters = filters(w1.id);
    assert_every_page_matches(reader, t.id, &filters).await;

    append(writer, t.id, ids[0], "back again").await;
    assert_every_page_matches(reader, t.id, &filters).await;

    set_status(writer, t.id, ids[4], ConversationStatus::Closed).await;
    assert_every_page_matches(reader, t.id, &filters).await;

    conversation(writer, t.id, w1.id).await;
    assert_every_page_matches(reader, t.id, &filters).await;

    hand_off(writer, t.id, ids[5], true).await;
    assert_every_page_matches(reader, t.id, &filters).await;

    appends_at_once(writer, t.id, &ids[1..10]).await;
    assert_every_page_matches(reader, t.id, &filters).await;

    writer
        .import_demo_batch(t.id, tied_import(t.id, w1.id, 5, Utc::now()))
        .await
        .expect("import");
    assert_every_page_matches(reader, t.id, &filters).await;
}
