//! Throughput of `import_demo_batch`, which `enuchat demo` relies on.
//! Ignored by default; run with
//! `cargo test --release -p enuchat-store-sqlite --test import_speed -- --ignored --nocapture`.

use chrono::{DateTime, Utc};
use enuchat_domain::store::DemoBatch;
use enuchat_domain::*;
use enuchat_store_sqlite::SqliteStore;
use std::time::Instant;

/// Batches of 1,000 conversations; `ENUCHAT_BENCH_BATCHES` overrides (the demo writes 100).
const BATCHES: usize = 10;
const CONVERSATIONS_PER_BATCH: usize = 1_000;
const MESSAGES_PER_CONVERSATION: i64 = 15;

fn at(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_700_000_000_000_000 + us).expect("in range")
}

#[tokio::test]
#[ignore = "benchmark"]
async fn import_demo_batch_is_fast() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await.expect("open store");
    let tenant = store
        .create_tenant(NewTenant {
            name: DisplayName::parse("Bench").expect("name"),
            plan: PlanName::parse("free").expect("plan"),
            operator_language: LanguageCode::parse("en").expect("language"),
        })
        .await
        .expect("tenant");
    let widget = store
        .create_widget(
            tenant.id,
            NewWidget {
                name: DisplayName::parse("Site").expect("name"),
                is_active: true,
                ai_enabled: false,
                translation_enabled: false,
                primary_color: HexColor::default(),
                position: WidgetPosition::BottomRight,
                greeting: None,
                allowed_origins: Vec::new(),
            },
        )
        .await
        .expect("widget");

    let mut rows = 0usize;
    let mut spent = std::time::Duration::ZERO;
    let batches = std::env::var("ENUCHAT_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCHES);
    for b in 0..batches {
        let mut batch = DemoBatch::default();
        for n in 0..CONVERSATIONS_PER_BATCH {
            let i = (b * CONVERSATIONS_PER_BATCH + n) as i64;
            let visitor = Visitor {
                id: VisitorId::generate(),
                tenant_id: tenant.id,
                widget_id: widget.id,
                name: Some(format!("Visitor {i}")),
                email: None,
                language: Some("pl".into()),
                created_at: at(i * 1_000_000),
            };
            let id = ConversationId::new();
            for seq in 1..=MESSAGES_PER_CONVERSATION {
                batch.messages.push(Message {
                    id: MessageId::new(),
                    conversation_id: id,
                    seq,
                    role: if seq % 2 == 1 {
                        MessageRole::Visitor
                    } else {
                        MessageRole::Operator
                    },
                    content: format!(
                        "Message {seq} of conversation {i}, with a typical length of text."
                    ),
                    content_language: Some("pl".into()),
                    translated_content: Some(format!("Translated message {seq}")),
                    translated_language: Some("en".into()),
                    is_auto_reply: false,
                    author_id: None,
                    created_at: at(i * 1_000_000 + seq * 1_000),
                    translation_pending: false,
                });
            }
            batch.conversations.push(Conversation {
                id,
                tenant_id: tenant.id,
                widget_id: widget.id,
                visitor_id: visitor.id.clone(),
                visitor_name: visitor.name.clone(),
                visitor_email: None,
                visitor_language: Some("pl".into()),
                status: ConversationStatus::ALL[(i % 3) as usize],
                assigned_to: None,
                last_message_at: at(i * 1_000_000 + MESSAGES_PER_CONVERSATION * 1_000),
                started_at: at(i * 1_000_000),
                last_seq: MESSAGES_PER_CONVERSATION,
                handed_off_at: None,
            });
            batch.visitors.push(visitor);
        }
        rows += batch.visitors.len() + batch.conversations.len() + batch.messages.len();
        let start = Instant::now();
        store
            .import_demo_batch(tenant.id, batch)
            .await
            .expect("import");
        spent += start.elapsed();
    }
    let per_sec = rows as f64 / spent.as_secs_f64();
    eprintln!("imported {rows} rows in {spent:.2?}: {per_sec:.0} rows/s");
}
