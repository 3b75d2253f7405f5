//! Server settings. The CLI resolves them (flags > environment > TOML file >
//! defaults) and hands a finished [`Settings`] to [`crate::launch`].

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// Which service translates messages (`ENUCHAT_TRANSLATION_PROVIDER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TranslationProvider {
    /// No translation at all.
    #[default]
    None,
    /// A LibreTranslate server (`POST /translate`), usually self-hosted.
    Libretranslate,
    /// DeepL's API (`POST /v2/translate`).
    Deepl,
    /// Any OpenAI-compatible chat completions server.
    Openai,
    /// The Apertium engine installed on this machine: fully offline.
    Apertium,
}

impl TranslationProvider {
    pub const NAMES: &'static str = "none, libretranslate, deepl, openai, apertium";
}

impl FromStr for TranslationProvider {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "libretranslate" => Ok(Self::Libretranslate),
            "deepl" => Ok(Self::Deepl),
            "openai" => Ok(Self::Openai),
            "apertium" => Ok(Self::Apertium),
            _ => Err(format!(
                "unknown translation provider {value:?} (expected one of: {})",
                Self::NAMES
            )),
        }
    }
}

/// Which service writes automatic replies (`ENUCHAT_AI_PROVIDER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AiProvider {
    /// Offline ranked retrieval over each widget's knowledge entries.
    #[default]
    KnowledgeBase,
    /// Any OpenAI-compatible chat completions server.
    Openai,
    /// No automatic replies.
    None,
}

impl AiProvider {
    pub const NAMES: &'static str = "knowledge-base, openai, none";
}

impl FromStr for AiProvider {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "knowledge-base" => Ok(Self::KnowledgeBase),
            "openai" => Ok(Self::Openai),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "unknown AI provider {value:?} (expected one of: {})",
                Self::NAMES
            )),
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    /// `sqlite://path.db` or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Requests per minute per API key; also the burst size.
    pub rate_limit_per_minute: u32,
    /// How long an API key read from the database is trusted without reading
    /// it again (0: always read). Bounds how late a revocation made outside
    /// this server's reach (SQLite's CLI) takes effect.
    pub api_key_cache_secs: u64,
    /// Largest pool of database connections.
    pub max_db_connections: u32,
    /// The address people should use to reach this server, for printed links.
    pub public_url: Option<String>,
    /// Messages per minute one visitor may send (also the burst).
    pub visitor_messages_per_minute: u32,
    /// New visitors (browsers) per minute from one IP address.
    pub new_visitors_per_ip_per_minute: u32,
    /// New conversations per minute from one IP address.
    pub new_conversations_per_ip_per_minute: u32,
    /// Take client addresses from the last `X-Forwarded-For` entry (only
    /// behind a proxy you run; see `extract::client_ip`).
    pub trust_forwarded_for: bool,
    /// Who translates messages.
    pub translation_provider: TranslationProvider,
    /// The translation service's base URL (provider default when `None`).
    pub translation_base_url: Option<String>,
    /// The translation service's key. Secret: never logged.
    pub translation_api_key: Option<String>,
    /// The model, for the `openai` translation provider.
    pub translation_model: Option<String>,
    /// Who writes automatic replies.
    pub ai_provider: AiProvider,
    /// The AI service's base URL (`https://api.openai.com` when `None`).
    pub ai_base_url: Option<String>,
    /// The AI service's key, optional for local servers. Secret: never logged.
    pub ai_api_key: Option<String>,
    /// The model for the `openai` AI provider.
    pub ai_model: Option<String>,
    /// Longest wait for one provider request (HTTP or the Apertium process).
    pub provider_timeout_secs: u64,
    /// Credits charged per 1,000 tokens (prompt + completion) of a model reply.
    pub credits_per_1k_tokens: u32,
    /// Credits charged per 1,000 characters sent for translation.
    pub credits_per_1k_translated_chars: u32,
    /// Credits charged for one reply taken from the knowledge base.
    pub credits_per_knowledge_reply: u32,
    /// Run the background job worker (translations, AI replies). Off only in
    /// tests that step a worker themselves.
    pub run_jobs: bool,
    /// How long a visitor's channel holds back a message whose translation
    /// is on its way before it shows the original instead.
    pub translation_wait_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://enuchat.db".into(),
            rate_limit_per_minute: 60,
            api_key_cache_secs: 10,
            max_db_connections: 10,
            public_url: None,
            visitor_messages_per_minute: 20,
            new_visitors_per_ip_per_minute: 60,
            new_conversations_per_ip_per_minute: 10,
            trust_forwarded_for: false,
            translation_provider: TranslationProvider::None,
            translation_base_url: None,
            translation_api_key: None,
            translation_model: None,
            ai_provider: AiProvider::KnowledgeBase,
            ai_base_url: None,
            ai_api_key: None,
            ai_model: None,
            provider_timeout_secs: 10,
            credits_per_1k_tokens: 2,
            credits_per_1k_translated_chars: 1,
            credits_per_knowledge_reply: 1,
            run_jobs: true,
            translation_wait_ms: 8_000,
        }
    }
}

/// Hides the password part of a database URL, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Shows whether a secret is set, never its value.
fn secret(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "***")
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("api_key_cache_secs", &self.api_key_cache_secs)
            .field("max_db_connections", &self.max_db_connections)
            .field("public_url", &self.public_url)
            .field(
                "visitor_messages_per_minute",
                &self.visitor_messages_per_minute,
            )
            .field(
                "new_visitors_per_ip_per_minute",
                &self.new_visitors_per_ip_per_minute,
            )
            .field(
                "new_conversations_per_ip_per_minute",
                &self.new_conversations_per_ip_per_minute,
            )
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("translation_provider", &self.translation_provider)
            .field(
                "translation_base_url",
                &self.translation_base_url.as_deref().map(redact_url),
            )
            .field("translation_api_key", &secret(&self.translation_api_key))
            .field("translation_model", &self.translation_model)
            .field("ai_provider", &self.ai_provider)
            .field("ai_base_url", &self.ai_base_url.as_deref().map(redact_url))
            .field("ai_api_key", &secret(&self.ai_api_key))
            .field("ai_model", &self.ai_model)
            .field("provider_timeout_secs", &self.provider_timeout_secs)
            .field("run_jobs", &self.run_jobs)
            .field("translation_wait_ms", &self.translation_wait_ms)
            .field("credits_per_1k_tokens", &self.credits_per_1k_tokens)
            .field(
                "credits_per_1k_translated_chars",
                &self.credits_per_1k_translated_chars,
            )
            .field(
                "credits_per_knowledge_reply",
                &self.credits_per_knowledge_reply,
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_debug_output() {
        let settings = Settings {
            database_url: "postgres://app:s3cret@db:5432/chat".into(),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/chat"));
        assert_eq!(redact_url("sqlite://enuchat.db"), "sqlite://enuchat.db");
    }

    #[test]
    fn provider_keys_never_reach_debug_output() {
        let settings = Settings {
            translation_provider: TranslationProvider::Deepl,
            translation_api_key: Some("deepl-key-123:fx".into()),
            translation_base_url: Some("https://user:basic-pass@deepl.example".into()),
            ai_provider: AiProvider::Openai,
            ai_api_key: Some("sk-live-abcdef".into()),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        for secret in ["deepl-key-123", "basic-pass", "sk-live-abcdef"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(
            shown.contains("translation_api_key: Some(\"***\")"),
            "{shown}"
        );
        assert!(shown.contains("ai_model: None"), "{shown}");
    }

    #[test]
    fn provider_names_parse_and_unknown_ones_are_refused() {
        assert_eq!("apertium".parse(), Ok(TranslationProvider::Apertium));
        assert_eq!("DeepL".parse(), Ok(TranslationProvider::Deepl));
        assert_eq!("knowledge-base".parse(), Ok(AiProvider::KnowledgeBase));
        assert_eq!("none".parse(), Ok(AiProvider::None));
        let err = "google".parse::<TranslationProvider>().unwrap_err();
        assert!(err.contains("libretranslate"), "{err}");
        assert!("knowledge_base".parse::<AiProvider>().is_err());
        let defaults = Settings::default();
        assert_eq!(defaults.translation_provider, TranslationProvider::None);
        assert_eq!(defaults.ai_provider, AiProvider::KnowledgeBase);
        assert_eq!(defaults.provider_timeout_secs, 10);
    }
}
