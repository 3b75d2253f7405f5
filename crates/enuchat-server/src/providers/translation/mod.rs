//! Machine translation of chat messages, behind one trait so the job worker
//! does not care which service does it.

pub mod apertium;
pub mod deepl;
pub mod libretranslate;
pub mod openai;

use super::http::CallError;
use async_trait::async_trait;
use std::sync::Arc;

/// A translated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    pub text: String,
    /// ISO 639-1 code of the source, as given or as the provider detected it.
    pub source_language: Option<String>,
    /// Characters of the input: what the tenant is charged for.
    pub characters: u64,
}

impl Translation {
    pub(crate) fn new(input: &str, text: String, source_language: Option<String>) -> Self {
        Self {
            text,
            source_language,
            characters: input.chars().count() as u64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The provider cannot translate this pair at all. Report it once; do not retry.
    #[error("translation from {from} to {to} is not available")]
    Unsupported { from: String, to: String },
    /// Wrong request, key or configuration, quota used up, unreadable answer:
    /// the same request will fail again.
    #[error("{0}")]
    Permanent(String),
    /// Server error, rate limit, timeout, lost connection: try again later.
    #[error("{0}")]
    Transient(String),
}

impl TranslateError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TranslateError::Unsupported { .. } => "unsupported",
            TranslateError::Permanent(_) => "permanent",
            TranslateError::Transient(_) => "transient",
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, TranslateError::Transient(_))
    }

    pub(crate) fn from_call(provider: &str, err: CallError) -> Self {
        let message = err.describe(provider);
        if err.is_transient() {
            TranslateError::Transient(message)
        } else {
            TranslateError::Permanent(message)
        }
    }
}

#[async_trait]
pub trait Translator: Send + Sync {
    /// Translates `text` into `to`; `from` is `None` when the source language
    /// is unknown (the provider detects it, if it can). Codes are ISO 639-1.
    async fn translate(
        &self,
        text: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Translation, TranslateError>;

    /// The provider's configuration name, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// The `none` provider: no translator at all, so callers skip translation.
pub fn none() -> Option<Arc<dyn Translator>> {
    None
}

/// The primary subtag of a language tag, lowercased: `pt-BR` → `pt`.
pub(crate) fn primary(code: &str) -> String {
    code.split(['-', '_'])
        .next()
        .unwrap_or(code)
        .trim()
        .to_ascii_lowercase()
}

/// An English name for a language code, for prompts to language models
/// ("Spanish" is understood more reliably than "es"). Unknown codes stay codes.
pub(crate) fn language_name(code: &str) -> String {
    let name = match primary(code).as_str() {
        "en" => "English",
        "es" => "Spanish",
        "de" => "German",
        "fr" => "French",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        "ca" => "Catalan",
        "gl" => "Galician",
        "eu" => "Basque",
        "pl" => "Polish",
        "cs" => "Czech",
        "sk" => "Slovak",
        "ro" => "Romanian",
        "ru" => "Russian",
        "uk" => "Ukrainian",
        "sv" => "Swedish",
        "da" => "Danish",
        "nb" | "no" => "Norwegian",
        "fi" => "Finnish",
        "el" => "Greek",
        "tr" => "Turkish",
        "ar" => "Arabic",
        "he" => "Hebrew",
        "hi" => "Hindi",
        "zh" => "Chinese",
        "ja" => "Japanese",
        "ko" => "Korean",
        "vi" => "Vietnamese",
        "id" => "Indonesian",
        _ => return code.to_owned(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_counted_not_bytes() {
        let t = Translation::new("¿Qué tal?", "How are you?".into(), None);
        assert_eq!(t.characters, 9);
    }

    #[test]
    fn language_codes_are_normalised() {
        assert_eq!(primary("pt-BR"), "pt");
        assert_eq!(primary("EN"), "en");
        assert_eq!(language_name("es"), "Spanish");
        assert_eq!(language_name("xx"), "xx");
    }
}
