//! The provider clients against loopback fakes that speak the real wire
//! formats (OpenAI chat completions, LibreTranslate, DeepL), and Apertium
//! for real, with no fake.

mod ai_openai;
mod apertium;
mod deepl;
mod fake;
mod libretranslate;
mod openai_translation;
