use crate::fake::{Fake, Reply, GENEROUS, SHORT, TOO_SLOW};
use crate::openai_translation::completion;
use enuchat_server::providers::ai::openai::OpenAiResponder;
use enuchat_server::providers::ai::{
    AiError, AiRequest, HistoryItem, KnowledgeItem, ReplySource, Responder,
};
use enuchat_server::providers::http::HttpOptions;
use enuchat_server::providers::Pricing;
use enuchat_server::settings::Settings;
use serde_json::json;
use std::time::Duration;

fn request() -> AiRequest {
    let item = |role: &str, content: &str| HistoryItem {
        role: role.into(),
        content: content.into(),
    };
    AiRequest {
        knowledge: vec![
            KnowledgeItem {
                question: "Do you ship to Spain?".into(),
                answer: "Yes, delivery to Spain takes 3 to 5 working days.".into(),
            },
            KnowledgeItem {
                question: "What are your opening hours?".into(),
                answer: "Monday to Friday, 8:00 to 18:00.".into(),
            },
        ],
        history: vec![
            item("system", "Welcome to Northwind Coffee!"),
            item("visitor", "Hola"),
            item("ai", "¡Hola! ¿En qué podemos ayudarte?"),
            item("operator", "Soy Ana, del equipo."),
            item("visitor", "¿Enviáis a España?"),
        ],
        visitor_language: Some("es".into()),
    }
}

fn options(fake: &Fake, key: Option<&str>, timeout: Duration) -> HttpOptions {
    HttpOptions {
        model: Some("llama3.2".into()),
        ..fake.options(key, timeout)
    }
}

#[tokio::test]
async fn sends_knowledge_and_history_and_reads_reply_and_usage() {
    let fake = Fake::start(Reply::json(completion(
        "Sí, enviamos a España en 3 a 5 días laborables.",
        212,
        17,
    )))
    .await;
    let client = OpenAiResponder::new(options(&fake, Some("sk-ai"), GENEROUS)).unwrap();
    let reply = client.reply(&request()).await.unwrap().unwrap();
    assert_eq!(
        reply.content,
        "Sí, enviamos a España en 3 a 5 días laborables."
    );
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (212, 17));
    assert_eq!(reply.source, ReplySource::Model);

    let sent = fake.single();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-ai"));
    assert_eq!(sent.body["model"], "llama3.2");
    assert_eq!(sent.body["temperature"], 0.0);
    let messages = sent.body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "system",
            "assistant",
            "user",
            "assistant",
            "assistant",
            "user"
        ]
    );
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("in Spanish"), "{system}");
    assert!(system.contains("HANDOFF"), "{system}");
    assert!(
        system.contains(
            "Q: Do you ship to Spain?\nA: Yes, delivery to Spain takes 3 to 5 working days."
        ),
        "{system}"
    );
    assert_eq!(messages[5]["content"], "¿Enviáis a España?");

    // The charge follows the reported usage: 229 tokens at 2 per 1k → 1.
    let pricing = Pricing::from(&Settings::default());
    assert_eq!(pricing.ai_cost(&reply), 1);
}

#[tokio::test]
async fn the_handoff_sentinel_and_empty_answers_mean_no_reply() {
    for content in ["HANDOFF", " HANDOFF.\n", ""] {
        let fake = Fake::start(Reply::json(completion(content, 100, 2))).await;
        let client = OpenAiResponder::new(options(&fake, None, GENEROUS)).unwrap();
        assert_eq!(client.reply(&request()).await, Ok(None), "{content:?}");
        assert_eq!(fake.single().header("authorization"), None);
    }
}

#[tokio::test]
async fn missing_usage_counts_as_zero_tokens() {
    // llama.cpp and some proxies leave usage out.
    let fake = Fake::start(Reply::json(json!({
        "choices": [{"message": {"role": "assistant", "content": "Sí."}}]
    })))
    .await;
    let client = OpenAiResponder::new(options(&fake, None, GENEROUS)).unwrap();
    let reply = client.reply(&request()).await.unwrap().unwrap();
    assert_eq!((reply.prompt_tokens, reply.completion_tokens), (0, 0));
}

#[tokio::test]
async fn without_a_visitor_message_nothing_is_sent() {
    let fake = Fake::start(Reply::json(completion("x", 1, 1))).await;
    let client = OpenAiResponder::new(options(&fake, None, GENEROUS)).unwrap();
    let empty = AiRequest::default();
    assert_eq!(client.reply(&empty).await, Ok(None));
    assert!(fake.received().is_empty());
}

async fn error_for(reply: Reply, timeout: Duration) -> AiError {
    let fake = Fake::start(reply).await;
    let client = OpenAiResponder::new(options(&fake, Some("sk-ai"), timeout)).unwrap();
    client.reply(&request()).await.unwrap_err()
}

#[tokio::test]
async fn failures_are_sorted_into_transient_and_permanent() {
    let body = r#"{"error": {"message": "Rate limit reached", "type": "requests"}}"#;
    for status in [500, 502, 429] {
        let err = error_for(Reply::status(status, body), GENEROUS).await;
        assert!(matches!(err, AiError::Transient(_)), "{status}: {err:?}");
    }
    for status in [400, 401, 403, 404] {
        let err = error_for(Reply::status(status, body), GENEROUS).await;
        assert!(matches!(err, AiError::Permanent(_)), "{status}: {err:?}");
    }
    for malformed in [
        json!({"choices": []}),
        json!({"choices": "no"}),
        json!(null),
    ] {
        let err = error_for(Reply::json(malformed.clone()), GENEROUS).await;
        assert!(matches!(err, AiError::Permanent(_)), "{malformed}: {err:?}");
    }
}

#[tokio::test]
async fn timeouts_are_transient_and_slow_answers_in_time_succeed() {
    let err = error_for(Reply::json(completion("Sí.", 1, 1)).after(TOO_SLOW), SHORT).await;
    assert!(matches!(err, AiError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains("sk-ai"), "{err}");

    let fake =
        Fake::start(Reply::json(completion("Sí.", 1, 1)).after(Duration::from_millis(400))).await;
    let client = OpenAiResponder::new(options(&fake, None, Duration::from_secs(2))).unwrap();
    assert_eq!(
        client.reply(&request()).await.unwrap().unwrap().content,
        "Sí."
    );
}
