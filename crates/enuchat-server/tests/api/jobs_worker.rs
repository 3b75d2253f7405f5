//! The job worker stepped by hand (the server's own worker is off): retries
//! with backoff until success, capped attempts, timeouts, malformed answers,
//! and several workers at once never doubling an effect.

use crate::helpers::*;
use crate::visitor_helpers::*;
use axum::routing::post;
use axum::{Json, Router};
use enuchat_domain::*;
use enuchat_server::jobs::retry::RetryPolicy;
use enuchat_server::jobs::Worker;
use enuchat_server::providers::{self, Pricing};
use enuchat_server::realtime::hub::Hub;
use enuchat_server::settings::{AiProvider, Settings, TranslationProvider};
use enuchat_server::telemetry::Metrics;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

both_backends!(
    transient_failures_are_retried_and_charged_once,
    attempts_are_capped_and_failures_kept,
    timeouts_are_retried,
    malformed_answers_fail_at_once,
    concurrent_workers_reply_once_per_message,
    model_replies_are_charged_by_reported_tokens,
);

/// What the fake LibreTranslate does with the calls it gets.
#[derive(Clone, Copy)]
enum Fake {
    /// The first `n` calls answer `status`, then it translates.
    FailFirst(usize, u16),
    /// The first `n` calls take `ms` milliseconds, then it is quick.
    SlowFirst(usize, u64),
    /// A 200 whose body is not LibreTranslate's.
    Malformed,
}

async fn fake(behaviour: Fake) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/translate",
        post(move |Json(body): Json<Value>| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let ok = Json(json!({
                    "translatedText": format!("{}: {}", body["target"].as_str().unwrap_or("?"),
                        body["q"].as_str().unwrap_or(""))
                }));
                match behaviour {
                    Fake::FailFirst(n, status) if call < n => (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        Json(json!({"error": "busy"})),
                    ),
                    Fake::SlowFirst(n, ms) if call < n => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        (axum::http::StatusCode::OK, ok)
                    }
                    Fake::Malformed => (axum::http::StatusCode::OK, Json(json!({"text": 1}))),
                    _ => (axum::http::StatusCode::OK, ok),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, calls)
}

/// A worker on the app's database with the providers `settings` ask for
/// (as another instance would run it); its live events go nowhere.
fn worker_for(app: &TestApp, settings: &Settings) -> Worker {
    Worker::new(
        app.store.clone(),
        Arc::new(Hub::new()),
        providers::build(settings).unwrap(),
        Pricing::from(settings),
        Arc::new(Metrics::new()),
        Duration::from_secs(1),
    )
}

/// An app whose server runs no jobs, and a worker of our own against the
/// same database, retrying without waiting.
async fn app_and_worker(backend: Backend, base: &str, attempts: i32) -> Option<(TestApp, Worker)> {
    let app = spawn_app_with(backend, |s| {
        s.run_jobs = false;
        s.new_conversations_per_ip_per_minute = 1_000;
    })
    .await?;
    let settings = Settings {
        translation_provider: TranslationProvider::Libretranslate,
        translation_base_url: Some(base.to_owned()),
        provider_timeout_secs: 1,
        ..Settings::default()
    };
    let worker = worker_for(&app, &settings).with_retry(RetryPolicy {
        first: Duration::ZERO,
        cap: Duration::ZERO,
        max_attempts: attempts,
    });
    Some((app, worker))
}

/// A Spanish visitor message on a translating widget, with credits: one
/// translation job queued.
async fn spanish_message(app: &TestApp) -> (Account, Message) {
    let acme = app.account("Acme").await;
    let widget = enuchat_server::admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        enuchat_server::admin::WidgetOptions {
            translation_enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.store.add_credits(acme.tenant.id, 100).await.unwrap();
    let visitor = TestVisitor::create(app, &widget, json!({})).await;
    let sent = visitor
        .say(app, "Hola, ¿cuánto tarda el envío a Canadá?")
        .await;
    let id: MessageId = sent["id"].as_str().unwrap().parse().unwrap();
    let message = app
        .store
        .get_message(acme.tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    (acme, message)
}

async fn only_job(app: &TestApp, tenant: TenantId) -> Job {
    let jobs = app.store.list_jobs(tenant, None, 10, 0).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

async fn translation_charges(app: &TestApp, tenant: TenantId) -> Vec<LedgerEntry> {
    app.store
        .list_ledger(tenant, 50, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.reason == LedgerReason::Translation)
        .collect()
}

async fn transient_failures_are_retried_and_charged_once(backend: Backend) {
    let (base, calls) = fake(Fake::FailFirst(2, 503)).await;
    let Some((app, worker)) = app_and_worker(backend, &base, 5).await else {
        return;
    };
    let (acme, message) = spanish_message(&app).await;
    // One attempt per step: two failures, then the translation.
    assert_eq!(worker.step().await.unwrap(), 1);
    let job = only_job(&app, acme.tenant.id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Queued, 1));
    assert!(
        job.last_error.as_deref().unwrap().contains("503"),
        "{job:?}"
    );
    assert_eq!(worker.drain().await.unwrap(), 2);
    let job = only_job(&app, acme.tenant.id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let translated = app
        .store
        .get_message(acme.tenant.id, message.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        translated.translated_content.as_deref(),
        Some("en: Hola, ¿cuánto tarda el envío a Canadá?")
    );
    assert!(!translated.translation_pending);
    let charges = translation_charges(&app, acme.tenant.id).await;
    assert_eq!(charges.len(), 1, "charged once");
    assert_eq!(charges[0].message_id, Some(message.id));
}

async fn attempts_are_capped_and_failures_kept(backend: Backend) {
    let (base, calls) = fake(Fake::FailFirst(usize::MAX, 500)).await;
    let Some((app, worker)) = app_and_worker(backend, &base, 3).await else {
        return;
    };
    let (acme, message) = spanish_message(&app).await;
    assert_eq!(worker.drain().await.unwrap(), 3);
    assert_eq!(worker.drain().await.unwrap(), 0, "never claimed again");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let job = only_job(&app, acme.tenant.id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 3));
    assert!(job.last_error.is_some());
    let stored = app
        .store
        .get_message(acme.tenant.id, message.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.translated_content, None);
    assert!(!stored.translation_pending, "nobody waits for it any more");
    assert!(translation_charges(&app, acme.tenant.id).await.is_empty());
}

async fn timeouts_are_retried(backend: Backend) {
    let (base, calls) = fake(Fake::SlowFirst(1, 3_000)).await;
    let Some((app, worker)) = app_and_worker(backend, &base, 5).await else {
        return;
    };
    let (acme, _) = spanish_message(&app).await;
    worker.step().await.unwrap();
    let job = only_job(&app, acme.tenant.id).await;
    assert_eq!(job.status, JobStatus::Queued, "a timeout is worth a retry");
    worker.drain().await.unwrap();
    assert_eq!(only_job(&app, acme.tenant.id).await.status, JobStatus::Done);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(translation_charges(&app, acme.tenant.id).await.len(), 1);
}

async fn malformed_answers_fail_at_once(backend: Backend) {
    let (base, calls) = fake(Fake::Malformed).await;
    let Some((app, worker)) = app_and_worker(backend, &base, 5).await else {
        return;
    };
    let (acme, _) = spanish_message(&app).await;
    worker.drain().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let job = only_job(&app, acme.tenant.id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 1));
    assert!(translation_charges(&app, acme.tenant.id).await.is_empty());
}

async fn concurrent_workers_reply_once_per_message(backend: Backend) {
    let (base, _) = fake(Fake::FailFirst(0, 200)).await;
    let Some((app, first)) = app_and_worker(backend, &base, 5).await else {
        return;
    };
    let second = second_worker(&app, &base);
    let acme = app.account("Acme").await;
    let widget = enuchat_server::admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        enuchat_server::admin::WidgetOptions {
            ai_enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.store
        .create_knowledge_entry(
            acme.tenant.id,
            widget.id,
            MessageContent::parse("Do you ship to Canada?".into()).unwrap(),
            MessageContent::parse("Yes, we ship to Canada.".into()).unwrap(),
        )
        .await
        .unwrap();
    app.store.add_credits(acme.tenant.id, 100).await.unwrap();
    let visitors = 12;
    for _ in 0..visitors {
        let visitor = TestVisitor::create(&app, &widget, json!({})).await;
        visitor.say(&app, "do you ship to canada").await;
    }
    let (a, b) = tokio::join!(first.drain(), second.drain());
    assert_eq!(a.unwrap() + b.unwrap(), visitors, "each job ran once");
    let conversations = app
        .store
        .list_conversations(acme.tenant.id, &Default::default(), 100, 0)
        .await
        .unwrap();
    let mut replies = 0;
    for conversation in conversations.iter().filter(|c| c.widget_id == widget.id) {
        let messages = app
            .store
            .recent_messages(acme.tenant.id, conversation.id, 10)
            .await
            .unwrap();
        let ai: Vec<_> = messages
            .iter()
            .filter(|m| m.role == MessageRole::Ai)
            .collect();
        assert_eq!(ai.len(), 1, "one reply per question");
        replies += 1;
    }
    assert_eq!(replies, visitors);
    let charges = app
        .store
        .list_ledger(acme.tenant.id, 50, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.reason == LedgerReason::AiReply)
        .count();
    assert_eq!(charges, visitors);
}

/// A second worker on the same database (as another instance would run).
fn second_worker(app: &TestApp, base: &str) -> Worker {
    let settings = Settings {
        translation_provider: TranslationProvider::Libretranslate,
        translation_base_url: Some(base.to_owned()),
        ..Settings::default()
    };
    worker_for(app, &settings)
}

/// An OpenAI-compatible server that answers every chat completion with the
/// same text and token usage, and remembers the last request.
async fn fake_model() -> (String, Arc<std::sync::Mutex<Value>>) {
    let seen = Arc::new(std::sync::Mutex::new(Value::Null));
    let last = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            *last.lock().unwrap() = body;
            async {
                Json(json!({
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "We ship to Canada in 5 days."}}],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 301, "total_tokens": 1501}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

async fn model_replies_are_charged_by_reported_tokens(backend: Backend) {
    let (base, seen) = fake_model().await;
    let Some(app) = spawn_app_with(backend, |s| s.run_jobs = false).await else {
        return;
    };
    let settings = Settings {
        ai_provider: AiProvider::Openai,
        ai_base_url: Some(base),
        ai_model: Some("small-model".into()),
        credits_per_1k_tokens: 2,
        ..Settings::default()
    };
    let worker = worker_for(&app, &settings);
    let acme = app.account("Acme").await;
    let widget = enuchat_server::admin::create_widget(
        app.store.as_ref(),
        acme.tenant.id,
        enuchat_server::admin::WidgetOptions {
            ai_enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.store.add_credits(acme.tenant.id, 50).await.unwrap();
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    visitor.say(&app, "Do you ship to Canada?").await;
    assert_eq!(worker.drain().await.unwrap(), 1);

    // The model got the conversation, and its answer is the AI's reply.
    let request = seen.lock().unwrap().clone();
    assert_eq!(request["model"], "small-model");
    let sent = request["messages"].to_string();
    assert!(sent.contains("Do you ship to Canada?"), "{sent}");
    let ai = app
        .store
        .list_ledger(acme.tenant.id, 10, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.reason == LedgerReason::AiReply)
        .expect("charged");
    // 1,501 tokens at 2 credits per 1,000, rounded up.
    assert_eq!(ai.amount, -4);
    let reply = app
        .store
        .get_message(acme.tenant.id, ai.message_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.role, MessageRole::Ai);
    assert!(reply.is_auto_reply);
    assert_eq!(reply.content, "We ship to Canada in 5 days.");
}
