//! AI replies, translation and credits end to end: the server's own job
//! worker, a fake LibreTranslate on loopback speaking the real wire format,
//! and the offline knowledge base.

use crate::dashboard_helpers::*;
use crate::helpers::*;
use crate::visitor_helpers::*;
use axum::routing::post;
use axum::{Json, Router};
use enuchat_domain::*;
use enuchat_server::settings::TranslationProvider;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

both_backends!(
    the_knowledge_base_answers_and_is_charged,
    no_credits_means_no_ai_but_messages_flow,
    asking_for_a_human_or_an_operator_reply_silences_the_ai,
    replies_reach_the_visitor_translated_and_are_charged_per_character,
    a_failing_translator_delivers_the_original,
    the_history_leaves_out_a_reply_the_socket_holds,
    after_the_wait_the_history_shows_the_original_marked_pending,
);

const QUESTION: &str = "How long does shipping to Canada take?";

/// A widget with AI on and one knowledge entry, and `credits` on the account.
async fn ai_widget(app: &TestApp, account: &Account, credits: i64) -> Widget {
    let store = app.store.as_ref();
    let tenant = account.tenant.id;
    let widget = enuchat_server::admin::create_widget(
        store,
        tenant,
        enuchat_server::admin::WidgetOptions {
            ai_enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    store
        .create_knowledge_entry(
            tenant,
            widget.id,
            MessageContent::parse("How long does shipping to Canada take?".into()).unwrap(),
            MessageContent::parse("Orders to Canada arrive in 5 to 7 business days.".into())
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    if credits > 0 {
        store.add_credits(tenant, credits).await.unwrap();
    }
    widget
}

async fn the_knowledge_base_answers_and_is_charged(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = ai_widget(&app, &acme, 10).await;
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = visitor.connect(0).await;
    until_ready(&mut socket).await;
    visitor.say(&app, "how long is shipping to canada?").await;

    let got = messages(&mut socket, 2).await;
    assert_eq!(got[0]["role"], "visitor");
    assert_eq!(got[1]["role"], "ai");
    assert_eq!(got[1]["isAutoReply"], true);
    assert_eq!(
        got[1]["content"],
        "Orders to Canada arrive in 5 to 7 business days."
    );
    quiet(&mut socket).await;

    // The Tenant API shows it, and the charge is linked to it.
    let conversation = conversation_of(&app, &acme, &visitor).await;
    let read = app
        .get(&format!("/conversations/{}", conversation.id), &acme.key)
        .await;
    let listed = read.body["data"]["messages"].as_array().unwrap();
    assert_eq!(listed.last().unwrap()["role"], "ai");
    assert_eq!(listed.last().unwrap()["isAutoReply"], true);
    let ai_id = listed.last().unwrap()["id"].as_str().unwrap().to_owned();
    let ledger = app.store.list_ledger(acme.tenant.id, 10, 0).await.unwrap();
    let charge = ledger
        .iter()
        .find(|e| e.reason == LedgerReason::AiReply)
        .expect("an AI charge");
    assert_eq!(
        charge.amount, -1,
        "knowledge-base replies cost the flat rate"
    );
    assert_eq!(charge.message_id.map(|m| m.0.to_string()), Some(ai_id));
    let balance = app.get("/billing/balance", &acme.key).await;
    assert_eq!(balance.body["data"]["creditBalance"], 9);
    close(socket).await;
}

async fn no_credits_means_no_ai_but_messages_flow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = ai_widget(&app, &acme, 0).await;
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = visitor.connect(0).await;
    until_ready(&mut socket).await;
    visitor.say(&app, QUESTION).await;
    assert_eq!(messages(&mut socket, 1).await[0]["role"], "visitor");
    // The job ran and did nothing: no reply, no charge, never below zero.
    wait_for_jobs(&app, acme.tenant.id).await;
    quiet(&mut socket).await;
    let jobs = app
        .store
        .list_jobs(acme.tenant.id, None, 10, 0)
        .await
        .unwrap();
    assert_eq!(jobs[0].kind, JobKind::AiReply);
    assert_eq!(jobs[0].status, JobStatus::Done);
    assert!(jobs[0].note.as_deref().unwrap_or("").contains("credits"));
    let balance = app.get("/billing/balance", &acme.key).await;
    assert_eq!(balance.body["data"]["creditBalance"], 0);

    // Credits added: the AI answers again.
    app.store.add_credits(acme.tenant.id, 5).await.unwrap();
    visitor.say(&app, QUESTION).await;
    let got = messages(&mut socket, 2).await;
    assert_eq!(got[1]["role"], "ai");
    close(socket).await;
}

async fn asking_for_a_human_or_an_operator_reply_silences_the_ai(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = ai_widget(&app, &acme, 100).await;

    // A visitor whom the AI answers, then who asks for a person: pending,
    // no auto-reply from then on, and the dashboard sees it waiting.
    let asks = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = asks.connect(0).await;
    until_ready(&mut socket).await;
    asks.say(&app, QUESTION).await;
    let got = messages(&mut socket, 2).await;
    assert_eq!(
        (&got[0]["role"], &got[1]["role"]),
        (&json!("visitor"), &json!("ai"))
    );
    let dash = sign_in(&app, &acme.operator.email).await;
    let mut inbox = dash.connect().await;
    assert_eq!(
        next_event(&mut inbox, Duration::from_secs(5)).await["type"],
        "ready"
    );
    asks.say(&app, "I want to talk to a human please").await;
    assert_eq!(messages(&mut socket, 1).await[0]["role"], "visitor");
    // (Until it comes: with PostgreSQL the feed may still tell of the
    // conversation's start, before the dashboard connected.)
    loop {
        let event = next_event(&mut inbox, Duration::from_secs(5)).await;
        if event["type"] == "conversation" && event["conversation"]["status"] == "pending" {
            break;
        }
    }
    asks.say(&app, QUESTION).await;
    assert_eq!(messages(&mut socket, 1).await[0]["role"], "visitor");
    wait_for_jobs(&app, acme.tenant.id).await;
    quiet(&mut socket).await;
    let conversation = conversation_of(&app, &acme, &asks).await;
    assert_eq!(conversation.status, ConversationStatus::Pending);
    assert!(conversation.handed_off_at.is_some());
    let ai_jobs = app
        .store
        .list_jobs(acme.tenant.id, None, 50, 0)
        .await
        .unwrap();
    let ai_jobs = ai_jobs
        .iter()
        .filter(|j| j.conversation_id == conversation.id && j.kind == JobKind::AiReply);
    assert_eq!(ai_jobs.count(), 1, "only the question before the request");
    close(socket).await;
    close(inbox).await;

    // Without AI, humans answer anyway: the same words change nothing.
    let plain = TestVisitor::create(&app, &acme.widget, json!({})).await;
    plain.say(&app, "I want to talk to a human please").await;
    let conversation = conversation_of(&app, &acme, &plain).await;
    assert_eq!(conversation.status, ConversationStatus::Open);
    assert_eq!(conversation.handed_off_at, None);

    // An operator replies: from then on humans answer.
    let other = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = other.connect(0).await;
    until_ready(&mut socket).await;
    other.say(&app, "hello there, anyone around today?").await;
    messages(&mut socket, 1).await;
    wait_for_jobs(&app, acme.tenant.id).await;
    let conversation = conversation_of(&app, &acme, &other).await;
    let dash = sign_in(&app, &acme.operator.email).await;
    dash.post(
        &app,
        &format!("/conversations/{}/messages", conversation.id),
        json!({"content": "Hi, I'm Olga."}),
    )
    .await;
    assert_eq!(messages(&mut socket, 1).await[0]["role"], "operator");
    other.say(&app, QUESTION).await;
    assert_eq!(messages(&mut socket, 1).await[0]["role"], "visitor");
    wait_for_jobs(&app, acme.tenant.id).await;
    quiet(&mut socket).await;
    close(socket).await;
}

/// A LibreTranslate stand-in: `POST /translate` answers
/// `"<target>: <text>"`, or fails with `status` when one is given. Counts
/// the requests. With a `gate`, translations into Spanish (the replies to
/// a Spanish-speaking visitor) wait until the gate holds `true`.
async fn fake_libretranslate(
    fail_with: Option<u16>,
    gate: Option<watch::Receiver<bool>>,
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/translate",
        post(move |Json(body): Json<Value>| {
            let counter = counter.clone();
            let gate = gate.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if let (Some(mut gate), "es") = (gate, body["target"].as_str().unwrap_or("")) {
                    // A dropped gate (the test ended) lets it through.
                    let _ = gate.wait_for(|open| *open).await;
                }
                if let Some(status) = fail_with {
                    return (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        Json(json!({"error": "no"})),
                    );
                }
                let text = format!(
                    "{}: {}",
                    body["target"].as_str().unwrap_or("?"),
                    body["q"].as_str().unwrap_or("")
                );
                (
                    axum::http::StatusCode::OK,
                    Json(json!({"translatedText": text})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, calls)
}

async fn translating_app(backend: Backend, base: String, wait_ms: u64) -> Option<TestApp> {
    spawn_app_with(backend, move |s| {
        s.translation_provider = TranslationProvider::Libretranslate;
        s.translation_base_url = Some(base);
        s.translation_wait_ms = wait_ms;
    })
    .await
}

async fn translating_widget(app: &TestApp, account: &Account) -> Widget {
    let widget = enuchat_server::admin::create_widget(
        app.store.as_ref(),
        account.tenant.id,
        enuchat_server::admin::WidgetOptions {
            translation_enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.store
        .add_credits(account.tenant.id, 1_000)
        .await
        .unwrap();
    widget
}

const SPANISH: &str = "Hola, ¿cuánto tarda el envío a Canadá?";

async fn replies_reach_the_visitor_translated_and_are_charged_per_character(backend: Backend) {
    let (base, calls) = fake_libretranslate(None, None).await;
    let Some(app) = translating_app(backend, base, 5_000).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = translating_widget(&app, &acme).await;
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = visitor.connect(0).await;
    until_ready(&mut socket).await;
    visitor.say(&app, SPANISH).await;
    assert_eq!(messages(&mut socket, 1).await[0]["content"], SPANISH);
    wait_for_jobs(&app, acme.tenant.id).await;

    // Operators read it in their language, and the original.
    let conversation = conversation_of(&app, &acme, &visitor).await;
    assert_eq!(conversation.visitor_language.as_deref(), Some("es"));
    let path = format!("/conversations/{}", conversation.id);
    let read = app.get(&path, &acme.key).await;
    let first = &read.body["data"]["messages"][0];
    assert_eq!(first["content"], SPANISH);
    assert_eq!(first["contentLanguage"], "es");
    assert_eq!(first["translatedContent"], format!("en: {SPANISH}"));
    assert_eq!(first["translatedLanguage"], "en");

    // An operator's reply reaches the visitor translated, once.
    let reply = "It takes five to seven days.";
    app.post(
        &format!("{path}/messages"),
        &acme.key,
        json!({"content": reply, "role": "operator"}),
    )
    .await;
    let got = messages(&mut socket, 1).await;
    assert_eq!(got[0]["role"], "operator");
    assert_eq!(got[0]["content"], format!("es: {reply}"));
    quiet(&mut socket).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Charged per character: 1 credit per started 1,000 characters, twice,
    // each entry linked to its message.
    let ledger = app.store.list_ledger(acme.tenant.id, 10, 0).await.unwrap();
    let charges: Vec<_> = ledger
        .iter()
        .filter(|e| e.reason == LedgerReason::Translation)
        .collect();
    assert_eq!(charges.len(), 2);
    assert!(charges
        .iter()
        .all(|e| e.amount == -1 && e.message_id.is_some()));
    close(socket).await;
}

async fn a_failing_translator_delivers_the_original(backend: Backend) {
    let (base, calls) = fake_libretranslate(Some(400), None).await;
    let Some(app) = translating_app(backend, base, 300).await else {
        return;
    };
    let acme = app.account("Acme").await;
    let widget = translating_widget(&app, &acme).await;
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    let mut socket = visitor.connect(0).await;
    until_ready(&mut socket).await;
    visitor.say(&app, SPANISH).await;
    messages(&mut socket, 1).await;
    wait_for_jobs(&app, acme.tenant.id).await;
    let conversation = conversation_of(&app, &acme, &visitor).await;
    let reply = "It takes five to seven days.";
    app.post(
        &format!("/conversations/{}/messages", conversation.id),
        &acme.key,
        json!({"content": reply, "role": "operator"}),
    )
    .await;
    // Not held back for ever: the original arrives.
    let got = messages(&mut socket, 1).await;
    assert_eq!(got[0]["content"], reply);
    wait_for_jobs(&app, acme.tenant.id).await;
    assert!(calls.load(Ordering::SeqCst) >= 2);
    // The failures are kept, visible, and nothing was charged.
    let failed = app
        .store
        .list_jobs(acme.tenant.id, Some(JobStatus::Failed), 10, 0)
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|j| j.last_error.is_some()));
    let balance = app.get("/billing/balance", &acme.key).await;
    assert_eq!(balance.body["data"]["creditBalance"], 1_000);
    // A reconnecting widget gets the original at once (nothing pending).
    let mut again = visitor.connect(0).await;
    let history = until_ready(&mut again).await;
    assert_eq!(history.last().unwrap()["content"], reply);
    close(again).await;
    close(socket).await;
}

/// A Spanish-speaking visitor's conversation with an operator's reply whose
/// translation is held at the fake translator until `gate` opens.
async fn reply_on_its_way(
    backend: Backend,
    wait_ms: u64,
) -> Option<(TestApp, Account, TestVisitor, watch::Sender<bool>)> {
    let (gate, gate_open) = watch::channel(false);
    let (base, _) = fake_libretranslate(None, Some(gate_open)).await;
    let app = translating_app(backend, base, wait_ms).await?;
    let acme = app.account("Acme").await;
    let widget = translating_widget(&app, &acme).await;
    let visitor = TestVisitor::create(&app, &widget, json!({})).await;
    visitor.say(&app, SPANISH).await;
    wait_for_jobs(&app, acme.tenant.id).await;
    let conversation = conversation_of(&app, &acme, &visitor).await;
    app.post(
        &format!("/conversations/{}/messages", conversation.id),
        &acme.key,
        json!({"content": REPLY, "role": "operator"}),
    )
    .await;
    Some((app, acme, visitor, gate))
}

const REPLY: &str = "It takes five to seven days.";

async fn history(app: &TestApp, visitor: &TestVisitor) -> Vec<Value> {
    let reply = visitor
        .call(app, reqwest::Method::GET, "/messages", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

/// A page that loads while a reply is being translated must neither show the
/// original nor lose the translation: the history leaves the reply out, and
/// the socket opened after it delivers it translated.
async fn the_history_leaves_out_a_reply_the_socket_holds(backend: Backend) {
    let Some((app, acme, visitor, gate)) = reply_on_its_way(backend, 10_000).await else {
        return;
    };
    let shown = history(&app, &visitor).await;
    assert_eq!(shown.len(), 1, "only the visitor's message: {shown:?}");
    assert_eq!(shown[0]["content"], SPANISH);
    assert_eq!(shown[0]["translationPending"], false);
    let mut socket = visitor.connect(1).await;
    assert!(until_ready(&mut socket).await.is_empty());
    gate.send(true).unwrap();
    let got = messages(&mut socket, 1).await;
    assert_eq!(got[0]["content"], format!("es: {REPLY}"));
    assert_eq!(got[0]["translationPending"], false);
    quiet(&mut socket).await;
    wait_for_jobs(&app, acme.tenant.id).await;
    let shown = history(&app, &visitor).await;
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[1]["content"], format!("es: {REPLY}"));
    close(socket).await;
}

/// Past the wait, the history shows the original, marked so that a client
/// which misses the `update` (it was offline) knows to read it again.
async fn after_the_wait_the_history_shows_the_original_marked_pending(backend: Backend) {
    let Some((app, acme, visitor, gate)) = reply_on_its_way(backend, 200).await else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shown = history(&app, &visitor).await;
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[1]["content"], REPLY);
    assert_eq!(shown[1]["translationPending"], true);
    gate.send(true).unwrap();
    wait_for_jobs(&app, acme.tenant.id).await;
    let shown = history(&app, &visitor).await;
    assert_eq!(shown[1]["content"], format!("es: {REPLY}"));
    assert_eq!(shown[1]["translationPending"], false);
}

/// The visitor's conversation, read from the store.
async fn conversation_of(app: &TestApp, account: &Account, visitor: &TestVisitor) -> Conversation {
    app.store
        .visitor_conversation(account.tenant.id, &VisitorId::parse(&visitor.id).unwrap())
        .await
        .unwrap()
        .unwrap()
}

/// Waits until the tenant has no queued or running job.
async fn wait_for_jobs(app: &TestApp, tenant: TenantId) {
    for _ in 0..200 {
        let jobs = app.store.list_jobs(tenant, None, 100, 0).await.unwrap();
        if jobs
            .iter()
            .all(|j| matches!(j.status, JobStatus::Done | JobStatus::Failed))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("jobs did not finish");
}
