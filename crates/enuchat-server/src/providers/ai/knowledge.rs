//! The offline responder: ranked retrieval over a widget's knowledge entries.
//!
//! BM25 is written out here rather than taken from a crate: it is forty lines,
//! the index is rebuilt per request from a few dozen entries (no persistence
//! or incremental updates needed, which is what the crates mostly offer), and
//! we need one thing they do not expose: a score normalised to 0..1 so one
//! confidence threshold works for every knowledge base, large or small.
//!
//! Normalisation: BM25's per-term contribution `idf · tf(k1+1) / (tf + k1·L)`
//! is below `idf · (k1+1)` for any term frequency and length, so dividing a
//! document's score by `Σ idf(t) · (k1+1)` over the query's terms gives the
//! share of the query's weight the document explains. Words of the question
//! that no entry knows stay in the denominator: a question about something
//! else scores low even if it shares one common word.

use super::{AiError, AiReply, AiRequest, ReplySource, Responder};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use unicode_segmentation::UnicodeSegmentation;

/// Term-frequency saturation and length normalisation: the usual values.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// An entry's question says what it is about more directly than its answer,
/// so its words count this many times.
const QUESTION_WEIGHT: usize = 2;
/// The share of the question's weight the best entry must explain.
pub const DEFAULT_THRESHOLD: f64 = 0.3;

pub struct KnowledgeBase {
    threshold: f64,
}

impl Default for KnowledgeBase {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// The best entry for a question and its normalised score (0..1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Match {
    pub index: usize,
    pub score: f64,
}

impl KnowledgeBase {
    pub fn with_threshold(threshold: f64) -> Self {
        Self { threshold }
    }

    /// Ranks `entries` (question, answer) against `query`: the best entry,
    /// whatever its score; `None` when nothing shares a word with the query.
    pub fn best_match<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
        query: &str,
    ) -> Option<Match> {
        let docs: Vec<Vec<String>> = entries
            .into_iter()
            .map(|(question, answer)| {
                let question = tokens(question);
                let mut doc = Vec::new();
                for _ in 0..QUESTION_WEIGHT {
                    doc.extend(question.iter().cloned());
                }
                doc.extend(tokens(answer));
                doc
            })
            .collect();
        let query: HashSet<String> = tokens(query).into_iter().collect();
        if docs.is_empty() || query.is_empty() {
            return None;
        }
        let n = docs.len() as f64;
        let avg_len = (docs.iter().map(Vec::len).sum::<usize>() as f64 / n).max(1.0);
        let mut doc_freq: HashMap<&str, usize> = HashMap::new();
        for doc in &docs {
            let unique: HashSet<&str> = doc.iter().map(String::as_str).collect();
            for term in unique {
                *doc_freq.entry(term).or_default() += 1;
            }
        }
        // A word no entry contains weighs like the rarest word that some entry
        // contains (df = 1), not more: it still pulls the score of a question
        // about something else down, but one typo or filler word cannot sink
        // an otherwise well-matched question.
        let idf = |term: &str| {
            let df = doc_freq.get(term).copied().unwrap_or(1) as f64;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        };
        let ceiling: f64 = query.iter().map(|t| idf(t) * (K1 + 1.0)).sum();
        let mut best: Option<Match> = None;
        for (index, doc) in docs.iter().enumerate() {
            let length_norm = 1.0 - B + B * doc.len() as f64 / avg_len;
            let score = query
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|t| *t == term).count() as f64;
                    idf(term) * tf * (K1 + 1.0) / (tf + K1 * length_norm)
                })
                .sum::<f64>()
                / ceiling;
            if score > 0.0 && best.is_none_or(|b| score > b.score) {
                best = Some(Match { index, score });
            }
        }
        best
    }
}

#[async_trait]
impl Responder for KnowledgeBase {
    async fn reply(&self, request: &AiRequest) -> Result<Option<AiReply>, AiError> {
        let Some(question) = request.question() else {
            return Ok(None);
        };
        let entries = request
            .knowledge
            .iter()
            .map(|k| (k.question.as_str(), k.answer.as_str()));
        Ok(Self::best_match(entries, question)
            .filter(|m| m.score >= self.threshold)
            .map(|m| AiReply {
                content: request.knowledge[m.index].answer.clone(),
                // Knowledge replies are charged a flat rate, not by token.
                prompt_tokens: 0,
                completion_tokens: 0,
                source: ReplySource::Knowledge,
            }))
    }

    fn name(&self) -> &'static str {
        "knowledge-base"
    }
}

/// Lower-cased words without stop words, lightly stemmed.
pub fn tokens(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 1 && !is_stop_word(w))
        .map(|w| stem(&w))
        .collect()
}

/// A deliberately light stemmer: plural `s` (English and the Romance
/// languages), English `-ies`, `-ing` and `-ed`. Enough for "costs" to meet
/// "cost" and "opening" to meet "open"; aggressive stemmers for one language
/// hurt the others a knowledge base may be written in.
fn stem(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let len = chars.len();
    let ends = |suffix: &str| word.ends_with(suffix);
    let cut = |n: usize| chars[..len - n].iter().collect::<String>();
    let stemmed = if len > 4 && ends("ies") {
        format!("{}y", cut(3))
    } else if len > 5 && ends("ing") {
        undouble(cut(3))
    } else if len > 4 && ends("ed") {
        undouble(cut(2))
    } else if len > 3 && ends("s") && !ends("ss") && !ends("us") && !ends("is") {
        cut(1)
    } else {
        word.to_owned()
    };
    stemmed
}

/// "shipp" (from "shipping") → "ship".
fn undouble(word: String) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    if n > 2 && chars[n - 1] == chars[n - 2] && !"aeioulsz".contains(chars[n - 1]) {
        chars.pop();
    }
    chars.into_iter().collect()
}

/// Function words of the languages most knowledge bases are written in; they
/// say nothing about what a question is about.
fn is_stop_word(word: &str) -> bool {
    [ENGLISH, SPANISH, GERMAN, FRENCH, ITALIAN_PORTUGUESE]
        .iter()
        .any(|list| list.contains(&word))
}

const ENGLISH: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can", "could",
    "do", "does", "did", "for", "from", "get", "got", "have", "has", "had", "hello", "hi", "how",
    "i", "i'm", "if", "in", "is", "it", "it's", "me", "my", "of", "on", "or", "our", "please",
    "so", "that", "the", "their", "them", "there", "these", "this", "those", "to", "us", "was",
    "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you",
    "your", "yours", "thanks", "thank", "hey", "there's", "what's", "much", "many", "i'd", "i'll",
    "like", "want", "wanted", "need", "know", "tell",
];

const SPANISH: &[&str] = &[
    "el", "la", "los", "las", "un", "una", "unos", "unas", "de", "del", "al", "y", "o", "en",
    "que", "qué", "es", "son", "por", "para", "con", "se", "su", "sus", "mi", "mis", "lo", "le",
    "les", "como", "cómo", "cuándo", "dónde", "cuál", "cuánto", "hola", "gracias", "puedo",
    "tienen", "hay", "me", "yo", "usted", "ustedes",
];

const GERMAN: &[&str] = &[
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "und", "oder", "ist", "sind",
    "ich", "sie", "wir", "ihr", "mit", "zu", "von", "im", "auf", "für", "wie", "was", "wann", "wo",
    "kann", "können", "hallo", "danke", "bitte", "es", "mein", "meine",
];

const FRENCH: &[&str] = &[
    "le", "les", "des", "du", "et", "ou", "est", "sont", "je", "vous", "nous", "il", "elle",
    "pour", "avec", "dans", "sur", "quand", "où", "comment", "combien", "quel", "quelle",
    "bonjour", "merci", "mon", "ma", "mes", "votre", "vos", "ce", "cette", "qu'est",
];

const ITALIAN_PORTUGUESE: &[&str] = &[
    "il", "gli", "di", "che", "per", "come", "quando", "dove", "ciao", "grazie", "os", "as", "um",
    "uma", "do", "da", "dos", "das", "em", "não", "olá", "obrigado", "obrigada",
];

#[cfg(test)]
mod tests {
    use super::super::{HistoryItem, KnowledgeItem};
    use super::*;

    fn shop_knowledge() -> Vec<KnowledgeItem> {
        [
            (
                "What are your opening hours?",
                "We are open Monday to Friday from 8:00 to 18:00 and Saturday from 9:00 to 14:00.",
            ),
            (
                "How much does shipping cost?",
                "Shipping is free for orders over 30 euros; below that it costs 4.90 euros.",
            ),
            (
                "How can I return a product?",
                "You can return unopened products within 30 days. Write to returns@northwind.example with your order number.",
            ),
            (
                "Do you sell gift cards?",
                "Yes, gift cards from 10 to 200 euros are available in the shop and online.",
            ),
            (
                "¿Hacen envíos a Canarias?",
                "Sí, enviamos a Canarias en 5 a 7 días laborables.",
            ),
        ]
        .into_iter()
        .map(|(q, a)| KnowledgeItem {
            question: q.into(),
            answer: a.into(),
        })
        .collect()
    }

    fn ask(knowledge: Vec<KnowledgeItem>, text: &str) -> AiRequest {
        AiRequest {
            knowledge,
            history: vec![
                HistoryItem {
                    role: "ai".into(),
                    content: "Hi! How can we help?".into(),
                },
                HistoryItem {
                    role: "visitor".into(),
                    content: text.into(),
                },
            ],
            visitor_language: Some("en".into()),
        }
    }

    async fn answer(text: &str) -> Option<String> {
        KnowledgeBase::default()
            .reply(&ask(shop_knowledge(), text))
            .await
            .unwrap()
            .map(|r| r.content)
    }

    #[tokio::test]
    async fn paraphrased_questions_find_their_entry() {
        let knowledge = shop_knowledge();
        for (question, expected) in [
            ("When are you open on Saturday?", 0),
            ("what time do you open", 0),
            ("How expensive is the shipping?", 1),
            ("What are the shipping costs for my order?", 1),
            ("I'd like to return a product I bought", 2),
            ("Can I buy a gift card?", 3),
            ("¿Hacéis envíos a Canarias?", 4),
        ] {
            let reply = answer(question).await;
            assert_eq!(
                reply.as_deref(),
                Some(knowledge[expected].answer.as_str()),
                "{question}"
            );
        }
    }

    #[tokio::test]
    async fn unrelated_questions_get_no_reply() {
        for question in [
            "Can I bring my dog to the concert?",
            "Is the new phone waterproof?",
            "hello",
            "?",
            "What is the meaning of life?",
            // Shares "card" with the gift-card entry, "free" and "shop" with others.
            "Can I pay with a credit card?",
            "Do you have free wifi in the shop?",
        ] {
            assert_eq!(answer(question).await, None, "{question}");
        }
    }

    #[tokio::test]
    async fn knowledge_replies_are_flat_rate_and_empty_knowledge_gives_none() {
        let reply = KnowledgeBase::default()
            .reply(&ask(shop_knowledge(), "do you sell gift cards"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.source, ReplySource::Knowledge);
        assert_eq!((reply.prompt_tokens, reply.completion_tokens), (0, 0));
        let none = KnowledgeBase::default()
            .reply(&ask(Vec::new(), "do you sell gift cards"))
            .await
            .unwrap();
        assert_eq!(none, None);
        let no_question = AiRequest {
            knowledge: shop_knowledge(),
            ..AiRequest::default()
        };
        assert_eq!(KnowledgeBase::default().reply(&no_question).await, Ok(None));
    }

    #[test]
    fn scores_are_normalised() {
        let knowledge = shop_knowledge();
        let entries = || {
            knowledge
                .iter()
                .map(|k| (k.question.as_str(), k.answer.as_str()))
        };
        let exact = KnowledgeBase::best_match(entries(), "Do you sell gift cards?").unwrap();
        assert_eq!(exact.index, 3);
        assert!(exact.score > 0.5 && exact.score < 1.0, "{exact:?}");
        let weak = KnowledgeBase::best_match(entries(), "gift wrapping for a dog concert");
        assert!(weak.is_none_or(|m| m.score < DEFAULT_THRESHOLD), "{weak:?}");
    }

    #[test]
    fn tokens_drop_stop_words_and_stem_lightly() {
        assert_eq!(tokens("What are your opening hours?"), ["open", "hour"]);
        assert_eq!(tokens("Shipping costs"), ["ship", "cost"]);
        assert_eq!(tokens("¿Hacen envíos?"), ["hacen", "envío"]);
    }
}
