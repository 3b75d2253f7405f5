//! The OpenAI chat completions wire format (`POST {base}/v1/chat/completions`),
//! shared by the translation and AI providers. Spoken by OpenAI itself and by
//! self-hosted servers (Ollama, vLLM, llama.cpp server), so the key is optional.

use super::http::{self, CallError, HttpOptions};
use serde::{Deserialize, Serialize};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
/// Used when no model is configured: small, cheap, good at both jobs.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: "system",
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user",
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant",
            content: content.into(),
        }
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [Message],
    temperature: f32,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    /// `null` when a model answers with a tool call or refuses.
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The first choice's text and the token usage the server reported (zero
/// when it reports none, as some local servers do).
#[derive(Debug)]
pub struct Completion {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

pub(crate) async fn complete(
    client: &reqwest::Client,
    options: &HttpOptions,
    messages: &[Message],
) -> Result<Completion, CallError> {
    let model = options.model.as_deref().unwrap_or(DEFAULT_MODEL);
    let mut request = client
        .post(options.url("/v1/chat/completions"))
        .json(&Request {
            model,
            messages,
            // The same message should get the same translation or answer.
            temperature: 0.0,
        });
    if let Some(key) = options.api_key.as_deref().filter(|k| !k.is_empty()) {
        request = request.bearer_auth(key);
    }
    let response: Response = http::send_json(request).await?;
    let usage = response.usage.unwrap_or_default();
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(CallError::Malformed("no choices".into()));
    };
    Ok(Completion {
        content: choice.message.content.unwrap_or_default(),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    })
}
