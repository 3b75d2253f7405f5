//! Issue 6 storage: the durable job queue (enqueued with messages, claimed
//! with leases, completed at most once), credit charges, knowledge entries,
//! hand-off and the visitor's current language.

use super::SharedStore;
use crate::fixtures::*;
use chrono::{DateTime, Utc};
use enuchat_domain::*;
use std::collections::HashSet;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

fn translate_to(lang: &str) -> NewJob {
    NewJob {
        kind: JobKind::Translate,
        payload: serde_json::json!({ "from": "pl", "to": lang }),
    }
}

fn ai_reply() -> NewJob {
    NewJob {
        kind: JobKind::AiReply,
        payload: serde_json::json!({}),
    }
}

fn with_jobs(role: MessageRole, body: &str, jobs: Vec<NewJob>) -> NewMessage {
    NewMessage {
        jobs,
        ..NewMessage::new(role, text(body))
    }
}

/// A moment safely after every job written so far was due: PostgreSQL
/// stamps jobs with its own clock, the claims below use this one.
fn soon() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(1)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

async fn append_with(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
    new: NewMessage,
) -> Message {
    store
        .append_message(tenant, conversation, new)
        .await
        .expect("append message")
        .expect("conversation belongs to the tenant")
}

async fn all_jobs(store: &dyn Store, tenant: TenantId) -> Vec<Job> {
    store.list_jobs(tenant, None, 1000, 0).await.unwrap()
}

async fn job_of(store: &dyn Store, tenant: TenantId, id: JobId) -> Job {
    all_jobs(store, tenant)
        .await
        .into_iter()
        .find(|j| j.id == id)
        .expect("job listed")
}

async fn balance(store: &dyn Store, tenant: TenantId) -> i64 {
    store
        .get_tenant(tenant)
        .await
        .unwrap()
        .unwrap()
        .credit_balance
}

fn outcome(text: &str, charge: i64) -> TranslationOutcome {
    TranslationOutcome {
        translated_content: text.into(),
        translated_language: "en".into(),
        charge,
    }
}

/// A visitor's "Dzień dobry" that queues its translation and an AI reply.
async fn greeting_with_both_jobs(
    store: &dyn Store,
    tenant: TenantId,
    conversation: ConversationId,
) -> Message {
    let greeting = with_jobs(
        MessageRole::Visitor,
        "Dzień dobry",
        vec![translate_to("en"), ai_reply()],
    );
    append_with(store, tenant, conversation, greeting).await
}

pub async fn jobs_are_enqueued_with_their_message_atomically(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let c = conversation(store, t.id, w.id).await;

    let m = greeting_with_both_jobs(store, t.id, c.id).await;
    let jobs = all_jobs(store, t.id).await;
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(
            (job.tenant_id, job.conversation_id, job.message_id),
            (t.id, c.id, m.id)
        );
        assert_eq!((job.status, job.attempts), (JobStatus::Queued, 0));
        assert_eq!(micros(job.run_at), micros(m.created_at), "due at once");
        assert_eq!(
            (job.locked_until, &job.last_error, &job.note),
            (None, &None, &None)
        );
        assert_eq!(job.created_at, job.run_at);
    }
    let kinds: HashSet<JobKind> = jobs.iter().map(|j| j.kind).collect();
    assert_eq!(kinds, HashSet::from([JobKind::Translate, JobKind::AiReply]));
    let translate = jobs.iter().find(|j| j.kind == JobKind::Translate).unwrap();
    assert_eq!(
        translate.payload,
        serde_json::json!({"from": "pl", "to": "en"})
    );

    // Two jobs of one kind: the append fails as a whole.
    let twice = store
        .append_message(
            t.id,
            c.id,
            with_jobs(
                MessageRole::Visitor,
                "again",
                vec![translate_to("en"), translate_to("de")],
            ),
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(now.last_seq, 1, "no message was stored");
    assert_eq!(
        store.recent_messages(t.id, c.id, 10).await.unwrap(),
        vec![m.clone()]
    );
    assert_eq!(all_jobs(store, t.id).await.len(), 2, "no job was stored");

    // Another tenant's conversation: nothing at all.
    let foreign = store
        .append_message(
            other.id,
            c.id,
            with_jobs(MessageRole::Visitor, "hi", vec![ai_reply()]),
        )
        .await
        .unwrap();
    assert_eq!(foreign, None);
    assert!(all_jobs(store, other.id).await.is_empty());
    assert_eq!(all_jobs(store, t.id).await.len(), 2);

    // Newest first, filtered and paged.
    let m2 = append_with(
        store,
        t.id,
        c.id,
        with_jobs(MessageRole::Operator, "Hello", vec![translate_to("pl")]),
    )
    .await;
    let listed = all_jobs(store, t.id).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].message_id, m2.id, "newest first");
    assert_eq!(
        store.list_jobs(t.id, None, 1, 1).await.unwrap(),
        listed[1..2]
    );
    assert_eq!(
        store
            .list_jobs(t.id, Some(JobStatus::Queued), 10, 0)
            .await
            .unwrap(),
        listed
    );
    assert!(store
        .list_jobs(t.id, Some(JobStatus::Running), 10, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.get_message(t.id, m.id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(store.get_message(other.id, m.id).await.unwrap(), None);
}

pub async fn jobs_are_claimed_with_a_lease_and_reclaimed_after_it(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    let mut messages = Vec::new();
    for body in ["one", "two", "three"] {
        messages.push(
            append_with(
                store,
                t.id,
                c.id,
                with_jobs(MessageRole::Visitor, body, vec![ai_reply()]),
            )
            .await,
        );
    }

    // Nothing is due before it was written.
    let before = messages[0].created_at - secs(60);
    assert!(store
        .claim_jobs(before, LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    let now = soon();
    let first = store.claim_jobs(now, LEASE, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        first.iter().map(|j| j.job.message_id).collect::<Vec<_>>(),
        vec![messages[0].id, messages[1].id],
        "oldest first"
    );
    for claimed in &first {
        assert_eq!(
            (claimed.job.status, claimed.job.attempts),
            (JobStatus::Running, 1)
        );
        assert_eq!(
            claimed.job.locked_until.map(micros),
            Some(micros(now + secs(30)))
        );
        assert_eq!(job_of(store, t.id, claimed.job.id).await, claimed.job);
    }
    let second = store.claim_jobs(now, LEASE, 10).await.unwrap();
    assert_eq!(second.len(), 1, "held jobs are not claimed again");
    assert_eq!(second[0].job.message_id, messages[2].id);
    assert!(store
        .claim_jobs(now + secs(29), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // Their workers died: once the leases end, the jobs are claimed again.
    let later = now + secs(31);
    let again = store.claim_jobs(later, LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 3);
    for claimed in &again {
        assert_eq!(claimed.job.attempts, 2);
        let before = first
            .iter()
            .chain(&second)
            .find(|j| j.job.id == claimed.job.id);
        assert_ne!(claimed.lease, before.unwrap().lease, "a fresh lease");
    }
    assert!(store.claim_jobs(later, LEASE, 10).await.unwrap().is_empty());
}

pub async fn a_stale_lease_cannot_complete_a_job(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    store.add_credits(t.id, 100).await.unwrap();
    let c = conversation(store, t.id, w.id).await;
    let m = greeting_with_both_jobs(store, t.id, c.id).await;

    let now = soon();
    let stale = store.claim_jobs(now, LEASE, 10).await.unwrap();
    assert_eq!(stale.len(), 2);
    let fresh = store.claim_jobs(now + secs(31), LEASE, 10).await.unwrap();
    assert_eq!(fresh.len(), 2);
    let find =
        |jobs: &[ClaimedJob], kind| jobs.iter().find(|j| j.job.kind == kind).unwrap().clone();

    // The first worker comes back: none of its writes count.
    let old_translate = find(&stale, JobKind::Translate);
    let old_ai = find(&stale, JobKind::AiReply);
    assert_eq!(
        store
            .complete_translation(t.id, &old_translate, outcome("Good morning", 10))
            .await
            .unwrap(),
        None
    );
    let reply = NewMessage {
        is_auto_reply: true,
        ..NewMessage::new(MessageRole::Ai, text("Hello!"))
    };
    assert_eq!(
        store
            .complete_ai_reply(t.id, &old_ai, reply.clone(), 10)
            .await
            .unwrap(),
        None
    );
    assert!(!store.finish_job(t.id, &old_ai, Some("late")).await.unwrap());
    assert!(!store.fail_job(t.id, &old_ai, "late", None).await.unwrap());
    assert_eq!(
        store.get_message(t.id, m.id).await.unwrap(),
        Some(m.clone())
    );
    let unchanged = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(unchanged.last_seq, 1, "no AI message");
    assert_eq!(balance(store, t.id).await, 100, "no charge");
    for job in all_jobs(store, t.id).await {
        assert_eq!((job.status, job.attempts), (JobStatus::Running, 2));
    }

    // Another tenant cannot end the jobs either, even with the lease.
    let (other, _) = tenant_with_widget(store, "Other").await;
    let new_ai = find(&fresh, JobKind::AiReply);
    assert!(!store.finish_job(other.id, &new_ai, None).await.unwrap());

    // The current holder completes them, once.
    let new_translate = find(&fresh, JobKind::Translate);
    let translated = store
        .complete_translation(t.id, &new_translate, outcome("Good morning", 10))
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(
        translated.translated_content.as_deref(),
        Some("Good morning")
    );
    let (ai, _) = store
        .complete_ai_reply(t.id, &new_ai, reply.clone(), 10)
        .await
        .unwrap()
        .expect("lease held");
    assert_eq!(ai.seq, 2);
    assert_eq!(balance(store, t.id).await, 80);
    // ...and not twice: a done job has no lease left to match.
    assert_eq!(
        store
            .complete_translation(t.id, &new_translate, outcome("Again", 10))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .complete_ai_reply(t.id, &new_ai, reply, 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(balance(store, t.id).await, 80);
    assert_eq!(store.list_ledger(t.id, 10, 0).await.unwrap().len(), 3);
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(now.last_seq, 2);
    for job in all_jobs(store, t.id).await {
        assert_eq!(job.status, JobStatus::Done);
        assert_eq!(job.locked_until, None);
    }
    assert!(store
        .claim_jobs(now.last_message_at + secs(3600), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn concurrent_claimers_take_every_job_exactly_once(store: SharedStore) {
    let (t, w) = tenant_with_widget(&*store, "Acme").await;
    // 50 jobs over 25 messages in 5 conversations.
    for _ in 0..5 {
        let c = conversation(&*store, t.id, w.id).await;
        for i in 0..5 {
            append_with(
                &*store,
                t.id,
                c.id,
                with_jobs(
                    MessageRole::Visitor,
                    &format!("message {i}"),
                    vec![translate_to("en"), ai_reply()],
                ),
            )
            .await;
        }
    }
    let now = soon();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_jobs(now, LEASE, 3).await.expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|j| j.job.id));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.expect("worker task"));
    }
    let distinct: HashSet<JobId> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 50, "no job claimed twice");
    assert_eq!(distinct.len(), 50, "every job claimed");
    for job in all_jobs(&*store, t.id).await {
        assert_eq!((job.status, job.attempts), (JobStatus::Running, 1));
    }
}

pub async fn failed_jobs_retry_later_or_stay_visible(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    append_with(
        store,
        t.id,
        c.id,
        with_jobs(MessageRole::Visitor, "Hola", vec![translate_to("en")]),
    )
    .await;
    let now = soon();
    let claimed = store.claim_jobs(now, LEASE, 10).await.unwrap().remove(0);

    // A transient failure: queued again for later, with the error.
    let retry_at = now + secs(120);
    assert!(store
        .fail_job(t.id, &claimed, "timed out", Some(retry_at))
        .await
        .unwrap());
    let job = job_of(store, t.id, claimed.job.id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 1));
    assert_eq!(micros(job.run_at), micros(retry_at));
    assert_eq!(job.last_error.as_deref(), Some("timed out"));
    assert_eq!(job.locked_until, None);
    assert!(store
        .claim_jobs(now + secs(119), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(
        !store.fail_job(t.id, &claimed, "again", None).await.unwrap(),
        "the old lease ended with the failure"
    );

    let second = store
        .claim_jobs(now + secs(120), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(second.job.attempts, 2);
    assert_eq!(second.job.last_error.as_deref(), Some("timed out"));

    // For good: kept as failed, never claimed again, counted.
    assert!(store
        .fail_job(t.id, &second, "unsupported pair", None)
        .await
        .unwrap());
    let failed = store
        .list_jobs(t.id, Some(JobStatus::Failed), 10, 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("unsupported pair"));
    assert!(store
        .claim_jobs(now + secs(86_400), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.job_counts().await.unwrap(),
        vec![(JobKind::Translate, JobStatus::Failed, 1)]
    );
    assert_eq!(store.prune_jobs(now + secs(86_400)).await.unwrap(), 0);
    assert_eq!(all_jobs(store, t.id).await.len(), 1, "failed jobs are kept");
}

/// Ending a job as another kind (a translation's result for an AI reply, or
/// the reverse) is refused before anything changes; each job then ends as
/// its own kind.
pub async fn a_job_ends_only_as_its_own_kind(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    store.add_credits(t.id, 100).await.unwrap();
    let m = greeting_with_both_jobs(store, t.id, c.id).await;
    let claimed = store.claim_jobs(soon(), LEASE, 10).await.unwrap();
    let find = |kind| claimed.iter().find(|j| j.job.kind == kind).unwrap();
    let (translate, ai) = (find(JobKind::Translate), find(JobKind::AiReply));

    let as_translation = store
        .complete_translation(t.id, ai, outcome("Good morning", 10))
        .await;
    assert!(
        matches!(as_translation, Err(StoreError::Database(_))),
        "{as_translation:?}"
    );
    let reply = NewMessage {
        is_auto_reply: true,
        ..NewMessage::new(MessageRole::Ai, text("Hello!"))
    };
    let as_reply = store
        .complete_ai_reply(t.id, translate, reply.clone(), 10)
        .await;
    assert!(
        matches!(as_reply, Err(StoreError::Database(_))),
        "{as_reply:?}"
    );
    // Nothing changed: the message still waits, nothing was appended or
    // charged, both jobs still run under their leases.
    assert_eq!(
        store.get_message(t.id, m.id).await.unwrap(),
        Some(m.clone())
    );
    let conversation = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(conversation.last_seq, m.seq);
    assert_eq!(balance(store, t.id).await, 100);
    for job in [translate, ai] {
        assert_eq!(
            job_of(store, t.id, job.job.id).await.status,
            JobStatus::Running
        );
    }

    let translated = store
        .complete_translation(t.id, translate, outcome("Good morning", 10))
        .await
        .unwrap()
        .unwrap();
    assert!(!translated.translation_pending);
    let (answer, _) = store
        .complete_ai_reply(t.id, ai, reply, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.seq, m.seq + 1);
    assert_eq!(balance(store, t.id).await, 80);
}

pub async fn translation_completion_charges_for_its_message(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    let purchase = store.add_credits(t.id, 100).await.unwrap().unwrap();
    let m1 = append_with(
        store,
        t.id,
        c.id,
        with_jobs(
            MessageRole::Visitor,
            "Dzień dobry",
            vec![translate_to("en")],
        ),
    )
    .await;
    let m2 = append_with(
        store,
        t.id,
        c.id,
        with_jobs(MessageRole::Visitor, "Dziękuję", vec![translate_to("en")]),
    )
    .await;
    let claimed = store.claim_jobs(soon(), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);

    let translated = store
        .complete_translation(t.id, &claimed[0], outcome("Good morning", 30))
        .await
        .unwrap()
        .unwrap();
    assert!(m1.translation_pending, "its translation job is queued");
    assert_eq!(
        translated,
        Message {
            translated_content: Some("Good morning".into()),
            translated_language: Some("en".into()),
            translation_pending: false,
            ..m1.clone()
        }
    );
    assert_eq!(
        store.get_message(t.id, m1.id).await.unwrap(),
        Some(translated)
    );
    assert_eq!(balance(store, t.id).await, 70);
    let ledger = store.list_ledger(t.id, 10, 0).await.unwrap();
    assert_eq!(ledger.len(), 2);
    let charge = &ledger[0];
    assert_eq!(
        (
            charge.amount,
            charge.balance_after,
            charge.reason,
            charge.message_id
        ),
        (-30, 70, LedgerReason::Translation, Some(m1.id))
    );
    assert_eq!(ledger[1], purchase);
    let done = job_of(store, t.id, claimed[0].job.id).await;
    assert_eq!((done.status, done.note), (JobStatus::Done, None));

    // A free translation writes no ledger entry.
    let free = store
        .complete_translation(t.id, &claimed[1], outcome("Thank you", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(free.id, m2.id);
    assert_eq!(free.translated_content.as_deref(), Some("Thank you"));
    assert_eq!(store.list_ledger(t.id, 10, 0).await.unwrap().len(), 2);
    assert_eq!(balance(store, t.id).await, 70);
}

pub async fn ai_reply_completion_appends_charges_and_enqueues(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    store.add_credits(t.id, 50).await.unwrap();
    let question = append_with(
        store,
        t.id,
        c.id,
        with_jobs(MessageRole::Visitor, "Czy macie kawę?", vec![ai_reply()]),
    )
    .await;
    let claimed = store.claim_jobs(soon(), LEASE, 10).await.unwrap().remove(0);
    let reply = NewMessage {
        is_auto_reply: true,
        content_language: Some("en".into()),
        jobs: vec![translate_to("pl")],
        ..NewMessage::new(MessageRole::Ai, text("Yes, we have coffee."))
    };
    let (message, entry) = store
        .complete_ai_reply(t.id, &claimed, reply, 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (message.conversation_id, message.seq, message.role),
        (c.id, 2, MessageRole::Ai)
    );
    assert!(message.is_auto_reply);
    assert_eq!(message.content, "Yes, we have coffee.");
    assert!(message.created_at >= question.created_at);
    let entry = entry.expect("charged");
    assert_eq!(
        (
            entry.amount,
            entry.balance_after,
            entry.reason,
            entry.message_id
        ),
        (-20, 30, LedgerReason::AiReply, Some(message.id)),
        "linked to the new message"
    );
    assert_eq!(store.list_ledger(t.id, 1, 0).await.unwrap(), vec![entry]);
    assert_eq!(balance(store, t.id).await, 30);

    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!((now.last_seq, now.last_message_at), (2, message.created_at));
    assert_eq!(now.handed_off_at, None, "the AI does not hand off");
    assert_eq!(now.visitor_language, c.visitor_language);
    assert_eq!(
        store.recent_messages(t.id, c.id, 10).await.unwrap(),
        vec![question, message.clone()]
    );

    // The reply's own translation job is queued; the AI job is done.
    let jobs = all_jobs(store, t.id).await;
    assert_eq!(jobs.len(), 2);
    let translation = jobs.iter().find(|j| j.kind == JobKind::Translate).unwrap();
    assert_eq!(
        (translation.message_id, translation.status),
        (message.id, JobStatus::Queued)
    );
    let ai = jobs.iter().find(|j| j.kind == JobKind::AiReply).unwrap();
    assert_eq!(ai.status, JobStatus::Done);

    // A reply that costs nothing has no ledger entry.
    let q2 = append_with(
        store,
        t.id,
        c.id,
        with_jobs(MessageRole::Visitor, "Dziękuję", vec![ai_reply()]),
    )
    .await;
    let claimed = store.claim_jobs(soon(), LEASE, 10).await.unwrap();
    let ai_job = claimed.iter().find(|j| j.job.message_id == q2.id).unwrap();
    let (free, entry) = store
        .complete_ai_reply(
            t.id,
            ai_job,
            NewMessage::new(MessageRole::Ai, text("You're welcome")),
            0,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((free.seq, entry), (4, None));
    assert_eq!(balance(store, t.id).await, 30);

    // Skipping: done with a note, no effect.
    let other = claimed.iter().find(|j| j.job.message_id != q2.id).unwrap();
    assert!(store
        .finish_job(t.id, other, Some("no provider"))
        .await
        .unwrap());
    let skipped = job_of(store, t.id, other.job.id).await;
    assert_eq!(
        (skipped.status, skipped.note.as_deref()),
        (JobStatus::Done, Some("no provider"))
    );
    // Its translation job is over: nobody waits for a translation any more.
    assert!(message.translation_pending);
    assert_eq!(
        store.get_message(t.id, message.id).await.unwrap(),
        Some(Message {
            translation_pending: false,
            ..message
        })
    );
}

pub async fn charges_never_take_the_balance_below_zero(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    store.add_credits(t.id, 10).await.unwrap();
    for body in ["one", "two"] {
        append_with(
            store,
            t.id,
            c.id,
            with_jobs(MessageRole::Visitor, body, vec![translate_to("en")]),
        )
        .await;
    }
    let claimed = store.claim_jobs(soon(), LEASE, 10).await.unwrap();

    // Only what is there is taken, and the entry says so.
    let m = store
        .complete_translation(t.id, &claimed[0], outcome("One", 25))
        .await
        .unwrap()
        .unwrap();
    let entry = store.list_ledger(t.id, 1, 0).await.unwrap().remove(0);
    assert_eq!(
        (entry.amount, entry.balance_after, entry.message_id),
        (-10, 0, Some(m.id))
    );
    let tenant = store.get_tenant(t.id).await.unwrap().unwrap();
    assert_eq!((tenant.credit_balance, tenant.total_credits_added), (0, 10));

    // With nothing left, the work is still written but no entry is.
    let m = store
        .complete_translation(t.id, &claimed[1], outcome("Two", 25))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.translated_content.as_deref(), Some("Two"));
    assert_eq!(balance(store, t.id).await, 0);
    assert_eq!(store.list_ledger(t.id, 10, 0).await.unwrap().len(), 2);
}

pub async fn knowledge_entries_are_per_widget_and_tenant(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let w2 = widget(store, t.id).await;
    let (other, ow) = tenant_with_widget(store, "Other").await;

    let hours = store
        .create_knowledge_entry(t.id, w.id, text("When are you open?"), text("9 to 5."))
        .await
        .unwrap()
        .expect("our widget");
    assert_eq!(
        (
            hours.tenant_id,
            hours.widget_id,
            hours.question.as_str(),
            hours.answer.as_str()
        ),
        (t.id, w.id, "When are you open?", "9 to 5.")
    );
    let coffee = store
        .create_knowledge_entry(t.id, w.id, text("Coffee?"), text("Yes."))
        .await
        .unwrap()
        .unwrap();
    let elsewhere = store
        .create_knowledge_entry(t.id, w2.id, text("Tea?"), text("No."))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.list_knowledge_entries(t.id, w.id).await.unwrap(),
        vec![hours.clone(), coffee.clone()],
        "oldest first, one widget"
    );
    assert_eq!(
        store.list_knowledge_entries(t.id, w2.id).await.unwrap(),
        vec![elsewhere]
    );

    // Another tenant's widget and entries are not found.
    assert_eq!(
        store
            .create_knowledge_entry(other.id, w.id, text("Q"), text("A"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .create_knowledge_entry(t.id, ow.id, text("Q"), text("A"))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .list_knowledge_entries(other.id, w.id)
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .delete_knowledge_entry(other.id, hours.id)
        .await
        .unwrap());

    assert!(store.delete_knowledge_entry(t.id, hours.id).await.unwrap());
    assert!(!store.delete_knowledge_entry(t.id, hours.id).await.unwrap());
    assert_eq!(
        store.list_knowledge_entries(t.id, w.id).await.unwrap(),
        vec![coffee]
    );
}

pub async fn operators_and_requests_hand_conversations_off(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let (other, _) = tenant_with_widget(store, "Other").await;
    let op = operator(store, t.id, "ada@example.com").await;

    // By an operator's message, once.
    let c = conversation(store, t.id, w.id).await;
    assert_eq!(c.handed_off_at, None);
    append(store, t.id, c.id, "Hello?").await;
    append_with(
        store,
        t.id,
        c.id,
        NewMessage::new(MessageRole::System, text("Auto")),
    )
    .await;
    let ai = NewMessage::new(MessageRole::Ai, text("How can I help?"));
    append_with(store, t.id, c.id, ai).await;
    let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(
        now.handed_off_at, None,
        "visitor, system and AI messages do not"
    );
    let reply = append_with(
        store,
        t.id,
        c.id,
        NewMessage::new(MessageRole::Operator, text("Hi")),
    )
    .await;
    let handed = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    let at = handed.handed_off_at.expect("an operator wrote");
    assert!(micros(at) >= micros(reply.created_at) - 1_000_000 && at <= Utc::now() + secs(5));
    append_with(
        store,
        t.id,
        c.id,
        NewMessage::new(MessageRole::Operator, text("Again")),
    )
    .await;
    let still = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
    assert_eq!(still.handed_off_at, Some(at), "set once");

    // By assignment; a status change or unassigning does not.
    let c2 = conversation(store, t.id, w.id).await;
    let pending = ConversationPatch {
        status: Some(ConversationStatus::Pending),
        ..Default::default()
    };
    let updated = store
        .update_conversation(t.id, c2.id, pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.handed_off_at, None);
    let unassign = ConversationPatch {
        assigned_to: Some(None),
        ..Default::default()
    };
    let updated = store
        .update_conversation(t.id, c2.id, unassign.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.handed_off_at, None);
    let assign = ConversationPatch {
        assigned_to: Some(Some(op.id)),
        ..Default::default()
    };
    let assigned = store
        .update_conversation(t.id, c2.id, assign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assigned.assigned_to, Some(op.id));
    let at2 = assigned.handed_off_at.expect("assigned to an operator");
    let updated = store
        .update_conversation(t.id, c2.id, unassign)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.handed_off_at, Some(at2), "unassigning keeps it");
    // A refused assignment changes nothing.
    let stranger = operator(store, other.id, "eve@example.com").await;
    let c3 = conversation(store, t.id, w.id).await;
    let foreign = ConversationPatch {
        assigned_to: Some(Some(stranger.id)),
        ..Default::default()
    };
    assert!(store
        .update_conversation(t.id, c3.id, foreign)
        .await
        .is_err());
    let c3_now = store.get_conversation(t.id, c3.id).await.unwrap().unwrap();
    assert_eq!(c3_now.handed_off_at, None);

    // The visitor asks for a person.
    let requested = store
        .set_handed_off(t.id, c3.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(requested.status, ConversationStatus::Pending);
    let at3 = requested.handed_off_at.expect("handed off");
    assert_eq!(
        requested,
        Conversation {
            status: ConversationStatus::Pending,
            handed_off_at: Some(at3),
            ..c3_now.clone()
        }
    );
    let c4 = conversation(store, t.id, w.id).await;
    let quiet = store
        .set_handed_off(t.id, c4.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(quiet.status, ConversationStatus::Open);
    assert!(quiet.handed_off_at.is_some());
    let again = store
        .set_handed_off(t.id, c.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.handed_off_at, Some(at), "an earlier hand-off is kept");
    assert_eq!(
        store.set_handed_off(other.id, c4.id, true).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .set_handed_off(t.id, ConversationId::new(), true)
            .await
            .unwrap(),
        None
    );
    // Lists show it too.
    let listed = store
        .list_conversations(t.id, &ConversationFilter::default(), 10, 0)
        .await
        .unwrap();
    let c_listed = listed.iter().find(|x| x.id == c.id).unwrap();
    assert_eq!(c_listed.handed_off_at, Some(at));
}

pub async fn visitor_messages_keep_the_visitor_language_current(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    assert_eq!(c.visitor_language.as_deref(), Some("pl"));
    let in_lang = |role, body: &str, lang: Option<&str>| NewMessage {
        content_language: lang.map(str::to_owned),
        ..NewMessage::new(role, text(body))
    };

    let steps: [(MessageRole, Option<&str>, &str); 6] = [
        (MessageRole::Visitor, Some("de"), "de"),
        (MessageRole::Operator, Some("en"), "de"),
        (MessageRole::Ai, Some("fr"), "de"),
        (MessageRole::Visitor, None, "de"),
        (MessageRole::Visitor, Some(UNKNOWN_LANGUAGE), "de"),
        (MessageRole::Visitor, Some("es"), "es"),
    ];
    for (role, lang, expected) in steps {
        let m = append_with(store, t.id, c.id, in_lang(role, "text", lang)).await;
        assert_eq!(
            m.content_language.as_deref(),
            lang,
            "stored on the message as given"
        );
        let now = store.get_conversation(t.id, c.id).await.unwrap().unwrap();
        assert_eq!(
            now.visitor_language.as_deref(),
            Some(expected),
            "after a {role} message in {lang:?}"
        );
    }
}

pub async fn prune_deletes_old_done_jobs_only(store: SharedStore) {
    let store = &*store;
    let (t, w) = tenant_with_widget(store, "Acme").await;
    let c = conversation(store, t.id, w.id).await;
    for body in ["one", "two", "three", "four"] {
        append_with(
            store,
            t.id,
            c.id,
            with_jobs(MessageRole::Visitor, body, vec![translate_to("en")]),
        )
        .await;
    }
    let now = soon();
    let claimed = store.claim_jobs(now, LEASE, 3).await.unwrap();
    assert!(store
        .finish_job(t.id, &claimed[0], Some("skipped"))
        .await
        .unwrap());
    assert!(store
        .complete_translation(t.id, &claimed[1], outcome("Two", 0))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .fail_job(t.id, &claimed[2], "broken", None)
        .await
        .unwrap());
    // One done, one done with effect, one failed, one still queued.
    let mut counts = store.job_counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            (JobKind::Translate, JobStatus::Queued, 1),
            (JobKind::Translate, JobStatus::Failed, 1),
        ]
    );

    let done_at = job_of(store, t.id, claimed[1].job.id).await.updated_at;
    assert_eq!(
        store.prune_jobs(done_at - secs(60)).await.unwrap(),
        0,
        "not old yet"
    );
    assert_eq!(store.prune_jobs(Utc::now() + secs(60)).await.unwrap(), 2);
    let left: HashSet<JobStatus> = all_jobs(store, t.id)
        .await
        .iter()
        .map(|j| j.status)
        .collect();
    assert_eq!(left, HashSet::from([JobStatus::Queued, JobStatus::Failed]));
}
