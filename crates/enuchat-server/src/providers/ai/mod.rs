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
    "a human",
    "to a human",
    "with a human",
    "an operator",
    "operator please",
    "a representative",
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
    "un operador",
    "una operadora",
    "un humano",
    "un agente",
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
    "un operatore",
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

/// Words that ask for a person only when they are the whole message
/// ("Operator!", "human please"); inside a sentence ("the operator was
/// offline") they are just words.
const HUMAN_WORDS: &[&str] = &[
    "human",
    "person",
    "operator",
    "agent",
    "representative",
    "humano",
    "operador",
    "operadora",
    "agente",
    "mensch",
    "mitarbeiter",
    "humain",
    "opérateur",
    "operatore",
    "pessoa",
    "atendente",
    "mens",
];

/// Filler around a lone [`HUMAN_WORDS`] word.
const FILLER: &[&str] = &[
    "a", "an", "the", "please", "pls", "now", "por", "favor", "bitte",
];

/// Whether a visitor message asks for a human instead of the bot.
pub fn wants_human(text: &str) -> bool {
    let words = words(text);
    let phrase_match = HUMAN_PHRASES.iter().any(|phrase| {
        let phrase = words_of_phrase(phrase);
        !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
    });
    let mut content = words.iter().filter(|w| !FILLER.contains(&w.as_str()));
    let lone_word = match (content.next(), content.next()) {
        (Some(word), None) => HUMAN_WORDS.contains(&word.as_str()),
        _ => false,
    };
    phrase_match || lone_word
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
            "human please",
            "I want to talk to a human",
            "Can I speak to an operator?",
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
            "Hi, this was written while the operator was offline",
            "Is the manual human-readable?",
            "Our sales agent told me the price",
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
