use crate::fake::{Fake, Reply, GENEROUS, SHORT, TOO_SLOW};
use enuchat_server::providers::http::HttpOptions;
use enuchat_server::providers::translation::openai::OpenAiTranslator;
use enuchat_server::providers::translation::{TranslateError, Translator};
use serde_json::json;
use std::time::Duration;

/// A chat completions answer as OpenAI sends it.
pub fn completion(content: &str, prompt_tokens: u64, completion_tokens: u64) -> serde_json::Value {
    json!({
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        },
        "system_fingerprint": "fp_0123"
    })
}

fn options(fake: &Fake, key: Option<&str>, timeout: Duration) -> HttpOptions {
    HttpOptions {
        model: Some("gpt-4o-mini".into()),
        ..fake.options(key, timeout)
    }
}

#[tokio::test]
async fn sends_a_chat_completion_and_returns_only_the_translation() {
    let fake = Fake::start(Reply::json(completion("  Hola, ¿cómo estás?\n", 40, 8))).await;
    let client = OpenAiTranslator::new(options(&fake, Some("sk-test"), GENEROUS)).unwrap();
    let t = client
        .translate("Hi, how are you?", Some("en"), "es")
        .await
        .unwrap();
    assert_eq!(t.text, "Hola, ¿cómo estás?");
    assert_eq!(t.source_language.as_deref(), Some("en"));
    assert_eq!(t.characters, 16);
    let request = fake.single();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.body["model"], "gpt-4o-mini");
    assert_eq!(request.body["temperature"], 0.0);
    let messages = request.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("from English to Spanish"), "{system}");
    assert!(system.contains("Output only the translation"), "{system}");
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "Hi, how are you?"})
    );
}

#[tokio::test]
async fn a_local_server_needs_no_key() {
    let fake = Fake::start(Reply::json(completion("Hallo", 10, 2))).await;
    let client = OpenAiTranslator::new(options(&fake, None, GENEROUS)).unwrap();
    client.translate("Hello", None, "de").await.unwrap();
    let request = fake.single();
    assert_eq!(request.header("authorization"), None);
    let system = request.body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("to German"), "{system}");
}

async fn error_for(reply: Reply, timeout: Duration) -> TranslateError {
    let fake = Fake::start(reply).await;
    let client = OpenAiTranslator::new(options(&fake, Some("sk-test"), timeout)).unwrap();
    client
        .translate("Hello", Some("en"), "es")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn failures_are_sorted_into_transient_and_permanent() {
    let openai_error =
        r#"{"error": {"message": "x", "type": "invalid_request_error", "code": null}}"#;
    for status in [500, 503, 429] {
        let err = error_for(Reply::status(status, openai_error), GENEROUS).await;
        assert!(
            matches!(err, TranslateError::Transient(_)),
            "{status}: {err:?}"
        );
    }
    for status in [400, 401, 403, 404] {
        let err = error_for(Reply::status(status, openai_error), GENEROUS).await;
        assert!(
            matches!(err, TranslateError::Permanent(_)),
            "{status}: {err:?}"
        );
    }
    for body in [
        json!({"choices": []}),
        json!({"object": "chat.completion"}),
        completion("   ", 5, 0),
    ] {
        let err = error_for(Reply::json(body.clone()), GENEROUS).await;
        assert!(
            matches!(err, TranslateError::Permanent(_)),
            "{body}: {err:?}"
        );
    }
    let err = error_for(Reply::json(completion("Hola", 1, 1)).after(TOO_SLOW), SHORT).await;
    assert!(matches!(err, TranslateError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains("sk-test"), "{err}");
}
