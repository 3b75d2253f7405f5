//! Group commit of message appends (`src/appender.rs`): appends that wait at
//! the same moment share a transaction, and that changes nothing a caller
//! can see except the number of commits.

mod common;

use common::*;
use enuchat_domain::*;
use futures::future::join_all;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Transactions that wrote the tenant's messages (rows written by one
/// transaction share its `xmin`).
async fn writing_transactions(store: &enuchat_store_postgres::PostgresStore, t: TenantId) -> i64 {
    sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM messages WHERE tenant_id = $1")
        .bind(t.0)
        .fetch_one(store.pool())
        .await
        .expect("count transactions")
}

/// The tenant's list version as readers compute it: the sum of its stripes
/// (and the stripes, which each connection picks by its process id).
async fn list_version(
    store: &enuchat_store_postgres::PostgresStore,
    t: TenantId,
) -> (i64, Vec<i16>) {
    let stripes: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT stripe, version FROM conversation_list_versions WHERE tenant_id = $1",
    )
    .bind(t.0)
    .fetch_all(store.pool())
    .await
    .expect("list version");
    let sum = stripes.iter().map(|(_, version)| version).sum();
    (sum, stripes.into_iter().map(|(stripe, _)| stripe).collect())
}

#[tokio::test]
async fn concurrent_appends_share_transactions_and_keep_gapless_seqs() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Acme").await;
    let w = widget(&store, t.id, "Site").await;
    let mut conversations = Vec::new();
    for _ in 0..5 {
        conversations.push(conversation(&store, t.id, w.id).await);
    }
    // Another tenant's conversation, in the middle of the same batches.
    let other = tenant(&store, "Other").await;
    let other_widget = widget(&store, other.id, "Elsewhere").await;
    let foreign = conversation(&store, other.id, other_widget.id).await;

    let (version_before, _) = list_version(&store, t.id).await;

    let appends = (0..200).map(|i| {
        let store = store.clone();
        let target = if i % 50 == 7 {
            foreign.id
        } else {
            conversations[i % 5].id
        };
        async move {
            let new = NewMessage::new(MessageRole::Visitor, text(&format!("m{i}")));
            (
                target,
                store
                    .append_message(t.id, target, new)
                    .await
                    .expect("append"),
            )
        }
    });
    let results = join_all(appends).await;

    let mut by_conversation: BTreeMap<Uuid, Vec<Message>> = BTreeMap::new();
    for (target, result) in results {
        if target == foreign.id {
            assert_eq!(result, None, "another tenant's conversation is not found");
        } else {
            let message = result.expect("own conversation");
            assert_eq!(message.conversation_id, target);
            by_conversation.entry(target.0).or_default().push(message);
        }
    }
    let mut answered = 0;
    for c in &conversations {
        let mut messages = by_conversation.remove(&c.id.0).expect("messages");
        messages.sort_by_key(|m| m.seq);
        let n = messages.len() as i64;
        answered += n;
        assert_eq!(
            messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=n).collect::<Vec<_>>(),
            "gapless seqs"
        );
        assert!(messages
            .windows(2)
            .all(|p| p[0].created_at <= p[1].created_at));
        // What each caller was answered is what was stored.
        let stored = store
            .recent_messages(t.id, c.id, 100)
            .await
            .expect("recent");
        assert_eq!(stored, messages);
        let after = store
            .get_conversation(t.id, c.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(after.last_seq, n);
    }
    assert_eq!(answered, 196);
    let foreign_after = store
        .get_conversation(other.id, foreign.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        foreign_after.last_seq, 0,
        "nothing written to the other tenant"
    );
    // They were queued together, so they were written together: far fewer
    // transactions than messages.
    let transactions = writing_transactions(&store, t.id).await;
    assert!(
        transactions < 100,
        "196 appends in {transactions} transactions"
    );
    // Each of those moved the tenant's list version on once, whichever
    // writer's stripe it added to; so did each append to the other tenant's
    // conversation that was written alone (it matched nothing, and there are
    // four of them).
    let (version_after, stripes) = list_version(&store, t.id).await;
    let bumps = version_after - version_before;
    assert!(
        (transactions..=transactions + 4).contains(&bumps),
        "{transactions} transactions moved the version on {bumps} times"
    );
    assert!(
        stripes.iter().all(|stripe| (0..8).contains(stripe)),
        "{stripes:?}"
    );
}

#[tokio::test]
async fn a_failing_append_fails_alone() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.content = 'boom' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_boom BEFORE INSERT ON messages \
         FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(store.pool())
    .await
    .expect("trigger");
    let t = tenant(&store, "Acme").await;
    let w = widget(&store, t.id, "Site").await;
    let c = conversation(&store, t.id, w.id).await;

    let appends = (0..60).map(|i| {
        let store = store.clone();
        let content = if i % 10 == 3 {
            "boom".to_string()
        } else {
            format!("m{i}")
        };
        async move {
            let new = NewMessage::new(MessageRole::Visitor, text(&content));
            (content, store.append_message(t.id, c.id, new).await)
        }
    });
    let results = join_all(appends).await;

    let mut stored_answers = Vec::new();
    for (content, result) in results {
        if content == "boom" {
            assert!(result.is_err(), "the refused append fails");
        } else {
            stored_answers.push(result.expect("append").expect("conversation exists"));
        }
    }
    stored_answers.sort_by_key(|m| m.seq);
    assert_eq!(
        stored_answers.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=54).collect::<Vec<_>>(),
        "no seq spent on a failed append"
    );
    let stored = store
        .recent_messages(t.id, c.id, 100)
        .await
        .expect("recent");
    assert_eq!(stored, stored_answers);
    assert!(stored.iter().all(|m| m.content.as_str() != "boom"));
}
