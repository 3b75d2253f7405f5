//! Automatic replies to visitors, behind one trait: an offline knowledge-base
//! search by default, or a language model on an OpenAI-compatible server.

pub mod knowledge;
pub mod openai;

use async_trait::async_trait;
use std::sync::Arc;

/// One question-and-answer entry of a widget's knowledge base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnowledgeItem {
    pub question: String,
    pub answer: String,
}

/// One message of the conversation so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    /// `visitor`, `operator`, `ai` or `system`, as stored.
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AiRequest {
    pub knowledge: Vec<KnowledgeItem>,
    /// Oldest first; the last item is the visitor's new message.
    pub history: Vec<HistoryItem>,
    /// ISO 639-1, when known: the language to answer in.
    pub visitor_language: Option<String>,
}

impl AiRequest {
    /// The visitor's newest message: what needs an answer.
    pub fn question(&self) -> Option<&str> {
        self.history
            .iter()
            .rev()
            .find(|item| item.role == "visitor")
            .map(|item| item.content.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplySource {
    /// Taken word for word from a knowledge entry (flat rate).
    Knowledge,
    /// Written by a model (charged per token).
    Model,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AiReply {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub source: ReplySource,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    /// Wrong request, key or configuration, unreadable answer: do not retry.
    #[error("{0}")]
    Permanent(String),
    /// Server error, rate limit, timeout, lost connection: try again later.
    #[error("{0}")]
    Transient(String),
}

impl AiError {
    pub fn is_transient(&self) -> bool {
        matches!(self, AiError::Transient(_))
    }

    pub(crate) fn from_call(provider: &str, err: super::http::CallError) -> Self {
        let message = err.describe(provider);
        if err.is_transient() {
            AiError::Transient(message)
        } else {
            AiError::Permanent(message)
        }
    }
}

#[async_trait]
pub trait Responder: Send + Sync {
    /// `Ok(None)`: no confident answer, so no automatic reply; the
    /// conversation waits for a human.
    async fn reply(&self, request: &AiRequest) -> Result<Option<AiReply>, AiError>;

    /// The provider's configuration name, for logs and metrics.
    fn name(&self) -> &'static str;
}

/// The `none` provider: no automatic replies.
pub fn none() -> Option<Arc<dyn Responder>> {
    None
}

/// Phrases, as word sequences, by which visitors ask for a person. Matched on
/// whole words, so "operator" does not fire inside "cooperators".
const HUMAN_PHRASES: &[&str] = &[
    // English
    "human",
    "real person",
    "live person",
    "actual person",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk with someone",
    "agent please",
    "an agent",
    "live agent",
    "real agent",
    "human agent",
    "support agent",
    "operator",
    "representative",
    "customer service rep",
    "not a bot",
    "no bot",
    "stop the bot",
    // Spanish
    "hablar con una persona",
    "hablar con alguien",
    "hablar con un humano",
    "hablar con un agente",
    "persona real",
    "un humano",
    "un agente",
    "operador",
    "operadora",
    "atención humana",
    // German
    "mit einem menschen",
    "einen menschen",
    "echten menschen",
    "mit einem mitarbeiter",
    "einen mitarbeiter",
    "mit jemandem sprechen",
    // French
    "parler à un humain",
    "parler à quelqu'un",
    "parler à une personne",
    "un humain",
    "vraie personne",
    "un conseiller",
    "une conseillère",
    "un opérateur",
    // Italian
    "parlare con una persona",
    "parlare con un operatore",
    "persona reale",
    "operatore",
    // Portuguese
    "falar com uma pessoa",
    "falar com um humano",
    "falar com alguém",
    "pessoa real",
    "atendente",
    // Dutch
    "met een mens",
    "echte persoon",
    "een medewerker",
];

/// Whether a visitor message asks for a human instead of the bot.
pub fn wants_human(text: &str) -> bool {
    let words = words(text);
    HUMAN_PHRASES.iter().any(|phrase| {
        let phrase = words_of_phrase(phrase);
        !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
    })
}

fn words(text: &str) -> Vec<String> {
    use unicode_segmentation::UnicodeSegmentation;
    // Typographic apostrophes become plain ones so "quelqu’un" matches.
    text.replace('’', "'")
        .unicode_words()
        .map(str::to_lowercase)
        .collect()
}

fn words_of_phrase(phrase: &str) -> Vec<String> {
    words(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_for_a_human_are_recognised() {
        for text in [
            "Can I talk to a human please?",
            "I want a REAL PERSON",
            "agent please",
            "Operator!",
            "let me speak to someone",
            "Quiero hablar con una persona",
            "¿Puedo hablar con un humano?",
            "Ich möchte mit einem Menschen sprechen",
            "Je voudrais parler à un humain",
            "Je veux parler à quelqu’un",
            "Vorrei parlare con un operatore",
            "Quero falar com uma pessoa",
        ] {
            assert!(wants_human(text), "{text}");
        }
    }

    #[test]
    fn ordinary_questions_are_not_requests_for_a_human() {
        for text in [
            "How much does shipping cost?",
            "Do you have oat milk?",
            "We are cooperators from the local union",
            "¿Cuándo abren mañana?",
            "Wie lange dauert die Lieferung?",
            "Où est ma commande ?",
            "",
        ] {
            assert!(!wants_human(text), "{text}");
        }
    }

    #[test]
    fn the_question_is_the_newest_visitor_message() {
        let request = AiRequest {
            history: vec![
                HistoryItem {
                    role: "visitor".into(),
                    content: "first".into(),
                },
                HistoryItem {
                    role: "ai".into(),
                    content: "answer".into(),
                },
                HistoryItem {
                    role: "visitor".into(),
                    content: "second".into(),
                },
            ],
            ..AiRequest::default()
        };
        assert_eq!(request.question(), Some("second"));
        assert_eq!(AiRequest::default().question(), None);
    }
}
