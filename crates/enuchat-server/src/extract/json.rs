//! A JSON body extractor with JSON errors: wrong content type (415), body too
//! large (413), malformed JSON or a field of the wrong shape (400, naming the
//! field).

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use futures::StreamExt;
use serde::de::DeserializeOwned;

/// Largest request body accepted anywhere. A message of 10,000 characters,
/// each JSON-escaped as a surrogate pair (`\ud83d\ude00`), needs 120 KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How much of a body over the limit is read and dropped so that its sender
/// gets the 413 (see `read_body`).
const DRAIN_BYTES: usize = 4 * 1024 * 1024;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&req) {
            // Read first, for the same reason as a body that is too large.
            let _ = read_body(req).await;
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req).await?;
        parse(&bytes).map(ApiJson)
    }
}

/// Reads the body, at most [`MAX_BODY_BYTES`] of it kept.
///
/// A body over the limit is still read to its end (and dropped), up to
/// [`DRAIN_BYTES`], before the 413 goes out. Answering while the client is
/// still sending means closing a connection with unread data in it: the
/// client's kernel then gets a reset, and the client may never read the
/// answer (a test saw "broken pipe" instead of the 413). Past `DRAIN_BYTES`
/// (declared or sent) the connection is given up on.
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge(MAX_BODY_BYTES);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES as u64) {
        return Err(too_large());
    }
    let mut kept =
        Vec::with_capacity(declared.map_or(1024, |n| n.min(MAX_BODY_BYTES as u64) as usize));
    let mut received = 0usize;
    let mut chunks = req.into_body().into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("Could not read the body: {e}")))?;
        received += chunk.len();
        if received > DRAIN_BYTES {
            return Err(too_large());
        }
        if received <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        }
    }
    if received > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Like [`ApiJson`], for bodies whose fields are all optional: an empty body
/// (with or without a content type) means `T::default()`.
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for ApiJsonOrEmpty<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        if declared_empty || (req.headers().get(CONTENT_TYPE).is_none() && !has_body(&req)) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        ApiJson::from_request(req, state)
            .await
            .map(|ApiJson(v)| ApiJsonOrEmpty(v))
    }
}

/// Whether the request says it carries a body (a length or chunked encoding).
fn has_body(req: &Request) -> bool {
    req.headers()
        .contains_key(axum::http::header::CONTENT_LENGTH)
        || req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING)
}

fn is_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a body, naming the offending field in the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson(
            "The request body is empty; send a JSON object.".into(),
        ));
    }
    // Parse in two steps so that syntax errors (INVALID_JSON) are never
    // confused with a valid document of the wrong shape (VALIDATION_ERROR):
    // serde_json reports some type mismatches, such as a number where an
    // enum is expected, as syntax errors when deserializing in one pass.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| ApiError::InvalidJson(format!("The body is not valid JSON: {err}.")))?;
    if !value.is_object() {
        return Err(ApiError::Validation(
            "Invalid body: expected a JSON object.".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = strip_position(&err.into_inner().to_string());
        if path == "." || path.is_empty() {
            ApiError::Validation(format!("Invalid body: {message}."))
        } else {
            ApiError::Validation(format!("Invalid field `{path}`: {message}."))
        }
    })
}

/// serde_json appends " at line 1 column 7"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        content: String,
    }

    fn message(err: ApiError) -> (String, &'static str) {
        (err.to_string(), err.code())
    }

    #[test]
    fn errors_name_the_problem() {
        let (msg, code) = message(parse::<Body>(br#"{"content": 5}"#).unwrap_err());
        assert_eq!(code, "VALIDATION_ERROR");
        assert!(msg.contains("`content`"), "{msg}");
        let (msg, _) = message(parse::<Body>(br#"{"content":"a","x":1}"#).unwrap_err());
        assert!(msg.contains("unknown field `x`"), "{msg}");
        let (_, code) = message(parse::<Body>(b"{nope").unwrap_err());
        assert_eq!(code, "INVALID_JSON");
        let (_, code) = message(parse::<Body>(b"").unwrap_err());
        assert_eq!(code, "INVALID_JSON");
        let (msg, code) = message(parse::<Body>(b"[\"a\"]").unwrap_err());
        assert_eq!(code, "VALIDATION_ERROR");
        assert!(msg.contains("JSON object"), "{msg}");
        let (msg, code) = message(parse::<Body>(br#"{"content": {"a": 1}}"#).unwrap_err());
        assert_eq!(code, "VALIDATION_ERROR");
        assert!(msg.contains("`content`"), "{msg}");
    }
}
