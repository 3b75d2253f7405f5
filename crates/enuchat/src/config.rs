//! Settings resolution: a flag or its environment variable wins, then the
//! optional TOML file (`--config`), then the built-in default.

use crate::cli::{GlobalArgs, LogFormat};
use anyhow::Context;
use enuchat_server::settings::{AiProvider, Settings, TranslationProvider};
use serde::Deserialize;
use std::str::FromStr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://enuchat.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Everything the TOML file may set. Unknown keys are refused so that a typo
/// does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub listen: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub max_db_connections: Option<u32>,
    pub public_url: Option<String>,
    pub trust_forwarded_for: Option<bool>,
    pub visitor_messages_per_minute: Option<u32>,
    pub new_visitors_per_ip_per_minute: Option<u32>,
    pub new_conversations_per_ip_per_minute: Option<u32>,
    pub translation_provider: Option<TranslationProvider>,
    pub translation_base_url: Option<String>,
    pub translation_api_key: Option<Secret>,
    pub translation_model: Option<String>,
    pub ai_provider: Option<AiProvider>,
    pub ai_base_url: Option<String>,
    pub ai_api_key: Option<Secret>,
    pub ai_model: Option<String>,
    pub provider_timeout_secs: Option<u64>,
    pub api_key_cache_seconds: Option<u64>,
    pub credits_per_1k_tokens: Option<u32>,
    pub credits_per_1k_translated_chars: Option<u32>,
    pub credits_per_knowledge_reply: Option<u32>,
}

/// A key read from the file: `Debug` shows that it is set, never its value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Fills the provider and price settings: the environment wins over the file,
/// the file over the defaults already in `settings`. There are no flags for
/// them on purpose: API keys on a command line end up in `ps` and shell
/// history. An empty variable counts as unset. `env` is `std::env::var` in
/// the binary and a map in tests.
pub fn apply_provider_settings(
    settings: &mut Settings,
    file: &FileConfig,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let text = |name: &str, from_file: &Option<String>| var(name).or_else(|| from_file.clone());
    let secret = |name: &str, from_file: &Option<Secret>| {
        var(name).or_else(|| from_file.as_ref().map(|s| s.0.clone()))
    };
    fn parsed<T: FromStr>(name: &str, value: Option<String>) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        value
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|err| anyhow::anyhow!("{name}={v:?}: {err}"))
            })
            .transpose()
    }

    if let Some(provider) = parsed(
        "ENUCHAT_TRANSLATION_PROVIDER",
        var("ENUCHAT_TRANSLATION_PROVIDER"),
    )?
    .or(file.translation_provider)
    {
        settings.translation_provider = provider;
    }
    settings.translation_base_url =
        text("ENUCHAT_TRANSLATION_BASE_URL", &file.translation_base_url)
            .or(settings.translation_base_url.take());
    settings.translation_api_key = secret("ENUCHAT_TRANSLATION_API_KEY", &file.translation_api_key)
        .or(settings.translation_api_key.take());
    settings.translation_model = text("ENUCHAT_TRANSLATION_MODEL", &file.translation_model)
        .or(settings.translation_model.take());
    if let Some(provider) =
        parsed("ENUCHAT_AI_PROVIDER", var("ENUCHAT_AI_PROVIDER"))?.or(file.ai_provider)
    {
        settings.ai_provider = provider;
    }
    settings.ai_base_url =
        text("ENUCHAT_AI_BASE_URL", &file.ai_base_url).or(settings.ai_base_url.take());
    settings.ai_api_key =
        secret("ENUCHAT_AI_API_KEY", &file.ai_api_key).or(settings.ai_api_key.take());
    settings.ai_model = text("ENUCHAT_AI_MODEL", &file.ai_model).or(settings.ai_model.take());

    let number = |name: &str, from_file: Option<u32>, current: u32| -> anyhow::Result<u32> {
        Ok(parsed(name, var(name))?.or(from_file).unwrap_or(current))
    };
    let timeout = parsed(
        "ENUCHAT_PROVIDER_TIMEOUT_SECS",
        var("ENUCHAT_PROVIDER_TIMEOUT_SECS"),
    )?
    .or(file.provider_timeout_secs)
    .unwrap_or(settings.provider_timeout_secs);
    anyhow::ensure!(
        timeout >= 1,
        "provider_timeout_secs must be at least 1 (got {timeout})"
    );
    settings.provider_timeout_secs = timeout;
    settings.api_key_cache_secs = parsed(
        "ENUCHAT_API_KEY_CACHE_SECONDS",
        var("ENUCHAT_API_KEY_CACHE_SECONDS"),
    )?
    .or(file.api_key_cache_seconds)
    .unwrap_or(settings.api_key_cache_secs);
    settings.credits_per_1k_tokens = number(
        "ENUCHAT_CREDITS_PER_1K_TOKENS",
        file.credits_per_1k_tokens,
        settings.credits_per_1k_tokens,
    )?;
    settings.credits_per_1k_translated_chars = number(
        "ENUCHAT_CREDITS_PER_1K_TRANSLATED_CHARS",
        file.credits_per_1k_translated_chars,
        settings.credits_per_1k_translated_chars,
    )?;
    settings.credits_per_knowledge_reply = number(
        "ENUCHAT_CREDITS_PER_KNOWLEDGE_REPLY",
        file.credits_per_knowledge_reply,
        settings.credits_per_knowledge_reply,
    )?;
    Ok(())
}

pub struct Config {
    pub database_url: String,
    pub log_format: LogFormat,
    pub file: FileConfig,
}

impl Config {
    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
        };
        Ok(Self {
            database_url: args
                .database_url
                .clone()
                .or_else(|| file.database_url.clone())
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("enuchat-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("enuchat.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://from-file.db\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let mut args = GlobalArgs {
            database_url: None,
            config: Some(path.clone()),
            log_format: None,
        };
        let config = Config::resolve(&args).unwrap();
        assert_eq!(config.database_url, "sqlite://from-file.db");
        assert_eq!(config.log_format, LogFormat::Json);
        args.database_url = Some("sqlite://from-flag.db".into());
        assert_eq!(
            Config::resolve(&args).unwrap().database_url,
            "sqlite://from-flag.db"
        );
        std::fs::write(&path, "databse_url = \"typo\"\n").unwrap();
        assert!(Config::resolve(&args).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn file_of(toml_text: &str) -> anyhow::Result<FileConfig> {
        Ok(toml::from_str(toml_text)?)
    }

    #[test]
    fn provider_settings_default_without_env_or_file() {
        let mut settings = Settings::default();
        apply_provider_settings(&mut settings, &FileConfig::default(), env_of(&[])).unwrap();
        assert_eq!(settings.translation_provider, TranslationProvider::None);
        assert_eq!(settings.ai_provider, AiProvider::KnowledgeBase);
        assert_eq!(settings.translation_api_key, None);
        assert_eq!(settings.provider_timeout_secs, 10);
        assert_eq!(settings.api_key_cache_secs, 10);
        assert_eq!(settings.credits_per_1k_tokens, 2);
        assert_eq!(settings.credits_per_1k_translated_chars, 1);
        assert_eq!(settings.credits_per_knowledge_reply, 1);
    }

    #[test]
    fn provider_settings_come_from_the_file() {
        let file = file_of(
            r#"
            translation_provider = "deepl"
            translation_api_key = "file-deepl-key"
            translation_base_url = "https://deepl.internal"
            ai_provider = "openai"
            ai_base_url = "http://localhost:11434"
            ai_model = "llama3.2"
            provider_timeout_secs = 30
            api_key_cache_seconds = 0
            credits_per_1k_tokens = 5
            credits_per_1k_translated_chars = 3
            credits_per_knowledge_reply = 2
            "#,
        )
        .unwrap();
        let mut settings = Settings::default();
        apply_provider_settings(&mut settings, &file, env_of(&[])).unwrap();
        assert_eq!(settings.translation_provider, TranslationProvider::Deepl);
        assert_eq!(
            settings.translation_api_key.as_deref(),
            Some("file-deepl-key")
        );
        assert_eq!(
            settings.translation_base_url.as_deref(),
            Some("https://deepl.internal")
        );
        assert_eq!(settings.ai_provider, AiProvider::Openai);
        assert_eq!(
            settings.ai_base_url.as_deref(),
            Some("http://localhost:11434")
        );
        assert_eq!(settings.ai_model.as_deref(), Some("llama3.2"));
        assert_eq!(settings.ai_api_key, None);
        assert_eq!(settings.provider_timeout_secs, 30);
        assert_eq!(settings.api_key_cache_secs, 0);
        assert_eq!(settings.credits_per_1k_tokens, 5);
        assert_eq!(settings.credits_per_1k_translated_chars, 3);
        assert_eq!(settings.credits_per_knowledge_reply, 2);
        // The file's keys stay out of its Debug output too.
        assert!(!format!("{file:?}").contains("file-deepl-key"));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let file = file_of(
            "translation_provider = \"libretranslate\"\nai_provider = \"none\"\n\
             translation_api_key = \"from-file\"\ncredits_per_1k_tokens = 5\n",
        )
        .unwrap();
        let mut settings = Settings::default();
        apply_provider_settings(
            &mut settings,
            &file,
            env_of(&[
                ("ENUCHAT_TRANSLATION_PROVIDER", "apertium"),
                ("ENUCHAT_AI_PROVIDER", "knowledge-base"),
                ("ENUCHAT_TRANSLATION_API_KEY", "from-env"),
                ("ENUCHAT_AI_API_KEY", "sk-env"),
                ("ENUCHAT_TRANSLATION_MODEL", "gpt-4o"),
                ("ENUCHAT_PROVIDER_TIMEOUT_SECS", "3"),
                ("ENUCHAT_CREDITS_PER_1K_TOKENS", "7"),
                // Empty counts as unset: the file's value stays.
                ("ENUCHAT_TRANSLATION_BASE_URL", ""),
            ]),
        )
        .unwrap();
        assert_eq!(settings.translation_provider, TranslationProvider::Apertium);
        assert_eq!(settings.ai_provider, AiProvider::KnowledgeBase);
        assert_eq!(settings.translation_api_key.as_deref(), Some("from-env"));
        assert_eq!(settings.ai_api_key.as_deref(), Some("sk-env"));
        assert_eq!(settings.translation_model.as_deref(), Some("gpt-4o"));
        assert_eq!(settings.translation_base_url, None);
        assert_eq!(settings.provider_timeout_secs, 3);
        assert_eq!(settings.credits_per_1k_tokens, 7);
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("from-env") && !shown.contains("sk-env"),
            "{shown}"
        );
    }

    #[test]
    fn bad_provider_values_are_refused() {
        let mut settings = Settings::default();
        let err = apply_provider_settings(
            &mut settings,
            &FileConfig::default(),
            env_of(&[("ENUCHAT_TRANSLATION_PROVIDER", "google")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ENUCHAT_TRANSLATION_PROVIDER"),
            "{err}"
        );
        assert!(apply_provider_settings(
            &mut settings,
            &FileConfig::default(),
            env_of(&[("ENUCHAT_PROVIDER_TIMEOUT_SECS", "soon")]),
        )
        .is_err());
        assert!(apply_provider_settings(
            &mut settings,
            &FileConfig::default(),
            env_of(&[("ENUCHAT_PROVIDER_TIMEOUT_SECS", "0")]),
        )
        .is_err());
        assert!(apply_provider_settings(
            &mut settings,
            &FileConfig::default(),
            env_of(&[("ENUCHAT_CREDITS_PER_KNOWLEDGE_REPLY", "-1")]),
        )
        .is_err());
        // Unknown values and misspelt keys in the file are refused too.
        assert!(file_of("ai_provider = \"gpt\"\n").is_err());
        assert!(file_of("ai_provider = \"knowledge_base\"\n").is_err());
        assert!(file_of("translation_providr = \"deepl\"\n").is_err());
        assert!(file_of("ai_provider = \"knowledge-base\"\n").is_ok());
    }
}
