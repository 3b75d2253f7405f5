//! LibreTranslate: `POST {base}/translate` with a JSON body. Usually a server
//! the business runs itself; an API key only where the server requires one.

use super::{TranslateError, Translation, Translator};
use crate::providers::http::{self, CallError, HttpOptions};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub struct LibreTranslate {
    options: HttpOptions,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Request<'a> {
    q: &'a str,
    source: &'a str,
    target: &'a str,
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    translated_text: String,
    /// Only present when the source was `auto`.
    #[serde(default)]
    detected_language: Option<Detected>,
}

#[derive(Deserialize)]
struct Detected {
    language: String,
}

impl LibreTranslate {
    pub fn new(options: HttpOptions) -> anyhow::Result<Self> {
        Ok(Self {
            client: http::client(options.timeout)?,
            options,
        })
    }
}

#[async_trait]
impl Translator for LibreTranslate {
    async fn translate(
        &self,
        text: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Translation, TranslateError> {
        let body = Request {
            q: text,
            source: from.unwrap_or("auto"),
            target: to,
            format: "text",
            api_key: self.options.api_key.as_deref(),
        };
        let request = self.client.post(self.options.url("/translate")).json(&body);
        match http::send_json::<Response>(request).await {
            Ok(response) => Ok(Translation::new(
                text,
                response.translated_text,
                from.map(str::to_owned)
                    .or(response.detected_language.map(|d| d.language)),
            )),
            // LibreTranslate answers 400 with "xx is not supported" or
            // "... is not available as a target language ..." for a pair it
            // has no model for: that is a fact about the pair, not a failure.
            Err(CallError::Status { status, body })
                if status == reqwest::StatusCode::BAD_REQUEST
                    && (body.contains("not supported") || body.contains("not available")) =>
            {
                Err(TranslateError::Unsupported {
                    from: from.unwrap_or("auto").to_owned(),
                    to: to.to_owned(),
                })
            }
            Err(err) => Err(TranslateError::from_call(self.name(), err)),
        }
    }

    fn name(&self) -> &'static str {
        "libretranslate"
    }
}
