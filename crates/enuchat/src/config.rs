//! Settings resolution: a flag or its environment variable wins, then the
//! optional TOML file (`--config`), then the built-in default.

use crate::cli::{GlobalArgs, LogFormat};
use anyhow::Context;
use serde::Deserialize;

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
}
