//! Path ids are parsed by hand so that a malformed id is a 400 that says so,
//! not axum's plain-text rejection.

use crate::error::ApiError;
use std::str::FromStr;

pub fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::validation(format!("`{what}` must be a UUID, got {raw:?}.")))
}
