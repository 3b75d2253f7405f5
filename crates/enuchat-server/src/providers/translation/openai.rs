//! Translation by a language model on any OpenAI-compatible chat completions
//! server. Useful when no dedicated translation service is at hand.

use super::{language_name, TranslateError, Translation, Translator};
use crate::providers::chat::{self, Message};
use crate::providers::http::{self, CallError, HttpOptions};
use async_trait::async_trait;

pub struct OpenAiTranslator {
    options: HttpOptions,
    client: reqwest::Client,
}

impl OpenAiTranslator {
    pub fn new(options: HttpOptions) -> anyhow::Result<Self> {
        Ok(Self {
            client: http::client(options.timeout)?,
            options,
        })
    }
}

/// The instruction for the model: only the translation comes back, so the
/// answer can be shown as it is.
pub fn system_prompt(from: Option<&str>, to: &str) -> String {
    let source = match from {
        Some(code) => format!(" from {}", language_name(code)),
        None => String::new(),
    };
    format!(
        "You are a translation engine for a customer-support chat. Translate the user's \
         message{source} to {target}. Keep the meaning, tone, names, numbers and links. \
         Output only the translation, with no explanations, quotes or notes.",
        target = language_name(to)
    )
}

#[async_trait]
impl Translator for OpenAiTranslator {
    async fn translate(
        &self,
        text: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Translation, TranslateError> {
        let messages = [
            Message::system(system_prompt(from, to)),
            Message::user(text),
        ];
        let completion = chat::complete(&self.client, &self.options, &messages)
            .await
            .map_err(|err| TranslateError::from_call(self.name(), err))?;
        let translated = completion.content.trim();
        if translated.is_empty() {
            return Err(TranslateError::from_call(
                self.name(),
                CallError::Malformed("empty translation".into()),
            ));
        }
        Ok(Translation::new(
            text,
            translated.to_owned(),
            from.map(str::to_owned),
        ))
    }

    fn name(&self) -> &'static str {
        "openai"
    }
}
