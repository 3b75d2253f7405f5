//! Replies written by a language model on any OpenAI-compatible chat
//! completions server (OpenAI, Ollama, vLLM, llama.cpp server). The widget's
//! knowledge entries go into the system prompt; the model answers from them
//! or says the sentinel [`HANDOFF`], and then a human takes over.

use super::{AiError, AiReply, AiRequest, ReplySource, Responder};
use crate::providers::chat::{self, Message};
use crate::providers::http::{self, HttpOptions};
use crate::providers::translation::language_name;
use async_trait::async_trait;

/// What the model answers when it cannot help: no automatic reply is sent.
pub const HANDOFF: &str = "HANDOFF";

pub struct OpenAiResponder {
    options: HttpOptions,
    client: reqwest::Client,
}

impl OpenAiResponder {
    pub fn new(options: HttpOptions) -> anyhow::Result<Self> {
        Ok(Self {
            client: http::client(options.timeout)?,
            options,
        })
    }
}

/// The instructions and the knowledge, as the first (system) message.
pub fn system_prompt(request: &AiRequest) -> String {
    let language = match request.visitor_language.as_deref() {
        Some(code) => format!("in {}", language_name(code)),
        None => "in the language the visitor writes in".to_owned(),
    };
    let mut prompt = format!(
        "You are the customer-support assistant in a website's live chat. Answer the \
         visitor's last message briefly (at most three sentences), politely, {language}. \
         Use only the facts in the knowledge below and in the conversation; never invent \
         prices, policies, dates or promises. If they do not answer the question, or the \
         visitor wants a human, reply with exactly {HANDOFF} and nothing else."
    );
    if request.knowledge.is_empty() {
        prompt.push_str("\n\nKnowledge: (none)");
    } else {
        prompt.push_str("\n\nKnowledge:");
        for item in &request.knowledge {
            prompt.push_str(&format!(
                "\n\nQ: {}\nA: {}",
                item.question.trim(),
                item.answer.trim()
            ));
        }
    }
    prompt
}

/// The system prompt, then the conversation: the visitor is the `user`;
/// operators, earlier AI replies and system notes all speak for the business,
/// so they are the `assistant`.
pub fn messages(request: &AiRequest) -> Vec<Message> {
    let mut messages = vec![Message::system(system_prompt(request))];
    for item in &request.history {
        messages.push(match item.role.as_str() {
            "visitor" => Message::user(item.content.clone()),
            _ => Message::assistant(item.content.clone()),
        });
    }
    messages
}

/// Whether the model declined: the sentinel, perhaps with punctuation or quotes.
fn is_handoff(content: &str) -> bool {
    let trimmed = content.trim_matches(|c: char| !c.is_alphanumeric());
    trimmed.eq_ignore_ascii_case(HANDOFF)
}

#[async_trait]
impl Responder for OpenAiResponder {
    async fn reply(&self, request: &AiRequest) -> Result<Option<AiReply>, AiError> {
        if request.question().is_none() {
            return Ok(None);
        }
        let completion = chat::complete(&self.client, &self.options, &messages(request))
            .await
            .map_err(|err| AiError::from_call(self.name(), err))?;
        let content = completion.content.trim();
        if content.is_empty() || is_handoff(content) {
            return Ok(None);
        }
        Ok(Some(AiReply {
            content: content.to_owned(),
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.completion_tokens,
            source: ReplySource::Model,
        }))
    }

    fn name(&self) -> &'static str {
        "openai"
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HistoryItem, KnowledgeItem};
    use super::*;

    #[test]
    fn the_prompt_carries_knowledge_language_and_history() {
        let request = AiRequest {
            knowledge: vec![KnowledgeItem {
                question: "Do you ship to Spain?".into(),
                answer: "Yes, in 3 days.".into(),
            }],
            history: vec![
                HistoryItem {
                    role: "visitor".into(),
                    content: "Hola".into(),
                },
                HistoryItem {
                    role: "operator".into(),
                    content: "Hello!".into(),
                },
                HistoryItem {
                    role: "visitor".into(),
                    content: "¿Envían a España?".into(),
                },
            ],
            visitor_language: Some("es".into()),
        };
        let messages = messages(&request);
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0].role, "system");
        assert!(messages[0].content.contains("in Spanish"));
        assert!(messages[0]
            .content
            .contains("Q: Do you ship to Spain?\nA: Yes, in 3 days."));
        assert!(messages[0].content.contains(HANDOFF));
        let roles: Vec<_> = messages[1..].iter().map(|m| m.role).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(messages[3].content, "¿Envían a España?");
    }

    #[test]
    fn the_sentinel_is_recognised_with_decoration() {
        assert!(is_handoff("HANDOFF"));
        assert!(is_handoff("\"handoff.\""));
        assert!(!is_handoff("HANDOFF is what I do when unsure"));
    }
}
