//! Message notices between instances: `append_message` on one
//! `PostgresStore` is heard by a `MessageListener` of another (separate pools,
//! as separate processes would have), only once committed, in seq order, and
//! a lost listening connection is reported as `Reconnected`. Conversation
//! changes (`update_conversation`, `set_handed_off`) are announced the same
//! way.

mod common;

use common::*;
use enuchat_domain::*;
use enuchat_store_postgres::{
    ListenEvent, MessageListener, PostgresStore, LISTENER_APPLICATION_NAME,
};
use futures::future::join_all;
use sqlx::{Connection, Executor};
use std::time::Duration;

/// Generous: the machine may be busy with other builds.
const WAIT: Duration = Duration::from_secs(15);

/// Two instances on one database (separate pools, as separate processes
/// would have), and through `a` a tenant with a widget and a conversation.
struct Instances {
    a: PostgresStore,
    b: PostgresStore,
    t: Tenant,
    w: Widget,
    c: Conversation,
}

async fn two_instances(db: &TestDb) -> Instances {
    let (a, b) = (db.store().await, db.store().await);
    let t = tenant(&a, "Acme").await;
    let w = widget(&a, t.id, "Site").await;
    let c = conversation(&a, t.id, w.id).await;
    Instances { a, b, t, w, c }
}

/// The next event as heard, the message a notice carries included.
async fn next_with_message(listener: &mut MessageListener) -> ListenEvent {
    tokio::time::timeout(WAIT, listener.recv())
        .await
        .expect("an event in time")
        .expect("recv")
}

/// The next event without the message a notice carries: most tests here are
/// about which notices arrive and when; the carried message is checked by
/// `a_notice_carries_its_message_when_it_fits`.
async fn next(listener: &mut MessageListener) -> ListenEvent {
    match next_with_message(listener).await {
        ListenEvent::Notice(notice) => ListenEvent::Notice(MessageNotice {
            message: None,
            ..notice
        }),
        other => other,
    }
}

async fn nothing_for(listener: &mut MessageListener, wait: Duration) {
    if let Ok(event) = tokio::time::timeout(wait, listener.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

fn notice(c: &Conversation, seq: i64) -> MessageNotice {
    MessageNotice {
        tenant_id: c.tenant_id,
        conversation_id: c.id,
        visitor_id: c.visitor_id.clone(),
        seq,
        updated: false,
        conversation_changed: false,
        message: None,
    }
}

/// "`c` changed" (status, assignment, hand-off), at its `last_seq`.
fn changed(c: &Conversation, last_seq: i64) -> MessageNotice {
    MessageNotice {
        conversation_changed: true,
        ..notice(c, last_seq)
    }
}

async fn append(store: &PostgresStore, c: &Conversation, content: &str) -> Option<Message> {
    store
        .append_message(
            c.tenant_id,
            c.id,
            NewMessage::new(MessageRole::Visitor, text(content)),
        )
        .await
        .expect("append")
}

/// A deferred constraint trigger, i.e. one that runs as the transaction
/// commits, after `append_message`'s statement (and its `pg_notify`) is
/// done: it sleeps for a message saying "slow" and refuses one saying "fail".
async fn install_commit_trigger(store: &PostgresStore) {
    sqlx::raw_sql(
        "CREATE FUNCTION test_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF NEW.content = 'slow' THEN PERFORM pg_sleep(2); END IF; \
           IF NEW.content = 'fail' THEN RAISE EXCEPTION 'refused at commit'; END IF; \
           RETURN NULL; \
         END $$; \
         CREATE CONSTRAINT TRIGGER test_at_commit AFTER INSERT ON messages \
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_at_commit();",
    )
    .execute(store.pool())
    .await
    .expect("install trigger");
}

/// Listening connections of the test database.
async fn listeners(store: &PostgresStore) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .fetch_one(store.pool())
    .await
    .expect("count listeners")
}

#[tokio::test]
async fn another_instance_hears_a_message_once_it_is_committed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, c, .. } = two_instances(&db).await;
    let mut listener = b.listen_messages().await.expect("listen");
    // A plain sqlx listener too, to see the payload as sent.
    let mut raw = sqlx::postgres::PgListener::connect(&db.url)
        .await
        .expect("raw listener");
    raw.listen(MESSAGES_CHANNEL).await.expect("raw listen");

    let m = append(&a, &c, "hello").await.expect("conversation exists");
    assert_eq!(m.seq, 1);
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 1))
    );
    let sent = tokio::time::timeout(WAIT, raw.recv())
        .await
        .expect("in time")
        .expect("raw recv");
    assert_eq!(sent.channel(), MESSAGES_CHANNEL);
    assert_eq!(
        serde_json::from_str::<MessageNotice>(sent.payload()).expect("a MessageNotice"),
        MessageNotice {
            message: Some(Box::new(m.clone())),
            ..notice(&c, 1)
        },
        "the payload is a MessageNotice carrying the message"
    );

    // While the append's transaction is committing (the trigger sleeps at
    // commit, after the statement sent its notice) nothing is heard yet.
    install_commit_trigger(&a).await;
    let slow = tokio::spawn({
        let (a, c) = (a.clone(), c.clone());
        async move { append(&a, &c, "slow").await }
    });
    let started = std::time::Instant::now();
    loop {
        let sleeping: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event = 'PgSleep'",
        )
        .fetch_one(b.pool())
        .await
        .expect("activity");
        if sleeping == 1 {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the append never reached its commit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nothing_for(&mut listener, Duration::from_millis(500)).await;
    let m = slow.await.expect("task").expect("conversation exists");
    assert_eq!(m.seq, 2);
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 2))
    );
}

#[tokio::test]
async fn failed_foreign_and_imported_messages_are_not_announced() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, t, w, c } = two_instances(&db).await;
    let other = tenant(&a, "Other").await;
    let mut listener = b.listen_messages().await.expect("listen");
    install_commit_trigger(&a).await;

    // Refused at commit, after pg_notify ran: rolled back, notice and all.
    let err = a
        .append_message(
            t.id,
            c.id,
            NewMessage::new(MessageRole::Visitor, text("fail")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    // Another tenant's conversation: nothing written, nothing sent.
    let foreign = a
        .append_message(
            other.id,
            c.id,
            NewMessage::new(MessageRole::Operator, text("hi")),
        )
        .await
        .expect("append");
    assert_eq!(foreign, None);
    // Demo imports write messages without announcing them.
    let v = visitor(&a, t.id, w.id).await;
    let now = chrono::Utc::now();
    let imported = ConversationId::new();
    a.import_demo_batch(
        t.id,
        DemoBatch {
            visitors: Vec::new(),
            conversations: vec![Conversation {
                id: imported,
                tenant_id: t.id,
                widget_id: w.id,
                visitor_id: v.id.clone(),
                visitor_name: None,
                visitor_email: None,
                visitor_language: None,
                status: ConversationStatus::Closed,
                assigned_to: None,
                last_message_at: now,
                started_at: now,
                last_seq: 1,
                handed_off_at: None,
            }],
            messages: vec![Message {
                id: MessageId::new(),
                conversation_id: imported,
                seq: 1,
                role: MessageRole::Visitor,
                content: "imported".into(),
                content_language: None,
                translated_content: None,
                translated_language: None,
                is_auto_reply: false,
                author_id: None,
                created_at: now,
                translation_pending: false,
            }],
        },
    )
    .await
    .expect("import");

    // The first thing heard is the next real message, which got seq 1: the
    // failed append left no trace.
    let m = append(&a, &c, "after").await.expect("conversation exists");
    assert_eq!(m.seq, 1);
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 1))
    );
    nothing_for(&mut listener, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn conversation_changes_are_announced_once_committed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, t, c, .. } = two_instances(&db).await;
    let other = tenant(&a, "Other").await;
    let stranger = a
        .create_operator(
            other.id,
            NewOperator {
                email: Email::parse("eve@example.com").expect("email"),
                name: name("Eve"),
                role: OperatorRole::Operator,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            },
        )
        .await
        .expect("operator");
    let ada = a
        .create_operator(
            t.id,
            NewOperator {
                email: Email::parse("ada@example.com").expect("email"),
                name: name("Ada"),
                role: OperatorRole::Operator,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            },
        )
        .await
        .expect("operator");
    let mut listener = b.listen_messages().await.expect("listen");
    let mut raw = sqlx::postgres::PgListener::connect(&db.url)
        .await
        .expect("raw listener");
    raw.listen(MESSAGES_CHANNEL).await.expect("raw listen");

    // A status change, before any message: seq is the conversation's 0.
    let patch = ConversationPatch {
        status: Some(ConversationStatus::Pending),
        assigned_to: None,
    };
    a.update_conversation(t.id, c.id, patch)
        .await
        .expect("update")
        .expect("found");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(changed(&c, 0))
    );
    let sent = tokio::time::timeout(WAIT, raw.recv())
        .await
        .expect("in time")
        .expect("raw recv");
    assert_eq!(
        sent.payload(),
        serde_json::to_string(&changed(&c, 0)).expect("json"),
        "the payload is MessageNotice as serde_json writes it"
    );

    // Refused or foreign changes touch nothing and announce nothing.
    let refused = a
        .update_conversation(
            t.id,
            c.id,
            ConversationPatch {
                status: None,
                assigned_to: Some(Some(stranger.id)),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::MissingReference("operator")));
    let patch = ConversationPatch {
        status: Some(ConversationStatus::Closed),
        assigned_to: None,
    };
    assert_eq!(
        a.update_conversation(other.id, c.id, patch)
            .await
            .expect("update"),
        None
    );
    assert_eq!(
        a.set_handed_off(other.id, c.id, true)
            .await
            .expect("hand off"),
        None
    );
    nothing_for(&mut listener, Duration::from_millis(300)).await;

    // After a message: the message's notice, then an assignment's, at seq 1.
    append(&a, &c, "hello").await.expect("conversation exists");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 1))
    );
    let patch = ConversationPatch {
        status: None,
        assigned_to: Some(Some(ada.id)),
    };
    a.update_conversation(t.id, c.id, patch)
        .await
        .expect("update")
        .expect("found");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(changed(&c, 1))
    );
    // Handed to humans.
    a.set_handed_off(t.id, c.id, true)
        .await
        .expect("hand off")
        .expect("found");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(changed(&c, 1))
    );
    nothing_for(&mut listener, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_hand_off_in_an_append_is_announced_as_a_change() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, t, w, c } = two_instances(&db).await;
    let ai_on = WidgetUpdate {
        ai_enabled: Some(true),
        ..Default::default()
    };
    a.update_widget(t.id, w.id, ai_on).await.unwrap().unwrap();
    let mut listener = b.listen_messages().await.expect("listen");
    let asking = |content: &str| NewMessage {
        plan: Some(JobPlan {
            asks_for_person: true,
            ..JobPlan::default()
        }),
        ..NewMessage::new(MessageRole::Visitor, text(content))
    };

    // The AI answered: the request hands off, announced with its message.
    a.append_message(t.id, c.id, asking("a human please"))
        .await
        .expect("append")
        .expect("found");
    let heard = [next(&mut listener).await, next(&mut listener).await];
    assert!(
        heard.contains(&ListenEvent::Notice(notice(&c, 1))),
        "{heard:?}"
    );
    assert!(
        heard.contains(&ListenEvent::Notice(changed(&c, 1))),
        "{heard:?}"
    );
    // Humans in charge already: only the message.
    a.append_message(t.id, c.id, asking("a human!"))
        .await
        .expect("append")
        .expect("found");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 2))
    );
    nothing_for(&mut listener, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn notices_of_each_conversation_arrive_in_seq_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances {
        a, b, t, w, c: c1, ..
    } = two_instances(&db).await;
    let c2 = conversation(&a, t.id, w.id).await;
    let mut listener = b.listen_messages().await.expect("listen");

    const PER: i64 = 40;
    // All at once through A's pool of 10: they race for each conversation's
    // row lock, so commit order is not call order.
    let appends = (0..PER * 2).map(|i| {
        let (a, c) = (a.clone(), if i % 2 == 0 { &c1 } else { &c2 });
        async move { append(&a, c, &format!("m{i}")).await.expect("exists") }
    });
    join_all(appends).await;

    let mut heard = Vec::new();
    for _ in 0..PER * 2 {
        match next(&mut listener).await {
            ListenEvent::Notice(n) => heard.push(n),
            other => panic!("unexpected {other:?}"),
        }
    }
    for c in [&c1, &c2] {
        let seqs: Vec<i64> = heard
            .iter()
            .filter(|n| n.conversation_id == c.id)
            .map(|n| n.seq)
            .collect();
        assert_eq!(seqs, (1..=PER).collect::<Vec<_>>());
    }
    assert!(heard
        .iter()
        .all(|n| n.tenant_id == t.id
            && (n.visitor_id == c1.visitor_id) == (n.conversation_id == c1.id)));
    nothing_for(&mut listener, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_killed_listening_connection_is_reported_and_replaced() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, c, .. } = two_instances(&db).await;
    let mut listener = b.listen_messages().await.expect("listen");
    assert_eq!(listeners(&a).await, 1);

    for seq in 1..=2 {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(LISTENER_APPLICATION_NAME)
        .fetch_all(a.pool())
        .await
        .expect("terminate");
        assert_eq!(killed, vec![true], "one listening connection to kill");

        assert_eq!(next(&mut listener).await, ListenEvent::Reconnected);
        // Listening again, on a new connection.
        assert_eq!(listeners(&a).await, 1);
        append(&a, &c, "again").await.expect("exists");
        assert_eq!(
            next(&mut listener).await,
            ListenEvent::Notice(notice(&c, seq))
        );
    }
    // The store's own pools were not touched.
    a.ping().await.expect("ping a");
    b.ping().await.expect("ping b");
}

#[tokio::test]
async fn a_listener_that_cannot_reconnect_says_so_and_retries() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, c, .. } = two_instances(&db).await;
    let mut listener = b.listen_messages().await.expect("listen");
    let mut admin = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("admin");
    let allow = |yes: bool| format!("ALTER DATABASE {} ALLOW_CONNECTIONS {yes}", db.name);

    // New connections are refused (existing ones live on), then the
    // listening one is killed: sqlx's own reconnection fails.
    admin.execute(allow(false).as_str()).await.expect("refuse");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(LISTENER_APPLICATION_NAME)
    .execute(a.pool())
    .await
    .expect("terminate");
    let lost = tokio::time::timeout(WAIT, listener.recv())
        .await
        .expect("in time");
    assert!(matches!(lost, Err(StoreError::Database(_))), "{lost:?}");
    // It keeps trying in the background.
    nothing_for(&mut listener, Duration::from_millis(600)).await;
    admin.execute(allow(true).as_str()).await.expect("allow");
    assert_eq!(next(&mut listener).await, ListenEvent::Reconnected);
    append(&a, &c, "back").await.expect("exists");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 1))
    );
}

#[tokio::test]
async fn malformed_payloads_are_skipped() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = db.store().await;
    let t = tenant(&a, "Acme").await;
    let w = widget(&a, t.id, "Site").await;
    let c = conversation(&a, t.id, w.id).await;
    let mut listener = a.listen_messages().await.expect("listen");
    for payload in ["", "not json", r#"{"seq":1}"#, r#"{"tenant_id":"x"}"#] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(MESSAGES_CHANNEL)
            .bind(payload)
            .execute(a.pool())
            .await
            .expect("notify");
    }
    append(&a, &c, "real").await.expect("exists");
    assert_eq!(
        next(&mut listener).await,
        ListenEvent::Notice(notice(&c, 1))
    );
}

#[tokio::test]
async fn dropping_the_listener_closes_its_connection() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = db.store().await;
    let listener = a.listen_messages().await.expect("listen");
    let second = a.listen_messages().await.expect("listen");
    assert_eq!(listeners(&a).await, 2);
    drop(listener);
    let started = std::time::Instant::now();
    while listeners(&a).await != 1 {
        assert!(started.elapsed() < WAIT, "the connection stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
}

#[tokio::test]
async fn a_notice_carries_its_message_when_it_fits() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Instances { a, b, t, c, .. } = two_instances(&db).await;
    let mut listener = b.listen_messages().await.expect("listen");

    // As committed: what reading it back gives, to the microsecond.
    let short = append(&a, &c, "Hello \"there\"\n\u{1F600} <b>")
        .await
        .expect("exists");
    assert_eq!(
        next_with_message(&mut listener).await,
        ListenEvent::Notice(MessageNotice {
            message: Some(Box::new(short.clone())),
            ..notice(&c, 1)
        })
    );
    let stored = b.messages_after(t.id, c.id, 0, 1).await.expect("read");
    assert_eq!(stored, vec![short]);

    // The longest message the API accepts does not fit under PostgreSQL's
    // 8,000-byte limit: the notice goes without it, and the append works.
    let long = "é".repeat(MAX_MESSAGE_CHARS);
    let appended = append(&a, &c, &long).await.expect("exists");
    assert_eq!(appended.content, long);
    assert_eq!(
        next_with_message(&mut listener).await,
        ListenEvent::Notice(notice(&c, 2))
    );

    // Escaping can make a message that is short in bytes long in JSON (a
    // control character becomes six): the check is on the payload itself.
    let escaped = "\u{1}".repeat(2_000);
    append(&a, &c, &escaped).await.expect("exists");
    assert_eq!(
        next_with_message(&mut listener).await,
        ListenEvent::Notice(notice(&c, 3))
    );

    // A translation's notice carries the changed message too.
    let mut new = NewMessage::new(MessageRole::Visitor, text("Dzień dobry"));
    new.jobs = vec![NewJob {
        kind: JobKind::Translate,
        payload: serde_json::json!({ "from": "pl", "to": "en" }),
    }];
    let pending = a
        .append_message(t.id, c.id, new)
        .await
        .expect("append")
        .expect("exists");
    assert!(pending.translation_pending);
    assert_eq!(
        next_with_message(&mut listener).await,
        ListenEvent::Notice(MessageNotice {
            message: Some(Box::new(pending.clone())),
            ..notice(&c, 4)
        })
    );
    let claimed = a
        .claim_jobs(
            chrono::Utc::now() + chrono::Duration::seconds(1),
            Duration::from_secs(30),
            10,
        )
        .await
        .expect("claim");
    let translation = TranslationOutcome {
        translated_content: "Good morning".into(),
        translated_language: "en".into(),
        charge: 0,
    };
    let translated = a
        .complete_translation(t.id, &claimed[0], translation)
        .await
        .expect("complete")
        .expect("lease held");
    assert_eq!(
        translated.translated_content.as_deref(),
        Some("Good morning")
    );
    assert_eq!(
        next_with_message(&mut listener).await,
        ListenEvent::Notice(MessageNotice {
            updated: true,
            message: Some(Box::new(translated)),
            ..notice(&c, 4)
        })
    );
    nothing_for(&mut listener, Duration::from_millis(200)).await;
}
