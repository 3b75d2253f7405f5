//! Server settings. The CLI resolves them (flags > environment > TOML file >
//! defaults) and hands a finished [`Settings`] to [`crate::launch`].

use std::fmt;

#[derive(Clone)]
pub struct Settings {
    /// `sqlite://path.db` or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Requests per minute per API key; also the burst size.
    pub rate_limit_per_minute: u32,
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
    /// Use `X-Forwarded-For` for client addresses (only behind a proxy you run).
    pub trust_forwarded_for: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://enuchat.db".into(),
            rate_limit_per_minute: 60,
            max_db_connections: 10,
            public_url: None,
            visitor_messages_per_minute: 20,
            new_visitors_per_ip_per_minute: 60,
            new_conversations_per_ip_per_minute: 10,
            trust_forwarded_for: false,
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

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
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
}
