//! Validated value types. A value of one of these types has already passed
//! validation, so storage and handlers never re-check it.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// Why a value was refused. The message names the rule that was broken and is
/// safe to show to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        // kebab-case spells every variant as its `$text` (checked by a test);
        // per-variant renames would be lost on utoipa inside a macro.
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The accepted spellings, for error messages.
            pub fn choices() -> String {
                [$($text),+].join(", ")
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(InvalidValue(format!(
                        "must be one of: {}", $name::choices()
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a conversation stands.
    ConversationStatus { Open => "open", Pending => "pending", Closed => "closed" }
);

string_enum!(
    /// Who wrote a message.
    MessageRole { Visitor => "visitor", Operator => "operator", System => "system", Ai => "ai" }
);

string_enum!(
    /// Roles only a Tenant API client may post with.
    ApiMessageRole { System => "system", Operator => "operator" }
);

impl From<ApiMessageRole> for MessageRole {
    fn from(role: ApiMessageRole) -> Self {
        match role {
            ApiMessageRole::System => MessageRole::System,
            ApiMessageRole::Operator => MessageRole::Operator,
        }
    }
}

string_enum!(
    /// Corner of the page where the widget's launcher sits.
    WidgetPosition { BottomRight => "bottom-right", BottomLeft => "bottom-left" }
);

string_enum!(
    /// What an operator may do in the dashboard.
    OperatorRole { Owner => "owner", Admin => "admin", Operator => "operator" }
);

/// Longest message, in Unicode characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// A message body: not blank, at most [`MAX_MESSAGE_CHARS`] characters, and
/// free of NUL (which PostgreSQL text cannot hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(text: String) -> Result<Self, InvalidValue> {
        if text.trim().is_empty() {
            return Err(InvalidValue("must not be empty or blank".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(InvalidValue(format!(
                "must be at most {MAX_MESSAGE_CHARS} characters (got {chars})"
            )));
        }
        if text.contains('\0') {
            return Err(InvalidValue("must not contain NUL characters".into()));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A colour as `#rrggbb` (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexColor(String);

impl HexColor {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidValue("must be a colour like #2563eb".into()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for HexColor {
    fn default() -> Self {
        Self("#2563eb".into())
    }
}

/// A language tag such as `en`, `pl` or `pt-BR` (BCP 47 primary language with
/// an optional region), stored as given with the language part lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let mut parts = s.splitn(2, '-');
        let lang = parts.next().unwrap_or_default();
        let region = parts.next();
        let lang_ok =
            (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_alphabetic());
        let region_ok = region.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if lang_ok && region_ok {
            let lang = lang.to_ascii_lowercase();
            Ok(Self(match region {
                Some(r) => format!("{lang}-{r}"),
                None => lang,
            }))
        } else {
            Err(InvalidValue(
                "must be a language code like en, pl or pt-BR".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A billing plan name: 1..=32 of lowercase letters, digits and `-`
/// (`free`, `pro`, `enterprise-2026`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanName(String);

impl PlanName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(
                "must be 1 to 32 lowercase letters, digits or dashes (e.g. free, pro)".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, checked loosely (one `@`, something on each side, no
/// spaces) and lowercased so that look-ups are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(s.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                   && !domain.starts_with('.') && !domain.ends_with('.'));
        if ok {
            Ok(Self(s.to_lowercase()))
        } else {
            Err(InvalidValue(
                "must be an email address like ada@example.com".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A web origin as browsers send it in the `Origin` header:
/// `scheme://host[:port]`, lowercased, without path or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let lower = s.trim().trim_end_matches('/').to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let ok = rest.is_some_and(|host| {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        });
        if ok {
            Ok(Self(lower))
        } else {
            Err(InvalidValue(
                "must be an origin like https://shop.example.com (scheme, host and optional port)"
                    .into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A human-readable name (tenant, widget, operator, API key): trimmed, 1..=200
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let n = s.chars().count();
        if n == 0 {
            return Err(InvalidValue("must not be empty".into()));
        }
        if n > 200 {
            return Err(InvalidValue("must be at most 200 characters".into()));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue("must not contain control characters".into()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_content_rules() {
        assert!(MessageContent::parse("hi".into()).is_ok());
        assert!(MessageContent::parse("  \n\t".into()).is_err());
        assert!(MessageContent::parse("a\0b".into()).is_err());
        assert!(MessageContent::parse("é".repeat(10_000)).is_ok());
        assert!(MessageContent::parse("é".repeat(10_001)).is_err());
    }

    fn serde_matches_as_str<T: Serialize + Copy>(all: &[T], as_str: fn(T) -> &'static str) {
        for v in all {
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::json!(as_str(*v))
            );
        }
    }

    #[test]
    fn json_spelling_is_the_documented_spelling() {
        serde_matches_as_str(ConversationStatus::ALL, ConversationStatus::as_str);
        serde_matches_as_str(MessageRole::ALL, MessageRole::as_str);
        serde_matches_as_str(ApiMessageRole::ALL, ApiMessageRole::as_str);
        serde_matches_as_str(WidgetPosition::ALL, WidgetPosition::as_str);
        serde_matches_as_str(OperatorRole::ALL, OperatorRole::as_str);
    }

    #[test]
    fn enums_parse_their_spellings_only() {
        assert_eq!(
            "bottom-left".parse::<WidgetPosition>(),
            Ok(WidgetPosition::BottomLeft)
        );
        assert!("Open".parse::<ConversationStatus>().is_err());
        assert_eq!(ConversationStatus::choices(), "open, pending, closed");
        assert_eq!(
            serde_json::to_string(&WidgetPosition::BottomLeft).unwrap(),
            "\"bottom-left\""
        );
        assert_eq!(
            serde_json::from_str::<MessageRole>("\"ai\"").unwrap(),
            MessageRole::Ai
        );
    }

    #[test]
    fn small_values() {
        assert_eq!(HexColor::parse("#AbCdEf").unwrap().as_str(), "#abcdef");
        assert!(HexColor::parse("red").is_err());
        assert_eq!(LanguageCode::parse("EN").unwrap().as_str(), "en");
        assert_eq!(LanguageCode::parse("pt-BR").unwrap().as_str(), "pt-BR");
        assert!(LanguageCode::parse("english").is_err());
        assert!(PlanName::parse("Pro").is_err());
        assert_eq!(
            Email::parse(" Ada@Example.com ").unwrap().as_str(),
            "ada@example.com"
        );
        assert!(Email::parse("ada@localhost").is_err());
        assert!(DisplayName::parse("   ").is_err());
        assert_eq!(
            Origin::parse("HTTPS://Shop.Example.com/").unwrap().as_str(),
            "https://shop.example.com"
        );
        assert_eq!(
            Origin::parse("http://localhost:8080").unwrap().as_str(),
            "http://localhost:8080"
        );
        assert!(Origin::parse("shop.example.com").is_err());
        assert!(Origin::parse("https://shop.example.com/path").is_err());
    }
}
