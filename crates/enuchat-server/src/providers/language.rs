//! Offline language detection for visitor messages.
//!
//! Built on `lingua` rather than `whatlang`. Chat messages are short, and on
//! short texts whatlang is not usable: tried on this crate's test sentences it
//! took "I want to buy a coffee." for Catalan, "Do you ship to Canada?" for
//! Portuguese and a whole Dutch sentence for Afrikaans, and its confidence for
//! correct English sentences stayed around 0.2, so a threshold would have
//! turned nearly every English message into "unknown". lingua got all of them
//! right. The price is size: every language is a model crate of 0.1–5 MB
//! compiled into the binary (about 70 MB for the languages enabled in the
//! workspace `Cargo.toml`), loaded lazily and memory-mapped from the binary.
//! Speed is fine for one message at a time: well under a millisecond for a
//! chat line once loaded, tens of ms for the first call.
//!
//! We would rather say "unknown" than guess: below [`MIN_LETTERS`] letters,
//! or when the best language is not clearly ahead of the runner-up, `detect`
//! returns `None` and the conversation keeps the language it had.

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use std::sync::LazyLock;

/// Fewer letters than this is too little evidence ("ok", "hola", "thx!").
pub const MIN_LETTERS: usize = 12;
/// The best language's share of the confidence must be at least this...
pub const MIN_CONFIDENCE: f64 = 0.15;
/// ...and this many times the runner-up's (es/pt, da/nb are close cousins).
pub const MIN_LEAD: f64 = 2.0;

static DETECTOR: LazyLock<LanguageDetector> = LazyLock::new(|| {
    // Exactly the languages compiled in (the workspace's lingua features).
    LanguageDetectorBuilder::from_all_languages().build()
});

/// The ISO 639-1 code of `text`'s language, or `None` when the text is too
/// short or too ambiguous to tell.
pub fn detect(text: &str) -> Option<String> {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters < MIN_LETTERS {
        return None;
    }
    let values = DETECTOR.compute_language_confidence_values(text);
    let (best, confidence) = *values.first()?;
    let runner_up = values.get(1).map_or(0.0, |(_, c)| *c);
    if confidence < MIN_CONFIDENCE || confidence < MIN_LEAD * runner_up {
        return None;
    }
    Some(code(best))
}

fn code(language: Language) -> String {
    language.iso_code_639_1().to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_real_sentences() {
        let cases = [
            ("en", "Hello, I ordered a coffee grinder last week and it has not arrived yet."),
            ("es", "Hola, pedí un molinillo de café la semana pasada y todavía no ha llegado."),
            ("de", "Hallo, ich habe letzte Woche eine Kaffeemühle bestellt, aber sie ist noch nicht angekommen."),
            ("fr", "Bonjour, j'ai commandé un moulin à café la semaine dernière et il n'est toujours pas arrivé."),
            ("it", "Ciao, ho ordinato un macinacaffè la settimana scorsa e non è ancora arrivato."),
            ("pt", "Olá, encomendei um moedor de café na semana passada e ainda não chegou."),
            ("nl", "Hallo, ik heb vorige week een koffiemolen besteld en hij is nog steeds niet aangekomen."),
            ("ru", "Здравствуйте, я заказал кофемолку на прошлой неделе, и она до сих пор не пришла."),
            ("ja", "こんにちは、先週コーヒーミルを注文しましたが、まだ届いていません。"),
        ];
        for (expected, text) in cases {
            assert_eq!(detect(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn short_chat_questions_are_detected() {
        for (expected, text) in [
            ("en", "Do you ship to Canada?"),
            ("en", "I want to buy a coffee."),
            ("en", "Can you help me with my order please?"),
            ("es", "¿Cuánto cuesta el envío a Madrid?"),
            ("es", "¿Dónde está mi pedido?"),
            ("de", "Wie lange dauert die Lieferung?"),
            ("fr", "Merci beaucoup pour votre aide"),
            ("pt", "Obrigado pela ajuda"),
        ] {
            assert_eq!(detect(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn tiny_or_ambiguous_texts_are_unknown() {
        for text in [
            "",
            "ok",
            "hola",
            "Thanks!",
            "👍👍",
            "12345 678",
            "?!",
            "ciao ciao",
            "hola amigo",
            "Hello there",
        ] {
            assert_eq!(detect(text), None, "{text:?}");
        }
    }
}
