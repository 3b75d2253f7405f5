use crate::fake::{closed_port_url, Fake, Reply, GENEROUS, SHORT, TOO_SLOW};
use enuchat_server::providers::http::HttpOptions;
use enuchat_server::providers::translation::libretranslate::LibreTranslate;
use enuchat_server::providers::translation::{TranslateError, Translator};
use serde_json::json;
use std::time::Duration;

fn ok_body() -> serde_json::Value {
    json!({"translatedText": "¿Dónde está mi pedido?"})
}

#[tokio::test]
async fn sends_the_libretranslate_request_and_reads_the_answer() {
    let fake = Fake::start(Reply::json(ok_body())).await;
    let client = LibreTranslate::new(fake.options(Some("lt-key"), GENEROUS)).unwrap();
    let t = client
        .translate("Where is my order?", Some("en"), "es")
        .await
        .unwrap();
    assert_eq!(t.text, "¿Dónde está mi pedido?");
    assert_eq!(t.source_language.as_deref(), Some("en"));
    assert_eq!(t.characters, 18);
    let request = fake.single();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/translate");
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        request.body,
        json!({"q": "Where is my order?", "source": "en", "target": "es",
               "format": "text", "api_key": "lt-key"})
    );
}

#[tokio::test]
async fn unknown_source_is_auto_and_the_detected_language_is_kept() {
    let fake = Fake::start(Reply::json(json!({
        "translatedText": "Where is my order?",
        "detectedLanguage": {"confidence": 92.0, "language": "es"}
    })))
    .await;
    // No key configured: the field is left out, as keyless servers expect.
    let client = LibreTranslate::new(fake.options(None, GENEROUS)).unwrap();
    let t = client
        .translate("¿Dónde está mi pedido?", None, "en")
        .await
        .unwrap();
    assert_eq!(t.source_language.as_deref(), Some("es"));
    assert_eq!(t.characters, 22);
    let body = fake.single().body;
    assert_eq!(body["source"], "auto");
    assert!(body.get("api_key").is_none(), "{body}");
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_and_trailing_slash_works() {
    let fake = Fake::start(Reply::json(ok_body())).await;
    let client = LibreTranslate::new(HttpOptions {
        base_url: format!("{}/lt/", fake.base_url),
        ..fake.options(None, GENEROUS)
    })
    .unwrap();
    client.translate("Hi", Some("en"), "es").await.unwrap();
    assert_eq!(fake.single().path, "/lt/translate");
}

async fn error_for(reply: Reply, timeout: Duration) -> TranslateError {
    let fake = Fake::start(reply).await;
    let client = LibreTranslate::new(fake.options(None, timeout)).unwrap();
    client
        .translate("Where is my order?", Some("en"), "es")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_transient() {
    for status in [500, 502, 503, 429] {
        let err = error_for(Reply::status(status, r#"{"error": "busy"}"#), GENEROUS).await;
        assert!(
            matches!(err, TranslateError::Transient(_)),
            "{status}: {err:?}"
        );
        assert!(err.to_string().contains(&status.to_string()), "{err}");
    }
}

#[tokio::test]
async fn client_errors_are_permanent() {
    for status in [400, 401, 403, 404] {
        let err = error_for(
            Reply::status(status, r#"{"error": "Invalid API key"}"#),
            GENEROUS,
        )
        .await;
        assert!(
            matches!(err, TranslateError::Permanent(_)),
            "{status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_pair_the_server_lacks_is_unsupported() {
    let err = error_for(
        Reply::status(400, r#"{"error": "xx is not supported"}"#),
        GENEROUS,
    )
    .await;
    assert_eq!(
        err,
        TranslateError::Unsupported {
            from: "en".into(),
            to: "es".into()
        }
    );
}

#[tokio::test]
async fn malformed_bodies_are_permanent() {
    for body in ["<html>oops</html>", r#"{"translated": "x"}"#, ""] {
        let err = error_for(
            Reply {
                body: body.into(),
                ..Reply::json(json!({}))
            },
            GENEROUS,
        )
        .await;
        assert!(
            matches!(err, TranslateError::Permanent(_)),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_transient() {
    let started = std::time::Instant::now();
    let err = error_for(Reply::json(ok_body()).after(TOO_SLOW), SHORT).await;
    assert!(matches!(err, TranslateError::Transient(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < TOO_SLOW,
        "gave up only after the fake answered"
    );
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_succeeds() {
    let fake = Fake::start(Reply::json(ok_body()).after(Duration::from_millis(400))).await;
    let client = LibreTranslate::new(fake.options(None, Duration::from_secs(2))).unwrap();
    let t = client
        .translate("Where is my order?", Some("en"), "es")
        .await;
    assert_eq!(t.unwrap().text, "¿Dónde está mi pedido?");
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let client = LibreTranslate::new(HttpOptions {
        base_url: closed_port_url().await,
        api_key: None,
        model: None,
        timeout: GENEROUS,
    })
    .unwrap();
    let err = client.translate("Hi", Some("en"), "es").await.unwrap_err();
    assert!(matches!(err, TranslateError::Transient(_)), "{err:?}");
}
