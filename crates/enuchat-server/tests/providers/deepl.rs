use crate::fake::{Fake, Reply, GENEROUS, SHORT, TOO_SLOW};
use enuchat_server::providers::translation::deepl::DeepL;
use enuchat_server::providers::translation::{TranslateError, Translator};
use serde_json::json;
use std::time::Duration;

const KEY: &str = "0f5c1c55-aaaa-bbbb-cccc-123456789abc:fx";

fn ok_body() -> serde_json::Value {
    json!({"translations": [{"detected_source_language": "EN", "text": "Hallo Welt"}]})
}

#[tokio::test]
async fn sends_the_deepl_request_and_reads_the_answer() {
    let fake = Fake::start(Reply::json(ok_body())).await;
    let client = DeepL::new(fake.options(Some(KEY), GENEROUS)).unwrap();
    let t = client.translate("Hello world", None, "de").await.unwrap();
    assert_eq!(t.text, "Hallo Welt");
    assert_eq!(t.source_language.as_deref(), Some("en"));
    assert_eq!(t.characters, 11);
    let request = fake.single();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/translate");
    assert_eq!(
        request.header("authorization"),
        Some(format!("DeepL-Auth-Key {KEY}").as_str())
    );
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    // No source: DeepL detects it; the field is left out.
    assert_eq!(
        request.body,
        json!({"text": ["Hello world"], "target_lang": "DE"})
    );
}

#[tokio::test]
async fn languages_are_sent_in_deepl_form() {
    let fake = Fake::start(Reply::json(ok_body())).await;
    let client = DeepL::new(fake.options(Some(KEY), GENEROUS)).unwrap();
    client.translate("Hola", Some("es"), "en").await.unwrap();
    client.translate("Hola", Some("es-MX"), "pt").await.unwrap();
    client.translate("Hola", Some("es"), "pt-BR").await.unwrap();
    let bodies: Vec<_> = fake.received().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies[0]["source_lang"], "ES");
    assert_eq!(bodies[0]["target_lang"], "EN-US");
    assert_eq!(bodies[1]["source_lang"], "ES");
    assert_eq!(bodies[1]["target_lang"], "PT-PT");
    assert_eq!(bodies[2]["target_lang"], "PT-BR");
}

async fn error_for(reply: Reply, timeout: Duration) -> TranslateError {
    let fake = Fake::start(reply).await;
    let client = DeepL::new(fake.options(Some(KEY), timeout)).unwrap();
    client
        .translate("Hello world", Some("en"), "de")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn quota_exceeded_and_client_errors_are_permanent() {
    for status in [456, 400, 401, 403] {
        let err = error_for(
            Reply::status(status, r#"{"message": "Quota exceeded"}"#),
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
async fn server_errors_and_rate_limits_are_transient() {
    for status in [500, 503, 429] {
        let err = error_for(
            Reply::status(status, r#"{"message": "Too many requests"}"#),
            GENEROUS,
        )
        .await;
        assert!(
            matches!(err, TranslateError::Transient(_)),
            "{status}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_target_is_reported_as_such() {
    let err = error_for(
        Reply::status(
            400,
            r#"{"message": "Value for 'target_lang' not supported."}"#,
        ),
        GENEROUS,
    )
    .await;
    assert!(matches!(err, TranslateError::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_bodies_are_permanent() {
    for body in [
        json!({"translations": []}),
        json!({"text": "Hallo"}),
        json!([1, 2]),
    ] {
        let err = error_for(Reply::json(body.clone()), GENEROUS).await;
        assert!(
            matches!(err, TranslateError::Permanent(_)),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn timeouts_are_transient_and_slow_answers_in_time_succeed() {
    let err = error_for(Reply::json(ok_body()).after(TOO_SLOW), SHORT).await;
    assert!(matches!(err, TranslateError::Transient(_)), "{err:?}");

    let fake = Fake::start(Reply::json(ok_body()).after(Duration::from_millis(400))).await;
    let client = DeepL::new(fake.options(Some(KEY), Duration::from_secs(2))).unwrap();
    assert_eq!(
        client
            .translate("Hello world", None, "de")
            .await
            .unwrap()
            .text,
        "Hallo Welt"
    );
}

#[test]
fn a_key_is_required() {
    let options = enuchat_server::providers::http::HttpOptions {
        base_url: "http://127.0.0.1:9".into(),
        api_key: None,
        model: None,
        timeout: GENEROUS,
    };
    assert!(DeepL::new(options).is_err());
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    for reply in [
        Reply::status(403, r#"{"message": "Wrong key"}"#),
        Reply::json(ok_body()).after(TOO_SLOW),
    ] {
        let err = error_for(reply, SHORT).await;
        assert!(!err.to_string().contains(KEY), "{err}");
        assert!(!format!("{err:?}").contains(KEY), "{err:?}");
    }
}
