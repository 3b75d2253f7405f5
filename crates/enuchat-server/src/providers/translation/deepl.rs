//! DeepL: `POST {base}/v2/translate`, JSON, `Authorization: DeepL-Auth-Key`.

use super::{primary, TranslateError, Translation, Translator};
use crate::providers::http::{self, CallError, HttpOptions};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

/// DeepL's paid API; keys of the free plan end in `:fx` and use [`FREE_BASE_URL`].
pub const PRO_BASE_URL: &str = "https://api.deepl.com";
pub const FREE_BASE_URL: &str = "https://api-free.deepl.com";

/// The base URL DeepL documents for a key, when none is configured.
pub fn default_base_url(api_key: &str) -> &'static str {
    if api_key.trim_end().ends_with(":fx") {
        FREE_BASE_URL
    } else {
        PRO_BASE_URL
    }
}

pub struct DeepL {
    options: HttpOptions,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Request<'a> {
    text: [&'a str; 1],
    target_lang: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_lang: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    translations: Vec<Translated>,
}

#[derive(Deserialize)]
struct Translated {
    #[serde(default)]
    detected_source_language: Option<String>,
    text: String,
}

/// DeepL wants upper-case targets and refuses plain `EN` and `PT` as targets
/// (deprecated): it needs a variant. A code that already names a region
/// (`pt-BR`, `en-GB`) is kept; bare `en` becomes `EN-US` (the larger
/// audience) and bare `pt` becomes `PT-PT` (the language of Portugal, where
/// ISO's plain `pt` comes from). Chinese has to say its script: `ZH-HANS`.
pub fn target_lang(code: &str) -> String {
    let code = code.trim().replace('_', "-").to_ascii_uppercase();
    match code.as_str() {
        "EN" => "EN-US".into(),
        "PT" => "PT-PT".into(),
        "ZH" => "ZH-HANS".into(),
        _ => code,
    }
}

/// Sources are languages without a region: `en-GB` → `EN`.
pub fn source_lang(code: &str) -> String {
    primary(code).to_ascii_uppercase()
}

impl DeepL {
    /// `options.api_key` is required (DeepL has no anonymous access).
    pub fn new(options: HttpOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(
            options
                .api_key
                .as_deref()
                .is_some_and(|k| !k.trim().is_empty()),
            "the deepl translation provider needs an API key (ENUCHAT_TRANSLATION_API_KEY)"
        );
        Ok(Self {
            client: http::client(options.timeout)?,
            options,
        })
    }
}

#[async_trait]
impl Translator for DeepL {
    async fn translate(
        &self,
        text: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Translation, TranslateError> {
        let body = Request {
            text: [text],
            target_lang: target_lang(to),
            source_lang: from.map(source_lang),
        };
        let key = self.options.api_key.as_deref().unwrap_or_default();
        let request = self
            .client
            .post(self.options.url("/v2/translate"))
            .header("Authorization", format!("DeepL-Auth-Key {key}"))
            .json(&body);
        match http::send_json::<Response>(request).await {
            Ok(response) => {
                let Some(first) = response.translations.into_iter().next() else {
                    return Err(TranslateError::Permanent(
                        "deepl sent an unreadable answer: no translations".into(),
                    ));
                };
                let detected = first.detected_source_language.map(|code| primary(&code));
                Ok(Translation::new(
                    text,
                    first.text,
                    from.map(primary).or(detected),
                ))
            }
            // DeepL refuses an unknown language with 400 "Value for
            // 'target_lang' not supported." (or source_lang).
            Err(CallError::Status { status, body })
                if status == StatusCode::BAD_REQUEST && body.contains("not supported") =>
            {
                Err(TranslateError::Unsupported {
                    from: from.unwrap_or("auto").to_owned(),
                    to: to.to_owned(),
                })
            }
            // 456 is DeepL's "quota exceeded": permanent until the account
            // owner acts, which the generic rule (4xx = permanent) already says.
            Err(err) => Err(TranslateError::from_call(self.name(), err)),
        }
    }

    fn name(&self) -> &'static str {
        "deepl"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_follow_deepl() {
        assert_eq!(target_lang("es"), "ES");
        assert_eq!(target_lang("en"), "EN-US");
        assert_eq!(target_lang("en-gb"), "EN-GB");
        assert_eq!(target_lang("pt"), "PT-PT");
        assert_eq!(target_lang("pt_BR"), "PT-BR");
        assert_eq!(source_lang("en-GB"), "EN");
        assert_eq!(default_base_url("abc:fx"), FREE_BASE_URL);
        assert_eq!(default_base_url("abc"), PRO_BASE_URL);
    }
}
