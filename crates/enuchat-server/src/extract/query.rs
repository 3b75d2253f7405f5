//! Strict query-string parsing. Parameters are taken one by one with their
//! rules; whatever is left over at the end is an unknown parameter and refused,
//! so a typo like `?stauts=open` is a 400 instead of a silently ignored filter.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::BTreeMap;
use std::str::FromStr;

pub struct QueryParams(BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query().unwrap_or_default())
    }
}

impl QueryParams {
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::validation(format!("Malformed query string: {e}.")))?;
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::validation(format!(
                    "Query parameter `{name}` is given more than once."
                )));
            }
        }
        Ok(Self(map))
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn integer(
        &mut self,
        name: &str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, ApiError> {
        let Some(raw) = self.0.remove(name) else {
            return Ok(default);
        };
        let out_of_range = || {
            if max == u64::MAX {
                format!("`{name}` must be an integer >= {min}, got {raw:?}.")
            } else {
                format!("`{name}` must be an integer from {min} to {max}, got {raw:?}.")
            }
        };
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::Validation(out_of_range())),
        }
    }

    /// An optional value parsed with `FromStr`; `expected` describes valid input.
    pub fn optional<T: FromStr>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| {
                ApiError::validation(format!("`{name}` must be {expected}, got {raw:?}."))
            }),
        }
    }

    /// Refuses any parameter that no `take` asked for.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::validation(format!(
                "Unknown query parameter `{name}`."
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_bounded() {
        let mut q = QueryParams::parse("limit=0").unwrap();
        assert!(q.integer("limit", 1, 100, 20).is_err());
        let mut q = QueryParams::parse("limit=abc").unwrap();
        assert!(q.integer("limit", 1, 100, 20).is_err());
        let mut q = QueryParams::parse("").unwrap();
        assert_eq!(q.integer("limit", 1, 100, 20).unwrap(), 20);
        let mut q = QueryParams::parse("offset=-1").unwrap();
        assert!(q.integer("offset", 0, u64::MAX, 0).is_err());
    }

    #[test]
    fn unknown_and_duplicate_parameters_are_refused() {
        assert!(QueryParams::parse("a=1&a=2").is_err());
        let q = QueryParams::parse("stauts=open").unwrap();
        let err = q.finish().unwrap_err();
        assert!(err.to_string().contains("stauts"));
    }
}
