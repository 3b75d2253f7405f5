//! The visitor side where several instances meet: one conversation per
//! visitor however many instances ask for it at once.

mod common;

use common::*;
use enuchat_domain::*;
use futures::future::join_all;
use std::collections::HashSet;

#[tokio::test]
async fn get_or_create_visitor_conversation_from_two_instances_makes_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    let t = tenant(&a, "Acme").await;
    let w = widget(&a, t.id, "Site").await;
    let mut visitors = Vec::new();
    for _ in 0..5 {
        visitors.push(visitor(&a, t.id, w.id).await);
    }

    // Every visitor asked for 8 times at once, half on each instance.
    let calls = visitors.iter().flat_map(|v| {
        let (a, b) = (&a, &b);
        (0..8).map(move |i| async move {
            let store = if i % 2 == 0 { a } else { b };
            let c = store
                .get_or_create_visitor_conversation(
                    t.id,
                    NewConversation {
                        widget_id: w.id,
                        visitor_id: v.id.clone(),
                        visitor_language: None,
                    },
                )
                .await
                .expect("get or create");
            (v.id.clone(), c)
        })
    });
    let results = join_all(calls).await;

    for v in &visitors {
        let got: Vec<&Conversation> = results
            .iter()
            .filter(|(id, _)| id == &v.id)
            .map(|(_, c)| c)
            .collect();
        assert_eq!(got.len(), 8);
        assert!(
            got.iter().all(|c| *c == got[0]),
            "every call returns the same conversation"
        );
        assert_eq!(
            b.visitor_conversation(t.id, &v.id).await.expect("read"),
            Some(got[0].clone())
        );
    }
    let ids: HashSet<ConversationId> = results.iter().map(|(_, c)| c.id).collect();
    assert_eq!(ids.len(), visitors.len());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations")
        .fetch_one(a.pool())
        .await
        .expect("count");
    assert_eq!(rows, 5, "one row per visitor");

    // And the database itself refuses a second one.
    let err = a
        .create_conversation(
            t.id,
            NewConversation {
                widget_id: w.id,
                visitor_id: visitors[0].id.clone(),
                visitor_language: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == "this visitor already has a conversation"),
        "{err:?}"
    );
}
