//! Bulk import, and the plans behind list_conversations.

mod common;

use chrono::{Duration, Utc};
use common::*;
use enuchat_domain::*;
use enuchat_store_postgres::PostgresStore;
use std::time::Instant;

/// A demo batch of `conversations` conversations with `per` messages each,
/// spread over two widgets, all statuses and the last 30 days.
fn batch(tenant: TenantId, widgets: &[WidgetId], conversations: usize, per: i64) -> DemoBatch {
    let now = Utc::now();
    let mut batch = DemoBatch::default();
    for i in 0..conversations {
        let widget = widgets[i % widgets.len()];
        let started = now - Duration::minutes((i * 37 % 43_200) as i64) - Duration::hours(1);
        let visitor = Visitor {
            id: VisitorId::generate(),
            tenant_id: tenant,
            widget_id: widget,
            name: Some(format!("Visitor {i}")),
            email: (i % 3 == 0).then(|| format!("v{i}@example.com")),
            language: Some("en".into()),
            created_at: started,
        };
        let conversation = ConversationId::new();
        for seq in 1..=per {
            batch.messages.push(Message {
                id: MessageId::new(),
                conversation_id: conversation,
                seq,
                role: if seq % 2 == 1 {
                    MessageRole::Visitor
                } else {
                    MessageRole::Operator
                },
                content: format!("Message {seq} of conversation {i}: hello, how can we help?"),
                content_language: Some("en".into()),
                translated_content: None,
                translated_language: None,
                is_auto_reply: false,
                author_id: None,
                created_at: started + Duration::seconds(seq * 20),
                translation_pending: false,
            });
        }
        batch.conversations.push(Conversation {
            id: conversation,
            tenant_id: tenant,
            widget_id: widget,
            visitor_id: visitor.id.clone(),
            visitor_name: visitor.name.clone(),
            visitor_email: visitor.email.clone(),
            visitor_language: Some("en".into()),
            status: ConversationStatus::ALL[i % 3],
            assigned_to: None,
            last_message_at: started + Duration::seconds(per * 20),
            started_at: started,
            last_seq: per,
            handed_off_at: None,
        });
        batch.visitors.push(visitor);
    }
    batch
}

async fn import(store: &PostgresStore, tenant: TenantId, widgets: &[WidgetId], batches: usize) {
    for _ in 0..batches {
        let b = batch(tenant, widgets, 1_000, 15);
        store.import_demo_batch(tenant, b).await.expect("import");
    }
}

#[tokio::test]
async fn imported_demo_rows_read_back_like_created_ones() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Demo").await;
    let w = widget(&store, t.id, "Site").await;
    let b = batch(t.id, &[w.id], 10, 3);
    let expected = b.conversations[4].clone();
    let expected_messages: Vec<Message> = b
        .messages
        .iter()
        .filter(|m| m.conversation_id == expected.id)
        .cloned()
        .collect();
    store.import_demo_batch(t.id, b).await.expect("import");

    let got = store
        .get_conversation(t.id, expected.id)
        .await
        .expect("get")
        .expect("exists");
    // Timestamps are stored with microsecond precision.
    assert_eq!(
        got.started_at.timestamp_micros(),
        expected.started_at.timestamp_micros()
    );
    assert_eq!(got.visitor_name, expected.visitor_name);
    assert_eq!((got.status, got.last_seq), (expected.status, 3));
    let messages = store
        .recent_messages(t.id, expected.id, 10)
        .await
        .expect("recent");
    assert_eq!(
        messages
            .iter()
            .map(|m| (&m.content, m.seq))
            .collect::<Vec<_>>(),
        expected_messages
            .iter()
            .map(|m| (&m.content, m.seq))
            .collect::<Vec<_>>()
    );
    // The next live message carries on from the imported seq.
    let next = store
        .append_message(
            t.id,
            expected.id,
            NewMessage::new(MessageRole::Visitor, text("again")),
        )
        .await
        .expect("append")
        .expect("exists");
    assert_eq!(next.seq, 4);

    // A batch that breaks a reference is refused as a whole.
    let mut broken = batch(t.id, &[w.id], 3, 2);
    broken.messages[5].conversation_id = ConversationId::new();
    let err = store
        .import_demo_batch(t.id, broken.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingReference("conversation")),
        "{err:?}"
    );
    let first = &broken.conversations[0];
    assert!(store
        .get_conversation(t.id, first.id)
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn list_conversations_pages_come_from_an_index_without_sorting() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Demo").await;
    let (w1, w2) = (
        widget(&store, t.id, "One").await,
        widget(&store, t.id, "Two").await,
    );
    // Some rows of another tenant too, so tenant_id is selective.
    let other = tenant(&store, "Other").await;
    let ow = widget(&store, other.id, "Theirs").await;
    let started = Instant::now();
    import(&store, t.id, &[w1.id, w2.id], 8).await;
    import(&store, other.id, &[ow.id], 2).await;
    let secs = started.elapsed().as_secs_f64();
    let rows = 10_000.0 * (1.0 + 1.0 + 15.0);
    eprintln!(
        "demo import: {rows} rows in {secs:.2}s = {:.0} rows/s",
        rows / secs
    );
    sqlx::query("ANALYZE")
        .execute(store.pool())
        .await
        .expect("analyze");

    let cases = [
        (
            ConversationFilter::default(),
            "conversations_tenant_recent_idx",
        ),
        (
            ConversationFilter {
                status: Some(ConversationStatus::Pending),
                widget_id: None,
            },
            "conversations_tenant_status_recent_idx",
        ),
        (
            ConversationFilter {
                status: None,
                widget_id: Some(w2.id),
            },
            "conversations_tenant_widget_recent_idx",
        ),
        (
            ConversationFilter {
                status: Some(ConversationStatus::Closed),
                widget_id: Some(w1.id),
            },
            "conversations_tenant_widget_status_recent_idx",
        ),
    ];
    for (filter, index) in cases {
        for offset in [0, 200] {
            let plan = store
                .explain_list_conversations(t.id, &filter, 50, offset)
                .await
                .expect("explain");
            assert!(
                plan.contains("$1"),
                "{filter:?}: the store runs generic plans (parameters, not values):\n{plan}"
            );
            assert!(
                plan.contains(index),
                "{filter:?} should use {index}:\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Hash"),
                "{filter:?} should look rows up by index:\n{plan}"
            );
            assert!(
                !plan.contains("Sort"),
                "{filter:?} should not sort:\n{plan}"
            );
            if filter.status.is_none() && filter.widget_id.is_none() {
                // Its index holds whole rows, and visitors' names and emails
                // come from an index too: no conversation is looked up.
                assert!(
                    plan.contains(&format!("Index Only Scan using {index}"))
                        && plan.contains("Index Only Scan using visitors_list_idx")
                        && !plan.contains("conversations_pkey"),
                    "the unfiltered list should read indexes alone:\n{plan}"
                );
            }
        }
        // A deep page read from an anchor: a range of the same index that
        // starts at the anchor's row (`list_anchors.rs`).
        let anchor = (chrono::Utc::now(), uuid::Uuid::max());
        let plan = store
            .explain_deep_list_conversations(t.id, &filter, 50, anchor, 200)
            .await
            .expect("explain");
        assert!(
            plan.contains(index) && plan.contains("ROW(last_message_at, id) <= ROW("),
            "{filter:?}: an anchored page should start at the anchor in {index}:\n{plan}"
        );
        if filter.status.is_none() && filter.widget_id.is_none() {
            assert!(
                plan.contains(&format!("Index Only Scan using {index}"))
                    && !plan.contains("conversations_pkey"),
                "an anchored unfiltered page should read indexes alone:\n{plan}"
            );
        }
        // (The one-row version table may be scanned while it is this small.)
        assert!(
            !plan.contains("Seq Scan on conversations")
                && !plan.contains("Seq Scan on visitors")
                && !plan.contains("Hash"),
            "{filter:?}: an anchored page should look rows up by index:\n{plan}"
        );

        // And the rows are what the plan promises: newest first, ties by id,
        // pages that continue each other, filters applied.
        let page1 = store
            .list_conversations(t.id, &filter, 50, 0)
            .await
            .expect("list");
        let page2 = store
            .list_conversations(t.id, &filter, 50, 50)
            .await
            .expect("list");
        let all = store
            .list_conversations(t.id, &filter, 100, 0)
            .await
            .expect("list");
        assert_eq!(page1.len(), 50);
        assert_eq!([page1.into_value(), page2.into_value()].concat(), *all);
        assert!(all
            .windows(2)
            .all(|p| (p[0].last_message_at, p[0].id) > (p[1].last_message_at, p[1].id)));
        assert!(all.iter().all(|c| c.tenant_id == t.id
            && filter.status.is_none_or(|s| c.status == s)
            && filter.widget_id.is_none_or(|w| c.widget_id == w)));
    }

    // What a real-time client missed: a range of the (conversation_id, seq)
    // index, read in order.
    let c = &store
        .list_conversations(t.id, &ConversationFilter::default(), 1, 0)
        .await
        .expect("list")[0];
    for after in [0, 7] {
        let plan = store
            .explain_messages_after(t.id, c.id, after, 100)
            .await
            .expect("explain");
        assert!(
            plan.contains("$2"),
            "messages_after runs a generic plan:\n{plan}"
        );
        assert!(
            plan.contains("messages_conversation_id_seq_key"),
            "messages_after should use the seq index:\n{plan}"
        );
        assert!(
            !plan.contains("Sort"),
            "messages_after should not sort:\n{plan}"
        );
    }
    // A conversation's detail: its newest messages, from the same index
    // read backwards, with the conversation row's version by primary key.
    let plan = store
        .explain_detail_messages(t.id, c.id, 50)
        .await
        .expect("explain");
    assert!(
        plan.contains("$2"),
        "detail messages run a generic plan:\n{plan}"
    );
    assert!(
        plan.contains("Index Scan Backward using messages_conversation_id_seq_key")
            && plan.contains("conversations_pkey"),
        "detail messages should walk the seq index back:\n{plan}"
    );
    assert!(
        !plan.contains("Sort"),
        "detail messages should not sort:\n{plan}"
    );
    // An append batch in one statement finds each conversation through its
    // primary key, joined to the batch's arrays, not by scanning the table.
    let plan = store
        .explain_append_batch(t.id, c.id)
        .await
        .expect("explain");
    assert!(
        plan.contains("Index Scan using conversations_pkey")
            && !plan.contains("Seq Scan on conversations"),
        "an append batch should look its conversations up by key:\n{plan}"
    );
    let missed = store
        .messages_after(t.id, c.id, 7, 100)
        .await
        .expect("after");
    assert_eq!(
        missed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (8..=15).collect::<Vec<_>>()
    );
}

/// The `enuchat demo` load: batches of 1,000 conversations with 15 messages
/// each. Run with `cargo test --release -- --ignored demo_import_throughput
/// --nocapture` to see the rate.
#[tokio::test]
#[ignore = "a benchmark; slow in debug builds"]
async fn demo_import_throughput() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Demo").await;
    let (w1, w2) = (
        widget(&store, t.id, "One").await,
        widget(&store, t.id, "Two").await,
    );
    let batches = 20;
    let built: Vec<DemoBatch> = (0..batches)
        .map(|_| batch(t.id, &[w1.id, w2.id], 1_000, 15))
        .collect();
    let started = Instant::now();
    for b in built {
        store.import_demo_batch(t.id, b).await.expect("import");
    }
    let secs = started.elapsed().as_secs_f64();
    let rows = batches as f64 * 1_000.0 * 17.0;
    eprintln!(
        "demo import: {rows} rows in {secs:.2}s = {:.0} rows/s",
        rows / secs
    );
}

#[tokio::test]
async fn store_connections_run_generic_plans_without_jit_or_parallel_workers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    // No maintenance task (see `connect_with`).
    let options = store.pool().options();
    assert_eq!(
        (options.get_idle_timeout(), options.get_max_lifetime()),
        (None, None)
    );
    // More than one connection: every connection the pool opens has them.
    let mut conns = Vec::new();
    for _ in 0..2 {
        conns.push(store.pool().acquire().await.expect("acquire"));
    }
    for conn in &mut conns {
        for (setting, expected) in [
            ("plan_cache_mode", "force_generic_plan"),
            ("jit", "off"),
            ("max_parallel_workers_per_gather", "0"),
        ] {
            let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
                .fetch_one(&mut **conn)
                .await
                .expect("show");
            assert_eq!(value, expected, "{setting}");
        }
    }
}
