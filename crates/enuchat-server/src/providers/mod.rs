//! External (or local) services enuchat calls for issue 6: language
//! detection, machine translation and automatic replies, plus the prices
//! charged for them. Everything is chosen by [`Settings`] and built once at
//! start by [`build`], so a misconfiguration stops the server right away.

pub mod ai;
pub mod chat;
pub mod http;
pub mod language;
pub mod translation;

use crate::settings::{AiProvider, Settings, TranslationProvider};
use ai::{AiReply, ReplySource, Responder};
use anyhow::Context;
use http::HttpOptions;
use std::sync::Arc;
use std::time::Duration;
use translation::Translator;

/// The configured providers; `None` means the feature is off.
#[derive(Clone, Default)]
pub struct Providers {
    pub translator: Option<Arc<dyn Translator>>,
    pub responder: Option<Arc<dyn Responder>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("translator", &self.translator.as_ref().map(|t| t.name()))
            .field("responder", &self.responder.as_ref().map(|r| r.name()))
            .finish()
    }
}

/// Builds the providers the settings ask for. Fails with a clear message for
/// a missing base URL or key, or (apertium) a missing program or pair.
pub fn build(settings: &Settings) -> anyhow::Result<Providers> {
    let timeout = Duration::from_secs(settings.provider_timeout_secs.max(1));
    Ok(Providers {
        translator: build_translator(settings, timeout)?,
        responder: build_responder(settings, timeout)?,
    })
}

fn nonempty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn build_translator(
    settings: &Settings,
    timeout: Duration,
) -> anyhow::Result<Option<Arc<dyn Translator>>> {
    let api_key = nonempty(&settings.translation_api_key);
    let base_url = nonempty(&settings.translation_base_url);
    let options = |base_url: String| HttpOptions {
        base_url,
        api_key: api_key.clone(),
        model: nonempty(&settings.translation_model),
        timeout,
    };
    Ok(match settings.translation_provider {
        TranslationProvider::None => translation::none(),
        TranslationProvider::Libretranslate => {
            // No sensible public default: the public instance needs a paid
            // key, and most people run their own.
            let base = base_url.context(
                "the libretranslate translation provider needs ENUCHAT_TRANSLATION_BASE_URL \
                 (e.g. http://localhost:5000)",
            )?;
            Some(Arc::new(translation::libretranslate::LibreTranslate::new(
                options(base),
            )?))
        }
        TranslationProvider::Deepl => {
            let key = api_key
                .clone()
                .context("the deepl translation provider needs ENUCHAT_TRANSLATION_API_KEY")?;
            let base =
                base_url.unwrap_or_else(|| translation::deepl::default_base_url(&key).into());
            Some(Arc::new(translation::deepl::DeepL::new(options(base))?))
        }
        TranslationProvider::Openai => {
            let base = base_url.unwrap_or_else(|| chat::DEFAULT_BASE_URL.into());
            Some(Arc::new(translation::openai::OpenAiTranslator::new(
                options(base),
            )?))
        }
        TranslationProvider::Apertium => Some(Arc::new(
            translation::apertium::Apertium::discover("apertium", timeout)
                .context("setting up the apertium translation provider")?,
        )),
    })
}

fn build_responder(
    settings: &Settings,
    timeout: Duration,
) -> anyhow::Result<Option<Arc<dyn Responder>>> {
    Ok(match settings.ai_provider {
        AiProvider::None => ai::none(),
        AiProvider::KnowledgeBase => Some(Arc::new(ai::knowledge::KnowledgeBase::default())),
        AiProvider::Openai => Some(Arc::new(ai::openai::OpenAiResponder::new(HttpOptions {
            base_url: nonempty(&settings.ai_base_url)
                .unwrap_or_else(|| chat::DEFAULT_BASE_URL.into()),
            api_key: nonempty(&settings.ai_api_key),
            model: nonempty(&settings.ai_model),
            timeout,
        })?)),
    })
}

/// Credit prices from the settings. Pure arithmetic, so charges can be
/// computed (and tested) apart from the providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    pub credits_per_1k_tokens: u32,
    pub credits_per_1k_translated_chars: u32,
    pub credits_per_knowledge_reply: u32,
}

impl From<&Settings> for Pricing {
    fn from(settings: &Settings) -> Self {
        Self {
            credits_per_1k_tokens: settings.credits_per_1k_tokens,
            credits_per_1k_translated_chars: settings.credits_per_1k_translated_chars,
            credits_per_knowledge_reply: settings.credits_per_knowledge_reply,
        }
    }
}

/// `units · rate / 1000`, rounded up so that any use costs at least one
/// credit when the rate is not zero.
fn per_thousand(units: u64, rate: u32) -> i64 {
    let cost = (u128::from(units) * u128::from(rate)).div_ceil(1000);
    i64::try_from(cost).unwrap_or(i64::MAX)
}

impl Pricing {
    /// The charge for translating `chars` characters.
    pub fn translation_cost(&self, chars: u64) -> i64 {
        per_thousand(chars, self.credits_per_1k_translated_chars)
    }

    /// The charge for one automatic reply: a flat rate from the knowledge
    /// base, by reported tokens (prompt + completion) from a model.
    pub fn ai_cost(&self, reply: &AiReply) -> i64 {
        match reply.source {
            ReplySource::Knowledge => i64::from(self.credits_per_knowledge_reply),
            ReplySource::Model => per_thousand(
                reply.prompt_tokens.saturating_add(reply.completion_tokens),
                self.credits_per_1k_tokens,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_reply(prompt_tokens: u64, completion_tokens: u64) -> AiReply {
        AiReply {
            content: "Yes.".into(),
            prompt_tokens,
            completion_tokens,
            source: ReplySource::Model,
        }
    }

    #[test]
    fn prices_round_up() {
        let pricing = Pricing::from(&Settings {
            credits_per_1k_tokens: 2,
            credits_per_1k_translated_chars: 1,
            credits_per_knowledge_reply: 3,
            ..Settings::default()
        });
        assert_eq!(pricing.translation_cost(0), 0);
        assert_eq!(pricing.translation_cost(1), 1);
        assert_eq!(pricing.translation_cost(1000), 1);
        assert_eq!(pricing.translation_cost(1001), 2);
        assert_eq!(pricing.ai_cost(&model_reply(0, 0)), 0);
        assert_eq!(pricing.ai_cost(&model_reply(1, 0)), 1);
        assert_eq!(pricing.ai_cost(&model_reply(300, 200)), 1);
        assert_eq!(pricing.ai_cost(&model_reply(400, 200)), 2);
        assert_eq!(pricing.ai_cost(&model_reply(1500, 1000)), 5);
        let knowledge = AiReply {
            source: ReplySource::Knowledge,
            ..model_reply(0, 0)
        };
        assert_eq!(pricing.ai_cost(&knowledge), 3);
        // Huge usage saturates instead of overflowing: ⌈(2^64 - 1) · 2 / 1000⌉.
        assert_eq!(
            pricing.ai_cost(&model_reply(u64::MAX, u64::MAX)),
            36_893_488_147_419_104
        );
        let free = Pricing {
            credits_per_1k_tokens: 0,
            credits_per_1k_translated_chars: 0,
            credits_per_knowledge_reply: 0,
        };
        assert_eq!(free.translation_cost(12345), 0);
        assert_eq!(free.ai_cost(&model_reply(10, 10)), 0);
    }

    #[test]
    fn default_prices() {
        let pricing = Pricing::from(&Settings::default());
        assert_eq!(pricing.translation_cost(2500), 3);
        assert_eq!(pricing.ai_cost(&model_reply(1000, 500)), 3);
    }

    #[test]
    fn build_follows_the_settings() {
        let providers = build(&Settings::default()).unwrap();
        assert!(providers.translator.is_none());
        assert_eq!(providers.responder.unwrap().name(), "knowledge-base");

        let providers = build(&Settings {
            translation_provider: TranslationProvider::Deepl,
            translation_api_key: Some("secret-key:fx".into()),
            ai_provider: AiProvider::Openai,
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(providers.translator.unwrap().name(), "deepl");
        assert_eq!(providers.responder.unwrap().name(), "openai");

        let providers = build(&Settings {
            translation_provider: TranslationProvider::Openai,
            ai_provider: AiProvider::None,
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(providers.translator.unwrap().name(), "openai");
        assert!(providers.responder.is_none());
    }

    #[test]
    fn build_refuses_incomplete_settings() {
        let err = build(&Settings {
            translation_provider: TranslationProvider::Libretranslate,
            ..Settings::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("ENUCHAT_TRANSLATION_BASE_URL"),
            "{err}"
        );
        let err = build(&Settings {
            translation_provider: TranslationProvider::Deepl,
            translation_api_key: Some("  ".into()),
            ..Settings::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("ENUCHAT_TRANSLATION_API_KEY"),
            "{err}"
        );
    }
}
