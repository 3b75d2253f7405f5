//! Group commit of message appends (`src/appender.rs`): appends that wait at
//! the same moment share a transaction, and that changes nothing a caller
//! can see except the number of commits.

mod common;

use common::*;
use enuchat_domain::*;
use enuchat_store_postgres::ListenEvent;
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

/// The other tenant's conversation that a test's appends named: still empty.
async fn nothing_written(store: &enuchat_store_postgres::PostgresStore, foreign: &Conversation) {
    let after = store
        .get_conversation(foreign.tenant_id, foreign.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.last_seq, 0, "nothing written to the other tenant");
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
    nothing_written(&store, &foreign).await;
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

/// A conversation of the one-statement test: how it starts, and the message
/// appended to it.
struct Case {
    widget: WidgetId,
    closed: bool,
    handed_off: bool,
    message: fn() -> NewMessage,
}

fn planned(role: MessageRole, body: &str, language: Option<&str>, plan: JobPlan) -> NewMessage {
    NewMessage {
        content_language: language.map(str::to_owned),
        plan: Some(plan),
        reopen: role == MessageRole::Visitor,
        ..NewMessage::new(role, text(body))
    }
}

/// Messages of every kind the appender writes: planned visitor messages (in
/// another language, asking for a person), an operator's (which hands the
/// conversation to humans), a system message, an unplanned one.
const MESSAGES: [fn() -> NewMessage; 5] = [
    || {
        planned(
            MessageRole::Visitor,
            "Hallo",
            Some("de"),
            JobPlan::default(),
        )
    },
    || {
        let asks = JobPlan {
            asks_for_person: true,
            ..JobPlan::default()
        };
        planned(MessageRole::Visitor, "A person, please", Some("en"), asks)
    },
    || {
        let hands = JobPlan {
            handing_off: true,
            ..JobPlan::default()
        };
        planned(MessageRole::Operator, "Hello, I am here", None, hands)
    },
    || {
        planned(
            MessageRole::System,
            "Visitor left",
            None,
            JobPlan::default(),
        )
    },
    || NewMessage {
        content_language: Some("fr".into()),
        ..NewMessage::new(MessageRole::Visitor, text("Bonjour"))
    },
];

/// A new conversation in `case`'s starting state.
async fn start(
    store: &enuchat_store_postgres::PostgresStore,
    t: TenantId,
    case: &Case,
) -> Conversation {
    let c = conversation(store, t, case.widget).await;
    if case.handed_off {
        store
            .set_handed_off(t, c.id, false)
            .await
            .expect("hand off");
    }
    if case.closed {
        let close = ConversationPatch {
            status: Some(ConversationStatus::Closed),
            assigned_to: None,
        };
        store
            .update_conversation(t, c.id, close)
            .await
            .expect("close");
    }
    store
        .get_conversation(t, c.id)
        .await
        .expect("get")
        .expect("exists")
}

/// What an append left, without ids and times: the conversation, its
/// messages and their jobs.
async fn outcome(
    store: &enuchat_store_postgres::PostgresStore,
    t: TenantId,
    c: ConversationId,
    jobs: &[Job],
) -> String {
    let after = store
        .get_conversation(t, c)
        .await
        .expect("get")
        .expect("exists");
    let messages = store.recent_messages(t, c, 10).await.expect("recent");
    let mut described = format!(
        "status {:?}, handed off {}, visitor language {:?}, last seq {};",
        after.status,
        after.handed_off_at.is_some(),
        after.visitor_language,
        after.last_seq
    );
    for m in messages {
        let mut kinds: Vec<String> = jobs
            .iter()
            .filter(|job| job.message_id == m.id)
            .map(|job| format!("{}{}", job.kind.as_str(), job.payload))
            .collect();
        kinds.sort();
        described += &format!(
            " #{} {:?} {:?} {:?} pending {} jobs {kinds:?};",
            m.seq,
            m.role,
            m.content.as_str(),
            m.content_language,
            m.translation_pending
        );
    }
    described
}

/// Appends that queue together for different conversations are written in
/// one statement per batch (`src/batch_append.rs`): what it stores, and
/// what it announces, is what the same appends written one at a time store.
#[tokio::test]
async fn a_batch_in_one_statement_writes_what_appends_one_by_one_write() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let t = tenant(&store, "Acme").await;
    let mut widgets = Vec::new();
    for (label, ai, translation) in [
        ("AI", true, true),
        ("Plain", false, false),
        ("Tr", false, true),
    ] {
        let w = widget(&store, t.id, label).await;
        let update = WidgetUpdate {
            ai_enabled: Some(ai),
            translation_enabled: Some(translation),
            ..Default::default()
        };
        store
            .update_widget(t.id, w.id, update)
            .await
            .expect("update")
            .expect("widget");
        widgets.push(w.id);
    }
    let mut cases = Vec::new();
    for &widget in &widgets {
        for closed in [false, true] {
            for handed_off in [false, true] {
                for message in MESSAGES {
                    cases.push(Case {
                        widget,
                        closed,
                        handed_off,
                        message,
                    });
                }
            }
        }
    }
    let other = tenant(&store, "Other").await;
    let other_widget = widget(&store, other.id, "Elsewhere").await;
    let foreign = conversation(&store, other.id, other_widget.id).await;

    // One by one: each append alone in its transaction.
    let mut alone = Vec::new();
    for case in &cases {
        let c = start(&store, t.id, case).await;
        store
            .append_message(t.id, c.id, (case.message)())
            .await
            .expect("append")
            .expect("own");
        alone.push(c);
    }
    // The same, all at once: batches of different conversations.
    let mut together = Vec::new();
    for case in &cases {
        together.push(start(&store, t.id, case).await);
    }
    let mut listener = store.listen_messages().await.expect("listen");
    let appends = cases.iter().zip(&together).map(|(case, c)| {
        let store = store.clone();
        async move {
            store
                .append_message(t.id, c.id, (case.message)())
                .await
                .expect("append")
        }
    });
    let stray = store.append_message(t.id, foreign.id, (MESSAGES[0])());
    let (answers, stray) = tokio::join!(join_all(appends), stray);
    assert_eq!(
        stray.expect("append"),
        None,
        "another tenant's conversation"
    );

    let jobs = store.list_jobs(t.id, None, 1000, 0).await.expect("jobs");
    let mut handed_over = 0;
    for ((case, a), (b, answer)) in cases.iter().zip(&alone).zip(together.iter().zip(&answers)) {
        let expected = outcome(&store, t.id, a.id, &jobs).await;
        assert_eq!(
            outcome(&store, t.id, b.id, &jobs).await,
            expected,
            "{:?}",
            (case.message)()
        );
        let stored = store.recent_messages(t.id, b.id, 10).await.expect("recent");
        assert_eq!(
            answer.as_ref(),
            stored.last(),
            "the caller got what was stored"
        );
        let after = store
            .get_conversation(t.id, b.id)
            .await
            .expect("get")
            .expect("exists");
        if after.status == ConversationStatus::Pending && b.status != ConversationStatus::Pending {
            handed_over += 1;
        }
    }
    assert!(handed_over > 0, "some appends hand their conversation over");
    nothing_written(&store, &foreign).await;

    // Every message announced once, with what was stored; each hand-off too.
    let mut notices = BTreeMap::new();
    let mut changed = Vec::new();
    while notices.len() < together.len() || changed.len() < handed_over {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("every notice in time")
            .expect("recv");
        match event {
            ListenEvent::Notice(notice) if notice.conversation_changed => {
                changed.push(notice.conversation_id)
            }
            ListenEvent::Notice(notice) => {
                let message = notice.message.expect("the notice carries its message");
                let again = notices.insert(notice.conversation_id.0, *message);
                assert!(again.is_none(), "announced twice");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for (b, answer) in together.iter().zip(&answers) {
        assert_eq!(notices.get(&b.id.0), answer.as_ref());
    }

    // Fewer transactions than appends: batches were written.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM messages WHERE conversation_id = ANY($1)",
    )
    .bind(together.iter().map(|c| c.id.0).collect::<Vec<_>>())
    .fetch_one(store.pool())
    .await
    .expect("count");
    assert!(
        transactions * 4 <= together.len() as i64,
        "{} appends in {transactions} transactions",
        together.len()
    );
}
