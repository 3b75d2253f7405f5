//! A translation job: one message into one language, charged per character.

use super::{Outcome, Worker};
use crate::providers::translation::TranslateError;
use enuchat_domain::plan::TranslatePayload;
use enuchat_domain::store::StoreResult;
use enuchat_domain::{ClaimedJob, TranslationOutcome};
use std::sync::Arc;

pub(super) async fn run(worker: &Worker, claimed: &ClaimedJob) -> StoreResult<Outcome> {
    let job = &claimed.job;
    let tenant = job.tenant_id;
    let payload: TranslatePayload = match serde_json::from_value(job.payload.clone()) {
        Ok(payload) => payload,
        Err(err) => return Ok(Outcome::Failed(format!("malformed payload: {err}"))),
    };
    let Some(translator) = worker.providers.translator.clone() else {
        return Ok(Outcome::Skipped("no translation provider is configured"));
    };
    let Some(message) = worker.store.get_message(tenant, job.message_id).await? else {
        return Ok(Outcome::Skipped("the message is gone"));
    };
    if message.translated_content.is_some() {
        return Ok(Outcome::Skipped("already translated"));
    }
    if !worker.can_pay(tenant).await? {
        return Ok(Outcome::Skipped("no credits left"));
    }
    let provider = translator.name();
    let result = translator
        .translate(&message.content, payload.from.as_deref(), &payload.to)
        .await;
    let translation = match result {
        Ok(translation) => translation,
        Err(err) => {
            worker.metrics.translation_failed(provider, err.kind());
            return Ok(match err {
                TranslateError::Unsupported { from, to } => {
                    let first_time = worker
                        .reported_pairs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((from.clone(), to.clone()));
                    if first_time {
                        tracing::warn!(provider, %from, %to,
                            "the translation provider cannot translate this pair; such messages stay untranslated");
                    }
                    Outcome::Failed(format!("{provider} cannot translate {from} to {to}"))
                }
                TranslateError::Transient(e) => Outcome::Retry(format!("{provider}: {e}")),
                TranslateError::Permanent(e) => Outcome::Failed(format!("{provider}: {e}")),
            });
        }
    };
    let charge = worker.pricing.translation_cost(translation.characters);
    let outcome = TranslationOutcome {
        translated_content: translation.text,
        translated_language: payload.to,
        charge,
    };
    match worker
        .store
        .complete_translation(tenant, claimed, outcome)
        .await?
    {
        Some(message) => {
            worker.hub.publish_update(tenant, Arc::new(message));
            Ok(Outcome::Done)
        }
        None => {
            // Someone else holds the job now; their result counts.
            tracing::warn!(job = %job.id, "lost the lease of a translation job; dropped its result");
            Ok(Outcome::Done)
        }
    }
}
